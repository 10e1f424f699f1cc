"""`scalegate sweep`: every checkpoint of a training run, assessed through an executor.

plan -> units on the executor -> merge each run's shards into the evidence cache -> one
ordinary assessment per checkpoint (`run_assessment`, which finds every merged run in the
cache and grades it by the one path) -> its decision recorded by this process, the ledger's
single writer. A run whose units could not all finish is given to the assessment as the
incomplete evidence its merge produced, so the eval is `partial` (or worse) and no action
rests on it; it is never quietly run again here.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalegate.errors import InputError
from scalegate.policy.loader import LoadedPolicy
from scalegate.scale.executors import Attempt, run_local
from scalegate.scale.merge import Merged, merge_run
from scalegate.scale.stopping import Watched, Watcher, watched
from scalegate.scale.store import Store
from scalegate.scale.units import CheckpointSpec, Run, UnitPlan, checkpoint_runs

_STEP = re.compile(r"(\d+)$")
#: an executor with its settings bound: (plan, plan path, on_attempt=, env=) -> every attempt
Execute = Callable[..., list[Attempt]]


#: How a checkpoint folder is run: loaded by each worker (hf) or served (vllm: Inspect starts
#: one vLLM server per checkpoint in each worker, or reaches VLLM_BASE_URL)
PROVIDERS = ("hf", "vllm")


def find_checkpoints(
    pattern: str, flop_per_step: float | None = None, multiplier: float = 1.0, provider: str = "hf"
) -> list[CheckpointSpec]:
    """The checkpoint folders a glob names, in training order (the trailing step number of
    `checkpoint-1000`, as Hugging Face's Trainer writes them), each with its effective compute
    when `flop_per_step` is given, named for `provider`."""
    if provider not in PROVIDERS:
        raise InputError(f"--provider {provider}: choose {' or '.join(PROVIDERS)}")
    import glob
    import math

    for flag, value in (("--flop-per-step", flop_per_step), ("--algorithmic-multiplier", multiplier)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{flag}: a positive, finite number, not {value:g}")
    folders = [Path(p) for p in glob.glob(pattern) if Path(p).is_dir()]
    if not folders:
        raise InputError(f"--checkpoints {pattern}: no folder matches")

    def step(p: Path) -> int | None:
        m = _STEP.search(p.name)
        return int(m.group(1)) if m else None

    if flop_per_step is not None and any(step(p) is None for p in folders):
        bad = [p.name for p in folders if step(p) is None]
        raise InputError(
            f"--flop-per-step needs a step number at the end of each folder name; not in {bad[:3]}"
        )
    folders.sort(key=lambda p: (step(p) if step(p) is not None else -1, p.name))
    out = []
    for p in folders:
        s = step(p)
        compute = flop_per_step * s * multiplier if flop_per_step is not None and s else None
        if compute is not None and not math.isfinite(compute):
            why = f"{flop_per_step:g} x {s} x {multiplier:g}"
            raise InputError(f"{p.name}: effective compute overflows ({why}); check --flop-per-step")
        out.append(CheckpointSpec(model=f"{provider}/{p.resolve()}", label=p.name, effective_compute=compute))
    return out


@dataclass(frozen=True)
class CheckpointResult:
    checkpoint: CheckpointSpec
    assessment: Any  # assessment.Assessment
    out_dir: Path
    decision_entry: str | None


def run_sweep(
    loaded: LoadedPolicy,
    plan: UnitPlan,
    plan_path: Path,
    out_root: Path,
    *,
    execute: Execute | None = None,
    record: Callable[[Any], str | None] | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    env: dict[str, str] | None = None,
    watch_seconds: float = 1.0,
    references: Callable[[Any], dict[str, Any]] | None = None,
) -> list[CheckpointResult]:
    """Run the plan's units (`execute`: an executor with its settings bound; default two local
    workers, two retries), merge, assess each checkpoint; `record` writes a result to the
    ledger and returns its decision entry id (None: not recorded). While the units run, the
    coordinator's stopping rule watches every sequential run (every `watch_seconds`).
    `references`: a checkpoint's model target -> its relative claims' references, resolved
    when it is assessed (checkpoints are assessed and recorded in order, so
    `last_comprehensive` reads the one before)."""
    from scalegate.assessment import run_assessment
    from scalegate.evals.cache import EvidenceCache
    from scalegate.evals.model_ref import target_for
    from scalegate.plan import Checkpoint, make_plan

    policy = loaded.policy
    execute = execute or functools.partial(run_local, workers=2, retries=2)
    runs = _runs(plan, loaded)
    done = threading.Event()
    watcher = Watcher(Store(plan.store), _watched(plan, loaded, runs), poll_seconds=watch_seconds)
    watching = threading.Thread(target=watcher.run_until, args=(done,), name="scalegate-watcher", daemon=True)
    watching.start()
    try:
        attempts = execute(plan, plan_path, on_attempt=on_attempt, env=env)
    finally:
        done.set()
        watching.join()
    merged = [
        merge_run(plan, units, runs[k], policy, out_root / "merged", attempts)
        for k, units in plan.runs().items()
    ]
    _write_summary(out_root / "sweep.json", plan, attempts, merged)
    results = []
    for ci, cp in enumerate(plan.checkpoints):
        failed = {
            m.run.variant.eval_id: m.evidence.model_copy(update={"eval_id": m.run.variant.eval_id})
            for m in merged
            if m.checkpoint == ci and not m.complete
        }
        checkpoint = Checkpoint(
            model=cp.model,
            effective_compute=cp.effective_compute,
            training_compute=cp.training_compute,
            label=cp.label,
        )
        out_dir = out_root / cp.label
        target = target_for(cp.model)
        result = run_assessment(
            loaded,
            make_plan(policy, checkpoint, plan.eval_ids, plan.sample_limit),
            target,
            out_dir,
            imported=failed,
            cache=EvidenceCache(Path(plan.cache_dir)),
            references=references(target) if references is not None else None,
        )
        results.append(CheckpointResult(cp, result, out_dir, record(result) if record else None))
    return results


def _runs(plan: UnitPlan, loaded: LoadedPolicy) -> dict[tuple[int, str], Run]:
    """The run behind each (checkpoint, run id) the plan has units for, built as the planner did."""
    wanted = plan.runs()
    out = {}
    for ci, cp in enumerate(plan.checkpoints):
        if any(c == ci for c, _ in wanted):
            for run in checkpoint_runs(loaded.policy, cp, plan.eval_ids, plan.sample_limit):
                if (ci, run.variant.run_id) in wanted:
                    out[(ci, run.variant.run_id)] = run
    missing = sorted(set(wanted) - set(out))
    if missing:
        raise InputError(f"the plan has units for runs this policy does not make: {missing[:3]}")
    return out


def _watched(plan: UnitPlan, loaded: LoadedPolicy, runs: dict[tuple[int, str], Run]) -> list[Watched]:
    """The sequential runs, for the coordinator's stopping rule (scale/stopping.py)."""
    from scalegate.evals.runner import sequential_config

    out = []
    for k, units in plan.runs().items():
        run = runs[k]
        config = sequential_config(run.task, run.statistics, loaded.policy.evidence, run.stop_at)
        if config is not None:
            epochs = _epochs(run.task)
            out.append(watched(units[0].key, [plan.unit_dir(u) for u in units], run, config, epochs))
    return out


def _epochs(task: Any) -> int:
    epochs = getattr(task, "epochs", None)
    return int(getattr(epochs, "epochs", epochs) or 1)


def _write_summary(path: Path, plan: UnitPlan, attempts: list[Attempt], merged: list[Merged]) -> None:
    """What ran where: units planned, every attempt, each run's merge (kept beside the results)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "units_planned": len(plan.units),
        "kept": [k.model_dump(mode="json") for k in plan.kept],
        "attempts": [a.__dict__ for a in attempts],
        "runs": [
            {
                "checkpoint": plan.checkpoints[m.checkpoint].label,
                "run_id": m.run.variant.run_id,
                "complete": m.complete,
                "status": str(m.evidence.status),
                "problems": m.problems,
            }
            for m in merged
        ],
    }
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
