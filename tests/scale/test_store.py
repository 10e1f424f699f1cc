"""The log store: a folder or an S3 bucket (a real local S3 server), read and written the same
way; and what a plan with an object store asks of its pods."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalegate.errors import InputError
from scalegate.scale.store import Store, is_url, store_env
from scalegate.scale.units import CheckpointSpec, Unit, UnitPlan


def _exercise(store: Store, scratch: Path) -> None:
    assert store.names("unit-00000") == [] and store.read("stops/k.json") is None
    assert not store.exists("stops/k.json")
    store.write("unit-00000/a.eval", b"first")
    store.write("unit-00000/b.eval", b"second")
    store.write("unit-00000/outcomes/1-x.json", b"{}")
    store.write("stops/k.json", b'{"n": 3}')
    assert store.exists("stops/k.json") and store.read("stops/k.json") == b'{"n": 3}'
    assert store.names("unit-00000") == ["a.eval", "b.eval", "outcomes"]
    local = store.local_copy("unit-00000", scratch)
    assert sorted(p.name for p in local.glob("*.eval")) == ["a.eval", "b.eval"]
    assert (local / "b.eval").read_bytes() == b"second"
    store.write("unit-00000/a.eval", b"rewritten")  # a later copy sees the new bytes
    assert (store.local_copy("unit-00000", scratch / "again") / "a.eval").read_bytes() == b"rewritten"


def test_a_folder_store(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    assert not store.remote and not is_url(str(tmp_path))
    _exercise(store, tmp_path / "scratch")
    assert store.local_copy("unit-00000", tmp_path / "x") == tmp_path / "store" / "unit-00000"
    assert not list((tmp_path / "store").rglob(".*.tmp"))  # written whole, through a rename


def test_an_s3_store(s3_server: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in s3_server.items():
        monkeypatch.setenv(k, v)
    store = Store("s3://scalegate-test/store-test/")
    assert store.remote and store.url("unit-00000") == "s3://scalegate-test/store-test/unit-00000"
    _exercise(store, tmp_path / "scratch")
    assert store_env(store.location, dict(s3_server, HOME="/x")) == s3_server  # keys travel, not HOME
    assert store_env(str(tmp_path), dict(s3_server)) == {}  # a folder needs nothing


def test_an_object_store_plan_asks_its_pods_for_keys(tmp_path: Path) -> None:
    from scalegate.scale.k8s import job_manifest, validate

    unit = Unit(
        index=0,
        checkpoint=0,
        eval_id="e",
        run_id="e",
        shard=0,
        shards=1,
        key="0" * 64,
        sample_ids=[1, 2],
        resources={"cpus": 1.0, "gpus": 0.0, "memory_gb": 2.0},
        command=["scalegate", "unit", "run", str(tmp_path / "plan.json"), "0"],
    )
    plan = UnitPlan(
        policy="p.yaml",
        policy_sha256="1" * 64,
        checkpoints=[CheckpointSpec(model="openai/gpt-4o-mini", label="api")],
        shards=1,
        seed=0,
        store="s3://evals/run-42",
        cache_dir=str(tmp_path / "cache"),
        units=[unit],
    )
    kwargs = {"image": "img", "claim": "c", "mount_path": tmp_path}
    with pytest.raises(InputError, match="--env-secret"):
        job_manifest(plan, tmp_path / "plan.json", **kwargs)  # type: ignore[arg-type]
    manifest = job_manifest(plan, tmp_path / "plan.json", env_secret="store-keys", **kwargs)  # type: ignore[arg-type]
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "store-keys"}}]
    pytest.importorskip("kubernetes")
    validate(manifest)


def test_a_store_no_worker_could_use_is_named_before_anything_runs(
    s3_server: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import run_cli

    Store(str(tmp_path / "fine")).check()
    assert [p.name for p in (tmp_path / "fine").iterdir()] == []  # the probe is removed
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InputError, match="workers could not write there"):
        Store(str(tmp_path / "a-file" / "store")).check()
    with pytest.raises(InputError, match="cannot be opened"):
        Store("nosuch://bucket/prefix").check()
    for k, v in s3_server.items():
        monkeypatch.setenv(k, v)
    Store("s3://scalegate-test/probe-test").check()
    with pytest.raises(InputError, match="AWS_ENDPOINT_URL"):
        Store("s3://no-such-bucket-here/x").check()
    res = run_cli(
        "plan", "--store", "nosuch://bucket/x", "--checkpoints", str(tmp_path / "none-*"), cwd=tmp_path
    )
    assert res.returncode == 2 and "--store nosuch://bucket/x" in res.stderr and "Traceback" not in res.stderr
