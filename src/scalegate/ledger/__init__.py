"""The ledger: an append-only, hash-chained, signed record of policies, assessments,
decisions, sign-offs and overrides that a third party can verify (docs/design/ledger.md)."""
