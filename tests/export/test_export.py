"""`scalegate export mlflow|wandb` on a real assessment folder: a real MLflow tracking server
(SQLite store) started here and read back through MLflow's client; W&B's offline run file read
back byte by byte. What the trackers hold must equal `assessment.json`, read here on its own."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.export.wandb_log import records
from tests.report.conftest import Recorded


def expected(folder: Path) -> dict[str, Any]:
    """What a tracker should hold, from the raw assessment.json (not scalegate's readers)."""
    data = json.loads((folder / "assessment.json").read_text(encoding="utf-8"))
    metrics: dict[str, float] = {}
    statuses: dict[str, str] = {}
    for prefix, key in (("", "evidence"), ("post/", "post_evidence")):
        for eval_id, ev in (data.get(key) or {}).items():
            statuses[f"evidence/{prefix}{eval_id}"] = ev["status"]
            if ev["status"] != "ok":
                continue
            for metric, est in ev["metrics"].items():
                base = f"{prefix}{eval_id}/{metric}"
                metrics |= {base: est["value"], f"{base}/low": est["low"], f"{base}/high": est["high"]}
                metrics |= {f"{base}/n": float(est["n"]), f"{base}/confidence": est["confidence"]}
    decisions = {f"decision/{a}": v["status"] for a, v in data["decision"]["actions"].items()}
    cp = data["checkpoint"]
    params = {
        "model": data["model"]["reference"],
        "weights_sha256": data["model"]["weights_sha256"] or "-",
        "policy_sha256": data["policy"]["sha256"],
        "effective_compute": f"{cp['effective_compute']:.6g}",
    }
    return {"metrics": metrics, "statuses": statuses, "decisions": decisions, "params": params}


def _env(root: Path) -> dict[str, str]:
    """Every tracker's home, cache and config under `root`; nothing sent anywhere."""
    env = {**os.environ, "HOME": str(root / "home"), "COLUMNS": "300"}
    env |= {"DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    for name in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        env[name] = str(root / name.lower())
    env.pop("WANDB_API_KEY", None)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scalegate", "export", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("mlflow")
    env = _env(root)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--workers", "1"]
    cmd += ["--default-artifact-root", (root / "artifacts").as_uri()]
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as res:
                    if res.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_mlflow_runs_equal_the_assessment(
    recorded: Recorded, mlflow_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    url, env = mlflow_server
    want = expected(recorded.folder)
    assert want["metrics"], "the recorded assessment has usable evidence to log"
    res = _cli(env, "mlflow", str(recorded.folder), "--tracking-uri", url, "--experiment", "rsp")
    assert res.returncode == 0, res.stderr[-3000:]
    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("rsp")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(want["metrics"], rel=1e-12, abs=0)
    assert {k: v for k, v in run.data.tags.items() if k.startswith("decision/")} == want["decisions"]
    assert {k: v for k, v in run.data.tags.items() if k.startswith("evidence/")} == want["statuses"]
    assert {k: run.data.params[k] for k in want["params"]} == want["params"]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert names == {"assessment.json", "policy.yaml", "capability.html", "safeguards.html"}
    got = Path(client.download_artifacts(run.info.run_id, "assessment.json", str(tmp_path)))
    assert got.read_bytes() == (recorded.folder / "assessment.json").read_bytes()
    capability = Path(client.download_artifacts(run.info.run_id, "capability.html", str(tmp_path)))
    assert "<svg" in capability.read_text(encoding="utf-8")  # the report with its plots

    results = tmp_path / "results"  # a folder holding both of the fixture's assessments
    for i in (1, 2):
        shutil.copytree(recorded.folder.with_name("o" + str(i) + recorded.folder.name[2:]), results / f"r{i}")
    again = _cli(env, "mlflow", str(results), "--tracking-uri", url, "--experiment", "rsp")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already there" in again.stderr and "logged" in again.stderr  # the other folder is new
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2  # the fixture's two assessments; the first one not logged twice


def test_an_edited_folder_is_refused_and_nothing_is_logged(
    recorded: Recorded, mlflow_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    url, env = mlflow_server
    edited = tmp_path / "edited"
    shutil.copytree(recorded.folder, edited, ignore=shutil.ignore_patterns("logs", "*.eval"))
    data = json.loads((edited / "assessment.json").read_text(encoding="utf-8"))
    for action in data["decision"]["actions"].values():
        action["status"] = "allowed"
    (edited / "assessment.json").write_text(json.dumps(data), encoding="utf-8")
    both = (str(recorded.folder), str(edited))
    res = _cli(env, "mlflow", *both, "--tracking-uri", url, "--experiment", "edits")
    assert res.returncode == 4, res.stderr[-3000:]
    assert "nothing exported" in res.stderr and str(edited) in res.stderr.replace("\n", "")
    assert MlflowClient(tracking_uri=url).get_experiment_by_name("edits") is None
    empty = _cli(env, "mlflow", str(tmp_path / "none"), "--tracking-uri", url)
    assert empty.returncode == 2 and "not a folder" in empty.stderr


def _wandb_run(folder: Path) -> dict[str, Any]:
    """Config, summary, history, tags and artifact file names from the offline run file."""
    out: dict[str, Any] = {"config": {}, "summary": {}, "history": {}, "tags": [], "files": set()}
    for record in records(next(folder.glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["config"] |= {u.key: json.loads(u.value_json) for u in record.run.config.update}
            out["tags"] = list(record.run.tags)
            out["id"] = record.run.run_id
        elif kind == "summary":
            for u in record.summary.update:
                out["summary"][u.key or "/".join(u.nested_key)] = json.loads(u.value_json)
        elif kind == "history":
            for h in record.history.item:
                out["history"][h.key or "/".join(h.nested_key)] = json.loads(h.value_json)
        elif kind == "artifact":
            out["files"] |= {c.path for c in record.artifact.manifest.contents}
    return out


def test_wandb_offline_run_equals_the_assessment(recorded: Recorded, tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    env = _env(tmp_path)
    target = tmp_path / "wb"
    res = _cli(env, "wandb", str(recorded.folder), "--dir", str(target), "--project", "rsp")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "wandb sync" in res.stderr
    folders = list((target / "wandb").glob("offline-run-*"))
    assert len(folders) == 1
    run = _wandb_run(folders[0])
    want = expected(recorded.folder)
    assert {k: run["history"][k] for k in want["metrics"]} == pytest.approx(want["metrics"], rel=1e-12)
    assert {k: run["summary"][k] for k in want["metrics"]} == pytest.approx(want["metrics"], rel=1e-12)
    assert {k: run["summary"][k] for k in want["decisions"]} == want["decisions"]
    assert {k: run["summary"][k] for k in want["statuses"]} == want["statuses"]
    assert {k: run["config"][k] for k in want["params"]} == want["params"]
    assert sorted(run["tags"]) == sorted(f"decision:{k[9:]}={v}"[:64] for k, v in want["decisions"].items())
    assert run["files"] == {"assessment.json", "policy.yaml", "capability.html", "safeguards.html"}
    assert not list(Path(env["HOME"]).rglob("*.wandb"))  # nothing written outside --dir's runs

    again = _cli(env, "wandb", str(recorded.folder), "--dir", str(target))
    assert again.returncode == 0 and "already there" in again.stderr
    assert len(list((target / "wandb").glob("offline-run-*"))) == 1
