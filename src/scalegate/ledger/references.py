"""A relative claim's reference, resolved from the ledger as it stands (docs/design/relative.md).

The reference is always a recorded decision, never a number typed by hand: its assessment
entry holds the reference model, its evidence, its per-sample scores and its scorecard. The
same function serves `assess` (the ledger now) and `ledger verify` (the chain up to the
decision being checked), so the two resolve a claim identically. Anything that makes a
reference untrustworthy becomes its `problem`, and a claim read against it is unknown (fails
closed): no such decision, a decision or assessment that does not verify, a redacted one, a
decision superseded by a newer one for the same model, or the model compared with itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from scalegate.ledger.records import Entry
from scalegate.ledger.state import LedgerState
from scalegate.policy.conditions import RelativeClaim, relative_claims
from scalegate.policy.schema import Policy
from scalegate.relative import Reference, recorded_scores

#: The claim key `assess --relative-to DECISION` answers.
GIVEN = "reference"
LAST_COMPREHENSIVE = "last_comprehensive"


def claims_of(policy: Policy) -> dict[str, RelativeClaim]:
    """Every relative claim of the policy's thresholds, alerts and responses, one per reference
    key (the references to resolve)."""
    conds: list[Any] = [
        c for d in policy.domains.values() for t in d.thresholds.values() for c in (t.when, t.alert)
    ]
    conds += [r.if_ for r in policy.responses]
    return {claim.key: claim for cond in conds for claim in relative_claims(cond)}


def resolve(
    state: LedgerState,
    keys: Iterable[str],
    model: Mapping[str, Any],
    given: str | None = None,
    before_seq: int | None = None,
) -> dict[str, Reference]:
    """Each reference key's decision, as the chain `state` establishes it. `model`: the
    assessed model's `{reference, weights_sha256}` (a model is never its own reference);
    `given`: the decision id `assess --relative-to` named (the `reference` key); `before_seq`:
    only entries before this sequence number count (verify: the assessment's own place)."""
    out: dict[str, Reference] = {}
    for key in sorted(set(keys)):
        decision, problem = _find(state, key, model, given, before_seq)
        out[key] = (
            Reference(key=key, problem=problem)
            if decision is None
            else _reference(state, key, decision, model, problem)
        )
    return out


def _find(
    state: LedgerState, key: str, model: Mapping[str, Any], given: str | None, before_seq: int | None
) -> tuple[Entry | None, str | None]:
    decisions = [
        e
        for e in sorted(state.entries.values(), key=lambda e: e.seq)
        if e.kind == "decision" and (before_seq is None or e.seq < before_seq)
    ]
    if key == LAST_COMPREHENSIVE:
        mine = _model_key(model)
        for e in reversed(decisions):
            assessment = state.entries.get(str(e.payload.get("assessment_entry")))
            if assessment is not None and _comprehensive(assessment) and _model_of(assessment) != mine:
                return e, None
        return None, "no decision in the ledger comes from a comprehensive assessment of another model"
    wanted = given if key == GIVEN else key.removeprefix("decision:")
    if not wanted:
        return (
            None,
            "the policy compares with `reference` but no reference decision was named (--relative-to)",
        )
    hits = [e for e in decisions if e.entry_id.startswith(wanted)]
    if len(hits) != 1:
        return (
            None,
            f"no decision {wanted!r} in the ledger" if not hits else f"decision id {wanted!r} is ambiguous",
        )
    return hits[0], None


def _reference(
    state: LedgerState, key: str, decision: Entry, model: Mapping[str, Any], problem: str | None
) -> Reference:
    assessment = state.entries.get(str(decision.payload.get("assessment_entry")))

    def unusable(why: str) -> Reference:
        return Reference(key=key, decision_id=decision.entry_id, problem=why)

    if assessment is None or "evidence" not in assessment.payload or "scorecard" not in assessment.payload:
        return unusable("the reference decision's assessment is not in this ledger (redacted or missing)")
    wrong = [m for eid in (decision.entry_id, assessment.entry_id) for m in state.problems.get(eid, [])]
    if wrong:
        return unusable(f"the reference decision does not verify ({'; '.join(wrong)[:300]})")
    newer = state.latest.superseded_by(decision.entry_id)
    if newer is not None:
        return unusable(f"the reference decision is superseded by {newer[:12]} for the same model")
    ref_model = assessment.payload.get("model") or {}
    if _model_key(ref_model) == _model_key(model):
        return unusable("the reference is the assessed model itself")
    from scalegate.evals.evidence import EvalEvidence

    try:
        evidence = {k: EvalEvidence.model_validate(v) for k, v in assessment.payload["evidence"].items()}
        scores = recorded_scores(assessment.payload) or {}
        ruled_out = _ruled_out(assessment.payload["scorecard"])
    except (ValidationError, TypeError, AttributeError, KeyError) as exc:
        return unusable(f"the reference's assessment does not parse ({type(exc).__name__})")
    return Reference(
        key=key,
        decision_id=decision.entry_id,
        model={"reference": ref_model.get("reference"), "weights_sha256": ref_model.get("weights_sha256")},
        problem=problem,
        evidence=evidence,
        scores=scores,
        ruled_out=ruled_out,
    )


def _ruled_out(scorecard: Mapping[str, Any]) -> list[str]:
    """The thresholds ("domain/level") and alerts ("domain/level/alert") the reference's own
    pre-mitigation scorecard ruled out."""
    out = []
    for name, d in scorecard["pre_mitigation"]["domains"].items():
        for t in d["thresholds"]:
            if t["ruled_out"] is True:
                out.append(f"{name}/{t['level']}")
            if t.get("alert") is not None and t["alert_fired"] is False:
                out.append(f"{name}/{t['level']}/alert")
    return sorted(out)


def _comprehensive(assessment: Entry) -> bool:
    """Every eval of its policy run in full: no sample limit, every eval's evidence `ok`."""
    p = assessment.payload
    evidence = p.get("evidence")
    if p.get("sample_limit") is not None or not isinstance(evidence, dict) or not evidence:
        return False
    statuses = (p.get("scorecard") or {}).get("evidence_status") or {}
    return bool(statuses) and all(s == "ok" for s in statuses.values())


def _model_of(assessment: Entry) -> tuple[Any, Any]:
    return _model_key(assessment.payload.get("model") or {})


def _model_key(model: Mapping[str, Any]) -> tuple[Any, Any]:
    return model.get("reference"), model.get("weights_sha256")
