"""Ledger entries and their hashes.

Each payload field is committed to separately (salted sha256 of its canonical JSON), and the
entry commits to those digests. A public bundle can therefore drop a restricted field and
keep only its digest: the chain still verifies, and the salt stops anyone from guessing a
short redacted value by hashing candidates.

    field digest  = sha256(salt || name || 0x00 || canonical(value))
    payload root  = sha256(canonical({name: field digest}))
    body hash     = sha256(canonical({seq, entry_id, kind, created_at, actor, payload_root, prev_hash}))
    entry hash    = sha256(canonical({body: body hash, signatures: [...]}))

The clear-text `actor` is outside the payload and cannot be redacted, so since entry format 2
it names only the first signing key (`key:<key_id>`, public anyway); the user and host that ran
the command are the payload field `recorded_by`, salted and redactable like any other (a public
bundle always drops it). Entries written before format 2 carry `user@host` as their actor and
keep it: it is part of their signed hash.

Signers sign the body hash, which includes the previous entry's hash: re-chaining history
after an insertion or deletion means re-signing every later entry.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GENESIS = "0" * 64
#: Payload field naming who ran the command (user@host); redacted in every public bundle.
RECORDED_BY = "recorded_by"

EntryKind = Literal[
    "key_registered",
    "key_revoked",
    "policy_proposed",
    "policy_approval",
    "policy_adopted",
    "assessment",
    "preliminary",
    "decision",
    "signoff",
    "signoff_refused",
    "override",
    "action_taken",
    "noncompliance_report",
    "audit_statement",
]


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def field_digest(name: str, value: Any, salt: str) -> str:
    return sha256_hex(bytes.fromhex(salt) + name.encode() + b"\0" + canonical(value))


class Signature(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_id: str
    role: str
    signature: str  # hex Ed25519 signature over the body hash


class Entry(BaseModel):
    """One ledger entry as stored and as exported. `redacted` holds the digests of fields a
    public bundle left out; a stored entry has none."""

    model_config = ConfigDict(frozen=True)

    seq: int
    entry_id: str
    kind: EntryKind
    created_at: str
    actor: str
    payload: dict[str, Any]
    salts: dict[str, str]
    redacted: dict[str, str] = Field(default_factory=dict)
    prev_hash: str
    signatures: list[Signature]
    entry_hash: str

    def digests(self) -> dict[str, str]:
        out = {k: field_digest(k, v, self.salts[k]) for k, v in self.payload.items() if k in self.salts}
        out.update(self.redacted)
        return out

    def body_hash(self) -> str:
        return body_hash(
            self.seq, self.entry_id, self.kind, self.created_at, self.actor, self.digests(), self.prev_hash
        )

    def computed_hash(self) -> str:
        return entry_hash(self.body_hash(), self.signatures)

    def redact(self, fields: set[str]) -> Entry:
        """The same entry with `fields` replaced by their digests (chain stays verifiable)."""
        hidden = {k: field_digest(k, self.payload[k], self.salts[k]) for k in fields if k in self.payload}
        return self.model_copy(
            update={
                "payload": {k: v for k, v in self.payload.items() if k not in hidden},
                "salts": {k: v for k, v in self.salts.items() if k not in hidden},
                "redacted": {**self.redacted, **hidden},
            }
        )


def body_hash(
    seq: int,
    entry_id: str,
    kind: str,
    created_at: str,
    actor: str,
    digests: dict[str, str],
    prev_hash: str,
) -> str:
    return sha256_hex(
        canonical(
            {
                "seq": seq,
                "entry_id": entry_id,
                "kind": kind,
                "created_at": created_at,
                "actor": actor,
                "payload_root": sha256_hex(canonical(digests)),
                "prev_hash": prev_hash,
            }
        )
    )


def entry_hash(body: str, signatures: list[Signature]) -> str:
    return sha256_hex(canonical({"body": body, "signatures": [s.model_dump() for s in signatures]}))
