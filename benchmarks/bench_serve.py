"""Benchmark: `scalegate serve` over a large ledger (issue 16's load target).

Builds a SQLite ledger of N entries (default 100,000): the reference policy, an assessment and
its decision every 10,000 entries, and noncompliance reports between them (signed, one
transaction each, as `Ledger.append` writes them). Then, against the app in process:

  cold      the first request: the whole chain verified, the role's view, and the page;
  appended  the first request after one entry is appended: only that entry is verified
            (serve.live), the role's view is rebuilt;
  warm      each page again at the same head, served from the snapshot: overview, the
            newest and the oldest ledger page, a filtered ledger page, the policy page.

Target (issue 16): every warm page under 1 s of server time. Results are printed and written
to benchmarks/results/serve.json; docs/performance.md quotes them.

    python benchmarks/bench_serve.py [--entries N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

TARGET_WARM_SECONDS = 1.0


def build(url: str, n: int, folder: Path) -> None:
    from scalegate.ledger import workflow
    from scalegate.ledger.store import Ledger
    from scalegate.policy.loader import load_policy

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.ledger.conftest import make_assessment  # the hand-made assessment the ledger tests use

    ledger = Ledger(url)
    op = workflow.operator_key(ledger, folder / "operator.key")
    loaded = load_policy("reference")
    written = 0
    while written < n:
        if written % 10_000 == 0:
            workflow.record_assessment(ledger, loaded, make_assessment(loaded), op)
            written += 3 if written == 0 else 2  # the first also adopts the policy
            continue
        ledger.append(
            "noncompliance_report",
            {"text": f"report {written}: a checkpoint was evaluated late", "reporter": "anonymous"},
            [(op, "operator")],
        )
        written += 1
        if written % 10_000 == 0:
            print(f"  {written} entries", file=sys.stderr, flush=True)


def append_one(url: str, folder: Path) -> None:
    """One more signed entry, as a live ledger grows while the dashboard is open."""
    from scalegate.ledger import workflow
    from scalegate.ledger.store import Ledger

    ledger = Ledger(url)
    op = workflow.operator_key(ledger, folder / "operator.key")
    ledger.append("noncompliance_report", {"text": "one more", "reporter": "anonymous"}, [(op, "operator")])


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return round(time.perf_counter() - start, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    from starlette.testclient import TestClient

    from scalegate.ledger.store import Ledger, db_url
    from scalegate.serve.access import Access
    from scalegate.serve.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = db_url(str(Path(tmp) / "ledger.db"))
        start = time.perf_counter()
        build(url, args.entries, Path(tmp))
        build_seconds = round(time.perf_counter() - start, 1)
        client = TestClient(create_app(Ledger(url, read_only=True), Access({})))

        def get(path: str) -> None:
            res = client.get(path)
            assert res.status_code == 200, (path, res.status_code)

        cold = timed(lambda: get("/"))
        pages = {
            "overview": "/",
            "ledger newest page": "/ledger",
            "ledger oldest page": "/ledger?page=100000",
            "ledger, decisions only": "/ledger?kind=decision",
            "policy": "/policy",
        }
        warm = {name: min(timed(lambda p=path: get(p)) for _ in range(3)) for name, path in pages.items()}
        append_one(url, Path(tmp))
        moved = timed(lambda: get("/"))  # only the new entry is verified; the role's view rebuilt
    slowest = max(warm.values())
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "entries": args.entries,
        "build_seconds": build_seconds,
        "cold_first_request_seconds": cold,
        "after_one_append_seconds": moved,
        "warm_seconds": warm,
        "slowest_warm_seconds": slowest,
        "target_warm_seconds": TARGET_WARM_SECONDS,
        "within_target": slowest < TARGET_WARM_SECONDS,
    }
    out = Path(__file__).parent / "results" / "serve.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
