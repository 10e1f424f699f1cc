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
from typing import Any

from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.stats import estimate_proportion
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.loader import load_policy, parse_policy
from scalegate.policy.schema import Policy
from scalegate.scoring import Scorecard

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


def scorecard(
    policy: Policy,
    pre: dict[str, str] | None = None,
    post: dict[str, str] | None = None,
    *,
    confirmed: bool = True,
    alerts: dict[str, list[str]] | None = None,
    effective_compute: float | None = None,
) -> Scorecard:
    """A scorecard with the levels given per domain (others at the baseline), for testing a
    framework's decision rules as its text states them, independent of any eval.

    `pre`/`post`: domain -> level on each side (post defaults to pre). `confirmed=False`
    builds the precautionary state: the level cannot be ruled out but is not confirmed.
    """
    from scalegate.scoring import (
        ConditionResult,
        DomainScore,
        MitigationView,
        State,
        ThresholdResult,
        undecided_comparisons,
    )

    base = policy.levels[0]

    def view(levels: dict[str, str]) -> dict[str, DomainScore]:
        out: dict[str, DomainScore] = {}
        for name, domain in policy.domains.items():
            level = levels.get(name, base)
            rank = policy.level_rank(level)
            results = [
                ThresholdResult(
                    level=lvl,
                    description=thr.description,
                    label=thr.label,
                    when=ConditionResult(
                        state=State.crossed if confirmed else State.inconclusive,
                        operationalized=thr.when is not None,
                    )
                    if policy.level_rank(lvl) <= rank
                    else ConditionResult(state=State.below, operationalized=thr.when is not None),
                    ruled_out=policy.level_rank(lvl) > rank,
                    alert=ConditionResult(state=State.crossed)
                    if lvl in (alerts or {}).get(name, [])
                    else None,
                    alert_fired=lvl in (alerts or {}).get(name, []),
                )
                for lvl, thr in domain.thresholds.items()
            ]
            out[name] = DomainScore(
                domain=name,
                title=domain.title,
                level=level,
                confirmed_level=level if confirmed else base,
                unknown=False,
                alerts=list((alerts or {}).get(name, [])),
                thresholds=sorted(results, key=lambda t: policy.level_rank(t.level)),
            )
        return out

    pre_view, post_view = view(pre or {}), view((pre or {}) if post is None else post)
    return Scorecard(
        pre_mitigation=MitigationView(domains=pre_view),
        post_mitigation=MitigationView(domains=post_view),
        undecided=undecided_comparisons(pre_view, post_view),
        evidence_status={e: EvidenceStatus.ok for e in policy.evals},
        inconclusive=not confirmed,
        effective_compute=effective_compute,
    )


def mock_outputs(*texts: str) -> list[Any]:
    """Inspect `mockllm` outputs with token usage set (Inspect's usage accounting needs it)."""
    from inspect_ai.model import ModelOutput, ModelUsage

    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return [
        ModelOutput.from_content(model="mockllm/model", content=t).model_copy(update={"usage": usage})
        for t in texts
    ]
