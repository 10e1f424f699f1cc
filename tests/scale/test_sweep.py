"""Scaled-out assessment on real tiny-Llama checkpoints: worker processes run sample shards,
the coordinator merges them into the evidence cache and assesses; the result must equal one
process's, and a unit that cannot finish must leave its eval incomplete and the gate closed."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalegate.scale.units import shard_of
from tests.scale.conftest import Swept, cli, essentials


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(
        st.one_of(st.integers(0, 10_000), st.text(min_size=1, max_size=8)), unique=True, max_size=60
    ),
    shards=st.integers(1, 9),
    seed=st.integers(0, 2**32),
)
def test_shards_partition_the_samples(ids: list[str | int], shards: int, seed: int) -> None:
    """Every sample in exactly one shard, shards as even as they can be, the same every time."""
    parts = shard_of(ids, seed, shards)
    assert len(parts) == shards
    flat = [i for p in parts for i in p]
    assert sorted(map(repr, flat)) == sorted(map(repr, ids))  # a partition: none lost, none twice
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parts == shard_of(list(reversed(ids)), seed, shards)  # fixed by the seed, not the input order


def test_sweep_equals_one_process(swept: Swept) -> None:
    plan = json.loads((swept.out / "plan.json").read_text())
    assert len(plan["units"]) == 3 * 3 * 2 and {u["shards"] for u in plan["units"]} == {2}
    summary = json.loads((swept.out / "sweep.json").read_text())
    assert all(r["complete"] for r in summary["runs"]) and len(summary["runs"]) == 9
    for cp, compute in zip(swept.checkpoints, (1e20, 2e20, 3e20), strict=True):
        swept_result = json.loads((swept.out / cp.name / "assessment.json").read_text())
        assert swept_result["checkpoint"]["effective_compute"] == pytest.approx(compute)
        for e in swept_result["evidence"].values():
            assert e["provenance"]["reused"]["kind"] == "cache"
            scale_out = e["provenance"]["scale_out"]  # where the shards ran, in the evidence itself
            assert len(scale_out["units"]) == 2 and all(
                u["node"] and u["attempt"] == 1 for u in scale_out["units"]
            )
            assert [len(v) for v in scale_out["attempts"].values()] == [1, 1]
        single = swept.root / f"single-{cp.name}"
        res = cli(
            swept.env,
            swept.root,
            "assess",
            "--policy",
            str(swept.policy),
            "--model",
            f"hf/{cp}",
            "--effective-compute",
            str(compute),
            "--no-cache",
            "--no-ledger",
            "--out",
            str(single),
        )
        assert res.returncode == 0, res.stderr[-3000:]
        one = json.loads((single / "assessment.json").read_text())
        assert essentials(swept_result) == essentials(one), cp.name
    report = cli(
        swept.env, swept.root, "report", "capability", "--assessment", str(swept.out / cp.name), "-f", "md"
    )
    assert report.returncode == 0 and "2 shard(s) on" in report.stdout, report.stderr[-2000:]
    # every sample of each run scored once across its shards, and the merged log says where from
    from inspect_ai.log import read_eval_log

    merged = sorted((swept.out / "merged").glob("*.eval"))
    assert len(merged) == 9
    log = read_eval_log(str(merged[0]))
    keys = [(str(s.id), s.epoch) for s in log.samples]
    assert len(keys) == len(set(keys)) == 10
    assert len(log.eval.metadata["scalegate_merged"]["units"]) == 2


def test_sweep_records_each_checkpoint_in_the_ledger(swept: Swept) -> None:
    res = cli(swept.env, swept.root, "ledger", "show", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    entries = json.loads(res.stdout)
    assessments = [e for e in entries if e["kind"] == "assessment"]
    assert [a["payload"]["checkpoint"]["label"] for a in assessments] == [c.name for c in swept.checkpoints]
    assert cli(swept.env, swept.root, "ledger", "verify").returncode == 0


def test_a_second_sweep_is_served_from_the_cache(swept: Swept) -> None:
    res = cli(
        swept.env,
        swept.root,
        "plan",
        "--policy",
        str(swept.policy),
        "--checkpoints",
        str(swept.root / "run" / "checkpoint-*"),
        "--shards",
        "3",
        "--cache-dir",
        str(swept.cache),
        "-o",
        str(swept.root / "again.json"),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    plan = json.loads((swept.root / "again.json").read_text())
    assert plan["units"] == [] and len(plan["kept"]) == 9
    assert {k["why"] for k in plan["kept"]} == {"in the evidence cache"}


def test_a_unit_failing_past_its_retries_leaves_the_eval_partial_and_blocks(swept: Swept) -> None:
    """A tampered plan (one unit's cache key changed): the worker refuses it on every attempt;
    the run's merge lacks that shard, so the eval is incomplete and every action is blocked."""
    from scalegate.policy import load_policy
    from scalegate.scale.executors import run_local
    from scalegate.scale.sweep import find_checkpoints, run_sweep
    from scalegate.scale.units import make_unit_plan

    work = swept.root / "failing"
    loaded = load_policy(str(swept.policy))
    specs = find_checkpoints(str(swept.checkpoints[0]))
    plan_path = work / "plan.json"
    plan = make_unit_plan(
        loaded,
        str(swept.policy),
        specs,
        shards=2,
        store=str(work / "store"),
        cache_dir=work / "cache",
        plan_path=plan_path,
        eval_ids=["security"],
    )
    units = list(plan.units)
    units[1] = units[1].model_copy(update={"key": "0" * 64})
    plan = plan.model_copy(update={"units": units})
    plan_path.parent.mkdir(parents=True)
    plan_path.write_text(plan.model_dump_json(), encoding="utf-8")
    execute = functools.partial(run_local, workers=2, retries=1)
    results = run_sweep(loaded, plan, plan_path, work / "out", execute=execute, env=swept.env)
    summary = json.loads((work / "out" / "sweep.json").read_text())
    failed = [a for a in summary["attempts"] if a["unit"] == 1]
    assert [a["attempt"] for a in failed] == [1, 2] and all(a["returncode"] != 0 for a in failed)
    assert "another evidence cache key" in failed[-1]["error"]
    (result,) = results
    ev = result.assessment.evidence["security"]
    assert str(ev.status) == "partial" and "unit 1 (shard 2 of 2) has no finished log" in (ev.note or "")
    tried = ev.provenance.scale_out["attempts"]["1"]  # the failed attempts, in the evidence itself
    assert [t["attempt"] for t in tried] == [1, 2] and "another evidence cache key" in tried[-1]["error"]
    assert all(not result.assessment.decision.allowed(a) for a in result.assessment.decision.actions)
    # nothing incomplete entered the cache: a later sweep plans the run again
    assert not list((work / "cache").rglob("*.eval"))


def test_merge_refuses_a_sample_counted_twice(swept: Swept, tmp_path: Path) -> None:
    """A shard's log copied into its sibling's folder: the merge names the sample and the run
    stays out of the cache."""
    from scalegate.policy import load_policy
    from scalegate.scale.merge import merge_run
    from scalegate.scale.units import checkpoint_runs, read_plan

    plan = read_plan(swept.out / "plan.json")
    store = tmp_path / "store"
    shutil.copytree(swept.store, store)
    plan = plan.model_copy(update={"store": str(store), "cache_dir": str(tmp_path / "cache")})
    units = plan.runs()[(0, "security")]
    for log in (store / f"unit-{units[0].index:05d}").glob("*.eval"):
        shutil.copy(log, store / f"unit-{units[1].index:05d}" / ("copy-" + log.name))
    loaded = load_policy(str(swept.policy))
    run = next(
        r
        for r in checkpoint_runs(loaded.policy, plan.checkpoints[0], None, None)
        if r.variant.run_id == "security"
    )
    merged = merge_run(plan, units, run, loaded.policy, tmp_path / "merged")
    assert not merged.complete and str(merged.evidence.status) != "ok"
    assert any("finished logs" in p or "in the logs of units" in p for p in merged.problems)
    assert not list((tmp_path / "cache").rglob("*.eval"))


def test_a_sweep_reads_each_checkpoint_against_the_last_comprehensive_one(
    swept: Swept, tmp_path: Path
) -> None:
    """A policy with a `last_comprehensive` escape, swept from the cache into a new ledger:
    each checkpoint is assessed and recorded in order, so the second is read against the
    first's decision and the third against the second's; verify resolves both again."""
    from tests.scale.conftest import POLICY

    old = "      high: {description: test threshold, when: {eval: chemistry, at_least: 0.97}}"
    assert old in POLICY
    text = POLICY.replace(
        old,
        "      high:\n        description: escaped by the checkpoint before\n"
        "        when: {all: [{eval: chemistry, at_least: 0.97},"
        " {relative: {to: last_comprehensive, evals: [chemistry], margin: 0.5}}]}",
    )
    policy = tmp_path / "relative.yaml"
    policy.write_text(text, encoding="utf-8")
    db = ["--db", str(tmp_path / "ledger.db"), "--key", str(tmp_path / "operator.key")]
    res = cli(
        swept.env, tmp_path, "sweep", "--policy", str(policy), "--checkpoints",
        str(swept.root / "run" / "checkpoint-*"), "--store", str(tmp_path / "store"), "--cache-dir",
        str(swept.cache), "--out", str(tmp_path / "sweep"), "--flop-per-step", "1e18", *db,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    refs = [
        json.loads((tmp_path / "sweep" / cp.name / "assessment.json").read_text())["relative"]["references"][
            "last_comprehensive"
        ]
        for cp in swept.checkpoints
    ]
    assert refs[0]["problem"] is not None and refs[0]["decision_id"] is None
    for before, ref in zip(swept.checkpoints, refs[1:], strict=False):
        assert ref["problem"] is None and ref["model"]["reference"].endswith(before.name), ref["model"]
    assert cli(swept.env, tmp_path, "ledger", "verify", "--db", db[1]).returncode == 0
