"""The coordinator's merge: each run's shard logs into one log, checked, into the evidence cache.

Counts from shards add exactly (every estimate scalegate makes is a function of the samples'
scores), so the merge is of samples, not of numbers: the shards' samples go into one Inspect
log of the whole run, graded by the same `evidence_from_log` as a single process's log. A
merge is refused, and the run's evidence stays incomplete (`partial`: fails closed), when a
unit has no finished log, a log holds a sample outside its shard, or a sample (id, epoch) is
in two logs: nothing is counted twice and nothing is assumed. A complete merged log enters
the cache under the run's key; `scalegate assess` then finds it there like any cached run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.runner import SCALE_OUT_METADATA
from scalegate.policy.schema import Policy
from scalegate.scale.executors import Attempt
from scalegate.scale.stopping import merged_record
from scalegate.scale.store import Store
from scalegate.scale.units import UNIT_METADATA, Run, Unit, UnitPlan


@dataclass(frozen=True)
class Merged:
    checkpoint: int
    run: Run
    evidence: EvalEvidence  # graded from the merged samples (incomplete: `partial` or worse)
    complete: bool  # in the cache now
    problems: list[str]


def merge_run(
    plan: UnitPlan, units: list[Unit], run: Run, policy: Policy, work: Path, attempts: Sequence[Attempt] = ()
) -> Merged:
    """`attempts`: every attempt the executor made, recorded with the units they were for."""
    from inspect_ai.log import read_eval_log, write_eval_log

    from scalegate.evals import cache as cache_mod
    from scalegate.evals.runner import evidence_from_log, sequential_config

    problems: list[str] = []
    logs: list[tuple[Unit, Any]] = []
    store = Store(plan.store)
    for u in units:
        local = store.local_copy(plan.unit_dir(u), work / "store")
        done = [f for f in cache_mod.logs_for_key(local, u.key) if f.status == "success"]
        if not done:
            problems.append(f"unit {u.index} (shard {u.shard + 1} of {u.shards}) has no finished log")
            continue
        if len(done) > 1:  # a worker never writes a second finished log for its unit
            problems.append(
                f"unit {u.index}: its folder holds {len(done)} finished logs; which one ran is unknown"
            )
        log = read_eval_log(str(done[0].path))
        problems += _shard_problems(u, log)
        logs.append((u, log))
    seen: dict[tuple[str, int], int] = {}
    for u, log in logs:
        for s in log.samples or []:
            k = (str(s.id), int(s.epoch))
            if k in seen:
                problems.append(
                    f"sample {s.id} epoch {s.epoch} is in the logs of units {seen[k]} and {u.index}"
                )
            seen[k] = u.index
    tried: dict[int, list[dict[str, Any]]] = {}
    for a in attempts:
        note = {
            "attempt": a.attempt,
            "node": a.node,
            "returncode": a.returncode,
            "error": (a.error or "")[-300:],
        }
        tried.setdefault(a.unit, []).append(note)
    config = sequential_config(run.task, run.statistics, policy.evidence, run.stop_at)
    merged = _merged_log(run, [log for _, log in logs], units, tried) if logs else None
    if merged is not None and config is not None:
        merged, wrong = _with_stopping_record(run, config, merged, [log for _, log in logs])
        problems += wrong
    if merged is None:
        from scalegate.policy.base import EvidenceStatus

        ev = EvalEvidence(
            eval_id=run.variant.run_id, status=EvidenceStatus.missing, message="; ".join(problems)
        )
        return Merged(units[0].checkpoint, run, ev, False, problems)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"checkpoint-{units[0].checkpoint}-{run.variant.run_id}.eval"
    write_eval_log(merged, str(path))
    merged = read_eval_log(str(path))
    ev = evidence_from_log(
        run.variant.run_id,
        run.variant.spec,
        merged,
        run.target,
        rules=policy.evidence,
        statistics=run.statistics,
    )
    complete = not problems and cache_mod.is_complete(merged, ev)
    if complete:
        cache_mod.EvidenceCache(Path(plan.cache_dir)).put(run.key, path, run.variant.run_id, merged)
    elif problems:
        ev = _failed(ev, problems)
    return Merged(units[0].checkpoint, run, ev, complete, problems)


def _shard_problems(unit: Unit, log: Any) -> list[str]:
    meta = (log.eval.metadata or {}).get(UNIT_METADATA) or {}
    out = []
    if meta.get("index") != unit.index:
        out.append(f"unit {unit.index}: its folder holds a log written by unit {meta.get('index')}")
    assigned = {str(i) for i in unit.sample_ids}
    outside = sorted({str(s.id) for s in log.samples or []} - assigned)
    if outside:
        out.append(
            f"unit {unit.index}: its log holds {len(outside)} sample(s) outside its shard ({outside[:3]})"
        )
    return out


def _merged_log(run: Run, logs: list[Any], units: list[Unit], tried: dict[int, list[dict[str, Any]]]) -> Any:
    """One log of the whole run: the first shard's header, every shard's samples in the
    dataset's order, the selection cleared (the run is the whole dataset), where each sample
    came from recorded in the metadata."""
    order = {str(s.id): i for i, s in enumerate(run.task.dataset)}
    samples = sorted(
        (s for log in logs for s in log.samples or []),
        key=lambda s: (order.get(str(s.id), len(order)), s.epoch),
    )
    base = logs[0]
    epochs = base.eval.config.epochs or 1
    assigned = {
        log.eval.run_id: u.sample_ids
        for u in units
        for log in logs
        if ((log.eval.metadata or {}).get(UNIT_METADATA) or {}).get("index") == u.index
    }
    statuses = {str(log.status) for log in logs}
    meta = {k: v for k, v in (base.eval.metadata or {}).items() if k != UNIT_METADATA}
    meta[SCALE_OUT_METADATA] = {
        "units": [
            {
                **((log.eval.metadata or {}).get(UNIT_METADATA) or {}),
                "run_id": log.eval.run_id,
                "samples": len(log.samples or []),
                # samples this unit did not run (a sequential run the coordinator stopped)
                "skipped": max(0, len(assigned.get(log.eval.run_id, ())) * epochs - len(log.samples or [])),
            }
            for log in logs
        ],
        "planned_units": [u.index for u in units],
        "attempts": {str(u.index): tried.get(u.index, []) for u in units},
        "note": "merged by scalegate from shard logs; Inspect's aggregate results are not recomputed "
        "(the evidence reads the samples)",
    }
    dataset = base.eval.dataset.model_copy(
        update={"samples": len(order), "sample_ids": [s.id for s in run.task.dataset]}
    )
    eval_spec = base.eval.model_copy(
        update={
            "config": base.eval.config.model_copy(update={"sample_id": None}),
            "metadata": meta,
            "dataset": dataset,
        }
    )
    status = "success" if statuses == {"success"} else "error"
    return base.model_copy(
        update={"eval": eval_spec, "samples": samples, "status": status, "results": None, "reductions": None}
    )


def _with_stopping_record(
    run: Run, config: dict[str, Any], merged: Any, logs: list[Any]
) -> tuple[Any, list[str]]:
    """A sequential run's merged log with the record the single process would have written
    for the same outcomes (the rule replayed along its seeded order), and every shard's
    early stops: grading then reads it exactly as it reads one process's log."""
    from inspect_ai.log import EvalResults
    from inspect_ai.util import EarlyStop, EarlyStoppingSummary

    from scalegate.evals.sequential import MANAGER

    recorded = {
        (str(stop.id), stop.epoch): stop
        for log in logs
        if log.results is not None and log.results.early_stopping is not None
        for stop in log.results.early_stopping.early_stops
    }
    epochs = merged.eval.config.epochs or 1
    record, missing, problems = merged_record(run, config, list(merged.samples or []), epochs)
    # a shard that skipped every sample writes no results, so no early stops: when the rule
    # stopped, every sample that did not run lies past its prefix, and is a skip
    why = "not started: the coordinator's confidence sequence had settled the run"
    stops = [recorded.get((str(i), e)) or EarlyStop(id=i, epoch=e, reason=why) for i, e in missing]
    summary = EarlyStoppingSummary(manager=MANAGER, early_stops=stops, metadata=record)
    results = EvalResults(
        total_samples=len(run.task.dataset) * epochs,
        completed_samples=len(merged.samples or []),
        early_stopping=summary,
    )
    return merged.model_copy(update={"results": results}), problems


def _failed(ev: EvalEvidence, problems: list[str]) -> EvalEvidence:
    """Evidence a merge could not complete: never `ok`, whatever its samples would say."""
    from scalegate.policy.base import EvidenceStatus

    why = "scale-out: " + "; ".join(problems)
    status = ev.status if ev.status is not EvidenceStatus.ok else EvidenceStatus.partial
    message = f"{why}; {ev.message}" if ev.message else why
    note = f"{why}; {ev.note}" if ev.note else why  # the note survives re-grading; the message not
    return ev.model_copy(update={"status": status, "message": message[:2000], "note": note[:1000]})
