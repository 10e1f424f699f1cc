"""Where units run. `local`: worker processes on this machine, a few at a time; `ray`: tasks
on a Ray cluster, each with its unit's resource request. Each unit is retried up to a budget
(a retry resumes the unit's interrupted log, so no finished sample runs twice). Every attempt
is recorded (unit, attempt, node, exit status, error) in `attempts.jsonl` beside the plan:
infrastructure failures are provenance, since cluster configuration alone has moved
published benchmark scores by points.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scalegate.errors import InputError
from scalegate.scale.store import store_env
from scalegate.scale.units import Unit, UnitPlan

ATTEMPTS_FILE = "attempts.jsonl"


@dataclass(frozen=True)
class Attempt:
    unit: int
    attempt: int
    node: str
    returncode: int
    seconds: float
    error: str | None


def unit_command(plan_path: Path, unit: Unit, attempt: int) -> list[str]:
    """The unit's command as this Python runs it (the plan's `command` names the installed CLI)."""
    return [
        sys.executable,
        "-m",
        "scalegate",
        "unit",
        "run",
        str(plan_path),
        str(unit.index),
        "--attempt",
        str(attempt),
    ]


def _finish(
    plan_path: Path, a: Attempt, attempts: list[Attempt], on_attempt: Callable[[Attempt], None] | None
) -> None:
    """Keep an attempt: in the list, in attempts.jsonl beside the plan, and shown."""
    attempts.append(a)
    record = plan_path.parent / ATTEMPTS_FILE
    record.parent.mkdir(parents=True, exist_ok=True)
    with record.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(a)) + "\n")
    if on_attempt is not None:
        on_attempt(a)


def _outcome(unit: Unit, attempt: int, node: str, returncode: int, stderr: str, seconds: float) -> Attempt:
    error = None if returncode == 0 else (stderr.strip()[-1000:] or f"exit {returncode}")
    return Attempt(unit.index, attempt, node, returncode, round(seconds, 3), error)


def _each_unit(
    plan: UnitPlan,
    plan_path: Path,
    workers: int,
    retries: int,
    on_attempt: Callable[[Attempt], None] | None,
    attempt_once: Callable[[Unit, int], tuple[int, str]],
) -> list[Attempt]:
    """Every unit on `workers` threads, each attempt by `attempt_once(unit, attempt)` ->
    (exit status, error text), a failed unit again up to `retries` more times."""
    lock = threading.Lock()
    attempts: list[Attempt] = []

    def one(unit: Unit) -> None:
        for attempt in range(1, retries + 2):
            start = time.monotonic()
            code, stderr = attempt_once(unit, attempt)
            a = _outcome(unit, attempt, socket.gethostname(), code, stderr, time.monotonic() - start)
            with lock:
                _finish(plan_path, a, attempts, on_attempt)
            if code == 0:
                return

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, plan.units))
    return attempts


def run_local(
    plan: UnitPlan,
    plan_path: Path,
    workers: int,
    retries: int,
    on_attempt: Callable[[Attempt], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[Attempt]:
    """Run every unit in `workers` processes; a unit that fails is run again up to `retries`
    more times. Returns every attempt; a unit whose last attempt failed has no finished log,
    and its run's merge says so (the eval stays incomplete: fails closed)."""

    def attempt_once(unit: Unit, attempt: int) -> tuple[int, str]:
        res = subprocess.run(
            unit_command(plan_path, unit, attempt),
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            check=False,
        )
        return res.returncode, res.stderr

    return _each_unit(plan, plan_path, workers, retries, on_attempt, attempt_once)


def run_forked(
    plan: UnitPlan,
    plan_path: Path,
    workers: int,
    retries: int,
    on_attempt: Callable[[Attempt], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[Attempt]:
    """`run_local` with each attempt in a process forked from this one (a library call, POSIX
    only): no interpreter starts per unit, and model APIs registered in this process (a custom
    Inspect provider defined in a notebook or script) reach the workers. Fork before loading a
    model here: a forked copy of a loaded GPU context does not work."""
    import multiprocessing
    import tempfile

    ctx = multiprocessing.get_context("fork")

    def attempt_once(unit: Unit, attempt: int) -> tuple[int, str]:
        with tempfile.NamedTemporaryFile(prefix="scalegate-unit-", suffix=".err") as err:
            proc = ctx.Process(target=_forked_unit, args=(str(plan_path), unit.index, attempt, err.name, env))
            proc.start()
            proc.join()
            stderr = Path(err.name).read_text(encoding="utf-8", errors="replace")
        return (proc.exitcode if proc.exitcode is not None else -1), stderr

    return _each_unit(plan, plan_path, workers, retries, on_attempt, attempt_once)


def _forked_unit(plan_path: str, index: int, attempt: int, err: str, env: dict[str, str] | None) -> None:
    from scalegate.scale.units import read_plan
    from scalegate.scale.worker import run_unit

    os.environ.update(env or {})
    try:
        run_unit(read_plan(Path(plan_path)), index, attempt)
    except BaseException as exc:
        Path(err).write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
        os._exit(1)
    os._exit(0)


def served_env(plan: UnitPlan, environ: dict[str, str]) -> dict[str, str]:
    """The vLLM settings Inspect's provider reads (a server to reach, its key, server
    arguments), for a plan with served checkpoints: a Ray worker's environment is its node's."""
    if not any(cp.model.startswith("vllm/") for cp in plan.checkpoints):
        return {}
    return {k: v for k, v in environ.items() if k.startswith("VLLM_")}


def run_ray(
    plan: UnitPlan,
    plan_path: Path,
    address: str,
    retries: int,
    on_attempt: Callable[[Attempt], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[Attempt]:
    """Run every unit as a Ray task on the cluster at `address`, with the unit's CPU and GPU
    request. A task lost with its worker or node (Ray raises) and a unit that exits non-zero
    are both failed attempts, submitted again up to `retries` times; the next attempt resumes
    the unit's interrupted log. Workers must reach the plan and the checkpoints at the same paths
    (a shared filesystem); an object store's settings (AWS_*, FSSPEC_*, ...) and, for served
    checkpoints, vLLM's (VLLM_BASE_URL, VLLM_API_KEY, ...) go with each task."""
    try:
        import ray
    except ImportError as exc:
        raise InputError("--executor ray needs Ray: pip install 'scalegate[ray]'") from exc

    @ray.remote(max_retries=0)
    def work(command: list[str], extra: dict[str, str]) -> tuple[str, int, str, float]:
        start = time.monotonic()
        res = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, **extra}, check=False
        )
        node = f"{socket.gethostname()}/ray-node-{ray.get_runtime_context().get_node_id()[:12]}"
        return node, res.returncode, res.stderr, time.monotonic() - start

    def submit(unit: Unit, attempt: int) -> Any:
        options = {"num_cpus": unit.resources.get("cpus", 1.0), "num_gpus": unit.resources.get("gpus", 0.0)}
        return work.options(**options).remote(unit_command(plan_path, unit, attempt), extra)

    extra = {**store_env(plan.store, dict(os.environ)), **served_env(plan, dict(os.environ)), **(env or {})}
    attempts: list[Attempt] = []
    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    try:
        pending = {submit(u, 1): (u, 1, time.monotonic()) for u in plan.units}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            unit, attempt, started = pending.pop(done[0])
            try:
                node, code, stderr, seconds = ray.get(done[0])
            except Exception as exc:  # the task died with its worker or node
                node, code, stderr, seconds = (
                    "?",
                    -1,
                    f"{type(exc).__name__}: {exc}",
                    time.monotonic() - started,
                )
            a = _outcome(unit, attempt, node, code, stderr, seconds)
            _finish(plan_path, a, attempts, on_attempt)
            if code != 0 and attempt <= retries:
                pending[submit(unit, attempt + 1)] = (unit, attempt + 1, time.monotonic())
    finally:
        ray.shutdown()
    return attempts


SLURM_SCRIPT = """#!/bin/bash
# scalegate: one unit of the plan per array index (written by `scalegate sweep --executor slurm`)
set -u
w={work}
i="$SLURM_ARRAY_TASK_ID"
a="$SCALEGATE_ATTEMPT"
start=$(date +%s.%N)
{python} -m scalegate unit run {plan} "$i" --attempt "$a" 2> "$w/err-$i-$a.txt"
rc=$?
end=$(date +%s.%N)
# the exit record, written whole (rename) so a reader never sees half of one
echo "$rc $(hostname) $SLURM_JOB_ID $start $end" > "$w/.exit-$i-$a.tmp"
mv "$w/.exit-$i-$a.tmp" "$w/exit-$i-$a.txt"
exit $rc
"""


def run_slurm(
    plan: UnitPlan,
    plan_path: Path,
    retries: int,
    on_attempt: Callable[[Attempt], None] | None = None,
    env: dict[str, str] | None = None,
    partition: str | None = None,
    poll_seconds: float = 2.0,
) -> list[Attempt]:
    """Run the units as Slurm array jobs (`sbatch --array`, one index per unit, one array per
    resource request), wait for them with `squeue`, and read each index's exit record from the
    store; indices that failed (or left no record: killed, node lost) are submitted again as a
    smaller array, up to `retries` times. The exit records in the shared store are the
    authority, so no accounting database (`sacct` needs slurmdbd) is required."""
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        raise InputError("--executor slurm needs Slurm's sbatch and squeue on PATH")
    work = plan_path.parent / "slurm"  # the exit records: beside the plan, which every node reads
    work.mkdir(parents=True, exist_ok=True)
    script = work / "unit.sh"
    script.write_text(
        SLURM_SCRIPT.format(
            plan=shlex.quote(str(plan_path)), python=shlex.quote(sys.executable), work=shlex.quote(str(work))
        ),
        encoding="utf-8",
    )
    script.chmod(0o755)
    attempts: list[Attempt] = []
    groups: dict[tuple[float, float], list[Unit]] = {}
    for u in plan.units:
        groups.setdefault((u.resources.get("cpus", 1.0), u.resources.get("gpus", 0.0)), []).append(u)
    for (cpus, gpus), units in groups.items():
        pending = units
        for attempt in range(1, retries + 2):
            if not pending:
                break
            args = ["sbatch", "--parsable", f"--array={','.join(str(u.index) for u in pending)}"]
            args += [f"--cpus-per-task={max(1, int(cpus))}", f"--output={work}/out-%a-{attempt}.txt"]
            args += [f"--export=ALL,SCALEGATE_ATTEMPT={attempt}", "--job-name=scalegate-unit"]
            if gpus:
                args.append(f"--gres=gpu:{int(gpus)}")
            if partition:
                args.append(f"--partition={partition}")
            submitted = subprocess.run(
                [*args, str(script)],
                capture_output=True,
                text=True,
                env={**os.environ, **(env or {})},
                check=False,
            )
            if submitted.returncode != 0:
                raise InputError(f"sbatch refused the units: {submitted.stderr.strip()[-500:]}")
            job = submitted.stdout.strip().split(";")[0]
            _wait_for_slurm(job, poll_seconds, env)
            failed = []
            for u in pending:
                a = _slurm_attempt(work, u, attempt)
                _finish(plan_path, a, attempts, on_attempt)
                if a.returncode != 0:
                    failed.append(u)
            pending = failed
    return attempts


def _wait_for_slurm(job: str, poll_seconds: float, env: dict[str, str] | None) -> None:
    while True:
        res = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%i"],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            check=False,
        )
        if res.returncode == 0 and not res.stdout.strip():
            return
        time.sleep(poll_seconds)


def _slurm_attempt(work: Path, unit: Unit, attempt: int) -> Attempt:
    record = work / f"exit-{unit.index}-{attempt}.txt"
    err_file = work / f"err-{unit.index}-{attempt}.txt"
    stderr = err_file.read_text(encoding="utf-8", errors="replace") if err_file.is_file() else ""
    try:
        rc, node, job, start, end = record.read_text(encoding="utf-8").split()
        return _outcome(unit, attempt, f"{node}/slurm-job-{job}", int(rc), stderr, float(end) - float(start))
    except (OSError, ValueError):
        why = stderr or "no exit record: the job was cancelled, killed, or its node was lost"
        return _outcome(unit, attempt, "?", -1, why, 0.0)


def read_attempts(plan_path: Path) -> list[Attempt]:
    path = plan_path.parent / ATTEMPTS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(Attempt(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a line cut by a crash: the merge reads the logs, not this record
    return out
