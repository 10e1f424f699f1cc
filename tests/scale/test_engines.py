"""The same sweep on the engines labs run: Ray tasks over a two-node cluster and Slurm array
jobs, each compared with the local sweep (itself asserted equal to one process)."""

from __future__ import annotations

import json

from tests.scale.conftest import Swept, cli, essentials


def test_a_ray_sweep_on_two_nodes_equals_the_local_one(swept: Swept, ray_cluster: str) -> None:
    """The same checkpoint swept as Ray tasks over two `ray start` nodes: the same evidence,
    scorecard and decision as the local sweep (itself equal to one process), and each attempt
    names the Ray node it ran on."""
    cp = swept.checkpoints[1]
    out = swept.root / "ray-sweep"
    res = cli(
        swept.env,
        swept.root,
        "sweep",
        "--policy",
        str(swept.policy),
        "--checkpoints",
        str(cp),
        "--shards",
        "2",
        "--executor",
        "ray",
        "--ray-address",
        ray_cluster,
        "--gpus-per-unit",
        "0",
        "--flop-per-step",
        "1e18",
        "--store",
        str(swept.root / "ray-store"),
        "--cache-dir",
        str(swept.root / "ray-cache"),
        "--out",
        str(out),
        "--no-ledger",
    )
    assert res.returncode == 0, res.stderr[-4000:]
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["units_planned"] == 6 and all(r["complete"] for r in summary["runs"])
    assert all("/ray-node-" in a["node"] for a in summary["attempts"])
    ray_result = json.loads((out / cp.name / "assessment.json").read_text())
    local = json.loads((swept.out / cp.name / "assessment.json").read_text())
    assert essentials(ray_result) == essentials(local)


def test_a_slurm_sweep_equals_the_local_one(swept: Swept, slurm_cluster: dict[str, str]) -> None:
    """The same checkpoint swept as Slurm array jobs on a real slurmctld/slurmd: the same
    evidence, scorecard and decision as the local sweep, each attempt naming its Slurm job."""
    cp = swept.checkpoints[1]
    out = swept.root / "slurm-sweep"
    res = cli(
        {**swept.env, **slurm_cluster},
        swept.root,
        "sweep",
        "--policy",
        str(swept.policy),
        "--checkpoints",
        str(cp),
        "--shards",
        "2",
        "--executor",
        "slurm",
        "--gpus-per-unit",
        "0",
        "--flop-per-step",
        "1e18",
        "--store",
        str(swept.root / "slurm-store"),
        "--cache-dir",
        str(swept.root / "slurm-cache"),
        "--out",
        str(out),
        "--no-ledger",
    )
    assert res.returncode == 0, res.stderr[-4000:]
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["units_planned"] == 6 and all(r["complete"] for r in summary["runs"])
    assert all("/slurm-job-" in a["node"] for a in summary["attempts"])
    slurm_result = json.loads((out / cp.name / "assessment.json").read_text())
    local = json.loads((swept.out / cp.name / "assessment.json").read_text())
    assert essentials(slurm_result) == essentials(local)
