"""A plan of units: one per (checkpoint, eval run, shard of samples), each runnable anywhere.

A unit is exactly one run of a single-process assessment (`assessment.prepare_runs`: one
elicitation profile, pre- or post-mitigation) restricted to a shard of its samples. The run's
evidence cache key is computed here as a single process computes it and checked again by the
worker, so the merged shards stand for the run in the cache exactly as one process's log
would, and `scalegate assess` then grades them by the one path every assessment takes.

Shards are fixed by a seeded order of the task's sample ids (`shard_of`): the union of the
shards is the single-process sample set and no sample is in two. A run with sequential
testing on is sharded round-robin along the order its stopping rule reads, and stopped by the
coordinator (scale/stopping.py), never by a shard's own rule, which would see only its own
samples. A task Inspect resolves by name is not sharded, with the reason recorded (scalegate
cannot list or key its samples before it runs: it stays with the coordinator's `assess`).

Inspect's own split protocol (`INSPECT_EVAL_SET_CAPTURE` / `INSPECT_EVAL_SET_SELECTION`)
selects whole tasks of an eval set; scalegate's units are sample shards of one task, so
they use Inspect's `sample_id` selection instead and scalegate's task resolution, which is
the single process's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scalegate.errors import InputError
from scalegate.policy.loader import LoadedPolicy
from scalegate.policy.schema import Policy

UNITS_SCHEMA = "scalegate.units/1"
UNIT_METADATA = "scalegate_unit"  # in each unit's Inspect log: which unit wrote it


class CheckpointSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str  # the Inspect model string, e.g. hf/runs/42/checkpoint-1000
    label: str
    effective_compute: float | None = Field(None, gt=0)
    training_compute: float | None = Field(None, gt=0)


class Unit(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    checkpoint: int  # index into UnitPlan.checkpoints
    eval_id: str
    run_id: str  # the eval's run: eval id, or eval id with profile / post side
    shard: int
    shards: int
    key: str  # the run's evidence cache key (all shards of a run share it)
    sample_ids: list[str | int]
    resources: dict[str, float]
    command: list[str]


class Kept(BaseModel):
    """A run that gets no unit, and why: served from the cache, or left to the coordinator."""

    model_config = ConfigDict(frozen=True)

    checkpoint: int
    run_id: str
    why: str


class UnitPlan(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    schema_: str = Field(UNITS_SCHEMA, alias="schema")
    policy: str  # the policy file, as given
    policy_sha256: str
    checkpoints: list[CheckpointSpec]
    eval_ids: list[str] | None = None
    sample_limit: int | None = None
    shards: int
    seed: int
    store: str  # where workers write logs: a shared folder or an fsspec URL (scale/store.py)
    cache_dir: str
    units: list[Unit]
    kept: list[Kept] = Field(default_factory=list)

    def unit_dir(self, unit: Unit) -> str:
        """The unit's folder in the store (relative: `Store.url` makes it a path or URL)."""
        return f"unit-{unit.index:05d}"

    def runs(self) -> dict[tuple[int, str], list[Unit]]:
        """The units of each (checkpoint, run), in shard order."""
        out: dict[tuple[int, str], list[Unit]] = {}
        for u in self.units:
            out.setdefault((u.checkpoint, u.run_id), []).append(u)
        return out


def shard_of(ids: list[str | int], seed: int, shards: int) -> list[list[str | int]]:
    """The sample ids split into `shards` disjoint parts by a seeded order: every id in exactly
    one part, the parts as even as they can be, the same for the same ids and seed."""
    ordered = sorted(ids, key=lambda i: (str(type(i).__name__), str(i)))
    random.Random(seed).shuffle(ordered)
    return [ordered[k::shards] for k in range(shards)]


def along_order(ids: list[str | int], seed: int, shards: int) -> list[list[str | int]]:
    """A sequential run's shards: round-robin along the order its stopping rule reads
    (`sequential.seeded_order`), so the workers fill that order's prefix together."""
    from scalegate.evals.sequential import seeded_order

    order = seeded_order(ids, seed)
    return [[ids[i] for i in order[k::shards]] for k in range(shards)]


def resources(model: str, gpus: float | None = None) -> dict[str, float]:
    """What a unit asks its executor for: by default a GPU for a local or served open-weights
    model, none for an API model (the call is remote); `gpus` overrides (0: CPU workers)."""
    weights = model.startswith(("hf/", "vllm/", "bundled/"))
    gpu = gpus if gpus is not None else (1.0 if weights else 0.0)
    return {"cpus": 1.0, "gpus": gpu, "memory_gb": 8.0 if weights else 2.0}


@dataclass(frozen=True)
class Run:
    """One run of one checkpoint's assessment, as the single process would make it."""

    variant: Any  # evals.elicitation.Variant
    task: Any  # the Inspect Task
    target: Any  # evals.runner.ModelTarget
    statistics: Any  # the run's statistics (a profile's share of the family)
    stop_at: list[tuple[str, float]] | None
    key: Any  # evals.cache.CacheKey, None for a task Inspect resolves by name


def checkpoint_runs(
    policy: Policy, cp: CheckpointSpec, eval_ids: list[str] | None, sample_limit: int | None
) -> list[Run]:
    """Every run the assessment of `cp` makes (runs the task cannot take stay `missing` there,
    and get no unit here), each with its evidence cache key."""
    from scalegate.assessment import prepare_runs, stop_at_for
    from scalegate.evals import elicitation
    from scalegate.evals.acquire import run_key
    from scalegate.evals.model_ref import target_for
    from scalegate.plan import Checkpoint, make_plan

    plan = make_plan(policy, Checkpoint(model=cp.model), eval_ids, sample_limit)
    runs, post_runs, cannot, tasks = prepare_runs(policy, plan)
    base = target_for(cp.model)
    out = []
    for group in (*runs.values(), *post_runs.values()):
        statistics = elicitation.adjusted(policy.statistics, len(group))
        for v in group:
            if v.run_id in cannot:
                continue
            target = base if v.model is None else target_for(v.model)
            stop_at = stop_at_for(policy, v.eval_id, v.spec.metric)
            key = run_key(policy, v, tasks[v.run_id], target, statistics, stop_at)
            out.append(Run(v, tasks[v.run_id], target, statistics, stop_at, key))
    return out


def make_unit_plan(
    loaded: LoadedPolicy,
    policy_arg: str,
    checkpoints: list[CheckpointSpec],
    *,
    shards: int,
    store: str,
    cache_dir: Path,
    plan_path: Path,
    eval_ids: list[str] | None = None,
    sample_limit: int | None = None,
    seed: int | None = None,
    gpus: float | None = None,
) -> UnitPlan:
    from scalegate.evals.cache import EvidenceCache
    from scalegate.evals.runner import sequential_config

    if shards < 1:
        raise InputError(f"--shards {shards}: at least 1")
    if not checkpoints:
        raise InputError("--checkpoints matched no checkpoint")
    policy = loaded.policy
    seed = policy.statistics.sequential_seed if seed is None else seed
    cache = EvidenceCache(cache_dir)
    max_days = policy.cadence.max_days if policy.cadence is not None else None
    units: list[Unit] = []
    kept: list[Kept] = []
    for ci, cp in enumerate(checkpoints):
        for run in checkpoint_runs(policy, cp, eval_ids, sample_limit):
            run_id = run.variant.run_id
            if run.key is None:
                why = "a task Inspect resolves by name: run by the coordinator's assess"
                kept.append(Kept(checkpoint=ci, run_id=run_id, why=why))
                continue
            if cache.lookup(run.key, max_days).entry is not None:
                kept.append(Kept(checkpoint=ci, run_id=run_id, why="in the evidence cache"))
                continue
            ids = [s.id for s in run.task.dataset]
            config = sequential_config(run.task, run.statistics, policy.evidence, run.stop_at)
            if config is None:
                parts = shard_of(ids, seed, shards)
            else:
                parts = along_order(ids, config["seed"], shards)
            # more shards than samples: no empty unit (an empty selection would mean "every
            # sample" to Inspect, and a run with no samples at all runs where one process does)
            parts = [p for p in parts if p]
            if not parts:
                kept.append(
                    Kept(checkpoint=ci, run_id=run_id, why="no samples: run by the coordinator's assess")
                )
                continue
            for shard, part in enumerate(parts):
                index = len(units)
                units.append(
                    Unit(
                        index=index,
                        checkpoint=ci,
                        eval_id=run.variant.eval_id,
                        run_id=run_id,
                        shard=shard,
                        shards=len(parts),
                        key=run.key.digest,
                        sample_ids=part,
                        resources=resources(run.target.inspect_model, gpus),
                        command=["scalegate", "unit", "run", str(plan_path), str(index)],
                    )
                )
    return UnitPlan(
        policy=policy_arg,
        policy_sha256=loaded.sha256,
        checkpoints=checkpoints,
        eval_ids=eval_ids,
        sample_limit=sample_limit,
        shards=shards,
        seed=seed,
        store=store,
        cache_dir=str(cache_dir),
        units=units,
        kept=kept,
    )


def read_plan(path: Path) -> UnitPlan:
    try:
        return UnitPlan.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a scalegate unit plan ({str(exc).splitlines()[0]})") from exc
