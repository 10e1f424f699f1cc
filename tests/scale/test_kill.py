"""A worker killed with SIGKILL in the middle of its unit: the retry resumes the unit's
interrupted log, so the samples it had finished are reused as they were, none is scored twice,
none is lost, and the sweep ends where one uninterrupted process ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def test_a_killed_worker_is_resumed_without_scoring_a_sample_twice(tiny_llama: Path, tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

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
    out = tmp_path / "sweep"
    planned = cli(
        OFFLINE,
        tmp_path,
        "plan",
        *common,
        "--checkpoints",
        str(run),
        "--shards",
        "2",
        "-o",
        str(out / "plan.json"),
    )
    assert planned.returncode == 0, planned.stderr[-2000:]
    plan = json.loads((out / "plan.json").read_text())
    shard = {str(i) for i in plan["units"][0]["sample_ids"]}
    unit_dir = tmp_path / "store" / "unit-00000"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scalegate", "unit", "run", str(out / "plan.json"), "0"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )

    def mid_unit() -> Path | None:
        logs = sorted(unit_dir.glob("*.eval"))
        return logs[0] if logs and _flushed(logs[0]) >= 20 else None

    in_flight = sigkill_when(proc, mid_unit)
    assert in_flight is not None, "the unit finished (or hung) before it could be killed mid-run"
    crashed = read_eval_log(str(in_flight))
    assert crashed.status == "started" and 0 < len(crashed.samples or []) < len(shard)
    done_before = {s.uuid for s in crashed.samples or [] if s.error is None}

    swept = cli(
        OFFLINE,
        tmp_path,
        "sweep",
        *common,
        "--checkpoints",
        str(run),
        "--shards",
        "2",
        "--out",
        str(out),
        "--no-ledger",
    )
    assert swept.returncode == 0, swept.stderr[-3000:]
    finished = [
        p for p in unit_dir.glob("*.eval") if read_eval_log(str(p), header_only=True).status == "success"
    ]
    (final_path,) = finished
    final = read_eval_log(str(final_path))
    ids = [str(s.id) for s in final.samples or []]
    assert len(ids) == len(set(ids)) and set(ids) == shard  # none twice, none lost, none foreign
    assert done_before <= {s.uuid for s in final.samples or []}  # reused as they were, not run again

    single = cli(
        OFFLINE,
        tmp_path,
        "assess",
        "--policy",
        str(policy),
        "--model",
        f"hf/{run}",
        "--no-cache",
        "--no-ledger",
        "--out",
        str(tmp_path / "single"),
    )
    assert single.returncode == 0, single.stderr[-3000:]
    one = json.loads((tmp_path / "single" / "assessment.json").read_text())
    swept_result = json.loads((out / "checkpoint-1" / "assessment.json").read_text())
    for field in ("scored", "successes", "errors", "planned"):
        assert swept_result["evidence"]["wide"]["counts"][field] == one["evidence"]["wide"]["counts"][field]
    assert swept_result["scorecard"] == one["scorecard"] and swept_result["decision"] == one["decision"]
