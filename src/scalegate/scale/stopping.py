"""Distributed sequential stopping: one stopping rule for a run whose samples many workers score.

The single process's rule (evals/sequential.py) reads outcomes along a seeded order and stops
at the first n at which the confidence sequence settles every threshold; it is a function of
the outcomes along that order alone. So a sequential run is sharded round-robin along that
order, each shard runs its samples in it, each worker writes every finished sample's outcome
to the store (`SharedStop.complete_sample`), and the coordinator (`Watcher`) feeds the one
rule the longest finished prefix of the order, exactly as the single process does. Once the
rule settles, it writes the run's stop marker; every worker, at its next sample, skips the
rest (an Inspect early stop, recorded in its log). Samples already running finish and are
logged, outside the estimate, as in one process.

The marker only saves work. The merge recomputes the rule from the merged logs
(`merged_record`), so the evidence is what one process would have reported for the same
outcomes; a stop the logs do not bear out (a gap in the prefix, a rule that does not settle)
leaves the run incomplete: fails closed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from scalegate.evals import sequential
from scalegate.scale.store import Store

if TYPE_CHECKING:
    from inspect_ai.scorer import SampleScore
    from inspect_ai.util import EarlyStop

log = logging.getLogger(__name__)

#: The worker's early-stopping manager, as named in each shard's Inspect log.
STOP_MANAGER = "scalegate_shared_stop"
OUTCOMES = "outcomes"


def stop_rel(key: str) -> str:
    """The run's stop marker in the store (all shards of a run share its cache key)."""
    return f"stops/{key}.json"


def outcome_rel(unit_rel: str, sample_id: str | int, epoch: int) -> str:
    digest = hashlib.sha256(json.dumps([type(sample_id).__name__, str(sample_id)]).encode()).hexdigest()
    return f"{unit_rel}/{OUTCOMES}/{epoch}-{digest[:24]}.json"


class SharedStop:
    """A shard's Inspect early-stopping manager: reports each outcome, obeys the run's marker."""

    def __init__(self, store: Store, unit_rel: str, key: str, poll_seconds: float = 0.2) -> None:
        self.store = store
        self.unit_rel = unit_rel
        self.key = key
        self.poll_seconds = poll_seconds
        self._checked = float("-inf")
        self._marker: dict[str, Any] | None = None
        self._skipped = 0
        self._reported = 0

    async def start_task(self, task: Any, samples: list[Any], epochs: int) -> str:
        return STOP_MANAGER

    def _stopped(self) -> dict[str, Any] | None:
        now = time.monotonic()
        if self._marker is None and now - self._checked >= self.poll_seconds:
            self._checked = now
            raw = self.store.read(stop_rel(self.key))
            if raw is not None:
                try:
                    marker = json.loads(raw)
                except ValueError:
                    marker = None
                # half a marker, or not a marker, is none: keep running (more work, never less)
                self._marker = marker if isinstance(marker, dict) else None
        return self._marker

    async def schedule_sample(self, id: str | int, epoch: int) -> EarlyStop | None:
        from anyio import to_thread
        from inspect_ai.util import EarlyStop

        marker = await to_thread.run_sync(self._stopped)
        if marker is None:
            return None
        self._skipped += 1
        reason = f"the coordinator's confidence sequence settled the run: {marker.get('reason', '')}"
        return EarlyStop(id=id, epoch=epoch, reason=reason[:500], metadata={"stopped_at": marker.get("n")})

    async def complete_sample(self, id: str | int, epoch: int, scores: dict[str, SampleScore]) -> None:
        from anyio import to_thread

        first = next(iter(scores.values()), None)
        value = sequential.binary_value(first.score.value) if first is not None else None
        data = json.dumps({"id": id, "epoch": epoch, "value": value}).encode()
        await to_thread.run_sync(self.store.write, outcome_rel(self.unit_rel, id, epoch), data)
        self._reported += 1

    async def complete_task(self) -> dict[str, JsonValue]:
        return {"skipped": self._skipped, "reported": self._reported, "stopped_by": self._marker}


@dataclass
class Watched:
    """One sequential run the coordinator watches."""

    key: str
    unit_rels: list[str]
    order: list[tuple[str, int]]  # the rule's order, ids as text (outcomes travel as JSON)
    rule: sequential.SequentialRule
    position: int = 0
    outcomes: dict[tuple[str, int], int | None] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    stopped: bool = False


def watched(key: str, unit_rels: list[str], run: Any, config: dict[str, Any], epochs: int) -> Watched:
    """`config`: the run's `sequential_config` (thresholds, confidence, min samples, seed)."""
    ids = [s.id for s in run.task.dataset]
    order = [(str(i), e) for i, e in sequential.planned_order(ids, epochs, config["seed"])]
    rule = sequential.SequentialRule(config["stop_at"], config["confidence"], config["min_samples"])
    return Watched(key, unit_rels, order, rule)


class Watcher:
    """Feeds each watched run's rule from the outcomes its workers write; stops settled runs."""

    def __init__(self, store: Store, runs: list[Watched], poll_seconds: float = 1.0) -> None:
        self.store = store
        self.runs = runs
        self.poll_seconds = poll_seconds

    def poll(self) -> None:
        for w in self.runs:
            if w.stopped:
                continue
            self._read(w)
            while w.rule.stopped_at is None and w.position < len(w.order):
                value = w.outcomes.get(w.order[w.position], -1)
                if value is None or value == -1:  # not in yet, or unscorable: the prefix waits
                    break
                w.rule.add(value)
                w.position += 1
            if w.rule.stopped_at is not None:
                marker = {
                    "key": w.key,
                    "n": w.rule.n,
                    "successes": w.rule.successes,
                    "low": w.rule.low,
                    "high": w.rule.high,
                    "reason": f"settled every threshold after {w.rule.n} samples in the seeded order",
                }
                self.store.write(stop_rel(w.key), json.dumps(marker).encode())
                w.stopped = True

    def _read(self, w: Watched) -> None:
        for rel in w.unit_rels:
            folder = f"{rel}/{OUTCOMES}"
            for name in self.store.names(folder):
                if name in w.seen or not name.endswith(".json"):
                    continue
                raw = self.store.read(f"{folder}/{name}")
                try:
                    item = json.loads(raw or b"")
                    key = (str(item["id"]), int(item["epoch"]))
                    value = item["value"]
                except (ValueError, KeyError, TypeError):
                    continue  # unreadable: read again next time
                # anything but a plain 0 or 1 is unscorable: the prefix waits there (no early stop)
                ok = type(value) is int and value in (0, 1)
                w.outcomes[key] = value if ok else None
                w.seen.add(name)

    def run_until(self, done: threading.Event) -> None:
        while not done.is_set():
            try:
                self.poll()
            except Exception as exc:  # the store unreachable for a moment: the units run on
                log.warning("scale-out: the stopping rule could not read the store: %s", exc)
            done.wait(self.poll_seconds)


def merged_record(
    run: Any, config: dict[str, Any], samples: list[Any], epochs: int
) -> tuple[dict[str, JsonValue], list[sequential.SampleKey], list[str]]:
    """The single process's stopping record for the merged samples, the samples that did not
    run, and what is wrong: samples may be missing only past the prefix at which the rule, replayed
    on the logs, stopped (a gap before it, or a rule that never settles, is an incomplete run)."""
    ids = [s.id for s in run.task.dataset]
    order = sequential.planned_order(ids, epochs, config["seed"])
    canonical = {(str(i), e): (i, e) for i, e in order}
    outcomes: dict[sequential.SampleKey, int | None] = {}
    for s in samples:
        key = canonical.get((str(s.id), int(s.epoch)))
        if key is None:
            continue
        first = next(iter((s.scores or {}).values()), None)
        error = s.error is not None or first is None
        outcomes[key] = None if error or first is None else sequential.binary_value(first.value)
    missing = [k for k in order if k not in outcomes]
    record = sequential.replay(
        order,
        outcomes,
        config["stop_at"],
        config["confidence"],
        min_samples=config["min_samples"],
        seed=config["seed"],
        skipped=len(missing),
    )
    problems = []
    if missing and record.get("stopped_at") is None:
        problems.append(
            f"{len(missing)} sample(s) did not run (skipped on a stop signal, or lost), and the "
            "merged logs do not settle every threshold along the seeded order"
        )
    return record, missing, problems
