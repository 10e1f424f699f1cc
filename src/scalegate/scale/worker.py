"""`scalegate unit run PLAN INDEX`: one unit, anywhere the plan's store and cache are reached.

A worker writes only into the store (scale/store.py: a shared folder or an object store): its
unit's Inspect log and, for a sequential run, each sample's outcome; never evidence or the
ledger: the coordinator is their single writer. It rebuilds the run as the planner did and
refuses to run when its cache key differs (another dataset, package version or model: its
log would not stand for the run). A unit's folder holding an interrupted log of the same key
(a killed worker) is resumed: Inspect reruns only the samples that did not complete.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from scalegate.errors import InputError
from scalegate.scale.stopping import SharedStop
from scalegate.scale.store import Store
from scalegate.scale.units import UNIT_METADATA, UnitPlan, checkpoint_runs


def run_unit(plan: UnitPlan, index: int, attempt: int = 1) -> str:
    """Run one unit; the path or URL of its finished log. A unit whose finished log is already in its
    folder (a retry after the run had ended) runs nothing."""
    from scalegate.evals import cache as cache_mod
    from scalegate.evals.runner import run_eval, sequential_config
    from scalegate.policy.loader import load_policy

    if not 0 <= index < len(plan.units):
        raise InputError(f"unit {index}: the plan has units 0..{len(plan.units) - 1}")
    unit = plan.units[index]
    loaded = load_policy(plan.policy)
    if loaded.sha256 != plan.policy_sha256:
        raise InputError(
            f"{plan.policy}: not the policy the plan was made under (sha256 {loaded.sha256[:12]}, "
            f"the plan names {plan.policy_sha256[:12]})"
        )
    policy = loaded.policy
    cp = plan.checkpoints[unit.checkpoint]
    runs = [
        r
        for r in checkpoint_runs(policy, cp, plan.eval_ids, plan.sample_limit)
        if r.variant.run_id == unit.run_id
    ]
    if not runs or runs[0].key is None or runs[0].key.digest != unit.key:
        raise InputError(
            f"unit {index} ({unit.run_id}): this worker's run has another evidence cache key than the "
            "plan's (a different dataset, model files or package versions); its log would not stand for "
            "the run. Plan again where the workers run, or align their environment"
        )
    run = runs[0]
    store = Store(plan.store)
    rel = plan.unit_dir(unit)
    meta: dict[str, Any] = {
        cache_mod.KEY_METADATA: unit.key,
        UNIT_METADATA: {
            "index": unit.index,
            "shard": unit.shard,
            "shards": unit.shards,
            "attempt": attempt,
            "node": socket.gethostname(),
            "pid": os.getpid(),
        },
    }
    sequential = sequential_config(run.task, run.statistics, policy.evidence, run.stop_at) is not None
    with tempfile.TemporaryDirectory(prefix="scalegate-unit-") as scratch:
        found = cache_mod.logs_for_key(store.local_copy(rel, Path(scratch) / "store"), unit.key)
        done = [f for f in found if f.status == "success"]
        if done:
            return store.url(rel, done[0].path.name)
        unfinished = [f for f in found if f.status != "success"]
        best = cache_mod.best_previous(unfinished, Path(scratch)) if unfinished else None
        ev = run_eval(
            unit.run_id,
            run.variant.spec,
            run.target,
            log_dir=store.url(rel),
            rules=policy.evidence,
            statistics=run.statistics,
            task=run.task,
            sample_limit=plan.sample_limit,
            stop_at=run.stop_at,
            previous=best[0] if best is not None else None,
            metadata=meta,
            sample_ids=unit.sample_ids,
            stopping=SharedStop(store, rel, unit.key) if sequential else None,
        )
    if ev.log_path is None or ev.provenance is None:
        raise RuntimeError(f"unit {index} ({unit.run_id}): the run wrote no log: {ev.message}")
    return ev.log_path
