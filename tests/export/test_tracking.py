"""What an assessment becomes in a tracker: numbers only for evidence the gate accepted."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.stats import estimate_proportion
from scalegate.integrations.tracking import eval_metrics
from scalegate.policy.base import EvidenceStatus


@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from(list(EvidenceStatus)),
    counts=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 400)), min_size=1, max_size=3),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_only_accepted_evidence_logs_numbers(
    status: EvidenceStatus, counts: list[tuple[int, int]], confidence: float
) -> None:
    metrics = {f"m{i}": estimate_proportion(min(k, n), n, confidence) for i, (k, n) in enumerate(counts)}
    ev = EvalEvidence(eval_id="e", status=status, metrics=metrics)
    logged = eval_metrics("e", ev)
    if status is not EvidenceStatus.ok:
        assert logged == {}  # a score the decision could not rest on is never charted
        return
    assert len(logged) == 5 * len(metrics)
    for name, est in metrics.items():
        base = f"e/{name}"
        assert logged[f"{base}/low"] <= logged[base] <= logged[f"{base}/high"]
        assert logged[f"{base}/n"] == est.n and logged[f"{base}/confidence"] == confidence
    assert all(math.isfinite(v) for v in logged.values())
