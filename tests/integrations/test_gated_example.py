"""The gated-training example (examples/gated_training) in its quick size, as a user runs it.

One real training run on CPU (about a minute): the skill must rise from chance across
assessments at doublings of effective compute, the forecast must warn, the gate must stop the
run at the threshold and refuse to restart it, and the ledger must verify.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "gated_training" / "train.py"
EVAL_ID = "modular_addition"


@dataclass
class Run:
    out: Path
    proc: subprocess.CompletedProcess[str]
    history: list[dict[str, Any]]


def _train(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("gated") / "run"
    proc = _train(out)
    state = out / "gate" / "gatekeeper.json"
    assert state.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return Run(out, proc, json.loads(state.read_text())["history"])


def _accuracy(record: dict[str, Any]) -> float:
    successes, n = record["counts"][EVAL_ID]
    return float(successes / n)


@pytest.mark.slow
def test_assessed_at_doublings_of_effective_compute_while_the_skill_rises(run: Run) -> None:
    compute = [r["effective_compute"] for r in run.history]
    assert len(compute) >= 3
    assert [b / a for a, b in pairwise(compute)] == pytest.approx([2.0] * (len(compute) - 1))
    acc = [_accuracy(r) for r in run.history]
    assert acc[0] < 0.4, f"the first assessment should read near chance (0.25): {acc}"
    assert acc[-1] >= 0.7 and acc[-1] - acc[0] >= 0.35, f"the skill did not emerge: {acc}"
    for r in run.history:
        assessment = json.loads(Path(r["assessment_path"]).read_text())
        evidence = assessment["evidence"][EVAL_ID]
        assert evidence["status"] == "ok" and evidence["n_scored"] == 100
        assert evidence["scoring_methods"] == {"answer_loglik": 100}
        assert assessment["checkpoint"]["effective_compute"] == r["effective_compute"]


@pytest.mark.slow
def test_the_forecast_warns_and_the_gate_stops_at_the_threshold(run: Run) -> None:
    assert run.proc.returncode == 3, run.proc.stdout[-3000:] + run.proc.stderr[-3000:]
    stdout = run.proc.stdout
    warning = stdout.find("EARLY WARNING: arithmetic high threshold (modular_addition >= 0.8)")
    assert 0 <= warning < stdout.find("training must stop"), "the forecast should warn before the stop"
    *before, last = run.history
    assert last["stopped"] and last["continue_training"] == "blocked"
    assert any("stop-at-high" in reason for reason in last["reasons"]), last["reasons"]
    assert last["alerts"] == ["arithmetic:high"]
    assert not any(r["stopped"] for r in before)
    assert (run.out / f"forecast-{EVAL_ID}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run.out / "forecast-before-stop.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checkpoint = Path(last["assessment_path"]).parents[2] / "checkpoints"
    assert any((sorted(checkpoint.iterdir())[-1]).glob("*.safetensors"))


@pytest.mark.slow
def test_the_ledger_holds_every_assessment_and_verifies(run: Run) -> None:
    db = str(run.out / "ledger.db")
    verified = run_cli("ledger", "verify", "--db", db)
    assert verified.returncode == 0, verified.stderr
    shown = run_cli("ledger", "show", "--db", db, "--json")
    kinds = [e["kind"] for e in json.loads(shown.stdout)]
    n = len(run.history)
    assert kinds == ["key_registered", "policy_adopted", *(["assessment", "decision"] * n)]
    decisions = [e for e in json.loads(shown.stdout) if e["kind"] == "decision"]
    assert [d["entry_id"] for d in decisions] == [r["decision_entry"] for r in run.history]


@pytest.mark.slow
def test_reports_of_the_training_run(run: Run, tmp_path: Path) -> None:
    """The history report draws one point per assessment with compute; every kind renders."""
    db = str(run.out / "ledger.db")
    res = run_cli("report", "history", "--db", db, "-f", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    table = next(b for s in doc["sections"] for b in s["blocks"] if b.get("id") == "assessments")
    assert len(table["rows"]) == len(run.history)
    assert [float(r[1]["text"]) for r in table["rows"]] == pytest.approx(
        [r["effective_compute"] for r in run.history], rel=1e-2
    )
    figure = next(b for s in doc["sections"] for b in s["blocks"] if b.get("id") == f"history-{EVAL_ID}")
    assert len(figure["refs"]) == len(run.history)  # each point cites its assessment entry
    for kind in ("capability", "safeguards", "model-report", "transparency", "history"):
        for fmt in ("html", "markdown", "pdf"):
            out = tmp_path / f"{kind}.{fmt}"
            res = run_cli("report", kind, "--db", db, "-f", fmt, "-o", str(out))
            no_browser = res.returncode == 2 and "headless Chromium" in res.stderr
            if fmt == "pdf" and no_browser and not os.environ.get("SCALEGATE_REQUIRE_BROWSER"):
                continue  # no browser here; CI has one and requires it
            assert res.returncode == 0, (kind, fmt, res.stderr)
            assert out.stat().st_size > 1000


@pytest.mark.slow
def test_a_stopped_run_refuses_to_restart(run: Run) -> None:
    again = _train(run.out)
    assert again.returncode == 3
    assert "stopped by the gate" in again.stderr
    assert len(json.loads((run.out / "gate" / "gatekeeper.json").read_text())["history"]) == len(run.history)
