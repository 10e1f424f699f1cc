"""A worker killed with SIGKILL in the middle of its unit: the retry resumes the unit's
interrupted log, so the samples it had finished are reused as they were, none is scored twice,
none is lost, and the sweep ends where one uninterrupted process ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import sigkill_when, write_policy
from tests.scale.conftest import cli
from tests.test_resume import _flushed

pytestmark = pytest.mark.slow

OFFLINE = {"HF_HUB_OFFLINE": "1"}
POLICY = """
scalegate: 1
policy: {name: kill test policy, version: "1"}
levels: [low, high]
evidence: {min_samples: 10}
evals:
  wide:
    task: scalegate/mmlu_proxy
    args: {subjects: [high school geography, marketing, sociology, nutrition, astronomy], limit: 300, seed: 7}
domains:
  cyber:
    title: Cyber
    thresholds:
      high: {description: test threshold, when: {eval: wide, at_least: 0.5}}
responses:
  - id: fail-closed
    if: {evidence: [missing, error, cancelled, partial, unreliable, insufficient, stale]}
    block: [continue_training, internal_deployment, external_deployment, open_weights]
"""


@dataclass(frozen=True)
class Setup:
    policy: Path
    run: Path
    common: list[str]
    out: Path
    unit_dir: Path


def _setup(tiny_llama: Path, tmp_path: Path) -> Setup:
    policy = write_policy(tmp_path / "policy.yaml", POLICY)
    run = tmp_path / "run" / "checkpoint-1"
    run.parent.mkdir()
    run.symlink_to(tiny_llama, target_is_directory=True)
    common = [
        "--policy",
        str(policy),
        "--store",
        str(tmp_path / "store"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    return Setup(policy, run, common, tmp_path / "sweep", tmp_path / "store" / "unit-00000")


def _mid_unit(unit_dir: Path) -> Callable[[], Path | None]:
    def ready() -> Path | None:
        logs = sorted(unit_dir.glob("*.eval"))
        return logs[0] if logs and _flushed(logs[0]) >= 20 else None

    return ready


def _check_resumed(s: Setup, tmp_path: Path, shard: set[str], done_before: set[str]) -> None:
    """The unit's finished log holds its shard once (none twice, none lost, none foreign), the
    samples finished before the kill reused as they were; the decision is one process's."""
    from inspect_ai.log import read_eval_log

    finished = [
        p for p in s.unit_dir.glob("*.eval") if read_eval_log(str(p), header_only=True).status == "success"
    ]
    (final_path,) = finished
    final = read_eval_log(str(final_path))
    ids = [str(x.id) for x in final.samples or []]
    assert len(ids) == len(set(ids)) and set(ids) == shard
    assert done_before and done_before <= {x.uuid for x in final.samples or []}
    single = cli(
        OFFLINE,
        tmp_path,
        "assess",
        "--policy",
        str(s.policy),
        "--model",
        f"hf/{s.run}",
        "--no-cache",
        "--no-ledger",
        "--out",
        str(tmp_path / "single"),
    )
    assert single.returncode == 0, single.stderr[-3000:]
    one = json.loads((tmp_path / "single" / "assessment.json").read_text())
    swept_result = json.loads((s.out / "checkpoint-1" / "assessment.json").read_text())
    for field in ("scored", "successes", "errors", "planned"):
        assert swept_result["evidence"]["wide"]["counts"][field] == one["evidence"]["wide"]["counts"][field]
    assert swept_result["scorecard"] == one["scorecard"] and swept_result["decision"] == one["decision"]


def test_a_killed_worker_is_resumed_without_scoring_a_sample_twice(tiny_llama: Path, tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

    s = _setup(tiny_llama, tmp_path)
    planned = cli(
        OFFLINE,
        tmp_path,
        "plan",
        *s.common,
        "--checkpoints",
        str(s.run),
        "--shards",
        "2",
        "-o",
        str(s.out / "plan.json"),
    )
    assert planned.returncode == 0, planned.stderr[-2000:]
    plan = json.loads((s.out / "plan.json").read_text())
    shard = {str(i) for i in plan["units"][0]["sample_ids"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalegate", "unit", "run", str(s.out / "plan.json"), "0"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **OFFLINE},
    )
    in_flight = sigkill_when(proc, _mid_unit(s.unit_dir))
    assert in_flight is not None, "the unit finished (or hung) before it could be killed mid-run"
    crashed = read_eval_log(str(in_flight))
    assert crashed.status == "started" and 0 < len(crashed.samples or []) < len(shard)
    done_before = {x.uuid for x in crashed.samples or [] if x.error is None}
    swept = cli(
        OFFLINE,
        tmp_path,
        "sweep",
        *s.common,
        "--checkpoints",
        str(s.run),
        "--shards",
        "2",
        "--out",
        str(s.out),
        "--no-ledger",
    )
    assert swept.returncode == 0, swept.stderr[-3000:]
    _check_resumed(s, tmp_path, shard, done_before)


@pytest.mark.parametrize("engine", ["ray", "slurm"])
def test_a_worker_killed_inside_an_engine_is_retried_from_its_log(
    engine: str, tiny_llama: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A sweep on Ray or Slurm whose worker process (the `scalegate unit run` the task or
    array index started; its PID is in its own log) is SIGKILLed mid-unit: the engine's
    attempt fails, the retry resumes the unit's log, and the sweep ends as one process."""
    from inspect_ai.log import read_eval_log

    if engine == "ray":
        extra, env = ["--ray-address", request.getfixturevalue("ray_cluster")], {}
    else:
        extra, env = [], request.getfixturevalue("slurm_cluster")
    s = _setup(tiny_llama, tmp_path)
    args = [*s.common, "--checkpoints", str(s.run), "--shards", "2", "--out", str(s.out), "--no-ledger"]
    args += ["--executor", engine, *extra, "--gpus-per-unit", "0", "--retries", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalegate", "sweep", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **OFFLINE, **env},
    )
    ready = _mid_unit(s.unit_dir)
    deadline = time.monotonic() + 600
    killed = None
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        log = ready()
        if log is not None:
            try:
                crashed = read_eval_log(str(log))
            except Exception:
                crashed = None  # being rewritten: read it again
            if crashed is not None:
                os.kill(int(crashed.eval.metadata["scalegate_unit"]["pid"]), signal.SIGKILL)
                killed = crashed
        time.sleep(0.02)
    assert killed is not None, "the unit finished (or hung) before it could be killed mid-run"
    _, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    summary = json.loads((s.out / "sweep.json").read_text())
    tried = [a for a in summary["attempts"] if a["unit"] == 0]
    assert (
        [a["attempt"] for a in tried] == [1, 2]
        and tried[0]["returncode"] != 0
        and tried[1]["returncode"] == 0
    )
    plan = json.loads((s.out / "plan.json").read_text())
    shard = {str(i) for i in plan["units"][0]["sample_ids"]}
    done_before = {x.uuid for x in killed.samples or [] if x.error is None}
    _check_resumed(s, tmp_path, shard, done_before)
