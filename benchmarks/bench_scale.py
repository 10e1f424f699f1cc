"""Benchmark: scale-out coordination, on a latency-bound model, so that this 2-core machine
measures coordination (plans, units, logs, merge, stopping), not arithmetic.

The model is the simulated Inspect API of tests/evals/simulated_provider.py: each call waits a
fixed delay (asyncio, so calls overlap), Inspect runs 4 calls at once per worker (its
`max_connections`, fixed: by default it adapts), and the model answers scalegate's
modular-arithmetic questions correctly with a known probability. Units
run through `run_forked` (processes forked from this one, the model API registered here); the
cold start of a real `scalegate unit run` process is measured separately.

  efficiency   T(1) / (k x T(k)) for k = 1, 2, 4, 8 workers, the same samples in k shards,
               wall time from the executor's start to every run merged and assessed;
  sequential   distributed sequential stopping (4 shards, 4 workers) over R seeded model
               draws: samples the estimate used (asserted equal to the single process's, run
               by run), samples run (with the in-flight overshoot of 4 workers), against the
               same plan run to completion and the single process's own sequential run;
  overhead     coordinator seconds per unit (plan, merge, assess), and the cold start of a
               `scalegate unit run` process (interpreter, imports, plan rebuild, one sample).

Results: a markdown table on stdout and benchmarks/results/scale.json.

    python benchmarks/bench_scale.py [--reps 5] [--delay 2] [--quick]   (about 17 minutes)
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the simulated model API lives with the tests

from tests.evals import simulated_provider  # noqa: E402  (registers `simulated/...`)

from scalegate import __version__  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "scale.json"
assert simulated_provider

POLICY = """
scalegate: 1
policy: {{name: scale benchmark, version: "1"}}
levels: [low, high]
evidence: {{min_samples: 20}}
statistics: {statistics}
evals:
  mod: {{task: scalegate/modular_arithmetic, args: {{modulus: {modulus}}}}}
domains:
  cyber:
    title: Cyber
    thresholds:
      high: {{description: benchmark threshold, when: {{eval: mod, at_least: 0.5}}}}
responses:
  - id: fail-closed
    if: {{evidence: [missing, error, cancelled, partial, unreliable, insufficient, stale, mismatch]}}
    block: [continue_training, internal_deployment, external_deployment, open_weights]
"""
FIXED = "{interval: clopper_pearson}"
SEQUENTIAL = "{interval: confidence_sequence, sequential: true}"


def _policy(folder: Path, stats: str, modulus: int) -> Any:
    from scalegate.policy import load_policy

    path = folder / "policy.yaml"
    path.write_text(POLICY.format(statistics=stats, modulus=modulus), encoding="utf-8")
    return path, load_policy(str(path))


def _sweep(folder: Path, stats: str, modulus: int, model: str, shards: int, workers: int) -> dict[str, Any]:
    """One sweep of one checkpoint in `shards` units on `workers` forked workers, timed."""
    from scalegate.scale.executors import run_forked
    from scalegate.scale.sweep import run_sweep
    from scalegate.scale.units import CheckpointSpec, make_unit_plan

    folder.mkdir(parents=True)
    policy, loaded = _policy(folder, stats, modulus)
    plan_path = folder / "out" / "plan.json"
    t0 = time.perf_counter()
    plan = make_unit_plan(
        loaded,
        str(policy),
        [CheckpointSpec(model=model, label="bench")],
        shards=shards,
        store=str(folder / "store"),
        cache_dir=folder / "cache",
        plan_path=plan_path,
    )
    plan_path.parent.mkdir(parents=True)
    plan_path.write_text(plan.model_dump_json(), encoding="utf-8")
    executed: dict[str, float] = {}

    def execute(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = functools.partial(run_forked, workers=workers, retries=0)(*args, **kwargs)
        executed["s"] = time.perf_counter() - start
        return out

    started = time.perf_counter()
    (result,) = run_sweep(loaded, plan, plan_path, folder / "out", execute=execute, watch_seconds=0.2)
    wall = time.perf_counter() - started
    ev = result.assessment.evidence["mod"]
    units = (ev.provenance.scale_out or {}).get("units", []) if ev.provenance else []
    return {
        "wall_s": wall,
        "execute_s": executed["s"],
        "coordinator_s": (started - t0) + (wall - executed["s"]),
        "units": len(plan.units),
        "status": str(ev.status),
        "n_used": ev.metrics["accuracy"].n if "accuracy" in ev.metrics else None,
        "n_run": sum(u.get("samples", 0) for u in units),
        "n_planned": ev.n_planned,
    }


def efficiency(root: Path, delay: float, modulus: int, ks: list[int]) -> list[dict[str, Any]]:
    model = f"simulated/p=0.3&delay={delay}"
    rows = []
    for k in ks:
        r = _sweep(root / f"eff-{k}", FIXED, modulus, model, shards=k, workers=k)
        assert r["status"] == "ok" and r["n_run"] == modulus**2, r
        rows.append({"workers": k, **r})
        part = f"execute {r['execute_s']:.1f} s, coordinator {r['coordinator_s']:.1f} s"
        print(f"  {k} worker(s): {r['wall_s']:.1f} s ({part})", file=sys.stderr)
    base = rows[0]["wall_s"]
    for row in rows:
        row["speedup"] = base / row["wall_s"]
        row["efficiency"] = base / (row["workers"] * row["wall_s"])
    return rows


def sequential(root: Path, delay: float, reps: int, p: float) -> dict[str, Any]:
    from scalegate.evals.runner import run_eval
    from scalegate.scale.units import CheckpointSpec, checkpoint_runs

    modulus, n = 20, 400
    rows = []
    for seed in range(reps):
        model = f"simulated/p={p}&seed={seed}&delay={delay}"
        dist = _sweep(root / f"seq-{seed}", SEQUENTIAL, modulus, model, shards=4, workers=4)
        _, loaded = _policy(root / f"seq-{seed}", SEQUENTIAL, modulus)
        (run,) = checkpoint_runs(loaded.policy, CheckpointSpec(model=model, label="one"), None, None)
        one = run_eval(
            "mod",
            run.variant.spec,
            run.target,
            log_dir=root / f"seq-{seed}" / "single",
            rules=loaded.policy.evidence,
            statistics=run.statistics,
            task=run.task,
            stop_at=run.stop_at,
        )
        single_used = one.metrics["accuracy"].n
        assert dist["n_used"] == single_used, (dist, single_used)  # the same stop, run by run
        rows.append(
            {
                "seed": seed,
                "n_used": single_used,
                "n_run_distributed": dist["n_run"],
                "n_run_single": one.n_scored,
                "status": dist["status"],
            }
        )
        print(
            f"  seed {seed}: used {single_used}, ran {dist['n_run']} (single {one.n_scored})", file=sys.stderr
        )

    def mean_se(xs: list[float]) -> tuple[float, float]:
        return statistics.fmean(xs), (statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else 0.0)

    saved_dist = [1 - r["n_run_distributed"] / n for r in rows]
    saved_single = [1 - r["n_run_single"] / n for r in rows]
    saved_used = [1 - r["n_used"] / n for r in rows]
    return {
        "n": n,
        "p": p,
        "threshold": 0.5,
        "shards": 4,
        "runs": rows,
        "saving_used": mean_se(saved_used),
        "saving_run_distributed": mean_se(saved_dist),
        "saving_run_single": mean_se(saved_single),
    }


def cold_start(root: Path, reps: int = 3) -> float:
    """Median seconds of a real `scalegate unit run` process on a one-sample unit (mockllm)."""
    from scalegate.evals import runner
    from scalegate.scale.units import CheckpointSpec, make_unit_plan

    runner.GENERATE_CONFIG.pop("max_connections", None)  # planned as a fresh process plans
    folder = root / "cold"
    folder.mkdir()
    policy, loaded = _policy(folder, FIXED, 4)
    plan_path = folder / "plan.json"
    times = []
    for i in range(reps):
        plan = make_unit_plan(
            loaded,
            str(policy),
            [CheckpointSpec(model="mockllm/model", label="cold")],
            shards=16,
            store=str(folder / f"store-{i}"),
            cache_dir=folder / "cache",
            plan_path=plan_path,
        )
        plan_path.write_text(plan.model_dump_json(), encoding="utf-8")
        start = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-m", "scalegate", "unit", "run", str(plan_path), "0"],
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - start)
        assert res.returncode == 0, res.stderr[-2000:]
    return statistics.median(times)


def overhead(eff: list[dict[str, Any]]) -> dict[str, float]:
    """The coordinator's time (plan, merge, assess) per sweep, and per unit at the most units."""
    most = max(eff, key=lambda r: r["units"])
    return {
        "coordinator_s_per_sweep": statistics.fmean(r["coordinator_s"] for r in eff),
        "coordinator_s_per_unit_at_most_units": most["coordinator_s"] / most["units"],
    }


def fixed_concurrency(connections: int) -> None:
    """Inspect's concurrency fixed at `connections` calls (and samples) per worker, as for a
    rate-limited API: by default Inspect adapts it, so one worker would not be latency-bound.
    Set before the workers fork, so each inherits it."""
    from scalegate.evals import runner

    runner.GENERATE_CONFIG["max_connections"] = connections


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5, help="seeded model draws for the sequential part")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds per model call (efficiency)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (not for the docs)")
    args = parser.parse_args()
    modulus, ks = (12, [1, 2]) if args.quick else (30, [1, 2, 4, 8])
    fixed_concurrency(4)
    with tempfile.TemporaryDirectory(prefix="scalegate-bench-scale-") as tmp:
        root = Path(tmp)
        print("efficiency:", file=sys.stderr)
        eff = efficiency(root, args.delay, modulus, ks)
        print("sequential:", file=sys.stderr)
        seq = sequential(root, 0.25, 2 if args.quick else args.reps, p=0.3)
        cold = cold_start(root, 1 if args.quick else 3)
    result = {
        "benchmark": "scale",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scalegate": __version__,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "model": {"delay_s": args.delay, "connections_per_worker": 4, "samples": modulus**2},
        "efficiency": eff,
        "sequential": seq,
        "overhead": {**overhead(eff), "unit_process_cold_start_s": cold},
    }
    if not args.quick:
        OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| workers | wall s | speedup | efficiency |\n|---|---|---|---|")
    for r in eff:
        print(f"| {r['workers']} | {r['wall_s']:.1f} | {r['speedup']:.2f} | {r['efficiency']:.2f} |")
    s = seq
    print(
        f"\nsequential (N={s['n']}, p={s['p']}, at_least 0.5, 4 shards, {len(s['runs'])} draws): "
        f"saved {s['saving_used'][0]:.1%} of samples in the estimate; run: distributed "
        f"{s['saving_run_distributed'][0]:.1%} ± {s['saving_run_distributed'][1]:.1%}, single process "
        f"{s['saving_run_single'][0]:.1%} ± {s['saving_run_single'][1]:.1%}"
    )
    o = result["overhead"]
    print(
        f"coordinator {o['coordinator_s_per_sweep']:.1f} s per sweep "
        f"({o['coordinator_s_per_unit_at_most_units']:.2f} s per unit at the most units); "
        f"a `scalegate unit run` process starts in {o['unit_process_cold_start_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
