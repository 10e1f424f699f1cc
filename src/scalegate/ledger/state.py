"""The ledger's state machine: what a chain of entries establishes, each step checked.

Replaying entries in order yields the keys in good standing and their roles, the policy in
force and the texts adopted, approvals of proposals, valid sign-offs, refusals and overrides,
and the newest decision per model. `ledger verify` replays the whole chain and reports every
problem; the workflow replays it before each append and acts only on what it establishes (a
sign-off or key that `verify` would reject counts for nothing there either), so the two can
never disagree about the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from scalegate.errors import PolicyError
from scalegate.ledger.keys import key_id_of
from scalegate.ledger.keys import verify as verify_signature
from scalegate.ledger.records import GENESIS, Entry, sha256_hex

ADMIN = "admin"
SELF = "self"  # the role a key signs its own registration or revocation with
#: What a step reports a problem with (a message about the entry being applied).
Bad = Callable[[str], None]


@dataclass
class KeyState:
    public_hex: str
    roles: set[str]
    entry: Entry  # its registration
    revoked: bool = False


class Latest:
    """The newest decision for each model (reference and weights): only it may authorise an
    action. Shared by `verify` and the workflow's pre-flight checks, so the two cannot drift."""

    def __init__(self) -> None:
        self.by_model: dict[tuple[str, str | None], str] = {}  # model -> decision entry id
        self.model_of: dict[str, tuple[str, str | None]] = {}  # decision entry id -> model

    def see(self, decision: Entry, assessment: Entry | None) -> None:
        model = assessment.payload.get("model") if assessment is not None else None
        if not isinstance(model, dict) or not isinstance(model.get("reference"), str):
            return  # redacted (a public bundle): the full ledger checks this
        weights = model.get("weights_sha256")
        key = (model["reference"], weights if isinstance(weights, str) else None)
        self.by_model[key] = decision.entry_id
        self.model_of[decision.entry_id] = key

    def superseded_by(self, decision_id: str) -> str | None:
        """The newer decision for the same model, if `decision_id` is not the newest."""
        key = self.model_of.get(decision_id)
        newest = self.by_model.get(key) if key is not None else None
        return newest if newest is not None and newest != decision_id else None


@dataclass
class LedgerState:
    keys: dict[str, KeyState] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    by_seq: dict[int, Entry] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)  # sha256 -> text
    in_force: str | None = None  # sha256 of the policy in force
    in_force_entry: Entry | None = None
    approvals: dict[str, set[str]] = field(default_factory=dict)  # proposal -> roles
    signoffs: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (decision, action) -> roles
    refusals: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    overrides: set[tuple[str, str]] = field(default_factory=set)
    latest: Latest = field(default_factory=lambda: Latest())
    problems: dict[str, list[str]] = field(default_factory=dict)  # entry id -> what is wrong with it
    #: The decisions whose recorded result is recomputed from their inputs (None: every one).
    recompute: Collection[str] | None = None

    def step(self, e: Entry, bad: Bad | None = None) -> None:
        """Apply one entry (already parsed, linked and hashed), checking its signatures and
        its kind's rules against the state so far; problems go to `bad` and `problems`."""

        def report(msg: str) -> None:
            self.problems.setdefault(e.entry_id, []).append(msg)
            if bad is not None:
                bad(msg)

        try:
            roles = _check_signatures(e, self, report)
            _check_kind(e, roles, self, report)
        except PolicyError as exc:  # a stored policy text this scalegate no longer accepts
            report(f"cannot check this entry: the policy text it relies on does not validate ({exc})"[:1000])
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            report(f"malformed entry ({type(exc).__name__}: {exc})")
        self.entries[e.entry_id] = e
        self.by_seq[e.seq] = e

    def policy_text(self, sha256: str | None) -> str | None:
        return self.policies.get(str(sha256))


def replay(entries: Iterable[Entry], recompute: Collection[str] | None = ()) -> LedgerState:
    """The state a chain establishes. `recompute`: the decisions to recompute (default none:
    the workflow recomputes only the decision it acts on; `verify` recomputes every one)."""
    state = LedgerState(recompute=recompute)
    for e in entries:
        state.step(e)
    return state


def valid_keys(entries: Iterable[Entry]) -> dict[str, KeyState]:
    """The keys whose registration verifies (signed by itself and, after the first, by an
    admin key in good standing then), with their standing now."""
    state = LedgerState(recompute=())
    for e in entries:
        if e.kind in ("key_registered", "key_revoked"):
            state.step(e)
    return state.keys


def _valid_roles(e: Entry, state: LedgerState, bad: Any) -> set[str]:
    """Roles proven by valid signatures of keys in good standing at this point of the chain."""
    roles: set[str] = set()
    message = bytes.fromhex(e.body_hash()) if is_hex(e.entry_hash) else b""
    own = e.payload.get("key_id") if e.kind in ("key_registered", "key_revoked") else None
    for s in e.signatures:
        key = state.keys.get(s.key_id)
        public = key.public_hex if key else None
        if s.key_id == own and e.kind == "key_registered":
            public = e.payload.get("public_key")
        if public is None:
            bad(f"signed by unknown key {s.key_id}")
            continue
        if key is not None and key.revoked:
            bad(f"signed by key {s.key_id}, revoked before this entry")
            continue
        if s.role == SELF:
            if s.key_id != own:
                bad(f"key {s.key_id} claims role 'self' on an entry about another key")
                continue
        elif key is None or s.role not in key.roles:
            bad(f"key {s.key_id} does not hold role '{s.role}'")
            continue
        if not verify_signature(public, message, s.signature):
            bad(f"invalid signature by key {s.key_id}")
            continue
        roles.add(s.role)
    return roles


def _check_signatures(e: Entry, state: LedgerState, bad: Any) -> set[str]:
    if not e.signatures:
        bad("entry is not signed")
    return _valid_roles(e, state, bad)


def _ref(e: Entry, state: LedgerState, field_name: str, kind: str, bad: Any) -> Entry | None:
    ref = e.payload.get(field_name)
    target = state.entries.get(ref) if isinstance(ref, str) else None
    if target is None or target.kind != kind:
        bad(f"{field_name} {ref!r} is not an earlier {kind} entry")
        return None
    return target


#: Entries the ledger's operator writes; any other signer is a finding.
OPERATOR_KINDS = {
    "policy_proposed",
    "policy_adopted",
    "assessment",
    "preliminary",
    "decision",
    "action_taken",
    "noncompliance_report",
}


def _check_kind(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    """The rules of the entry's kind, applied against the state so far."""
    if e.kind in OPERATOR_KINDS and "operator" not in roles:
        bad(f"a {e.kind} entry must be signed in the operator role")
    rule = _KIND_RULES.get(e.kind)
    if rule is not None:
        rule(e, roles, state, bad)


def _key_registered(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    kid, pub = p.get("key_id"), p.get("public_key")
    if not isinstance(pub, str) or not is_hex(pub) or key_id_of(pub) != kid:
        bad("key_id does not match the registered public key")
        return
    problems = []
    if SELF not in roles:
        problems.append("a key registration must be signed by the key itself")
    if state.keys and ADMIN not in roles:
        problems.append("a key registration after the first must be signed by an admin key")
    if kid in state.keys:
        problems.append(f"key {kid} is already registered")
    for problem in problems:
        bad(problem)
    if not problems:  # an invalid registration registers nothing: what that key signs is named too
        state.keys[kid] = KeyState(public_hex=pub, roles=set(p.get("roles") or []), entry=e)


def _key_revoked(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    kid = p.get("key_id")
    if kid not in state.keys:
        bad(f"revokes unknown key {kid}")
    elif not roles & {ADMIN, SELF}:
        bad("a revocation must be signed by an admin key or the key itself")
    else:
        state.keys[kid].revoked = True


def _policy_text(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    text = p.get("text")
    if not isinstance(text, str) or sha256_hex(text.encode()) != p.get("sha256"):
        bad("policy text does not match its sha256")
    elif e.kind == "policy_adopted":
        if state.in_force is not None:
            _check_change_process(e, state, bad)
        state.policies[p["sha256"]] = text
        state.in_force, state.in_force_entry = p["sha256"], e


def _policy_approval(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    _ref(e, state, "proposal_entry", "policy_proposed", bad)
    if p.get("role") not in roles:
        bad(f"no valid signature for the role '{p.get('role')}' this approval is made in")
    else:
        state.approvals.setdefault(str(p.get("proposal_entry")), set()).add(str(p["role"]))


def _assessment(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    if p.get("policy", {}).get("sha256") != state.in_force:
        bad("assessed under a policy that is not the one in force in this ledger")


def _preliminary(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    """A preliminary assessment (`assess --preliminary`): under the policy in force, and its
    verdict (is a comprehensive assessment due?) recomputed from its evidence and its
    reference resolved again from the chain."""
    _assessment(e, roles, state, bad)
    if "evidence" not in e.payload or (state.recompute is not None and e.entry_id not in state.recompute):
        return  # redacted (a public bundle), or not asked for: its hash still verifies
    from scalegate.evals.evidence import EvalEvidence
    from scalegate.policy.loader import parse_policy
    from scalegate.relative import PreliminaryVerdict, preliminary_verdict

    text = state.policies.get(str(e.payload.get("policy", {}).get("sha256")))
    if text is None:
        return  # reported above: not the policy in force
    policy = parse_policy(text).policy
    if policy.cadence is None or policy.cadence.preliminary is None:
        bad("a preliminary assessment under a policy with no cadence.preliminary")
        return
    claim = policy.cadence.preliminary.relative
    evidence = {k: EvalEvidence.model_validate(v) for k, v in e.payload["evidence"].items()}
    relative = _relative_inputs({claim.key: claim}, e, state, bad)
    recorded = PreliminaryVerdict.model_validate(e.payload.get("verdict"))
    again = preliminary_verdict(
        claim.evals, claim.margin, policy.statistics.confidence, evidence, relative, claim.key
    )
    if recorded.due != again.due or recorded.reference != again.reference:
        bad(f"recorded preliminary verdict differs from the one recomputed ({again.reason})")


def _decision(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    _check_decision(e, state, bad)
    ref = p.get("assessment_entry")
    state.latest.see(e, state.entries.get(ref) if isinstance(ref, str) else None)


def _signoff(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    decision = _ref(e, state, "decision_entry", "decision", bad)
    role = p.get("role")
    if role not in roles:
        bad(f"no valid signature for the role '{role}' this {e.kind} is made in")
    elif decision is not None:
        held = state.signoffs if e.kind == "signoff" else state.refusals
        held.setdefault((decision.entry_id, str(p.get("action"))), set()).add(role)


def _override(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    decision = _ref(e, state, "decision_entry", "decision", bad)
    need = set(p.get("required_roles") or [])
    problems = [] if p.get("justification") else ["an override needs a justification"]
    if decision is not None:
        policy_roles = set(_policy_signoff(decision, state).get("override", []))
        if not policy_roles:
            problems.append(
                "the policy names no override roles (governance.signoff.override): none is possible"
            )
        elif not need >= policy_roles:
            problems.append(f"override claims fewer roles than the policy requires ({sorted(policy_roles)})")
        if policy_roles and not roles >= policy_roles | need:
            problems.append(
                f"override lacks valid signatures for roles {sorted((policy_roles | need) - roles)}"
            )
        for problem in problems:
            bad(problem)
        if not problems:  # an invalid override allows nothing: the action it was for is named too
            state.overrides.add((decision.entry_id, str(p.get("action"))))
    else:
        for problem in problems:
            bad(problem)


def _audit_statement(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    p = e.payload
    covered = p.get("covers") or {}
    target = state.by_seq.get(covered.get("seq"))  # type: ignore[arg-type]
    if covered.get("seq") == 0 and covered.get("hash") == GENESIS:
        target = None
    elif target is None or target.entry_hash != covered.get("hash"):
        bad("audit statement covers a ledger state that does not match this chain")


def _action_taken(e: Entry, roles: set[str], state: LedgerState, bad: Any) -> None:
    decision = _ref(e, state, "decision_entry", "decision", bad)
    if decision is not None:
        newer = state.latest.superseded_by(decision.entry_id)
        if newer is not None:
            bad(f"cites decision {decision.entry_id[:12]}, superseded by {newer[:12]} for the same model")
        _check_action(e, decision, state, bad)


_KIND_RULES: dict[str, Callable[[Entry, set[str], LedgerState, Any], None]] = {
    "key_registered": _key_registered,
    "key_revoked": _key_revoked,
    "policy_proposed": _policy_text,
    "policy_adopted": _policy_text,
    "policy_approval": _policy_approval,
    "assessment": _assessment,
    "preliminary": _preliminary,
    "decision": _decision,
    "signoff": _signoff,
    "signoff_refused": _signoff,
    "override": _override,
    "audit_statement": _audit_statement,
    "action_taken": _action_taken,
}


def _check_change_process(e: Entry, state: LedgerState, bad: Any) -> None:
    """A policy replaces the one in force only as that policy's change process allows."""
    from scalegate.policy.loader import parse_policy

    proposal = _ref(e, state, "proposal_entry", "policy_proposed", bad)
    if proposal is None:
        return
    if proposal.payload.get("sha256") != e.payload.get("sha256"):
        bad("adopts a text other than the one proposed")
    gov = parse_policy(state.policies[str(state.in_force)]).policy.governance
    changes = gov.changes if gov else None
    if changes is None:
        return
    missing = set(changes.approve) - state.approvals.get(proposal.entry_id, set())
    if missing:
        bad(f"adopted without approval by {sorted(missing)}")
    import datetime as dt

    opened = dt.datetime.fromisoformat(proposal.created_at)
    if dt.datetime.fromisoformat(e.created_at) < opened + dt.timedelta(days=changes.notice_days):
        bad(f"adopted before the {changes.notice_days}-day notice period ended")


def signoff_rules(policy_text: str | None) -> dict[str, list[str]]:
    """The policy's `governance.signoff` map (action or `override` -> roles)."""
    from scalegate.policy.loader import parse_policy

    if policy_text is None:
        return {}
    gov = parse_policy(policy_text).policy.governance
    return gov.signoff if gov else {}


def _policy_signoff(decision: Entry, state: LedgerState) -> dict[str, list[str]]:
    return signoff_rules(state.policies.get(str(decision.payload.get("policy_sha256"))))


def _check_decision(e: Entry, state: LedgerState, bad: Any) -> None:
    from scalegate.gates import Decision, same_decision
    from scalegate.policy.loader import parse_policy
    from scalegate.recompute import decide_again
    from scalegate.safety_case import CaseResult

    assessment = _ref(e, state, "assessment_entry", "assessment", bad)
    if assessment is None or "evidence" not in assessment.payload or "decision" not in e.payload:
        return  # redacted inputs cannot be recomputed; their hashes still verify
    if state.recompute is not None and e.entry_id not in state.recompute:
        return
    text = state.policies.get(str(e.payload.get("policy_sha256")))
    if text is None:
        bad("decision cites a policy that was never adopted in this ledger")
        return
    from scalegate.evals.evidence import EvalEvidence

    try:
        policy = parse_policy(text).policy
        evidence = {k: EvalEvidence.model_validate(v) for k, v in assessment.payload["evidence"].items()}
        recorded_post = assessment.payload.get("post_evidence")
        post = (
            None
            if recorded_post is None
            else {k: EvalEvidence.model_validate(v) for k, v in recorded_post.items()}
        )
        cases = {
            k: CaseResult.model_validate(v) for k, v in (assessment.payload.get("safety_cases") or {}).items()
        }
        recorded = Decision.model_validate(e.payload.get("decision"))
        from scalegate.ledger.references import claims_of

        relative = _relative_inputs(claims_of(policy), assessment, state, bad)
    except (ValidationError, ValueError, TypeError, AttributeError) as exc:
        bad(f"decision inputs do not parse: {exc}")
        return
    from scalegate.evals.grading import grading_differences
    from scalegate.recompute import graded

    regraded, regraded_post = graded(policy, evidence, post)
    for problem in grading_differences(evidence, regraded) + grading_differences(
        post or {}, regraded_post or {}
    ):
        bad(f"evidence not graded by the policy in force: {problem}")
    _, again = decide_again(
        policy,
        evidence,
        assessment.payload.get("checkpoint") or {},
        set(e.payload.get("protections_in_place") or []),
        cases,
        post_evidence=post,
        relative=relative,
    )
    if not same_decision(recorded, again):
        bad("recorded decision differs from the decision recomputed from its inputs")


def _relative_inputs(claims: Collection[str], assessment: Entry, state: LedgerState, bad: Bad) -> Any:
    """What an assessment's relative claims read: the model's recorded per-sample scores, and
    each reference resolved again from the chain before the assessment (never the copy the
    record carries, which must match it)."""
    from scalegate.ledger.references import GIVEN, resolve
    from scalegate.relative import RelativeInputs

    recorded = RelativeInputs.model_validate(assessment.payload.get("relative") or {})
    given = recorded.references.get(GIVEN)
    model = assessment.payload.get("model") or {}
    resolved = resolve(state, claims, model, given.decision_id if given else None, assessment.seq)
    for key, ref in resolved.items():
        if recorded.references.get(key) != ref:
            bad(f"the reference recorded for `{key}` does not match the ledger's decision {ref.decision_id}")
    return RelativeInputs(scores=recorded.scores, references=resolved)


def _check_action(e: Entry, decision: Entry, state: LedgerState, bad: Any) -> None:
    if "decision" not in decision.payload:
        return  # the decision was redacted from this bundle; the full ledger checks this
    action = str(e.payload.get("action"))
    actions = (decision.payload.get("decision") or {}).get("actions", {})
    status = (actions.get(action) or {}).get("status")
    if (decision.entry_id, action) in state.overrides:
        return
    if status == "allowed":
        return
    if status == "needs_signoff":
        need = set((actions.get(action) or {}).get("signoff_roles") or [])
        have = state.signoffs.get((decision.entry_id, action), set())
        if need <= have:
            return
        bad(f"{action} taken before sign-off by {sorted(need - have)}")
        return
    bad(f"{action} taken although the decision says {status!r} and no override exists")


def is_hex(s: Any) -> bool:
    try:
        bytes.fromhex(s)
    except (TypeError, ValueError):
        return False
    return True
