"""Where units run. `local`: worker processes on this machine, a few at a time; `ray`: tasks
on a Ray cluster, each with its unit's resource request. Each unit is retried up to a budget
(a retry resumes the unit's interrupted log, so no finished sample runs twice). Every attempt
is recorded (unit, attempt, node, exit status, error) in the store's `attempts.jsonl`:
infrastructure failures are provenance, since cluster configuration alone has moved
published benchmark scores by points.
"""

from __future__ import annotations

import json
import logging
import os
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
    plan: UnitPlan, a: Attempt, attempts: list[Attempt], on_attempt: Callable[[Attempt], None] | None
) -> None:
    """Keep an attempt: in the list, in the store's attempts.jsonl, and shown."""
    attempts.append(a)
    record = Path(plan.store) / ATTEMPTS_FILE
    record.parent.mkdir(parents=True, exist_ok=True)
    with record.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(a)) + "\n")
    if on_attempt is not None:
        on_attempt(a)


def _outcome(unit: Unit, attempt: int, node: str, returncode: int, stderr: str, seconds: float) -> Attempt:
    error = None if returncode == 0 else (stderr.strip()[-1000:] or f"exit {returncode}")
    return Attempt(unit.index, attempt, node, returncode, round(seconds, 3), error)


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
    lock = threading.Lock()
    attempts: list[Attempt] = []

    def one(unit: Unit) -> None:
        for attempt in range(1, retries + 2):
            start = time.monotonic()
            res = subprocess.run(
                unit_command(plan_path, unit, attempt),
                capture_output=True,
                text=True,
                env={**os.environ, **(env or {})},
                check=False,
            )
            a = _outcome(
                unit, attempt, socket.gethostname(), res.returncode, res.stderr, time.monotonic() - start
            )
            with lock:
                _finish(plan, a, attempts, on_attempt)
            if res.returncode == 0:
                return

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, plan.units))
    return attempts


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
    the unit's interrupted log. Workers must reach the plan, the store and the cache at the same
    paths (a shared filesystem)."""
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
        return work.options(**options).remote(unit_command(plan_path, unit, attempt), env or {})

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
            _finish(plan, a, attempts, on_attempt)
            if code != 0 and attempt <= retries:
                pending[submit(unit, attempt + 1)] = (unit, attempt + 1, time.monotonic())
    finally:
        ray.shutdown()
    return attempts


def read_attempts(plan: UnitPlan) -> list[Attempt]:
    path = Path(plan.store) / ATTEMPTS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(Attempt(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a line cut by a crash: the merge reads the logs, not this record
    return out
