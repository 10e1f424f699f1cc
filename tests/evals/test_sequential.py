"""Anytime-valid sequential stopping: the confidence sequence, the rule, Inspect's early stopping.

Hand-computed reference (uniform-prior beta-binomial mixture, alpha = 0.05):
  0 successes in n:  M_n(p) = 1 / ((n + 1) (1 - p)^n)  >= 1/alpha  iff  p >= 1 - (alpha/(n+1))^(1/n)
  n = 10:  high = 1 - (0.05/11)^(1/10) = 1 - exp(-0.539362) = 0.416880
Statistical tests run the same rule (`simulate`, checked cell by cell against `SequentialRule`)
over seeded Bernoulli streams; tolerances are three binomial standard errors of the estimated
rate, sqrt(alpha (1 - alpha) / R), so a correct method fails them with probability < 0.2%.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import read_eval_log
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import CORRECT, INCORRECT, SampleScore, Score, Target, accuracy, scorer
from inspect_ai.solver import Generate, TaskState, solver
from inspect_ai.util import EarlyStop
from pydantic import ValidationError

from scalegate.evals import sequential
from scalegate.evals.runner import ModelTarget, build_task, evidence_from_log, run_eval
from scalegate.evals.sequential import SequentialRule, SequentialStopping, bounds_table, simulate
from scalegate.evals.stats import (
    ComparisonState,
    clopper_pearson_interval,
    confidence_sequence_interval,
    cs_log_evidence,
    estimate_proportion,
    wilson_interval,
)
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import EvalSpec, EvidenceRules, Statistics
from tests.builders import policy_from
from tests.evals import simulated_provider  # registers the `simulated` model API

ALPHA = 0.05
SEQ = Statistics(interval="confidence_sequence", sequential=True)
RULES = EvidenceRules(min_samples=20)
MOD10 = EvalSpec(task="scalegate/modular_arithmetic", args={"modulus": 10})  # 100 questions


def tolerance(rate: float, runs: int) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / runs)


# --- the confidence sequence --------------------------------------------------------------------


def test_zero_successes_upper_bound_matches_closed_form() -> None:
    low, high = confidence_sequence_interval(0, 10, 0.95)
    assert low == 0.0
    assert high == pytest.approx(1 - (ALPHA / 11) ** (1 / 10), abs=1e-12)
    assert high == pytest.approx(0.416880, abs=1e-6)
    low, high = confidence_sequence_interval(10, 10, 0.95)  # mirrored
    assert (low, high) == (pytest.approx(0.583120, abs=1e-6), 1.0)


def test_bounds_are_where_the_mixture_integral_reaches_one_over_alpha() -> None:
    from scipy.integrate import quad

    s, n = 7, 20

    def mixture(p: float) -> float:  # the mixture written out, independent of the code's closed form
        num, _ = quad(lambda th: th**s * (1 - th) ** (n - s), 0, 1, epsabs=0, epsrel=1e-12)
        return num / (p**s * (1 - p) ** (n - s))

    low, high = confidence_sequence_interval(s, n, 0.95)
    for end in (low, high):
        assert mixture(end) == pytest.approx(1 / ALPHA, rel=1e-6)
        assert float(cs_log_evidence(s, n, end)) == pytest.approx(math.log(mixture(end)), abs=1e-8)
    assert mixture((low + high) / 2) < 1 / ALPHA


def test_confidence_sequence_is_wider_than_fixed_n_intervals_and_symmetric() -> None:
    for n in (1, 5, 20, 100, 400):
        for s in range(0, n + 1, max(1, n // 10)):
            low, high = confidence_sequence_interval(s, n, 0.95)
            assert low <= wilson_interval(s, n)[0] and high >= wilson_interval(s, n)[1]
            cp = clopper_pearson_interval(s, n)
            assert low <= cp[0] + 1e-12 and high >= cp[1] - 1e-12
            mirror = confidence_sequence_interval(n - s, n, 0.95)
            assert mirror == (pytest.approx(1 - high, abs=1e-12), pytest.approx(1 - low, abs=1e-12))


def test_estimate_names_the_method() -> None:
    est = estimate_proportion(30, 40, 0.9, "confidence_sequence")
    assert est.method == "confidence_sequence"
    assert (est.low, est.high) == confidence_sequence_interval(30, 40, 0.9)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        confidence_sequence_interval(0, 0)
    with pytest.raises(ValueError):
        confidence_sequence_interval(5, 4)
    with pytest.raises(ValueError):
        SequentialRule([("above", 0.5)], 0.95)
    with pytest.raises(ValueError):
        SequentialRule([], 0.95)


# --- policy fields ------------------------------------------------------------------------------


def test_sequential_is_off_by_default_and_needs_the_confidence_sequence() -> None:
    assert Statistics().sequential is False and Statistics().interval == "clopper_pearson"
    with pytest.raises(ValidationError, match="sequential: true needs interval: confidence_sequence"):
        Statistics(sequential=True)
    with pytest.raises(ValidationError, match="confidence_sequence"):
        Statistics(sequential=True, interval="clopper_pearson")
    assert Statistics(sequential=True, interval="confidence_sequence", sequential_seed=3).sequential_seed == 3


def test_thresholds_for_collects_comparisons_and_refuses_suites() -> None:
    policy = policy_from(
        """
        scalegate: 1
        policy: {name: seq, version: "1"}
        levels: [low, medium, high]
        statistics: {interval: confidence_sequence, sequential: true}
        evals:
          a: {task: t}
          b: {task: t}
          s1: {task: t}
          s2: {task: t}
        domains:
          cyber:
            title: Cyber
            thresholds:
              medium:
                description: m
                when: {any: [{eval: a, at_least: 0.5}, {not: {eval: b, at_most: 0.2}}]}
                alert: {eval: a, at_least: 0.3}
              high:
                description: h
                when:
                  all:
                    - {eval: a, at_least: 0.8}
                    - {suite: {evals: [s1, s2], attempts: 10, at_least_fraction: 0.5}}
        responses:
          - if: {pre_mitigation_at_least: high}
            block: [open_weights]
        """
    )
    assert sequential.thresholds_for(policy, "a") == [("at_least", 0.3), ("at_least", 0.5), ("at_least", 0.8)]
    assert sequential.thresholds_for(policy, "b") == [("at_most", 0.2)]
    assert sequential.thresholds_for(policy, "s1") is None  # a counting rule: every attempt runs
    assert sequential.thresholds_for(policy, "nowhere") is None


# --- the rule -----------------------------------------------------------------------------------


def test_rule_stops_once_every_threshold_is_settled_and_not_before_min_samples() -> None:
    rule = SequentialRule([("at_least", 0.5), ("at_most", 0.9)], 0.95, min_samples=10)
    for _ in range(9):
        assert rule.add(1) is False  # settled for 0.5 early, but the minimum is 10
    assert rule.states[0] is ComparisonState.crossed
    assert rule.add(1) is False  # at_most 0.9 is still open: 10/10 cannot rule out > 0.9
    n = 10
    while not rule.add(n % 5 != 0):  # 80% correct from here on
        n += 1
    assert rule.stopped_at == rule.n
    assert rule.states == [ComparisonState.crossed, ComparisonState.crossed]
    assert (rule.low, rule.high) == confidence_sequence_interval(rule.successes, rule.n, 0.95)
    with pytest.raises(RuntimeError):
        rule.add(1)


def test_vectorised_simulation_is_the_same_rule_cell_by_cell() -> None:
    stop_at = [("at_least", 0.35), ("at_most", 0.6)]
    n_max = 120
    low, high = bounds_table(n_max, 0.95)
    for n in range(1, n_max + 1):
        for s in range(n + 1):
            lo, hi = confidence_sequence_interval(s, n, 0.95)
            assert low[n, s] == pytest.approx(lo, abs=1e-12) and high[n, s] == pytest.approx(hi, abs=1e-12)
    rng = np.random.default_rng(7)
    x = (rng.random((60, n_max)) < rng.uniform(0.1, 0.9, (60, 1))).astype(int)
    sim = simulate(x, stop_at, 0.95, min_samples=5, table=(low, high))
    for row, stream in enumerate(x):
        rule = SequentialRule(stop_at, 0.95, min_samples=5)
        for outcome in stream:
            if rule.add(int(outcome)):
                break
        assert sim.stop_n[row] == rule.n and sim.settled[row] == (rule.stopped_at is not None)
        codes = {ComparisonState.crossed: 1, ComparisonState.below: -1, ComparisonState.inconclusive: 0}
        assert list(sim.states[row]) == [codes[s] for s in rule.states]


# --- the guarantee under continuous monitoring --------------------------------------------------

RUNS, HORIZON = 2000, 500


@pytest.fixture(scope="module")
def table() -> tuple[np.ndarray, np.ndarray]:
    return bounds_table(HORIZON, 1 - ALPHA)


def _streams(p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((RUNS, HORIZON)) < p).astype(np.int64)


@pytest.mark.parametrize(("p", "seed"), [(0.1, 1), (0.5, 2), (0.8, 3)])
def test_coverage_holds_at_every_sample_at_once(table: Any, p: float, seed: int) -> None:
    """P(p outside the interval at some n <= 500) <= alpha, looking after every sample."""
    low, high = table
    x = _streams(p, seed)
    s = np.cumsum(x, axis=1)
    n = np.arange(1, HORIZON + 1)
    missed = ((low[n, s] > p) | (high[n, s] < p)).any(axis=1)
    assert missed.mean() <= ALPHA + tolerance(ALPHA, RUNS)


@pytest.mark.parametrize(("op", "threshold", "p", "seed"), [
    ("at_least", 0.5, 0.5, 11),  # the worst case: true accuracy exactly at the threshold
    ("at_least", 0.5, 0.55, 12),
    ("at_least", 0.2, 0.2, 13),
    ("at_most", 0.3, 0.3, 14),  # at_most: ruling out is deciding the value lies above
    ("at_most", 0.3, 0.25, 15),
])  # fmt: skip
def test_false_allow_rate_is_at_most_alpha(
    table: Any, op: str, threshold: float, p: float, seed: int
) -> None:
    """Deciding `below` (ruled out) although the true accuracy is on the dangerous side."""
    sim = simulate(_streams(p, seed), [(op, threshold)], 1 - ALPHA, min_samples=1, table=table)
    false_allow = (sim.states[:, 0] == -1).mean()
    assert false_allow <= ALPHA + tolerance(ALPHA, RUNS)


def test_naive_repeated_wilson_peeking_violates_alpha_on_the_same_setup(table: Any) -> None:
    """Stopping on the first fixed-n Wilson interval that excludes the threshold: far above alpha."""
    from scipy.stats import norm

    x = _streams(0.5, 11)
    s = np.cumsum(x, axis=1)
    n = np.arange(1, HORIZON + 1)
    z = norm.ppf(1 - ALPHA / 2)
    phat = s / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    wilson_below = (centre + half < 0.5).any(axis=1).mean()
    wilson_any = ((centre - half > 0.5) | (centre + half < 0.5)).any(axis=1).mean()
    assert wilson_below > ALPHA + tolerance(ALPHA, RUNS)  # false allows well past alpha
    assert wilson_any > 3 * ALPHA
    # ...while the confidence sequence on the very same streams stays within alpha
    sim = simulate(x, [("at_least", 0.5)], 1 - ALPHA, table=table)
    assert (sim.states[:, 0] == -1).mean() <= ALPHA
    assert sim.settled.mean() <= ALPHA + tolerance(ALPHA, RUNS)


# --- the Inspect manager, driven by hand --------------------------------------------------------


def _score(value: str) -> dict[str, SampleScore]:
    return {"s": SampleScore(score=Score(value=value), sample_id=None)}


def test_manager_reads_outcomes_in_the_seeded_order_not_in_completion_order() -> None:
    async def go() -> tuple[SequentialStopping, list[EarlyStop | None]]:
        mgr = SequentialStopping([("at_least", 0.3)], 0.95, min_samples=3, seed=5)
        samples = [Sample(id=f"q{i}", input="x") for i in range(40)]
        assert await mgr.start_task(None, samples, 1) == sequential.MANAGER  # type: ignore[arg-type]
        for i in range(1, 30):  # everything but q0 finishes first: nothing can be used yet
            assert await mgr.schedule_sample(f"q{i}", 1) is None
            await mgr.complete_sample(f"q{i}", 1, _score(CORRECT))
        assert mgr.rule.n == 0
        await mgr.complete_sample("q0", 1, _score(CORRECT))  # now the prefix q0..q29 is complete
        return mgr, [await mgr.schedule_sample(f"q{i}", 1) for i in range(30, 40)]

    mgr, stops = asyncio.run(go())
    stopped_at = mgr.rule.stopped_at
    assert stopped_at is not None and 3 <= stopped_at < 30
    assert all(isinstance(s, EarlyStop) for s in stops)
    summary = mgr.summary()
    assert summary["stopped_early"] is True and summary["n_skipped"] == 10
    assert summary["used"] == [[f"q{i}", 1] for i in range(stopped_at)]
    assert summary["thresholds"] == [{"op": "at_least", "value": 0.3, "state": "crossed"}]


def test_manager_does_not_stop_past_an_unscorable_sample() -> None:
    async def go() -> SequentialStopping:
        mgr = SequentialStopping([("at_least", 0.3)], 0.95, min_samples=1)
        await mgr.start_task(None, [Sample(id=i, input="x") for i in range(50)], 1)  # type: ignore[arg-type]
        await mgr.complete_sample(0, 1, _score("partial credit"))
        for i in range(1, 50):
            await mgr.complete_sample(i, 1, _score(CORRECT))
        return mgr

    mgr = asyncio.run(go())
    assert mgr.rule.n == 0 and mgr.rule.stopped_at is None
    assert mgr.summary()["blocked_by"] == [0, 1]


# --- the full Inspect path with a simulated model of known accuracy ----------------------------


def _run_simulated(
    p: float, tmp_path: Path, stop_at: list[tuple[str, float]] | None, spec: EvalSpec = MOD10
) -> Any:
    target = ModelTarget(f"simulated/p={p}", f"simulated/p={p}")
    return run_eval(
        "mod",
        spec,
        target,
        log_dir=tmp_path,
        rules=RULES,
        statistics=SEQ,
        task=build_task(spec),
        stop_at=stop_at,
    )


@pytest.fixture(scope="module")
def far_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """True accuracy 0.95 against at_least 0.5: settled within a few dozen samples."""
    return _run_simulated(0.95, tmp_path_factory.mktemp("far"), [("at_least", 0.5)])


def test_simulated_model_far_from_the_threshold_stops_early_and_is_ok(far_run: Any) -> None:
    ev = far_run
    assert ev.status is EvidenceStatus.ok  # skipped samples are planned, not missing: not partial
    est = ev.metrics["accuracy"]
    assert est.method == "confidence_sequence"
    assert RULES.min_samples <= est.n < ev.n_planned == 100
    assert est.low >= 0.5
    assert ev.n_scored < 100 and ev.n_errors == 0
    assert "sequential: stopped after" in (ev.message or "")
    log = read_eval_log(ev.log_path)
    summary = log.results.early_stopping
    assert summary.manager == sequential.MANAGER
    assert len(summary.early_stops) == 100 - ev.n_scored > 0
    assert summary.metadata["stopped_at"] == est.n and summary.metadata["successes"] == est.successes
    assert summary.metadata["thresholds"] == [{"op": "at_least", "value": 0.5, "state": "crossed"}]
    # the samples were drawn in the seeded order, and the estimate reads its first n
    ids = [s.id for s in build_task(MOD10).dataset]
    order = [ids[i] for i in sequential.seeded_order(ids, SEQ.sequential_seed)]
    assert [u[0] for u in summary.metadata["used"]] == order[: est.n]


def test_simulated_model_near_the_threshold_runs_every_sample(tmp_path: Path) -> None:
    ev = _run_simulated(0.5, tmp_path, [("at_least", 0.5)])
    assert ev.status is EvidenceStatus.ok
    est = ev.metrics["accuracy"]
    assert est.n == ev.n_scored == ev.n_planned == 100
    assert est.method == "confidence_sequence" and est.low < 0.5 <= est.high
    assert "did not settle" in (ev.message or "")
    assert read_eval_log(ev.log_path).results.early_stopping.early_stops == []


def test_regrading_a_stopped_log_keeps_the_confidence_sequence(far_run: Any) -> None:
    ev = far_run
    log = read_eval_log(ev.log_path)
    target = ModelTarget("simulated/p=0.95", "simulated/p=0.95")
    again = evidence_from_log("mod", MOD10, log, target, rules=RULES, statistics=Statistics())
    assert again.status is EvidenceStatus.ok
    assert again.metrics["accuracy"] == ev.metrics["accuracy"]  # not a Wilson interval at the stop
    est = ev.metrics["accuracy"]
    stricter = evidence_from_log(
        "mod", MOD10, log, target, rules=RULES, statistics=Statistics(confidence=0.99)
    )
    assert (
        stricter.metrics["accuracy"].low,
        stricter.metrics["accuracy"].high,
    ) == confidence_sequence_interval(
        est.successes, est.n, 0.99
    )  # valid at any level: the sequence holds at every n, so also at the stopping n


def test_a_stopping_record_that_disagrees_with_the_samples_is_an_error(far_run: Any) -> None:
    log = read_eval_log(far_run.log_path)
    log.results.early_stopping.metadata["successes"] -= 1
    target = ModelTarget("simulated/p=0.95", "simulated/p=0.95")
    ev = evidence_from_log("mod", MOD10, log, target, rules=RULES, statistics=SEQ)
    assert ev.status is EvidenceStatus.error and ev.metrics == {}
    assert "does not match" in (ev.message or "")


def test_without_sequential_or_thresholds_every_sample_runs(tmp_path: Path) -> None:
    spec = EvalSpec(task="scalegate/modular_arithmetic", args={"modulus": 10, "limit": 40})
    target = ModelTarget("simulated/p=0.95", "simulated/p=0.95")
    off = run_eval(
        "mod",
        spec,
        target,
        log_dir=tmp_path,
        rules=RULES,
        statistics=Statistics(),
        task=build_task(spec),
        stop_at=[("at_least", 0.5)],
    )
    assert off.status is EvidenceStatus.ok and off.n_scored == 40
    assert off.metrics["accuracy"].method == "clopper_pearson" and off.message is None
    no_thresholds = _run_simulated(0.95, tmp_path, None, spec)
    assert no_thresholds.n_scored == 40 and no_thresholds.metrics["accuracy"].method == "confidence_sequence"


@solver
def _answer_yes_but_fail_on(ids: set[int]):  # type: ignore[no-untyped-def]
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.sample_id in ids:
            raise RuntimeError(f"sample {state.sample_id} broke")
        state.output = ModelOutput.from_content(model="mock", content="yes")
        return state

    return solve


@scorer(metrics=[accuracy()])
def _always(value: str):  # type: ignore[no-untyped-def]
    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=value)

    return score


def test_errored_samples_still_make_sequential_evidence_partial(tmp_path: Path) -> None:
    ids = list(range(60))
    first = ids[sequential.seeded_order(ids, 0)[0]]  # the first sample in the seeded order
    task = Task(
        dataset=MemoryDataset([Sample(id=i, input=f"q{i}", target="yes") for i in ids]),
        solver=_answer_yes_but_fail_on({first}),
        scorer=_always(CORRECT),
    )
    ev = run_eval(
        "e",
        EvalSpec(task="custom"),
        ModelTarget("mockllm/model", "mockllm/model"),
        log_dir=tmp_path,
        rules=RULES,
        statistics=SEQ,
        task=task,
        stop_at=[("at_least", 0.5)],
    )
    assert ev.status is EvidenceStatus.partial
    assert "errored" in (ev.message or "") and ev.n_errors == 1
    assert ev.metrics == {}  # the rule could not read past the errored first sample


def test_integer_sample_ids_round_trip_through_the_log(tmp_path: Path) -> None:
    task = Task(
        dataset=MemoryDataset([Sample(id=i, input=f"q{i}", target="yes") for i in range(200)]),
        solver=_answer_yes_but_fail_on(set()),
        scorer=_always(CORRECT),
    )
    ev = run_eval(
        "e",
        EvalSpec(task="custom"),
        ModelTarget("mockllm/model", "mockllm/model"),
        log_dir=tmp_path,
        rules=RULES,
        statistics=SEQ,
        task=task,
        stop_at=[("at_least", 0.5), ("at_most", 0.99)],  # 0.99 cannot be settled: all 200 run
    )
    assert ev.status is EvidenceStatus.ok and ev.n_scored == 200
    est = ev.metrics["accuracy"]
    assert (est.successes, est.n) == (200, 200)
    assert "did not settle" in (ev.message or "") and "at_most 0.99: inconclusive" in (ev.message or "")
    assert len(task.dataset) == 200 and [s.id for s in task.dataset][:3] == [
        0,
        1,
        2,
    ]  # caller's task untouched


class _SkipHalf:
    """Another early-stopping manager: its skips are not scalegate's planned stops."""

    async def start_task(self, task: Any, samples: list[Sample], epochs: int) -> str:
        return "someone_else"

    async def schedule_sample(self, id: str | int, epoch: int) -> EarlyStop | None:
        return EarlyStop(id=id, epoch=epoch, reason="skip") if int(id) % 2 else None

    async def complete_sample(self, id: str | int, epoch: int, scores: dict[str, SampleScore]) -> None:
        return None

    async def complete_task(self) -> dict[str, Any]:
        return {}


def test_samples_skipped_by_another_manager_make_evidence_partial(tmp_path: Path) -> None:
    task = Task(
        dataset=MemoryDataset([Sample(id=i, input=f"q{i}", target="yes") for i in range(40)]),
        solver=_answer_yes_but_fail_on(set()),
        scorer=_always(INCORRECT),
        early_stopping=_SkipHalf(),
    )
    ev = run_eval(
        "e",
        EvalSpec(task="custom"),
        ModelTarget("mockllm/model", "mockllm/model"),
        log_dir=tmp_path,
        rules=RULES,
        statistics=Statistics(),
        task=task,
    )
    assert ev.status is EvidenceStatus.partial and "20 of 40" in (ev.message or "")


def test_simulated_provider_has_the_accuracy_it_claims() -> None:
    ids = [f"mod10-{a}-{b}" for a in range(100) for b in range(100)]
    share = np.mean([simulated_provider.answers_correctly(i, 0.7) for i in ids])
    assert share == pytest.approx(0.7, abs=3 * math.sqrt(0.21 / len(ids)))


SEQ_POLICY = """
scalegate: 1
policy: {name: sequential e2e, version: "1"}
levels: [low, high]
statistics: {confidence: 0.95, interval: confidence_sequence, sequential: true}
evidence: {min_samples: 10}
evals:
  k:
    task: scalegate/mmlu_proxy
    chance: 0.25
    args: {subjects: [computer security], limit: 100, seed: 1}
domains:
  d:
    title: D
    thresholds:
      high: {description: expert accuracy, when: {eval: k, at_least: 0.9}}
responses:
  - {id: gate, if: {pre_mitigation_at_least: high}, block: [external_deployment]}
"""


def test_assess_stops_early_far_from_the_threshold_and_the_ledger_verifies(
    tiny_llama: Path, tmp_path: Path
) -> None:
    import json
    import textwrap

    from tests.conftest import run_cli

    (tmp_path / "policy.yaml").write_text(textwrap.dedent(SEQ_POLICY).lstrip())
    done = run_cli(
        "assess", "--policy", "policy.yaml", "--model", f"hf/{tiny_llama}",
        "--json", "--out", "out", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    ev = result["evidence"]["k"]
    est = ev["metrics"]["accuracy"]
    assert ev["status"] == "ok", ev
    assert est["method"] == "confidence_sequence"
    assert est["n"] < 100 and est["high"] < 0.9  # settled below 0.9 before the end
    assert ev["message"].startswith("sequential: stopped after")
    assert result["decision"]["actions"]["external_deployment"]["status"] == "allowed"
    verified = run_cli("ledger", "verify", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
