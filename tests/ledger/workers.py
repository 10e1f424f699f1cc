"""Writer processes for the concurrency and crash tests (kept light: no pytest, no fixtures).

python -m tests.ledger.workers write-forever URL KEY_PATH   # prints "ready", appends until killed
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path
from typing import Any

KIND = "noncompliance_report"  # a kind verify accepts from an operator key without other context


def payload(worker: str, n: int, blob: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"text": f"{worker} entry {n}", "reporter": f"{worker}:{n}"}
    if blob:
        out["blob"] = blob
        out["blob_sha256"] = hashlib.sha256(blob.encode()).hexdigest()
    return out


def append_many(url: str, key_path: str, worker: int, count: int, start: Any) -> None:
    """One of the concurrent appenders: its own Ledger, the shared key loaded from its file."""
    from scalegate.ledger import keys
    from scalegate.ledger.store import Ledger

    ledger = Ledger(url)
    key = keys.load(Path(key_path))
    start.wait()
    for n in range(count):
        ledger.append(KIND, payload(f"w{worker}", n), [(key, "operator")], actor=f"worker-{worker}")
    ledger.close()


def first_assessment(url: str, key_path: str, assessment_json: str, start: Any) -> None:
    """One of several first runs on an empty ledger: bootstrap the key, adopt the policy,
    record the assessment, as `scalegate assess` does."""
    from scalegate.assessment import Assessment
    from scalegate.ledger import workflow
    from scalegate.ledger.store import Ledger
    from scalegate.policy.loader import load_policy

    loaded = load_policy("reference")
    assessment = Assessment.model_validate_json(assessment_json)
    ledger = Ledger(url)
    start.wait()
    key = workflow.operator_key(ledger, Path(key_path))
    workflow.record_assessment(ledger, loaded, assessment, key)
    ledger.close()


def write_forever(url: str, key_path: str) -> None:
    from scalegate.ledger import keys
    from scalegate.ledger.store import Ledger

    ledger = Ledger(url)
    key = keys.load(Path(key_path))
    rng = random.Random(os.getpid())
    tag = f"pid{os.getpid()}"
    print("ready", flush=True)
    n = 0
    while True:
        blob = os.urandom(rng.randint(256, 128 * 1024)).hex()
        ledger.append(KIND, payload(tag, n, blob), [(key, "operator")], actor=tag)
        n += 1


if __name__ == "__main__":
    if sys.argv[1] == "write-forever":
        write_forever(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {sys.argv[1]!r}")
