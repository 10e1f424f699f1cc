"""Where units run. `local`: worker processes on this machine, a few at a time, each unit
retried up to a budget (a retry resumes the unit's interrupted log, so no finished sample runs
twice). Every attempt is recorded (unit, attempt, node, exit status, error) in the store's
`attempts.jsonl`: infrastructure failures are provenance, since cluster configuration alone
has moved published benchmark scores by points.
"""

from __future__ import annotations

import json
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
    record = Path(plan.store) / ATTEMPTS_FILE
    record.parent.mkdir(parents=True, exist_ok=True)

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
            error = None if res.returncode == 0 else (res.stderr.strip()[-1000:] or f"exit {res.returncode}")
            a = Attempt(
                unit.index,
                attempt,
                socket.gethostname(),
                res.returncode,
                round(time.monotonic() - start, 3),
                error,
            )
            with lock:
                attempts.append(a)
                with record.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(asdict(a)) + "\n")
                if on_attempt is not None:
                    on_attempt(a)
            if res.returncode == 0:
                return

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, plan.units))
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
