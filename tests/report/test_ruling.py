""" "What result would have ruled the line in or out" is exactly the brute-force answer: the
bisection agrees with checking every count, for both directions and every interval method."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scalegate.evals import stats
from scalegate.policy.base import EvidenceStatus
from scalegate.report.kinds.common import ruling
from scalegate.scoring import Comparison, ComparisonState


def _brute(op: str, threshold: float, n: int, confidence: float, method: stats.IntervalMethod) -> str:
    def state(k: int) -> str:
        est = stats.estimate_proportion(k, n, confidence, method)
        kw = {"at_most": threshold} if op == "at_most" else {"at_least": threshold}
        return stats.compare(est.low, est.high, **kw).value

    crossed = [k for k in range(n + 1) if state(k) == "crossed"]
    below = [k for k in range(n + 1) if state(k) == "below"]
    if op == "at_most":
        rule_in = f"in at ≤ {crossed[-1]}/{n}" if crossed else f"never in at n={n}"
        rule_out = f"out at ≥ {below[0]}/{n}" if below else f"never out at n={n}"
    else:
        rule_in = f"in at ≥ {crossed[0]}/{n}" if crossed else f"never in at n={n}"
        rule_out = f"out at ≤ {below[-1]}/{n}" if below else f"never out at n={n}"
    return f"{rule_in}; {rule_out}"


@settings(max_examples=150, deadline=None)
@given(
    op=st.sampled_from(["at_least", "at_most"]),
    threshold=st.floats(0.0, 1.0),
    n=st.integers(1, 60),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
    method=st.sampled_from(["clopper_pearson", "wilson", "confidence_sequence"]),
)
def test_bisection_equals_checking_every_count(
    op: str, threshold: float, n: int, confidence: float, method: stats.IntervalMethod
) -> None:
    c = Comparison(
        eval_id="e",
        metric="accuracy",
        op=op,
        threshold=threshold,
        state=ComparisonState.inconclusive,
        evidence_status=EvidenceStatus.ok,
    )
    assert ruling(c, n, confidence, method) == _brute(op, threshold, n, confidence, method)
