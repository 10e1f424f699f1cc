"""Dependent samples are never counted as independent: epochs are averaged per sample (and
refused at temperature 0), and clustered questions widen the interval. Real Inspect runs
with the mock model; seeded simulations with stated tolerances."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer
from inspect_ai.solver import Generate, TaskState, solver

from scalegate.errors import InputError
from scalegate.evals import grading
from scalegate.evals.runner import ModelTarget, check_epochs, evidence_from_log
from scalegate.evals.stats import ComparisonState, compare
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import EvalSpec, EvidenceRules, Statistics

MOCK = ModelTarget(reference="mockllm/model", inspect_model="mockllm/model")
RULES = EvidenceRules(min_samples=20)


@scorer(metrics=[accuracy()])
def _coin(seed: int):  # type: ignore[no-untyped-def]
    """A different, seeded outcome for every (sample, epoch): what sampling at temperature 1 gives."""

    async def score(state: TaskState, target: Target) -> Score:
        rng = random.Random(f"{seed}-{state.sample_id}-{state.epoch}")
        return Score(value=CORRECT if rng.random() < 0.5 else INCORRECT)

    return score


@solver
def _answer():  # type: ignore[no-untyped-def]
    """Answers without a model call (the mock model would count tokens with a downloaded encoding)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output = ModelOutput.from_content(model="mock", content="x")
        return state

    return solve


def _log(tmp_path: Path, epochs: int, temperature: float | None, n: int = 100):  # type: ignore[no-untyped-def]
    samples = [Sample(id=i, input=f"q{i}", target="x", metadata={"subject": f"s{i % 10}"}) for i in range(n)]
    task = Task(dataset=MemoryDataset(samples), solver=_answer(), scorer=_coin(1), epochs=epochs)
    extra = {} if temperature is None else {"temperature": temperature}
    [log] = inspect_eval(task, model="mockllm/model", log_dir=str(tmp_path), display="none", **extra)
    assert log.status == "success"
    return log


def test_five_epochs_at_temperature_one_count_one_hundred_observations(tmp_path: Path) -> None:
    log = _log(tmp_path, epochs=5, temperature=1.0)
    assert len(log.samples) == 500
    ev = evidence_from_log("e", EvalSpec(task="t"), log, MOCK, rules=RULES, statistics=Statistics())
    assert ev.status is EvidenceStatus.ok
    est = ev.metrics["accuracy"]
    assert est.n == 100 and ev.n_scored == 100 and ev.counts is not None and ev.counts.epochs == 5
    # the per-sample means of 5 coin flips: a fractional sum, one observation per question
    assert 0 < est.successes < 100 and est.successes * 5 == pytest.approx(round(est.successes * 5))


def test_epochs_at_temperature_zero_are_refused_for_scalegate_runs_and_noted_on_import(
    tmp_path: Path,
) -> None:
    with pytest.raises(InputError, match="5 epochs at temperature 0"):
        check_epochs(EvalSpec(task="t"), 5)
    check_epochs(EvalSpec(task="t", epochs_reason="an agent whose tools are stochastic"), 5)
    check_epochs(EvalSpec(task="t"), 1)
    log = _log(tmp_path, epochs=5, temperature=0.0)
    ev = evidence_from_log("e", EvalSpec(task="t"), log, MOCK, rules=RULES, statistics=Statistics())
    assert ev.metrics["accuracy"].n == 100
    assert "epochs at temperature 0" in (ev.message or "")


def test_a_real_log_is_clustered_by_the_field_the_policy_names(tmp_path: Path) -> None:
    log = _log(tmp_path, epochs=1, temperature=None)
    spec = EvalSpec(task="t", cluster="subject")
    ev = evidence_from_log("e", spec, log, MOCK, rules=RULES, statistics=Statistics())
    est = ev.metrics["accuracy"]
    assert est.clusters == 10 and est.design_effect is not None and est.design_effect >= 1
    plain = evidence_from_log("e", EvalSpec(task="t"), log, MOCK, rules=RULES, statistics=Statistics())
    assert est.low <= plain.metrics["accuracy"].low and est.high >= plain.metrics["accuracy"].high


def _clustered_false_allow(
    icc: float, groups: int, size: int, clustered: bool, reps: int, seed: int
) -> float:
    """P(ruled out | true mean = t) for `at_least: t` when per-cluster rates vary (Beta, given ICC)."""
    t = 0.5
    rng = np.random.default_rng(seed)
    stats = Statistics()
    allowed = 0
    for _ in range(reps):
        if icc > 0:
            k = (1 - icc) / icc
            rates = rng.beta(t * k, (1 - t) * k, size=groups)
        else:
            rates = np.full(groups, t)
        obs = [
            grading.Observation(f"{g}-{i}", int(v), cluster=str(g))
            for g in range(groups)
            for i, v in enumerate(rng.random(size) < rates[g])
        ]
        counts = grading.tally(obs, planned=len(obs), cluster_field="subject" if clustered else None)
        est = grading.estimate(counts, stats)
        assert est is not None
        allowed += compare(est.low, est.high, at_least=t) is ComparisonState.below
    return allowed / reps


@pytest.mark.parametrize(("icc", "groups", "size"), [(0.2, 57, 9), (0.2, 3, 40), (0.05, 57, 9)])
def test_clustered_questions_hold_the_level_only_with_the_cluster_robust_interval(
    icc: float, groups: int, size: int
) -> None:
    """Seeded, 600 draws: the cluster-robust interval keeps the one-sided 2.5% (+3 MC s.e.)."""
    reps = 600
    tolerance = 0.025 + 3 * math.sqrt(0.025 * 0.975 / reps)
    robust = _clustered_false_allow(icc, groups, size, True, reps, seed=11)
    assert robust <= tolerance, robust
    if icc >= 0.2 and groups > 3:
        naive = _clustered_false_allow(icc, groups, size, False, reps, seed=11)
        assert naive > tolerance, naive  # counted as independent, the gate allows too often
