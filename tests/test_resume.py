"""Cache and resume through the installed CLI on a real (tiny) checkpoint.

Re-assessing an unchanged checkpoint makes no model call; changed weights miss the cache; an
assessment killed with SIGKILL in the middle of an eval resumes with `--resume`, reusing the
finished eval and the samples already completed, and ends exactly where an uninterrupted run
with the same seed ends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, sigkill_when, write_policy

pytestmark = pytest.mark.slow

POLICY = """
scalegate: 1
policy: {name: resume test policy, version: "1"}
levels: [low, high]
evidence: {min_samples: 10}
cadence: {max_days: 30}
evals:
  first:
    task: scalegate/mmlu_proxy
    args: {subjects: [computer security], limit: 30, seed: 7}
  second:
    task: scalegate/mmlu_proxy
    args: {subjects: [high school geography, marketing, sociology, nutrition, astronomy], limit: 150, seed: 7}
domains:
  cyber:
    title: Cyber
    thresholds:
      high:
        description: test threshold
        when: {any: [{eval: first, at_least: 0.5}, {eval: second, at_least: 0.5}]}
responses:
  - id: fail-closed
    if: {evidence: [missing, error, cancelled, partial, unreliable, insufficient, stale]}
    block: [continue_training, internal_deployment, external_deployment, open_weights]
  - id: deploy-gate
    if: {post_mitigation_at_least: high}
    block: [external_deployment]
"""


def _assess(cwd: Path, *args: str) -> dict[str, Any]:
    res = run_cli("assess", "--no-ledger", "--json", *args, cwd=cwd)
    assert res.returncode == 0, res.stderr[-3000:]
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def _results(data: dict[str, Any]) -> dict[str, tuple[str, int, int]]:
    return {
        k: (e["status"], e["metrics"]["accuracy"]["successes"], e["metrics"]["accuracy"]["n"])
        for k, e in data["evidence"].items()
        if e["metrics"]
    }


def _perturbed_copy(src: Path, dest: Path) -> Path:
    """The same checkpoint with one weight changed by 0.01."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dest)
    tensors = load_file(dest / "model.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 0.01
    save_file(tensors, dest / "model.safetensors", metadata={"format": "pt"})
    return dest


def test_unchanged_checkpoint_is_a_cache_hit_and_changed_weights_miss(
    tiny_llama: Path, tmp_path: Path
) -> None:
    common = ("--eval", "cyber_knowledge", "--limit", "40", "--cache-dir", str(tmp_path / "cache"))
    t0 = time.monotonic()
    first = _assess(tmp_path, "--model", f"hf/{tiny_llama}", *common, "--out", "a")
    t1 = time.monotonic()
    second = _assess(tmp_path, "--model", f"hf/{tiny_llama}", *common, "--out", "b")
    t2 = time.monotonic()
    a, b = first["evidence"]["cyber_knowledge"], second["evidence"]["cyber_knowledge"]
    assert a["status"] == "ok" and a["provenance"]["reused"] is None
    # the second assessment ran nothing: its evidence is the cached log, regraded
    assert b["provenance"]["reused"]["kind"] == "cache"
    assert b["provenance"]["cache_key"] == a["provenance"]["cache_key"]
    assert _results(second) == _results(first) and second["decision"] == first["decision"]
    original = Path(a["log_path"])
    logs = tmp_path / "b" / "logs" / "cyber_knowledge"  # the eval's own log folder
    assert [p.name for p in logs.iterdir()] == [original.name]
    assert (logs / original.name).read_bytes() == original.read_bytes()
    assert b["completed_at"] == b["provenance"]["reused"]["ran_at"]  # when the model ran, not now
    assert t2 - t1 < 0.7 * (t1 - t0), (t1 - t0, t2 - t1)  # no model load, no inference
    # one weight changed: another checkpoint, a miss
    changed = _perturbed_copy(tiny_llama, tmp_path / "perturbed")
    third = _assess(tmp_path, "--model", f"hf/{changed}", *common, "--out", "c")
    c = third["evidence"]["cyber_knowledge"]
    assert c["provenance"]["reused"] is None and c["status"] == "ok"
    assert c["provenance"]["weights_sha256"] != a["provenance"]["weights_sha256"]
    assert c["provenance"]["cache_key"] != a["provenance"]["cache_key"]
    # (`--no-cache` runs every eval: tests/evals/test_cache.py, in-process)
    both = run_cli("assess", "--no-cache", "--cache-dir", str(tmp_path), "--no-ledger", cwd=tmp_path)
    assert both.returncode == 2 and "choose one" in both.stderr


def _flushed(log: Path) -> int:
    """Samples Inspect has written into a .eval log so far (0 while it is being rewritten)."""
    try:
        with zipfile.ZipFile(log) as z:
            return sum(n.startswith("samples/") for n in z.namelist())
    except (OSError, zipfile.BadZipFile, KeyError):
        return 0


def test_kill_9_mid_eval_then_resume_matches_an_uninterrupted_run(tiny_llama: Path, tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

    policy = write_policy(tmp_path / "policy.yaml", POLICY)
    args = ("--policy", str(policy), "--model", f"hf/{tiny_llama}", "--effective-compute", "1e22")
    uninterrupted = _assess(tmp_path, *args, "--no-cache", "--out", "u")

    out, cache = tmp_path / "k", tmp_path / "cache"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scalegate",
            "assess",
            "--no-ledger",
            *args,
            "--cache-dir",
            str(cache),
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )

    def mid_eval() -> Path | None:
        logs = sorted(out.glob("logs/*/*.eval"), key=os.path.getmtime)
        # `first` finished, and `second` has samples on disk: kill it mid-eval
        done = (out / "evidence" / "first.json").is_file()
        return logs[1] if done and len(logs) == 2 and _flushed(logs[1]) >= 20 else None

    in_flight = sigkill_when(proc, mid_eval)
    assert in_flight is not None, "the assessment finished (or hung) before it could be killed mid-eval"

    # what the kill left: the finished eval, an interrupted log, no assessment; nothing partial counted
    crashed = read_eval_log(str(in_flight))
    assert crashed.status == "started" and 0 < len(crashed.samples or []) < 150
    done_before = {s.uuid for s in crashed.samples or [] if s.error is None}
    assert not (out / "assessment.json").exists() and not (out / "evidence" / "second.json").exists()
    assert len(list((cache / "v1").rglob("log.eval"))) == 1  # `first` only: a partial eval is never cached

    resumed = _assess(tmp_path, *args, "--cache-dir", str(cache), "--resume", str(out))
    assert _results(resumed) == _results(uninterrupted)
    assert resumed["scorecard"] == uninterrupted["scorecard"]
    assert resumed["decision"] == uninterrupted["decision"]
    first, second = resumed["evidence"]["first"], resumed["evidence"]["second"]
    assert first["provenance"]["reused"]["kind"] == "resumed_eval"  # not run again
    reuse = second["provenance"]["reused"]
    assert reuse["kind"] == "resumed_samples" and reuse["source"].endswith(in_flight.name)
    assert reuse["samples_reused"] >= len(done_before)
    final = read_eval_log(second["log_path"])
    assert final.status == "success"
    ids = [s.id for s in final.samples or []]
    assert len(ids) == len(set(ids)) == second["n_planned"] == second["n_scored"] == 150  # no duplicates
    # the samples finished before the kill were reused as they were, not run again
    assert done_before <= {s.uuid for s in final.samples or []}
    # and now that it is complete, it is in the cache too
    assert len(list((cache / "v1").rglob("log.eval"))) == 2
