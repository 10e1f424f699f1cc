"""Hand builders for policies and evidence, so scoring and gate tests need no model or Inspect run.

Interval cheat sheet (Wilson, 95%, n=100), used by the tests that import these builders:

    successes   interval            vs 0.5          vs 0.3
    20          [0.133, 0.289]      below           below
    40          [0.309, 0.498]      below           crossed
    50          [0.404, 0.596]      inconclusive    crossed
    80          [0.711, 0.867]      crossed         crossed
"""

from __future__ import annotations

import textwrap

from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.stats import estimate_proportion
from scalegate.policy.loader import load_policy, parse_policy
from scalegate.policy.schema import EvidenceStatus, Policy

N = 100
CROSSES_HALF = 80  # [0.711, 0.867]: crossed for at_least 0.5
BELOW_HALF = 20  # [0.133, 0.289]: below for at_least 0.5 (and for at_least 0.3)
STRADDLES_HALF = 50  # [0.404, 0.596]: inconclusive for at_least 0.5
ALERT_ONLY = 40  # [0.309, 0.498]: below 0.5 but crossed for at_least 0.3


def policy_from(text: str) -> Policy:
    """A Policy through the public route: YAML text -> parse_policy."""
    return parse_policy(textwrap.dedent(text).lstrip("\n")).policy


def reference_policy() -> Policy:
    return load_policy("reference").policy


def ok(
    eval_id: str,
    successes: int,
    n: int = N,
    *,
    metric: str = "accuracy",
    confidence: float = 0.95,
    method: str = "wilson",
) -> EvalEvidence:
    """Usable evidence: status ok with one metric estimated from successes/n."""
    est = estimate_proportion(successes, n, confidence, method)  # type: ignore[arg-type]
    return EvalEvidence(
        eval_id=eval_id,
        status=EvidenceStatus.ok,
        metrics={metric: est},
        n_planned=n,
        n_scored=n,
    )


def failed(eval_id: str, status: str | EvidenceStatus, *, with_metric: bool = False) -> EvalEvidence:
    """Unusable evidence. `with_metric` attaches a (crossing) estimate anyway, to show that a
    non-ok status is never read as a number."""
    metrics = {"accuracy": estimate_proportion(CROSSES_HALF, N)} if with_metric else {}
    return EvalEvidence(
        eval_id=eval_id,
        status=EvidenceStatus(status),
        message=f"test record with status {status}",
        metrics=metrics,
    )


def evidence(*records: EvalEvidence) -> dict[str, EvalEvidence]:
    return {r.eval_id: r for r in records}
