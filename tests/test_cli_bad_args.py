"""Bad command lines end with exit 2 and a message naming the argument: never a traceback,
never a model run. Each row was a traceback (or silently accepted) before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

FAST = ("--no-ledger", "--eval", "cyber_knowledge", "--limit", "1")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("assess", "--effective-compute", "-5", *FAST), "--effective-compute"),
        (("assess", "--effective-compute", "nan", *FAST), "--effective-compute"),
        (("assess", "--effective-compute", "inf", *FAST), "--effective-compute"),
        (("assess", "--training-compute", "-1", *FAST), "--training-compute"),
        (("assess", "--training-compute", "0", *FAST), "--training-compute"),
        (("assess", "--out", "/proc/scalegate-cannot-write-here", *FAST), "--out"),
        (("audit", "export", "--out", "b", "--restrict", "nodot"), "--restrict"),
        (("audit", "export", "--out", "b", "--restrict", "nokind.field"), "--restrict"),
        (("ledger", "verify", "--anchor", "5:zz"), "--anchor"),
        (("plan", "--checkpoints", "no-such-run/checkpoint-*"), "--checkpoints"),
        (("plan", "--checkpoints", ".", "--flop-per-step", "-1"), "--flop-per-step"),
        (("plan", "--checkpoints", ".", "--flop-per-step", "nan"), "--flop-per-step"),
        (("plan", "--checkpoints", ".", "--algorithmic-multiplier", "0"), "--algorithmic-multiplier"),
        (("plan", "--checkpoints", ".", "--shards", "0"), "--shards"),
        (("sweep", "--executor", "kubernetes-please", "--no-ledger"), "--executor"),
        (("sweep", "--executor", "ray", "--no-ledger"), "--ray-address"),
        (("unit", "run", "missing-plan.json", "0"), "missing-plan.json"),
    ],
)
def test_bad_command_lines_exit_2_naming_the_argument(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    res = run_cli(*args, cwd=tmp_path, timeout=300)
    assert res.returncode == 2, res.stdout + res.stderr
    assert named in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert not (tmp_path / "scalegate-results").exists() or not any(
        (tmp_path / "scalegate-results").iterdir()
    )


def test_a_mistyped_ledger_path_is_an_error_not_an_empty_clean_ledger(tmp_path: Path) -> None:
    for args in (
        ("ledger", "verify"),
        ("ledger", "show"),
        ("ledger", "head"),
        ("audit", "export", "--out", "b"),
    ):
        res = run_cli(*args, "--db", str(tmp_path / "typo.db"), cwd=tmp_path)
        assert res.returncode == 2 and "no ledger at" in res.stderr, (args, res.stderr)
    assert not (tmp_path / "typo.db").exists()


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of things that are not what a command expects, next to a real ledger."""
    from scalegate.ledger.store import db_url
    from tests.ledger.conftest import build_realistic

    folder = tmp_path_factory.mktemp("bad-inputs")
    build_realistic(db_url(str(folder / "ledger.db")), folder / "keys").ledger.close()
    (folder / "empty.yaml").write_text("")
    (folder / "bin.yaml").write_bytes(b"\x00\x01\xff")
    (folder / "bad.json").write_text("{")
    (folder / "dir").mkdir()
    (folder / "notdb.db").write_text("hello")
    (folder / "garbage.key").write_text("nonsense")
    return folder


DB = ("--db", "ledger.db")
OP = ("--key", "keys/operator.key")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("compute", "--parameters", "-1", "--tokens", "1e12"), "parameters"),
        (("compute", "--parameters", "7e9", "--tokens", "inf"), "tokens"),
        (("compute", "--parameters", "7e9", "--tokens", "1e12", "--multiplier", "0"), "multiplier"),
        (("forecast", "--from", "MISSING"), "--from MISSING"),
        (("forecast", "--from", "empty.yaml"), "--from empty.yaml"),
        (("forecast", "--policy", "nosuchpreset", *DB), "nosuchpreset"),
        (("policy", "validate", "MISSING.yaml"), "file not found"),
        (("policy", "validate", "bin.yaml"), "UTF-8"),
        (("policy", "validate", "empty.yaml"), "empty"),
        (("policy", "init", "--preset", "nosuch"), "nosuch"),
        (("policy", "init", "--out", "dir"), "dir exists"),
        (("policy", "compare", "reference", "reference", "--format", "pdf"), "--format pdf"),
        (("policy", "compare", "reference", "reference"), "named twice"),
        (("policy", "diff", "reference", "reference", "--format", "html"), "--format"),
        (("policy", "lint", "reference", "--ignore", "L99"), "--ignore"),
        (("evidence", "import", "MISSING", "--out", "o"), "MISSING"),
        (("evidence", "import", "dir", "--out", "o"), "dir"),
        (("evidence", "import", "bad.json", "--out", "o", "--assign", "nonsense"), "--assign"),
        (("case", "check", "MISSING.yaml"), "MISSING.yaml"),
        (("case", "check", "bin.yaml"), "UTF-8"),
        (("ledger", "show", *DB, "--kind", "nosuch"), "--kind nosuch"),
        (("ledger", "show", "--db", "notdb.db"), "not a database"),
        (("ledger", "verify", "--db", "notdb.db"), "not a database"),
        (("keys", "list", "--db", "notdb.db"), "not a database"),
        (("ledger", "verify", "--bundle", "MISSING"), "MISSING"),
        (("ledger", "verify", "--bundle", "dir"), "not a scalegate audit bundle"),
        (("ledger", "verify", *DB, "--anchor", "MISSING.json"), "--anchor"),
        (("ledger", "verify", *DB, "--anchor", "bad.json"), "bad.json"),
        (("ledger", "checkpoint", *DB, "--out", "cp.json", "--key", "garbage.key"), "not a PEM private key"),
        (("ledger", "checkpoint", *DB, "--out", "cp.json", "--key", "MISSING.key"), "MISSING.key"),
        (("ledger", "checkpoint", *DB, "--out", "cp.json", "--key", "dir"), "dir"),
        (("ledger", "record-action", "nosuchdecision", "external_deployment", *DB, *OP), "nosuchdecision"),
        (("keys", "revoke", "nosuchkey", "--reason", "x", *DB, *OP), "nosuchkey"),
        (("audit", "export", "--out", "empty.yaml", *DB), "empty.yaml"),
        (("ledger", "report", "--text", "", *DB, *OP), "description"),
        (("signoff", "nosuchdecision", "--role", "rso", *DB, "--key", "keys/rso.key"), "nosuchdecision"),
        (("override", "x", "--action", "a", "--justification", "j", "--key", "nocolon", *DB), "PATH:ROLE"),
        (("policy", "propose", "MISSING.yaml", *DB, *OP), "file not found"),
        (("policy", "adopt", "nosuchproposal", *DB, *OP), "nosuchproposal"),
        (("assess", "--policy", "MISSING.yaml", "--no-ledger"), "file not found"),
        (("assess", "--map", "bin.yaml", "--no-ledger"), "UTF-8"),
        (("assess", "--eval", "nosuch", "--no-ledger"), "nosuch"),
        (("assess", "--protection", "nosuch", "--no-ledger"), "nosuch"),
        (("assess", "--require", "fly", "--no-ledger"), "--require"),
        (("assess", "--case", "MISSING.yaml", "--no-ledger"), "MISSING.yaml"),
        (("assess", "--evidence", "MISSING", "--no-ledger"), "evidence import"),
        (("assess", "--resume", "MISSING", "--no-ledger"), "--resume MISSING"),
        (("assess", "--model-arg", "noequals", *FAST), "--model-arg"),
        (("assess", "--model", "nosuchprovider/x", *FAST), "nosuchprovider"),
        (("assess", "--model", "hf/NOT-IN-THE-CACHE", *FAST), "HF_HUB_OFFLINE"),
        (("assess", "--cache-dir", "/proc/scalegate-cache", *FAST), "--cache-dir"),
        (("assess", "--key", "garbage.key", *DB, "--eval", "cyber_knowledge", "--limit", "1"), "PEM"),
        (("assess", "--db", "notdb.db", "--eval", "cyber_knowledge", "--limit", "1"), "not a database"),
        (("unit", "run", "bad.json", "0"), "not a scalegate unit plan"),
        (("unit", "run", "dir", "0"), "not a scalegate unit plan"),
        (("unit", "manifest", "bad.json", "--image", "i", "--claim", "c", "--mount-path", "/"), "bad.json"),
        (("plan", "--store", "empty.yaml/store", "--checkpoints", "dir"), "--store"),
        (("compare-models", "dir", "dir", "--margin", "0.02"), "not an assessment folder"),
        (("compare-models", "nosuchdecision", "dir", "--margin", "0.02", *DB), "nosuchdecision"),
        (("compare-models", "dir", "dir", "--margin", "nan"), "--margin"),
        (("relative-n", "--margin", "0.03", "--correlation", "2"), "--correlation"),
        (("relative-n", "--margin", "-0.1"), "not below the margin"),
        (("assess", "--preliminary", "--no-ledger"), "--preliminary"),
        (("assess", "--relative-to", "3f9a2c", "--no-ledger"), "--relative-to 3f9a2c"),
    ],
)
def test_more_bad_command_lines_exit_2_in_process(
    bad_inputs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    named: str,
) -> None:
    """In-process (the table is long): each line exits 2 with a message naming what was wrong,
    runs no model and writes no results."""
    import sys

    from scalegate.cli import main

    monkeypatch.chdir(bad_inputs)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sys, "argv", ["scalegate", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    stderr = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2, stderr
    assert named in stderr, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert not (bad_inputs / "scalegate-results").exists()
