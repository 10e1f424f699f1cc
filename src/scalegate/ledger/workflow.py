"""What people do with the ledger: register keys, record assessments and decisions, sign
off, override, record that an action was taken. Each is one signed append; the checks here
refuse what `verify` would flag, so an honest user never writes a bad entry. They read the
ledger through the state machine `verify` replays (`scalegate.ledger.state`): a key, sign-off,
approval or override counts here exactly when it counts there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from scalegate.errors import InputError
from scalegate.ledger import keys
from scalegate.ledger.keys import SigningKey
from scalegate.ledger.records import Entry
from scalegate.ledger.state import ADMIN, SELF, LedgerState, replay, signoff_rules
from scalegate.ledger.store import Batch, Ledger

OPERATOR = "operator"
KEY_DIR = Path(".scalegate") / "keys"


def default_key_path() -> Path:
    return Path(os.environ.get("SCALEGATE_KEY") or KEY_DIR / "operator.key")


def state_of(ledger: Ledger | Batch, recompute: tuple[str, ...] = ()) -> LedgerState:
    """The ledger as `verify` reads it, recomputing only the decisions named."""
    return replay(ledger.iter_entries(), recompute)


def references_for(
    ledger: Ledger | Batch,
    policy: Any,
    model: dict[str, Any],
    given: str | None = None,
    keys: Collection[str] | None = None,
) -> dict[str, Any]:
    """Each relative claim's reference (`keys`, default: the policy's thresholds' claims) as the
    ledger stands now, checked as `verify` will check it (the reference decisions recomputed),
    so what `assess` records is what verify resolves."""
    from scalegate.ledger.references import claims_of, resolve

    keys = claims_of(policy) if keys is None else keys
    if not keys:
        return {}
    found = resolve(state_of(ledger), keys, model, given)
    ids = tuple(r.decision_id for r in found.values() if r.decision_id is not None)
    return resolve(state_of(ledger, recompute=ids), keys, model, given) if ids else found


def registry(ledger: Ledger | Batch, state: LedgerState | None = None) -> dict[str, dict[str, Any]]:
    """key_id -> {public_key, roles, holder, revoked} as the ledger stands now: only keys whose
    registration verifies (a self-signed registration written into the database is ignored)."""
    keys_now = (state or state_of(ledger)).keys
    return {
        kid: {**k.entry.payload, "revoked": k.revoked, "registered_seq": k.entry.seq}
        for kid, k in sorted(keys_now.items(), key=lambda kv: kv[1].entry.seq)
    }


def _require_role(
    ledger: Ledger | Batch, key: SigningKey, role: str, state: LedgerState | None = None
) -> None:
    entry = registry(ledger, state).get(key.key_id)
    if entry is None:
        raise InputError(f"key {key.key_id} is not registered in this ledger (`scalegate keys list`)")
    if entry["revoked"]:
        raise InputError(f"key {key.key_id} has been revoked")
    if role not in entry["roles"]:
        raise InputError(f"key {key.key_id} does not hold role '{role}' (it holds {entry['roles']})")


def operator_key(ledger: Ledger, path: Path | None = None) -> SigningKey:
    """The key that signs assessments. On an empty ledger with no key yet, create and register
    one (the ledger's first admin); otherwise it must exist and be registered."""
    path = path or default_key_path()
    if not path.exists():
        if ledger.head()[0] != 0:
            raise InputError(
                f"no signing key at {path}. This ledger already has entries: ask its admin for a key "
                "(`scalegate keys create NAME --role operator`) and pass it with --key"
            )
        with contextlib.suppress(FileExistsError):  # another process made it first: use that one
            keys.save(keys.generate(), path)
    key = keys.load(path)
    # the first key of an empty ledger bootstraps it; deciding "empty" and registering are one
    # step under the append lock, so concurrent first runs register exactly one key
    with ledger.batch() as tx:
        if tx.head()[0] == 0:
            _register(tx, key, ["admin", OPERATOR], "ledger operator", None)
    _require_role(ledger, key, OPERATOR)
    return key


def register(
    ledger: Ledger, key: SigningKey, roles: list[str], holder: str, admin: SigningKey | None
) -> Entry:
    with ledger.batch() as tx:
        return _register(tx, key, roles, holder, admin)


def _register(
    ledger: Batch, key: SigningKey, roles: list[str], holder: str, admin: SigningKey | None
) -> Entry:
    if key.key_id in registry(ledger):
        raise InputError(f"key {key.key_id} is already registered")
    signers = [(key, SELF)]
    if admin is not None:
        _require_role(ledger, admin, ADMIN)
        signers.append((admin, ADMIN))
    elif ledger.head()[0] != 0:
        raise InputError("registering a key in a non-empty ledger needs an admin key (--admin-key)")
    payload = {
        "key_id": key.key_id,
        "public_key": key.public_hex,
        "roles": sorted(set(roles)),
        "holder": holder,
    }
    return ledger.append("key_registered", payload, signers)


def revoke(ledger: Ledger, key_id: str, reason: str, signer: SigningKey) -> Entry:
    reg = registry(ledger)
    if key_id not in reg:
        raise InputError(f"no registered key {key_id}")
    if reg[key_id]["revoked"]:
        raise InputError(f"key {key_id} is already revoked")
    role = SELF if signer.key_id == key_id else ADMIN
    if role == ADMIN:
        _require_role(ledger, signer, ADMIN)
    return ledger.append("key_revoked", {"key_id": key_id, "reason": reason}, [(signer, role)])


def policy_in_force(ledger: Ledger | Batch) -> Entry | None:
    return state_of(ledger).in_force_entry


def not_in_force(ledger: Ledger | Batch, loaded: Any) -> str | None:
    """Why an assessment under `loaded` cannot be recorded in this ledger (None: it can). The
    first policy of a ledger is adopted by its first assessment, any later one only through
    propose / approve / adopt."""
    current = policy_in_force(ledger)
    if current is None or current.payload["sha256"] == loaded.sha256:
        return None
    return (
        f"{loaded.source} (sha256 {loaded.sha256[:12]}) is not the policy in force in this ledger "
        f"({current.payload['name']} v{current.payload['version']}, sha256 {current.payload['sha256'][:12]})"
    )


def check_policy(ledger: Ledger | Batch, loaded: Any) -> None:
    why = not_in_force(ledger, loaded)
    if why:
        raise InputError(
            f"{why}. Change policy with `scalegate policy propose`, `policy approve` and `policy adopt`."
        )


def record_assessment(ledger: Ledger, loaded: Any, assessment: Any, key: SigningKey) -> tuple[Entry, Entry]:
    """Append the policy (on a new ledger), the assessment and the decision, as one step under
    the append lock: concurrent first assessments adopt the policy once."""
    with ledger.batch() as tx:
        return _record_assessment(tx, loaded, assessment, key)


def _record_assessment(ledger: Batch, loaded: Any, assessment: Any, key: SigningKey) -> tuple[Entry, Entry]:
    _require_role(ledger, key, OPERATOR)
    check_policy(ledger, loaded)
    _check_references(ledger, loaded, assessment)
    if policy_in_force(ledger) is None:
        meta = loaded.policy.policy
        ledger.append(
            "policy_adopted",
            {
                "name": meta.name,
                "version": meta.version,
                "sha256": loaded.sha256,
                "text": loaded.text,
                "diff": [],
                "proposal_entry": None,
            },
            [(key, OPERATOR)],
        )
    data = assessment.model_dump(mode="json")
    decision = data.pop("decision")
    a_entry = ledger.append("assessment", data, [(key, OPERATOR)])
    d_entry = ledger.append(
        "decision",
        {
            "assessment_entry": a_entry.entry_id,
            "policy_sha256": loaded.sha256,
            "protections_in_place": data["protections_in_place"],
            "decision": decision,
        },
        [(key, OPERATOR)],
    )
    return a_entry, d_entry


def _check_references(ledger: Batch, loaded: Any, assessment: Any) -> None:
    """Under the append lock: the references the assessment read must still be what the chain
    resolves (verify resolves them as of this entry). A reference superseded while the model
    ran would make the record fail verify, so it is refused: run again (the evidence is
    cached)."""
    relative = getattr(assessment, "relative", None)
    if relative is None or not relative.references:
        return
    given = relative.references.get("reference")
    model = {"reference": assessment.model.reference, "weights_sha256": assessment.model.weights_sha256}
    now = references_for(
        ledger, loaded.policy, model, given.decision_id if given else None, relative.references.keys()
    )
    changed = sorted(k for k, ref in relative.references.items() if now.get(k) != ref)
    if changed:
        raise InputError(
            f"the reference of {', '.join(changed)} changed in the ledger while the model was assessed "
            "(a newer decision was recorded); run the assessment again: its evidence is cached"
        )


def record_preliminary(ledger: Ledger, loaded: Any, assessment: Any, verdict: Any, key: SigningKey) -> Entry:
    """Append a preliminary assessment (`assess --preliminary`): its evidence, the reference
    it was compared with and its verdict. It authorises nothing; `verify` recomputes it."""
    with ledger.batch() as tx:
        _require_role(tx, key, OPERATOR)
        if policy_in_force(tx) is None:
            raise InputError(
                "no policy is in force in this ledger: a preliminary assessment compares with a "
                "comprehensive one recorded under it (run `scalegate assess` first)"
            )
        check_policy(tx, loaded)
        _check_references(tx, loaded, assessment)
        data = assessment.model_dump(mode="json")
        payload = {
            k: data[k]
            for k in ("scalegate_version", "started_at", "completed_at", "policy", "model", "checkpoint")
        }
        payload.update(
            sample_limit=data["sample_limit"],
            evidence=data["evidence"],
            relative=data["relative"],
            verdict=verdict.model_dump(mode="json"),
        )
        return tx.append("preliminary", payload, [(key, OPERATOR)])


def _decision(
    ledger: Ledger, decision_id: str, action: str, *, newest: bool = False
) -> tuple[Entry, LedgerState]:
    """The decision an entry will cite, and the ledger's state with that decision recomputed.
    Refused when the decision or its assessment would fail `verify`, and with `newest` when a
    newer decision for the same model exists (an action or override under it is void)."""
    entry = ledger.get(decision_id)
    if entry.kind != "decision":
        raise InputError(f"entry {decision_id} is a {entry.kind}, not a decision")
    if action not in entry.payload["decision"]["actions"]:
        raise InputError(f"the decision has no action '{action}'")
    state = state_of(ledger, recompute=(entry.entry_id,))
    cited = [entry.entry_id, str(entry.payload.get("assessment_entry"))]
    wrong = [m for eid in cited for m in state.problems.get(eid, [])]
    if wrong:
        raise InputError(
            f"decision {entry.entry_id[:12]} does not verify ({'; '.join(wrong)[:500]}): nothing may be "
            "recorded under it; run `scalegate ledger verify`"
        )
    if newest:
        newer = state.latest.superseded_by(entry.entry_id)
        if newer is not None:
            raise InputError(
                f"decision {entry.entry_id[:12]} is superseded by decision {newer[:12]} for the same model: "
                f"only the newest decision governs; see `scalegate ledger status {newer[:12]}`"
            )
    return entry, state


def signoff(
    ledger: Ledger,
    decision_id: str,
    action: str,
    role: str,
    key: SigningKey,
    comment: str = "",
    refuse: bool = False,
) -> Entry:
    decision, state = _decision(ledger, decision_id, action)
    status = decision.payload["decision"]["actions"][action]["status"]
    if not refuse and status == "blocked":
        raise InputError(
            f"{action} is blocked by the decision itself; a sign-off cannot allow it "
            "(the policy's override process can: `scalegate override`)"
        )
    _require_role(ledger, key, role, state)
    kind = "signoff_refused" if refuse else "signoff"
    payload = {"decision_entry": decision.entry_id, "action": action, "role": role, "comment": comment}
    return ledger.append(kind, payload, [(key, role)])  # type: ignore[arg-type]


def override(
    ledger: Ledger,
    decision_id: str,
    action: str,
    justification: str,
    signers: list[tuple[SigningKey, str]],
) -> Entry:
    """Allow one action despite the decision; the policy's `override` roles must all sign."""
    decision, state = _decision(ledger, decision_id, action, newest=True)
    rules = signoff_rules(state.policy_text(decision.payload["policy_sha256"]))
    required_roles = rules.get("override", [])
    if not required_roles:
        raise InputError(
            "the policy names no override roles (governance.signoff.override), so no override is possible "
            "under it: a policy allows one by naming who must sign, e.g. `signoff: {override: [board]}`"
        )
    if not justification.strip():
        raise InputError("an override needs a justification")
    missing = sorted(set(required_roles) - {r for _, r in signers})
    if missing:
        raise InputError(f"the policy requires roles {required_roles} to override; missing {missing}")
    for key, role in signers:
        _require_role(ledger, key, role, state)
    payload = {
        "decision_entry": decision.entry_id,
        "action": action,
        "justification": justification,
        "required_roles": sorted(required_roles),
    }
    return ledger.append("override", payload, signers)


def action_status(
    ledger: Ledger, decision_id: str, state: LedgerState | None = None
) -> dict[str, dict[str, Any]]:
    """Each action's standing now: the decision's status, the valid sign-offs and refusals so
    far, any valid override (a forged one counts for nothing, as in `verify`)."""
    return standing(ledger.get(decision_id), state or state_of(ledger))


def standing(decision: Entry, state: LedgerState) -> dict[str, dict[str, Any]]:
    """`action_status` from a decision entry and a replayed state (the dashboard's reading)."""
    out: dict[str, dict[str, Any]] = {}
    for name, a in decision.payload["decision"]["actions"].items():
        key = (decision.entry_id, name)
        out[name] = {
            "decision": a["status"],
            "needs": list(a.get("signoff_roles") or []),
            "signed": sorted(state.signoffs.get(key, set())),
            "refused": sorted(state.refusals.get(key, set())),
            "overridden": key in state.overrides,
        }
    for slot in out.values():
        missing = set(slot["needs"]) - set(slot["signed"])
        slot["effective"] = (
            "allowed (override)"
            if slot["overridden"] and slot["decision"] != "allowed"
            else "allowed"
            if slot["decision"] == "allowed" or (slot["decision"] == "needs_signoff" and not missing)
            else slot["decision"]
        )
    return out


def record_action(ledger: Ledger, decision_id: str, action: str, key: SigningKey) -> Entry:
    decision, state = _decision(ledger, decision_id, action, newest=True)
    standing = action_status(ledger, decision_id, state)[action]
    if not standing["effective"].startswith("allowed"):
        raise InputError(
            f"{action} is {standing['effective']} under decision {decision_id}"
            + (
                f" (sign-off missing from {sorted(set(standing['needs']) - set(standing['signed']))})"
                if standing["decision"] == "needs_signoff"
                else ""
            )
        )
    _require_role(ledger, key, OPERATOR, state)
    return ledger.append(
        "action_taken", {"decision_entry": decision.entry_id, "action": action}, [(key, OPERATOR)]
    )


def propose_policy(ledger: Ledger, loaded: Any, key: SigningKey) -> Entry:
    """Announce a new policy version: its text, its diff against the policy in force, and the
    approvals and notice the policy in force requires before it can be adopted."""
    from scalegate.policy.loader import parse_policy
    from scalegate.review.diff import diff_policies

    current = policy_in_force(ledger)
    if current is None:
        raise InputError("this ledger has no policy yet: the first assessment adopts one")
    old = parse_policy(current.payload["text"]).policy
    changes = old.governance.changes if old.governance else None
    notice = changes.notice_days if changes else 0
    not_before = ledger.clock() + dt.timedelta(days=notice)
    payload = {
        "name": loaded.policy.policy.name,
        "version": loaded.policy.policy.version,
        "sha256": loaded.sha256,
        "text": loaded.text,
        "replaces": current.payload["sha256"],
        "diff": diff_policies(old, loaded.policy),
        "approve_roles": list(changes.approve) if changes else [],
        "notice_days": notice,
        "effective_not_before": not_before.isoformat(timespec="microseconds"),
    }
    _require_role(ledger, key, OPERATOR)
    return ledger.append("policy_proposed", payload, [(key, OPERATOR)])


def approve_policy(ledger: Ledger, proposal_id: str, role: str, key: SigningKey) -> Entry:
    proposal = ledger.get(proposal_id)
    if proposal.kind != "policy_proposed":
        raise InputError(f"entry {proposal_id} is a {proposal.kind}, not a policy proposal")
    _require_role(ledger, key, role)
    return ledger.append(
        "policy_approval", {"proposal_entry": proposal.entry_id, "role": role}, [(key, role)]
    )


def adopt_policy(ledger: Ledger, proposal_id: str, key: SigningKey) -> Entry:
    proposal = ledger.get(proposal_id)
    if proposal.kind != "policy_proposed":
        raise InputError(f"entry {proposal_id} is a {proposal.kind}, not a policy proposal")
    state = state_of(ledger)
    current = state.in_force_entry
    if current is None or current.payload["sha256"] != proposal.payload["replaces"]:
        raise InputError("the policy in force changed since this proposal; propose again")
    approved = state.approvals.get(proposal.entry_id, set())
    missing = sorted(set(proposal.payload["approve_roles"]) - approved)
    if missing:
        raise InputError(f"proposal {proposal_id} still needs approval by {missing}")
    now = ledger.clock().isoformat(timespec="microseconds")
    if now < proposal.payload["effective_not_before"]:
        raise InputError(f"the notice period runs until {proposal.payload['effective_not_before']}")
    _require_role(ledger, key, OPERATOR)
    fields = ("name", "version", "sha256", "text", "diff")
    payload = {k: proposal.payload[k] for k in fields} | {"proposal_entry": proposal.entry_id}
    return ledger.append("policy_adopted", payload, [(key, OPERATOR)])


def report_noncompliance(ledger: Ledger, text: str, key: SigningKey, reporter: str | None) -> Entry:
    """A noncompliance report. Anonymous reports are appended by the operator on the
    reporter's behalf, with no identity recorded; named ones carry the reporter's name
    (a restricted field by default, so public bundles keep only its digest)."""
    if not text.strip():
        raise InputError("a noncompliance report needs a description")
    _require_role(ledger, key, OPERATOR)
    payload = {"text": text, "reporter": reporter or "anonymous"}
    return ledger.append("noncompliance_report", payload, [(key, OPERATOR)])


def audit_statement(ledger: Ledger, text: str, scope: str, key: SigningKey, role: str = "auditor") -> Entry:
    """An external auditor's statement, signed in the auditor role, covering the ledger up to now."""
    _require_role(ledger, key, role)
    seq, head = ledger.head()
    payload = {"text": text, "scope": scope, "covers": {"seq": seq, "hash": head}}
    return ledger.append("audit_statement", payload, [(key, role)])


def overrides_on_record(ledger: Ledger) -> list[Entry]:
    """Every override, for the flag that later reports carry."""
    return [e for e in ledger.iter_entries() if e.kind == "override"]
