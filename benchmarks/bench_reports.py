"""Benchmark: `scalegate report` on the embedded default, every kind in every format.

Runs the README's main job once into a temporary folder and ledger (the evidence cache makes
a repeat fast), then times each `scalegate report KIND -f FORMAT` as a user runs it: a child
process, wall time, startup included. Target: every PDF under 10 s on the project's 2-core
machine. Results: benchmarks/results/reports.json; docs/performance.md quotes them.

    make bench            # or: python benchmarks/bench_reports.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("capability", "safeguards", "model-report", "transparency", "history")
FORMATS = ("json", "markdown", "html", "pdf")
TARGET_PDF_SECONDS = 10.0


def _run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "scalegate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"scalegate {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        assess = _run(["assess", "--out", "out", "--db", "ledger.db"], root)
        times: dict[str, dict[str, float]] = {}
        sizes: dict[str, int] = {}
        for kind in KINDS:
            source = ["--db", "ledger.db"] if kind in ("transparency", "history") else ["-a", "out"]
            times[kind] = {}
            for fmt in FORMATS:
                target = root / f"{kind}.{fmt}"
                times[kind][fmt] = round(
                    _run(["report", kind, *source, "-f", fmt, "-o", str(target)], root), 2
                )
                if fmt == "pdf":
                    sizes[kind] = target.stat().st_size
    slowest_pdf = max(t["pdf"] for t in times.values())
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "assess_seconds": round(assess, 1),
        "report_seconds": times,
        "pdf_bytes": sizes,
        "slowest_pdf_seconds": slowest_pdf,
        "target_pdf_seconds": TARGET_PDF_SECONDS,
        "within_target": slowest_pdf < TARGET_PDF_SECONDS,
    }
    out = Path(__file__).parent / "results" / "reports.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not result["within_target"]:
        raise SystemExit(f"slowest PDF took {slowest_pdf:.1f} s (target {TARGET_PDF_SECONDS:.0f} s)")


if __name__ == "__main__":
    main()
