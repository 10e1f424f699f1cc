"""The accountability workflow through the CLI, as a user runs it: assess appends to the
ledger, keys are created for roles, sign-offs gate the action, verify checks it all."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def _decision_id(cwd: Path) -> str:
    entries = json.loads(run_cli("ledger", "show", "--json", cwd=cwd).stdout)
    return [e["entry_id"] for e in entries if e["kind"] == "decision"][-1]


def test_assess_signoff_action_verify_and_bundle(tmp_path: Path, tiny_llama: Path) -> None:
    # thresholds far above a random model: nothing crossed, so the reference governance puts
    # external deployment under sign-off by rso and ceo
    policy = tmp_path / "p.yaml"
    text = run_cli("policy", "show", "reference").stdout
    for n in ("100", "120"):
        text = text.replace(f"limit: {n},", "limit: 20,").replace(f"limit: {n}\n", "limit: 20\n")
    policy.write_text(text.replace("at_least: 0.40}", "at_least: 0.97}"))
    res = run_cli(
        "assess",
        "--policy",
        str(policy),
        "--model",
        f"hf/{tiny_llama}",
        "--out",
        "o",
        "--protection",
        "response_plan",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "decision entry" in res.stderr
    decision = _decision_id(tmp_path)
    for name, role in (("rso", "rso"), ("ceo", "ceo")):
        res = run_cli("keys", "create", name, "--role", role, "--holder", name.upper(), "--yes", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
    status = json.loads(run_cli("ledger", "show", "--json", "--kind", "decision", cwd=tmp_path).stdout)
    assert status[-1]["payload"]["decision"]["actions"]["external_deployment"]["status"] == "needs_signoff"

    refused = run_cli("ledger", "record-action", decision, "external_deployment", cwd=tmp_path)
    assert refused.returncode == 2 and "sign-off missing" in refused.stderr
    wrong_role = run_cli(
        "signoff", decision, "--role", "ceo", "--key", ".scalegate/keys/rso.key", cwd=tmp_path
    )
    assert wrong_role.returncode == 2 and "does not hold role 'ceo'" in wrong_role.stderr
    for name in ("rso", "ceo"):
        res = run_cli(
            "signoff",
            decision,
            "--role",
            name,
            "--key",
            f".scalegate/keys/{name}.key",
            "--action",
            "external_deployment",
            cwd=tmp_path,
        )
        assert res.returncode == 0, res.stderr
    res = run_cli("ledger", "record-action", decision, "external_deployment", cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    res = run_cli("ledger", "verify", cwd=tmp_path)
    assert res.returncode == 0 and "verify" in res.stdout, res.stderr
    head = run_cli("ledger", "head", cwd=tmp_path).stdout.strip()
    assert run_cli("ledger", "verify", "--anchor", head, cwd=tmp_path).returncode == 0
    res = run_cli("audit", "export", "--out", "bundle", "--public", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert run_cli("ledger", "verify", "--bundle", str(tmp_path / "bundle")).returncode == 0
    assert str(tmp_path / "o") not in (tmp_path / "bundle" / "entries.jsonl").read_text()
    # a bundle with its last entry cut off no longer reaches the head its manifest names
    lines = (tmp_path / "bundle" / "entries.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "bundle" / "entries.jsonl").write_text("".join(lines[:-1]))
    res = run_cli("ledger", "verify", "--bundle", str(tmp_path / "bundle"))
    assert res.returncode == 4 and "entry 9 is missing" in res.stderr

    # tamper with the stored decision: verify names the entry and exits 4
    import sqlite3

    con = sqlite3.connect(tmp_path / "scalegate-ledger.db")
    row = con.execute("select seq, payload from ledger_entries where kind='decision'").fetchone()
    con.execute(
        "update ledger_entries set payload=? where seq=?",
        (row[1].replace('"needs_signoff"', '"allowed"', 1), row[0]),
    )
    con.commit()
    con.close()
    res = run_cli("ledger", "verify", cwd=tmp_path)
    assert res.returncode == 4
    assert f"entry {row[0]} " in res.stderr and "altered" in res.stderr


def test_assess_without_ledger_writes_nothing_there(tmp_path: Path, tiny_llama: Path) -> None:
    res = run_cli(
        "assess",
        "--model",
        f"hf/{tiny_llama}",
        "--limit",
        "20",
        "--eval",
        "cyber_knowledge",
        "--no-ledger",
        "--out",
        "o",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "scalegate-ledger.db").exists() and not (tmp_path / ".scalegate").exists()


def test_existing_ledger_without_key_refuses_before_running(tmp_path: Path) -> None:
    from scalegate.ledger.store import Ledger, db_url
    from scalegate.ledger.workflow import operator_key

    operator_key(Ledger(db_url(str(tmp_path / "l.db"))), tmp_path / "admin.key")
    res = run_cli("assess", "--db", str(tmp_path / "l.db"), cwd=tmp_path)
    assert res.returncode == 2 and "no signing key" in res.stderr


def test_override_is_recorded_and_flagged_and_reports_verify(tmp_path: Path, tiny_llama: Path) -> None:
    from tests.test_cli_e2e import _policy

    policy = _policy(tmp_path, 0.0)  # crossed for any model: external deployment blocked
    text = policy.read_text() + (
        "governance:\n  roles: {board: Board, auditor: External auditor}\n  signoff: {override: [board]}\n"
    )
    policy.write_text(text)
    res = run_cli(
        "assess", "--policy", str(policy), "--model", f"hf/{tiny_llama}", "--out", "o", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    decision = _decision_id(tmp_path)
    run_cli("keys", "create", "board", "--role", "board", "--holder", "Board", "--yes", cwd=tmp_path)
    run_cli("keys", "create", "auditor", "--role", "auditor", "--holder", "Audit LLP", "--yes", cwd=tmp_path)
    res = run_cli(
        "signoff",
        decision,
        "--role",
        "board",
        "--key",
        ".scalegate/keys/board.key",
        "--action",
        "external_deployment",
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "blocked by the decision itself" in res.stderr
    no_reason = run_cli(
        "override",
        decision,
        "--action",
        "external_deployment",
        "--justification",
        " ",
        "--key",
        ".scalegate/keys/board.key:board",
        cwd=tmp_path,
    )
    assert no_reason.returncode == 2
    res = run_cli(
        "override",
        decision,
        "--action",
        "external_deployment",
        "--justification",
        "Regulator-mandated pilot",
        "--key",
        ".scalegate/keys/board.key:board",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert run_cli("ledger", "record-action", decision, "external_deployment", cwd=tmp_path).returncode == 0
    assert "OVERRIDE on record" in run_cli("ledger", "status", decision, cwd=tmp_path).stderr
    res = run_cli("ledger", "report", "--text", "evals skipped on ckpt 12", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli(
        "audit",
        "statement",
        "--text",
        "Reviewed; no exceptions",
        "--key",
        ".scalegate/keys/auditor.key",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    res = run_cli("ledger", "verify", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    entries = json.loads(run_cli("ledger", "show", "--json", cwd=tmp_path).stdout)
    kinds = [e["kind"] for e in entries]
    assert kinds[-4:] == ["override", "action_taken", "noncompliance_report", "audit_statement"]
    assert entries[-2]["payload"]["reporter"] == "anonymous"


def test_an_admin_key_registers_a_new_role_only_when_confirmed(tmp_path: Path) -> None:
    """Whoever holds a new key signs as its roles: no admin countersigns one silently."""
    import os
    import subprocess
    import sys

    def keys_create(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scalegate", "keys", "create", *args],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,  # no terminal to ask on
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=120,
        )

    first = keys_create("admin", "--role", "admin", "--holder", "Ada Admin")  # an empty ledger's first key
    assert first.returncode == 0, first.stderr
    rso = ("rso", "--role", "rso", "--holder", "Jane Doe", "--admin-key", ".scalegate/keys/admin.key")
    refused = keys_create(*rso)
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())
    assert "pass --yes to confirm" in said and "role(s) rso held by 'Jane Doe'" in said
    assert not (tmp_path / ".scalegate" / "keys" / "rso.key").exists()
    assert len(json.loads(run_cli("ledger", "show", "--json", cwd=tmp_path).stdout)) == 1  # nothing appended
    confirmed = keys_create(*rso, "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert (tmp_path / ".scalegate" / "keys" / "rso.key").is_file()
    assert len(json.loads(run_cli("ledger", "show", "--json", cwd=tmp_path).stdout)) == 2
