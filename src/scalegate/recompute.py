"""The decision from recorded inputs alone: what an auditor runs to check a record.

Shared by `assessment.recompute` and `ledger verify`, so the two can never disagree on what a
recorded assessment decides. Imports nothing that runs models (an audit bundle verifies in a
virtual environment without Inspect or torch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.grading import regrade_all
from scalegate.gates import Decision, decide
from scalegate.policy.schema import CheckName, Policy
from scalegate.relative import RelativeInputs
from scalegate.safety_case import CaseResult, evaluate_case
from scalegate.scoring import Scorecard, build_scorecard


def decide_again(
    policy: Policy,
    evidence: Mapping[str, EvalEvidence],
    checkpoint: Mapping[str, Any],
    protections: set[str],
    cases: Mapping[str, CaseResult],
    post_evidence: Mapping[str, EvalEvidence] | None = None,
    relative: RelativeInputs | None = None,
) -> tuple[Scorecard, Decision]:
    """Scorecard and decision from the evidence, the checkpoint's compute figures, the
    protections in place, the submitted safety cases (re-checked against the evidence and
    the document digests recorded with them) and what the relative claims read (the model's
    per-sample scores and the resolved references). The evidence is re-graded by `policy`
    first (evals/grading.py): a record graded under other rules is read under these."""
    evidence, post_evidence = graded(policy, evidence, post_evidence)
    scorecard = build_scorecard(
        policy,
        dict(evidence),
        checkpoint.get("effective_compute"),
        post_evidence=None if post_evidence is None else dict(post_evidence),
        training_compute=checkpoint.get("training_compute"),
        relative=relative,
    )
    checked = {
        name: evaluate_case(policy, r.case, dict(evidence), protections, r.documents)
        for name, r in cases.items()
        if r.case is not None
    }
    return scorecard, decide(policy, scorecard, protections, checked)


def graded(
    policy: Policy,
    evidence: Mapping[str, EvalEvidence],
    post_evidence: Mapping[str, EvalEvidence] | None = None,
) -> tuple[dict[str, EvalEvidence], dict[str, EvalEvidence] | None]:
    """Pre- and post-mitigation evidence re-graded by `policy`."""

    def again(
        evs: Mapping[str, EvalEvidence], checks: dict[str, list[CheckName]] | None
    ) -> dict[str, EvalEvidence]:
        return regrade_all(evs, policy.evals, policy.statistics, policy.evidence, checks)

    # sandbagging checks are about what the model can do: pre-mitigation evidence only
    checks = {e: policy.checks_for(e) for e in policy.evals}
    return again(evidence, checks), None if post_evidence is None else again(post_evidence, None)
