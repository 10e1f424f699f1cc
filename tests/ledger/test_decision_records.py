"""Decisions as data: a recorded decision is verified on its data (statuses, clauses, facts
with their numbers), never on the sentences rendered from it, so rewording a sentence cannot
break an old ledger, while changing a recorded value is caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scalegate.gates import DECISION_FORMAT, Decision, Fact, same_decision
from scalegate.ledger import workflow
from scalegate.ledger.store import Ledger, db_url
from scalegate.ledger.verify import verify_entries
from scalegate.policy.loader import load_policy
from tests.ledger.conftest import HIGH, make_assessment


def _ledger(tmp_path: Path) -> tuple[Ledger, Any, Any]:
    ledger = Ledger(db_url(str(tmp_path / "l.db")))
    op = workflow.operator_key(ledger, tmp_path / "op.key")
    return ledger, op, load_policy("reference")


def _record(ledger: Ledger, op: Any, loaded: Any, decision: dict[str, Any], assessment: Any) -> str:
    """An assessment and a decision entry with the given decision payload, signed as usual."""
    data = assessment.model_dump(mode="json")
    data.pop("decision")
    a = ledger.append("assessment", data, [(op, "operator")])
    d = ledger.append(
        "decision",
        {
            "assessment_entry": a.entry_id,
            "policy_sha256": loaded.sha256,
            "protections_in_place": data["protections_in_place"],
            "decision": decision,
        },
        [(op, "operator")],
    )
    return d.entry_id


def _problems(ledger: Ledger, entry_id: str) -> list[str]:
    return [p.message for p in verify_entries(list(ledger.raw_rows())) if p.entry_id == entry_id]


def test_a_decision_records_its_facts_as_data(tmp_path: Path) -> None:
    loaded = load_policy("reference")
    a = make_assessment(loaded, {"cyber_knowledge": HIGH}, ["response_plan"])
    assert a.decision.record_format == DECISION_FORMAT == 2
    blocked = a.decision.actions["external_deployment"]
    assert blocked.status.value == "blocked"
    for reason in blocked.reasons:
        assert reason.records and [f.text() for f in reason.records] == reason.facts
    comps = [c for r in blocked.reasons for f in r.records for c in f.comparisons]
    assert any(c.eval_id == "cyber_knowledge" and c.value == pytest.approx(0.8) for c in comps)


def test_rewording_a_sentence_keeps_an_old_ledger_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, op, loaded = _ledger(tmp_path)
    _, d = workflow.record_assessment(
        ledger, loaded, make_assessment(loaded, {"cyber_knowledge": HIGH}, ["response_plan"]), op
    )
    assert _problems(ledger, d.entry_id) == []
    # a later scalegate words every fact and comparison differently
    monkeypatch.setattr(Fact, "text", lambda self: f"reworded {self.kind}")
    from scalegate.scoring import Comparison

    monkeypatch.setattr(Comparison, "describe", lambda self: "reworded comparison")
    assert verify_entries(list(ledger.raw_rows())) == []


def test_changing_a_recorded_value_fails_verification(tmp_path: Path) -> None:
    ledger, op, loaded = _ledger(tmp_path)
    workflow.record_assessment(ledger, loaded, make_assessment(loaded), op)  # adopts the policy
    a = make_assessment(loaded, {"cyber_knowledge": HIGH}, ["response_plan"])
    decision = a.decision.model_dump(mode="json")
    reason = decision["actions"]["external_deployment"]["reasons"][0]
    comp = next(c for f in reason["records"] for c in f["comparisons"] if c["eval_id"] == "cyber_knowledge")
    comp["threshold"] = 0.99  # the recorded threshold, not the policy's
    forged = _record(ledger, op, loaded, decision, a)
    assert any("recomputed" in m for m in _problems(ledger, forged))
    # the same decision with only its sentences changed verifies
    reworded = a.decision.model_dump(mode="json")
    for act in reworded["actions"].values():
        for r in act["reasons"]:
            r["facts"] = ["said differently"]
            r["summary"] = "said differently"
    fine = _record(ledger, op, loaded, reworded, a)
    assert _problems(ledger, fine) == []


def test_a_decision_recorded_before_format_2_still_verifies_and_still_fails_on_values(tmp_path: Path) -> None:
    ledger, op, loaded = _ledger(tmp_path)
    workflow.record_assessment(ledger, loaded, make_assessment(loaded), op)
    a = make_assessment(loaded, {"cyber_knowledge": HIGH}, ["response_plan"])
    old = a.decision.model_dump(mode="json")
    old.pop("record_format")
    for part in [r for act in old["actions"].values() for r in act["reasons"]] + old["applied_responses"]:
        part.pop("records")
    assert Decision.model_validate(old).record_format == 1
    assert _problems(ledger, _record(ledger, op, loaded, old, a)) == []
    old["actions"]["external_deployment"]["status"] = "allowed"
    old["actions"]["external_deployment"]["reasons"] = []
    assert any("recomputed" in m for m in _problems(ledger, _record(ledger, op, loaded, old, a)))


def test_numbers_are_compared_within_the_regrading_tolerance() -> None:
    loaded = load_policy("reference")
    d = make_assessment(loaded, {"cyber_knowledge": HIGH}, ["response_plan"]).decision
    data = d.model_dump(mode="json")
    comp = data["actions"]["external_deployment"]["reasons"][0]["records"][0]["comparisons"][0]
    comp["low"] += 1e-12  # another platform's last bits
    assert same_decision(Decision.model_validate(data), d)
    comp["low"] += 1e-6
    assert not same_decision(Decision.model_validate(data), d)
