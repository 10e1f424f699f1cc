"""`ledger verify` re-grades recorded evidence under the policy in force: an assessment whose
evidence was graded under another policy's statistics is named, eval by eval, even when its
entries are properly signed by the operator."""

from __future__ import annotations

from pathlib import Path

from scalegate.evals.stats import estimate_proportion
from scalegate.ledger import workflow
from scalegate.ledger.store import Ledger
from scalegate.ledger.verify import verify_entries
from scalegate.policy.loader import load_policy
from tests.ledger.conftest import N, make_assessment


def test_evidence_graded_under_lax_statistics_fails_verification_naming_the_eval(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    op = workflow.operator_key(ledger, tmp_path / "operator.key")
    loaded = load_policy("reference")
    honest = make_assessment(loaded)
    workflow.record_assessment(ledger, loaded, honest, op)
    assert verify_entries(list(ledger.raw_rows())) == []

    # the same counts, the interval computed at confidence 0.60 (a lax policy's), signed as usual
    lax = honest.evidence["cyber_knowledge"].model_copy(
        update={"metrics": {"accuracy": estimate_proportion(20, N, 0.60, "wilson")}}
    )
    forged = honest.model_copy(update={"evidence": {**honest.evidence, "cyber_knowledge": lax}})
    workflow.record_assessment(ledger, loaded, forged, op)
    problems = verify_entries(list(ledger.raw_rows()))
    texts = [p.message for p in problems]
    assert any("cyber_knowledge" in t and "not graded by the policy in force" in t for t in texts), texts
    assert not any("bio_knowledge" in t for t in texts)
