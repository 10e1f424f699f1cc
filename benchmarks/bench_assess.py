"""Benchmark: the README's main job (`scalegate assess` on the embedded default).

Measures wall time and peak resident memory of the whole command in a child process, and
the per-question scoring time of each answer method on the bundled model. Results are
printed and written to benchmarks/results/assess.json; docs/performance.md quotes them.

    make bench            # or: python benchmarks/bench_assess.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_main_job(limit: int | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "scalegate", "assess", "--out", tmp, "--json"]
        if limit:
            cmd += ["--limit", str(limit)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"assess failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        data = json.loads(proc.stdout)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    questions = sum(ev["n_scored"] for ev in data["evidence"].values())
    return {
        "command": " ".join(cmd[2:]),
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(peak_kib / 1024),
        "questions": questions,
        "seconds_per_question": round(wall / max(questions, 1), 3),
        "scores": {k: ev["metrics"]["accuracy"]["value"] for k, ev in data["evidence"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="samples per eval (default: all)")
    args = parser.parse_args()
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "main_job": run_main_job(args.limit),
    }
    out = Path(__file__).parent / "results" / "assess.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
