"""An audit bundle verifies on another machine that has only scalegate's light dependencies.

A small ledger (key registrations, the policy, an assessment and its decision, sign-offs, an
action, a noncompliance report, an audit statement) is built in a temporary folder, all but
the assessment through the real CLI, and exported as a full and a public bundle. scalegate
is then installed into a fresh virtual environment with only what `ledger verify --bundle`
needs (no torch, transformers, Inspect, scipy or alembic), and copies of the bundles are
verified there, in a folder that holds nothing but the copy: no ledger, no keys, no source.

Needs pip to reach a package index (or the configured find-links) for the light packages
and for setuptools to build scalegate.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# What `python -m scalegate ledger verify --bundle` imports, with pyproject's bounds. alembic
# (migrations), scipy (intervals), torch, transformers and inspect-ai are not needed to verify.
VERIFY_DEPS = [
    "pydantic>=2.7,<3",
    "PyYAML>=6.0",
    "typer>=0.12",
    "rich>=13",
    "cryptography>=42",
    "sqlalchemy>=2.0,<3",
]
HEAVY = ["torch", "transformers", "inspect_ai", "scipy", "numpy", "alembic", "accelerate"]
NETWORK_ERRORS = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable")


@dataclass
class Bundles:
    work: Path
    full: Path
    public: Path
    # restricted values (assessment.evidence, assessment.output_dir,
    # noncompliance_report.reporter) that must not appear in the public bundle
    restricted: dict[str, str]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["COLUMNS"] = "200"  # rich wraps stderr at 80 columns otherwise
    return env


def _run(*cmd: str | Path, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI of the environment running the tests, as a user runs it in `cwd`."""
    res = _run(sys.executable, "-m", "scalegate", *args, cwd=cwd)
    assert res.returncode == 0, f"scalegate {' '.join(args)} exited {res.returncode}:\n{res.stderr}"
    return res


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    from scalegate import __version__
    from scalegate.assessment import Assessment, ModelRef, PolicyRef
    from scalegate.evals.evidence import EvalEvidence, Provenance
    from scalegate.evals.stats import estimate_proportion
    from scalegate.gates import decide
    from scalegate.ledger.store import Ledger, db_url
    from scalegate.ledger.workflow import operator_key, record_assessment
    from scalegate.plan import Checkpoint
    from scalegate.policy import load_policy
    from scalegate.policy.base import EvidenceStatus
    from scalegate.scoring import build_scorecard

    work = tmp_path_factory.mktemp("ledger-work")
    tag = uuid.uuid4().hex[:10]
    out_dir = work / f"assessment-out-{tag}"
    reporter = f"whistleblower-{tag}@example.org"
    loaded = load_policy("reference")
    model = "hf/local-checkpoint-7"

    # Near-chance accuracies: nothing crossed, so the reference governance puts
    # external_deployment under sign-off by rso and ceo.
    evidence, restricted = {}, {"output_dir": str(out_dir), "reporter": reporter}
    for i, eval_id in enumerate(loaded.policy.evals):
        n = 113 + i
        est = estimate_proportion(29 + 2 * i, n)
        evidence[eval_id] = EvalEvidence(
            eval_id=eval_id,
            status=EvidenceStatus.ok,
            metrics={"accuracy": est},
            n_planned=n,
            n_scored=n,
            log_path=str(out_dir / "logs" / f"{eval_id}-{tag}.eval"),
            provenance=Provenance(model=model, task="scalegate/mmlu_proxy", inspect_run_id=f"run-{tag}-{i}"),
        )
        restricted[f"{eval_id} log_path"] = str(out_dir / "logs" / f"{eval_id}-{tag}.eval")
        restricted[f"{eval_id} inspect_run_id"] = f"run-{tag}-{i}"
    scorecard = build_scorecard(loaded.policy, evidence)
    decision = decide(loaded.policy, scorecard, set())
    assert decision.actions["external_deployment"].status == "needs_signoff"
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    assessment = Assessment(
        scalegate_version=__version__,
        started_at=now,
        completed_at=now,
        policy=PolicyRef(
            name=loaded.policy.policy.name,
            version=loaded.policy.policy.version,
            sha256=loaded.sha256,
            source=loaded.source,
        ),
        model=ModelRef(reference=model, inspect_model=model),
        checkpoint=Checkpoint(model=model),
        protections_in_place=[],
        evidence=evidence,
        scorecard=scorecard,
        decision=decision,
        output_dir=str(out_dir),
    )

    # What `scalegate assess` does after its model run: the first key, then the records.
    ledger = Ledger(db_url(str(work / "scalegate-ledger.db")))
    try:
        op = operator_key(ledger, work / ".scalegate" / "keys" / "operator.key")
        _, decision_entry = record_assessment(ledger, loaded, assessment, op)
    finally:
        ledger.close()

    did, rso, ceo = decision_entry.entry_id, ".scalegate/keys/rso.key", ".scalegate/keys/ceo.key"
    signoff = ("signoff", did, "--action", "external_deployment")
    for args in (
        ("keys", "create", "rso", "--role", "rso", "--holder", "R. S. Officer", "--yes"),
        ("keys", "create", "ceo", "--role", "ceo", "--holder", "C. E. Officer", "--yes"),
        (*signoff, "--role", "rso", "--key", rso, "--comment", "evals reviewed, intervals below the alerts"),
        (*signoff, "--role", "ceo", "--key", ceo),
        ("ledger", "record-action", did, "external_deployment"),
        ("ledger", "report", "--text", "deployment runbook started before sign-off", "--reporter", reporter),
        ("keys", "create", "auditor", "--role", "auditor", "--holder", "Example Audit LLP", "--yes"),
        ("audit", "statement", "--text", "chain reviewed", "--key", ".scalegate/keys/auditor.key"),
    ):
        _cli(*args, cwd=work)
    assert "verify" in _cli("ledger", "verify", cwd=work).stdout
    _cli("audit", "export", "--out", "bundle-full", cwd=work)
    _cli("audit", "export", "--public", "--out", "bundle-public", cwd=work)
    return Bundles(work, work / "bundle-full", work / "bundle-public", restricted)


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python of a new venv (no system site packages) with scalegate and VERIFY_DEPS only."""
    base = tmp_path_factory.mktemp("fresh-venv")
    venv = base / "venv"
    res = _run(sys.executable, "-m", "venv", venv, cwd=base)
    assert res.returncode == 0, res.stderr
    python = venv / "bin" / "python"
    # Build from a copy of the project: an in-tree build would leave build/ in the checkout.
    src = base / "scalegate-src"
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    for args in (VERIFY_DEPS, ["--no-deps", str(src)]):
        res = _run(python, "-m", "pip", "install", "-q", *args, cwd=base, timeout=900)
        if res.returncode != 0 and any(s in res.stdout + res.stderr for s in NETWORK_ERRORS):
            pytest.skip(f"pip cannot reach a package index: {res.stderr[-500:]}")
        assert res.returncode == 0, f"pip install {args} failed:\n{res.stdout}\n{res.stderr}"
    probe = (
        "import importlib.util, json, scalegate; "
        f"print(json.dumps([scalegate.__file__, [m for m in {HEAVY!r} if importlib.util.find_spec(m)]]))"
    )
    res = _run(python, "-c", probe, cwd=base)
    assert res.returncode == 0, res.stderr
    where, heavy = json.loads(res.stdout)
    assert Path(where).is_relative_to(venv), f"scalegate imported from {where}, not the fresh venv"
    assert heavy == [], f"the fresh venv has {heavy}; it must verify without them"
    return python


def _copy_alone(bundle: Path, tmp_path: Path) -> Path:
    """The bundle folder, and only it, in a new folder."""
    dest = tmp_path / f"received-{bundle.name}" / bundle.name
    shutil.copytree(bundle, dest)
    return dest


def _verify(python: Path, bundle: Path) -> subprocess.CompletedProcess[str]:
    return _run(python, "-m", "scalegate", "ledger", "verify", "--bundle", bundle.name, cwd=bundle.parent)


def _tamper_one_byte(bundle: Path, kind: str, field: str) -> tuple[int, str]:
    """Change one byte inside the string value of payload[field] of the first such entry."""
    path = bundle / "entries.jsonl"
    lines = path.read_bytes().split(b"\n")
    for n, line in enumerate(lines):
        if not line:
            continue
        entry = json.loads(line)
        value = entry["payload"].get(field) if entry["kind"] == kind else None
        if not value:
            continue
        start = line.index(json.dumps(field).encode() + b": " + json.dumps(value).encode())
        at = start + len(json.dumps(field)) + 3  # first character of the value
        lines[n] = line[:at] + (b"X" if line[at : at + 1] != b"X" else b"Y") + line[at + 1 :]
        path.write_bytes(b"\n".join(lines))
        assert json.loads(lines[n])["payload"][field] != value
        return int(entry["seq"]), str(entry["entry_id"])
    raise AssertionError(f"no {kind} entry with a {field} in {bundle}")


@pytest.mark.parametrize(
    ("which", "kind", "field"),
    [("full", "signoff", "comment"), ("public", "noncompliance_report", "text")],
)
def test_bundle_verifies_in_fresh_venv_and_tampering_is_found(
    bundles: Bundles, fresh_python: Path, tmp_path: Path, which: str, kind: str, field: str
) -> None:
    bundle = _copy_alone(bundles.full if which == "full" else bundles.public, tmp_path)
    res = _verify(fresh_python, bundle)
    assert res.returncode == 0, res.stdout + res.stderr
    entries = json.loads((bundle / "manifest.json").read_text())["entries"]
    assert f"ok {entries} entries of {bundle.name} verify" in res.stdout

    seq, entry_id = _tamper_one_byte(bundle, kind, field)
    res = _verify(fresh_python, bundle)
    message = " ".join(res.stderr.split())
    assert res.returncode == 4, res.stdout + res.stderr
    assert f"problem entry {seq} ({entry_id}): content does not match its hash (altered)" in message
    # the first finding is that entry; later ones only follow from it (a sign-off whose
    # signature broke no longer counts, so the action it allowed is flagged as well)
    where = re.findall(r"problem entry (\d+) \(([0-9a-f]+)\): ", message)
    assert where[0] == (str(seq), entry_id), message
    assert all(int(n) >= seq for n, _ in where), message
    # and the bundle's own files say it changed since export (the manifest pins their hashes)
    assert "problem entries.jsonl: changed since export" in message, message
    files = len(
        re.findall(r"problem (?:entries\.jsonl|manifest\.json|keys\.json|README\.md|policies/)", message)
    )
    assert f"{len(where) + files} problem(s) in {entries} entries" in message, message


def _bundle_text(bundle: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(bundle.rglob("*")) if p.is_file())


def test_public_bundle_holds_no_restricted_value(bundles: Bundles) -> None:
    manifest = json.loads((bundles.public / "manifest.json").read_text())
    assert manifest["public"] is True
    assert {"assessment.evidence", "assessment.output_dir", "noncompliance_report.reporter"} <= set(
        manifest["redacted_fields"]
    )
    full, public = _bundle_text(bundles.full), _bundle_text(bundles.public)
    for name, value in bundles.restricted.items():
        assert value in full, f"{name}: the full bundle should hold it (the check would prove nothing)"
        assert value not in public, f"{name} ({value!r}) is in the public bundle"
    for line in (bundles.public / "entries.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["kind"] == "assessment":
            assert {"evidence", "output_dir"} <= set(entry["redacted"])
            assert not {"evidence", "output_dir"} & set(entry["payload"])
        if entry["kind"] == "noncompliance_report":
            assert "reporter" in entry["redacted"] and "reporter" not in entry["payload"]
