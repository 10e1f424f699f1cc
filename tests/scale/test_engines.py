"""The same sweep on the engines labs run: Ray tasks over a two-node cluster and Slurm array
jobs, each compared with the local sweep (itself asserted equal to one process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.scale.conftest import Swept, cli, essentials


def _engine_matches_local(
    swept: Swept,
    engine: str,
    node_mark: str,
    env: dict[str, str],
    *executor: str,
    store: str | None = None,
    name: str | None = None,
) -> dict:
    """Sweep the middle checkpoint on `engine` (3 evals x 2 shards) and compare with the local
    sweep (itself equal to one process): every run complete, every attempt naming where it
    ran (`node_mark`), the same evidence, scorecard and decision. The swept assessment."""
    cp = swept.checkpoints[1]
    name = name or engine
    out = swept.root / f"{name}-sweep"
    res = cli(
        {**swept.env, **env},
        swept.root,
        "sweep",
        "--policy",
        str(swept.policy),
        "--checkpoints",
        str(cp),
        "--shards",
        "2",
        "--executor",
        engine,
        *executor,
        "--gpus-per-unit",
        "0",
        "--flop-per-step",
        "1e18",
        "--store",
        store or str(swept.root / f"{name}-store"),
        "--cache-dir",
        str(swept.root / f"{name}-cache"),
        "--out",
        str(out),
        "--no-ledger",
    )
    assert res.returncode == 0, res.stderr[-4000:]
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["units_planned"] == 6 and all(r["complete"] for r in summary["runs"])
    assert all(node_mark in a["node"] for a in summary["attempts"])
    result = json.loads((out / cp.name / "assessment.json").read_text())
    local = json.loads((swept.out / cp.name / "assessment.json").read_text())
    assert essentials(result) == essentials(local)
    return result


def test_a_ray_sweep_on_two_nodes_equals_the_local_one(
    swept: Swept, ray_cluster: str, s3_server: dict[str, str]
) -> None:
    """Ray tasks over two `ray start` nodes, writing their logs through s3:// to a local S3
    server (the nodes were started without its settings: the sweep hands them over); each
    attempt names its Ray node, and grading reads the logs back from the bucket."""
    import boto3

    store = "s3://scalegate-test/ray-sweep"
    env = s3_server
    _engine_matches_local(swept, "ray", "/ray-node-", env, "--ray-address", ray_cluster, store=store)
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="scalegate-test", Prefix="ray-sweep/")["Contents"]]
    logs = [k for k in keys if k.endswith(".eval")]
    assert len(logs) == 6 and all(k.startswith("ray-sweep/unit-0000") for k in logs), keys
    assert not (swept.root / "ray-store").exists()  # nothing went to a folder instead


def test_a_ray_sweep_hands_the_vllm_server_to_its_workers(swept: Swept, ray_cluster: str) -> None:
    """`--provider vllm` on Ray: the nodes were started without VLLM_BASE_URL, so each task
    must get the coordinator's (a Ray worker's environment is its node's); scored by the
    server (the stand-in of tests/evals/vllm_standin.py), the evidence is the local sweep's."""
    pytest.importorskip("openai")
    from tests.evals.vllm_standin import serving

    cp = swept.checkpoints[1]
    with serving(cp, str(cp)) as (url, standin):
        env = {"VLLM_BASE_URL": url}
        args = ("--ray-address", ray_cluster, "--provider", "vllm")
        result = _engine_matches_local(swept, "ray", "/ray-node-", env, *args, name="ray-vllm")
    assert standin.completions == 3 * 10
    assert {m for e in result["evidence"].values() for m in e["scoring_methods"]} == {
        "answer_loglik@vllm-prompt-logprobs"
    }


def test_a_slurm_sweep_equals_the_local_one(swept: Swept, slurm_cluster: dict[str, str]) -> None:
    """Slurm array jobs on a real slurmctld/slurmd; each attempt names its Slurm job."""
    _engine_matches_local(swept, "slurm", "/slurm-job-", slurm_cluster)


def test_a_k8s_indexed_job_validates_and_its_commands_are_complete(swept: Swept, tmp_path: Path) -> None:
    """The manifest passes the Kubernetes API's own models (round trip, so no unknown or
    mistyped field), has one completion index per unit with per-index retries, and running
    each index's command here, then the sweep, gives the local sweep's evidence."""
    pytest.importorskip("kubernetes")
    from scalegate.errors import InputError
    from scalegate.scale.k8s import index_commands, validate

    mount = tmp_path / "data"
    cp = swept.checkpoints[2]
    common = ["--policy", str(swept.policy), "--checkpoints", str(cp), "--eval", "security", "--shards", "2"]
    common += ["--store", str(mount / "store"), "--cache-dir", str(mount / "cache"), "--gpus-per-unit", "0"]
    common += ["--flop-per-step", "1e18"]
    plan_path = mount / "sweep" / "plan.json"
    assert cli(swept.env, tmp_path, "plan", *common, "-o", str(plan_path)).returncode == 0
    res = cli(
        swept.env,
        tmp_path,
        "unit",
        "manifest",
        str(plan_path),
        "--image",
        "ghcr.io/example/scalegate:1",
        "--claim",
        "evals",
        "--mount-path",
        str(mount),
        "--retries",
        "3",
        "-o",
        str(tmp_path / "job.yaml"),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "checked against the Kubernetes API" in res.stderr
    manifest = yaml.safe_load((tmp_path / "job.yaml").read_text())
    validate(manifest)
    spec = manifest["spec"]
    assert (
        spec["completionMode"] == "Indexed" and spec["completions"] == 2 and spec["backoffLimitPerIndex"] == 3
    )
    for broken in (
        {**manifest, "spec": {**spec, "backofLimitPerIndex": 3}},  # misspelt: the API would drop it
        {**manifest, "spec": {**spec, "completions": "two"}},
    ):
        with pytest.raises(InputError, match="not a valid Kubernetes Job"):
            validate(broken)
    outside = cli(
        swept.env,
        tmp_path,
        "unit",
        "manifest",
        str(plan_path),
        "--image",
        "x",
        "--claim",
        "evals",
        "--mount-path",
        str(tmp_path / "elsewhere"),
    )
    assert outside.returncode == 2 and "not under --mount-path" in outside.stderr
    for command in index_commands(manifest):  # each pod's command, run here
        assert command[:3] == ["scalegate", "unit", "run"]
        ran = subprocess.run(
            [sys.executable, "-m", "scalegate", *command[1:]],
            capture_output=True,
            text=True,
            env={**os.environ, **swept.env},
            timeout=600,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr[-2000:]
    swept_again = cli(swept.env, tmp_path, "sweep", *common, "--out", str(mount / "sweep"), "--no-ledger")
    assert swept_again.returncode == 0, swept_again.stderr[-3000:]
    result = json.loads((mount / "sweep" / cp.name / "assessment.json").read_text())
    local = json.loads((swept.out / cp.name / "assessment.json").read_text())
    assert result["evidence"]["security"]["counts"] == local["evidence"]["security"]["counts"]
