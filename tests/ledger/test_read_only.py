"""Reading commands open the ledger read-only: verification works on a file the verifier may
not change (read-only media, a copy received from the lab) and with a SELECT-only database role,
and nothing it does can alter the record."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from scalegate.errors import InputError
from scalegate.ledger.store import Ledger, db_url
from scalegate.ledger.verify import verify_entries
from tests.conftest import run_cli
from tests.ledger.conftest import BACKENDS, backend_url, build_realistic


def _checkpointed_sha(path: Path) -> str:
    """The file's bytes once the WAL is folded in, so a later write shows as a change."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_read_only_ledger_verifies_and_refuses_appends(kind: str, tmp_path: Path) -> None:
    with backend_url(kind, tmp_path) as url:
        b = build_realistic(url, tmp_path / "keys")
        reader = Ledger(url, read_only=True)
        assert verify_entries(list(reader.raw_rows()), head=reader.head()) == []
        assert len(reader.entries()) == len(b.entries())
        with pytest.raises(Exception, match=r"(?i)read.?only"):
            reader.append("audit_statement", {"text": "x"}, [(b.keys["operator"], "operator")])
        reader.close()
        assert len(b.entries()) == 24  # the refused append left nothing behind


def test_reading_commands_never_change_the_file(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    b = build_realistic(db_url(str(db)), tmp_path / "keys")
    decision = [e.entry_id for e in b.entries() if e.kind == "decision"][-1]
    b.ledger.close()
    before = _checkpointed_sha(db)
    for args in (
        ("ledger", "verify"),
        ("ledger", "show"),
        ("ledger", "head"),
        ("ledger", "status", decision),
        ("keys", "list"),
        ("audit", "export", "--out", str(tmp_path / "bundle")),
    ):
        res = run_cli(*args, "--db", str(db), cwd=tmp_path)
        assert res.returncode == 0, (args, res.stderr)
    assert _checkpointed_sha(db) == before


def test_a_database_that_is_not_a_ledger_is_named_not_upgraded(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(InputError, match="not a scalegate ledger"):
        Ledger(db_url(str(other)), read_only=True)
    res = run_cli("ledger", "verify", "--db", str(other), cwd=tmp_path)
    assert res.returncode == 2 and "not a scalegate ledger" in res.stderr, res.stderr
    conn = sqlite3.connect(other)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["t"]  # untouched


def test_a_full_disk_refuses_the_append_and_leaves_the_ledger_verifiable(tmp_path: Path) -> None:
    """SQLite's page limit stands in for a full disk: it fails the write the same way
    (SQLITE_FULL). The append is refused with a message, and the chain is as it was."""
    from sqlalchemy import event

    db = tmp_path / "ledger.db"
    b = build_realistic(db_url(str(db)), tmp_path / "keys")
    before = b.ledger.head()
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]
    b.ledger.engine.dispose()
    event.listen(b.ledger.engine, "connect", lambda conn, _r: conn.execute(f"PRAGMA max_page_count={pages}"))
    blob = {"text": "x" * 200_000, "scope": "s", "covers": {"seq": before[0], "hash": before[1]}}
    with pytest.raises(InputError, match=r"cannot write to the ledger.*full.*nothing was appended"):
        b.ledger.append("audit_statement", blob, [(b.keys["operator"], "operator")])
    fresh = Ledger(db_url(str(db)), read_only=True)
    assert fresh.head() == before
    assert verify_entries(list(fresh.raw_rows()), head=fresh.head()) == []
