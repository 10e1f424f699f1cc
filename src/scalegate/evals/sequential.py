"""Anytime-valid sequential stopping of an eval, through Inspect's early-stopping protocol.

Samples run in a seeded random order. After each one, in that order, the confidence sequence
of stats.py (Robbins' beta-binomial mixture) is compared with every threshold that reads the
eval; once each comparison is settled (`crossed` or `below`) the remaining samples are skipped.
The interval reported is the confidence sequence at the stopping sample, so the guarantee
holds however often the eval is looked at: with probability >= `confidence` the true accuracy
lies inside every interval of the sequence at once. See docs/design/sequential.md.

Concurrent samples may finish in any order, and how long a sample takes may depend on whether
it is answered correctly; the rule therefore reads outcomes only along the seeded order (a
sample is used once every sample before it has finished), never in order of completion.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt
from pydantic import JsonValue

from scalegate.evals.stats import (
    ComparisonState,
    compare,
    confidence_sequence_bounds,
    confidence_sequence_interval,
)
from scalegate.policy.conditions import Bound, leaves

if TYPE_CHECKING:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.log import EvalSpec as InspectEvalSpec
    from inspect_ai.scorer import SampleScore
    from inspect_ai.util import EarlyStop

    from scalegate.policy.schema import Policy

#: The manager's name in the Inspect log (`log.results.early_stopping.manager`).
MANAGER = "scalegate_sequential"
METHOD = "confidence_sequence"
REFERENCE = (
    "Robbins (1970) beta-binomial mixture, uniform prior; Howard, Ramdas, McAuliffe & Sekhon "
    "(2021), Time-uniform, nonparametric, nonasymptotic confidence sequences, Ann. Statist. 49(2)"
)

Op = Literal["at_least", "at_most"]
#: The thresholds on one eval's metric: ("at_least" | "at_most", value).
StopAt = Sequence[tuple[str, float]]
SampleKey = tuple[str | int, int]  # (sample id, epoch)

_CODE = {ComparisonState.crossed: 1, ComparisonState.below: -1, ComparisonState.inconclusive: 0}


def check_stop_at(stop_at: StopAt) -> list[tuple[Op, float]]:
    """Validate (op, value) pairs; an empty list is an error (there is nothing to settle)."""
    out: list[tuple[Op, float]] = []
    for op, value in stop_at:
        if op not in ("at_least", "at_most"):
            raise ValueError(f"threshold operator must be at_least or at_most, got {op!r}")
        out.append((cast(Op, op), float(value)))
    if not out:
        raise ValueError("sequential stopping needs at least one threshold")
    return out


def binary_value(value: Any) -> int | None:
    """A correct/incorrect score as 1/0; anything else (partial credit, text) is None."""
    if isinstance(value, str):
        return {"C": 1, "I": 0}.get(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    return None


def is_settled(states: Sequence[ComparisonState]) -> bool:
    return all(s in (ComparisonState.crossed, ComparisonState.below) for s in states)


class SequentialRule:
    """The stopping rule as a plain state machine, fed one outcome at a time in the seeded order.

    Stops at the first n >= `min_samples` at which the confidence sequence at (successes, n)
    settles every threshold at once, so the reported interval is a function of
    (successes, n, confidence) alone and `compare()` on it gives the decisions below.
    """

    def __init__(self, stop_at: StopAt, confidence: float, min_samples: int = 1) -> None:
        self.stop_at = check_stop_at(stop_at)
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
        self.confidence = confidence
        self.min_samples = max(1, min_samples)
        self.successes = 0
        self.n = 0
        self.low, self.high = 0.0, 1.0
        self.states = [ComparisonState.inconclusive for _ in self.stop_at]
        self.stopped_at: int | None = None

    def add(self, outcome: int) -> bool:
        """Add one outcome (1 correct, 0 not); True once the rule has stopped."""
        if self.stopped_at is not None:
            raise RuntimeError("the rule has already stopped")
        if outcome not in (0, 1):
            raise ValueError(f"an outcome is 0 or 1, got {outcome!r}")
        self.n += 1
        self.successes += outcome
        self.low, self.high = confidence_sequence_interval(self.successes, self.n, self.confidence)
        self.states = [compare(self.low, self.high, **{op: value}) for op, value in self.stop_at]
        if self.n >= self.min_samples and is_settled(self.states):
            self.stopped_at = self.n
        return self.stopped_at is not None


# --- the same rule over many simulated streams at once (tests, benchmark) ----------------------


def bounds_table(n_max: int, confidence: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """low[n, s], high[n, s]: the confidence sequence at every (s successes, n samples), n <= n_max.

    Row 0 and cells with s > n are NaN. `confidence_sequence_bounds` runs the same bisection as
    the `confidence_sequence_interval` that `SequentialRule` calls, vectorised; tests check that
    the two agree to rounding cell by cell, and that both reach the same decisions.
    """
    n, s = np.meshgrid(np.arange(n_max + 1), np.arange(n_max + 1), indexing="ij")
    valid = (n >= 1) & (s <= n)
    low = np.full(n.shape, np.nan)
    high = np.full(n.shape, np.nan)
    lo, hi = confidence_sequence_bounds(s[valid], n[valid], confidence)
    low[valid], high[valid] = lo, hi
    return low, high


def state_codes(
    low: npt.NDArray[np.float64], high: npt.NDArray[np.float64], op: str, value: float
) -> npt.NDArray[np.int8]:
    """`compare()` over arrays: 1 crossed, -1 below, 0 inconclusive."""
    if op == "at_least":
        crossed, below = low >= value, high < value
    elif op == "at_most":
        crossed, below = high <= value, low > value
    else:
        raise ValueError(f"threshold operator must be at_least or at_most, got {op!r}")
    return np.where(crossed, 1, np.where(below, -1, 0)).astype(np.int8)


@dataclass(frozen=True)
class Simulation:
    """Outcome of the stopping rule on each of R streams."""

    stop_n: npt.NDArray[np.int64]  # samples used: the stopping n, or N when never settled
    settled: npt.NDArray[np.bool_]  # stopped before running out of samples
    states: npt.NDArray[np.int8]  # (R, thresholds): 1 crossed, -1 below, 0 inconclusive at stop_n
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]


def simulate(
    outcomes: npt.NDArray[Any],
    stop_at: StopAt,
    confidence: float,
    min_samples: int = 1,
    table: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None,
) -> Simulation:
    """Run `SequentialRule` over R streams of N outcomes (an R x N 0/1 array), vectorised."""
    pairs = check_stop_at(stop_at)
    x = np.asarray(outcomes, dtype=np.int64)
    r, n_max = x.shape
    low_t, high_t = table if table is not None else bounds_table(n_max, confidence)
    if low_t.shape[0] < n_max + 1:
        raise ValueError("the bounds table is shorter than the streams")
    s = np.cumsum(x, axis=1)
    n = np.broadcast_to(np.arange(1, n_max + 1), s.shape)
    low, high = low_t[n, s], high_t[n, s]
    codes = np.stack([state_codes(low, high, op, v) for op, v in pairs], axis=-1)
    stop = np.all(codes != 0, axis=-1) & (n >= max(1, min_samples))
    settled = stop.any(axis=1)
    idx = np.where(settled, stop.argmax(axis=1), n_max - 1)
    rows = np.arange(r)
    return Simulation(
        stop_n=(idx + 1).astype(np.int64),
        settled=settled,
        states=codes[rows, idx],
        low=low[rows, idx],
        high=high[rows, idx],
    )


# --- Inspect ------------------------------------------------------------------------------------


class SequentialStopping:
    """An Inspect `EarlyStopping` manager (inspect_ai.util) for one eval's thresholds.

    `start_task` takes the order in which Inspect will schedule the samples (epoch-major, in
    dataset order: `sequential_task` has already put the dataset in its seeded order).
    `complete_sample` records each outcome and feeds the rule the longest finished prefix of
    that order; once the rule has stopped, `schedule_sample` skips every sample not yet
    started. Samples already running finish and are logged, but are not part of the estimate.
    """

    def __init__(
        self, stop_at: StopAt, confidence: float, *, min_samples: int = 1, seed: int | None = None
    ) -> None:
        self.rule = SequentialRule(stop_at, confidence, min_samples)
        self.seed = seed
        self._order: list[SampleKey] = []
        self._position: dict[SampleKey, int] = {}
        self._outcomes: dict[int, int | None] = {}
        self._next = 0
        self._started = 0
        self._completed = 0
        self._skipped = 0
        self._started_at_stop: int | None = None
        self._blocked: SampleKey | None = None

    async def start_task(self, task: InspectEvalSpec, samples: list[Sample], epochs: int) -> str:
        order: list[SampleKey] = []
        for epoch in range(1, epochs + 1):
            for i, sample in enumerate(samples):
                order.append((sample.id if sample.id is not None else i + 1, epoch))
        self._order = order
        self._position = {key: i for i, key in enumerate(order)}
        return MANAGER

    async def schedule_sample(self, id: str | int, epoch: int) -> EarlyStop | None:
        from inspect_ai.util import EarlyStop

        if self.rule.stopped_at is None:
            self._started += 1
            return None
        self._skipped += 1
        return EarlyStop(
            id=id,
            epoch=epoch,
            reason=self.reason(),
            metadata={"stopped_at": self.rule.stopped_at, "successes": self.rule.successes},
        )

    async def complete_sample(self, id: str | int, epoch: int, scores: dict[str, SampleScore]) -> None:
        self._completed += 1
        pos = self._position.get((id, epoch))
        if pos is None or pos < self._next:
            return  # not a planned sample, or a re-run of one already used: the prefix is fixed
        first = next(iter(scores.values()), None)
        self._outcomes[pos] = binary_value(first.score.value) if first is not None else None
        self._advance()

    def _advance(self) -> None:
        while self.rule.stopped_at is None and self._next in self._outcomes:
            value = self._outcomes[self._next]
            if value is None:  # unscorable: the prefix cannot pass it, so no early stop
                self._blocked = self._order[self._next]
                return
            self._blocked = None
            self.rule.add(value)
            self._next += 1
        if self.rule.stopped_at is not None and self._started_at_stop is None:
            self._started_at_stop = self._started

    async def complete_task(self) -> dict[str, JsonValue]:
        return self.summary()

    def reason(self) -> str:
        rule = self.rule
        if rule.stopped_at is None:
            return "the confidence sequence has not settled every threshold"
        pairs = zip(rule.stop_at, rule.states, strict=True)
        decided = ", ".join(f"{op} {v:g}: {st}" for (op, v), st in pairs)
        return (
            f"confidence sequence at {rule.confidence:g} settled every threshold after "
            f"{rule.stopped_at} samples ({decided})"
        )

    def summary(self) -> dict[str, JsonValue]:
        rule = self.rule
        used: list[JsonValue] = [[key[0], key[1]] for key in self._order[: rule.n]]
        return {
            "method": METHOD,
            "reference": REFERENCE,
            "confidence": rule.confidence,
            "seed": self.seed,
            "min_samples": rule.min_samples,
            "n_planned": len(self._order),
            "n_started": self._started,
            "n_started_at_stop": self._started_at_stop,
            "n_completed": self._completed,
            "n_skipped": self._skipped,
            "n_used": rule.n,
            "successes": rule.successes,
            "low": rule.low if rule.n else None,
            "high": rule.high if rule.n else None,
            "stopped_at": rule.stopped_at,
            "stopped_early": rule.stopped_at is not None and self._skipped > 0,
            "reason": self.reason(),
            "blocked_by": [self._blocked[0], self._blocked[1]] if self._blocked else None,
            "thresholds": [
                {"op": op, "value": v, "state": str(st)}
                for (op, v), st in zip(rule.stop_at, rule.states, strict=True)
            ],
            "used": used,
        }


def seeded_order(ids: Sequence[str | int | None], seed: int) -> list[int]:
    """A permutation of range(len(ids)) that depends only on the ids and the seed."""
    keys = sorted(range(len(ids)), key=lambda i: (ids[i] is None, str(ids[i]), i))
    random.Random(seed).shuffle(keys)
    return keys


def planned_order(ids: Sequence[str | int], epochs: int, seed: int) -> list[SampleKey]:
    """The order the rule reads a run's outcomes in: epoch-major over the seeded order, as
    `sequential_task` schedules them and `SequentialStopping.start_task` records them."""
    order = seeded_order(list(ids), seed)
    return [(ids[i], epoch) for epoch in range(1, epochs + 1) for i in order]


def replay(
    order: Sequence[SampleKey],
    outcomes: dict[SampleKey, int | None],
    stop_at: StopAt,
    confidence: float,
    *,
    min_samples: int,
    seed: int | None,
    skipped: int,
) -> dict[str, JsonValue]:
    """The record `SequentialStopping` writes, computed afresh from a run's outcomes: the
    rule's decision depends only on the outcomes along `order`, never on when each was
    learned, so outcomes gathered from many workers give exactly the single process's stop.
    `skipped`: samples the run did not start because the rule had stopped."""
    manager = SequentialStopping(stop_at, confidence, min_samples=min_samples, seed=seed)
    manager._order = list(order)
    manager._position = {key: i for i, key in enumerate(order)}
    manager._outcomes = {manager._position[k]: v for k, v in outcomes.items() if k in manager._position}
    manager._started = manager._completed = len(outcomes)
    manager._skipped = skipped
    manager._advance()
    manager._started_at_stop = None  # when the stop reached each worker is in its own log
    return manager.summary()


def sequential_task(task: Task, stop_at: StopAt, confidence: float, *, min_samples: int, seed: int) -> Task:
    """A shallow copy of `task` whose samples run in a seeded random order and which stops early.

    The caller's task is left as it was, so building it once and running it twice gives the
    same order both times.
    """
    from inspect_ai.dataset import MemoryDataset

    samples = list(task.dataset)
    order = seeded_order([s.id for s in samples], seed)
    out = copy.copy(task)
    out.dataset = MemoryDataset(
        [samples[i] for i in order],
        name=task.dataset.name,
        location=task.dataset.location,
        shuffled=True,
    )
    out.early_stopping = SequentialStopping(stop_at, confidence, min_samples=min_samples, seed=seed)
    return out


def record_from_log(log: Any) -> dict[str, Any] | None:
    """This manager's summary from an Inspect EvalLog, or None when it did not run."""
    results = getattr(log, "results", None)
    summary = getattr(results, "early_stopping", None) if results is not None else None
    if summary is None or summary.manager != MANAGER:
        return None
    record = dict(summary.metadata)
    record["early_stops"] = len(summary.early_stops)
    return record


def describe(record: dict[str, Any]) -> str:
    """One line for the evidence message: whether and why the eval stopped early."""
    planned, used = record.get("n_planned"), record.get("n_used")
    decided = ", ".join(f"{t['op']} {t['value']:g}: {t['state']}" for t in record.get("thresholds", []))
    if record.get("stopped_at") is not None:
        return (
            f"sequential: stopped after {used} of {planned} planned samples, the confidence sequence "
            f"having settled every threshold ({decided}); {record.get('early_stops', 0)} skipped"
        )
    return (
        f"sequential: no early stop, the confidence sequence did not settle every threshold "
        f"({decided}) within {used} samples of {planned}"
    )


def thresholds_for(
    policy: Policy, eval_id: str, metric: str = "accuracy", also: Iterable[Bound] = ()
) -> list[tuple[str, float]] | None:
    """Every (op, value) comparison the policy makes on `eval_id`'s `metric`, for `run_eval(stop_at=)`.

    Reads each threshold's `when` and `alert` (`conditions.leaves`, either polarity: the
    interval must settle every line whichever way it counts), and the comparisons in `also`
    (the eval links of safety cases). None (run every sample) when the eval is read in a way
    an interval does not decide: by a task suite (a counting rule over attempts), by a
    relative claim (a comparison with a reference reads a fixed-n sample: a run stopped by
    its own outcomes cannot be paired), or through another metric.
    """
    conds = [c for d in policy.domains.values() for t in d.thresholds.values() for c in (t.when, t.alert)]
    found: list[Bound] = [*also]
    for cond in conds:
        for leaf, _positive in leaves(cond):
            if leaf.suite is not None and eval_id in leaf.suite.evals:
                return None
            if leaf.relative is not None and eval_id in leaf.relative.evals:
                return None
            bound = leaf.bound()
            if bound is not None:
                found.append(bound)
    mine = [b for b in found if b.eval == eval_id]
    if not mine or any((b.metric or "accuracy") != metric for b in mine):
        return None
    return sorted({(b.op.value, float(b.value)) for b in mine})
