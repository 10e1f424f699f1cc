"""The soundness benchmark runs in CI at a small size: every cell of the current code keeps the
false-allow rate within (1 - c) / 2 + 3 Monte Carlo standard errors (400 seeded draws a cell),
and the old behaviour it reports beside it really did not (so the cells can fail)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_soundness_benchmark_holds_its_acceptance_rule(tmp_path: Path) -> None:
    out, md = tmp_path / "soundness.json", tmp_path / "soundness.md"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_soundness.py"),
            "--quick",
            "--out",
            str(out),
            "--md",
            str(md),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["acceptance_held"] is True, data["failed_after_cells"]
    assert not data["failed_after_cells"]
    assert data["failed_other_cells"], "the old behaviour's cells should show the failures that were fixed"
    assert "Result: HELD" in md.read_text()
