"""A writer killed with SIGKILL at a random moment leaves a ledger that verifies, with every
entry complete: an append is all there or not there at all."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from scalegate.ledger import workflow
from scalegate.ledger.store import Ledger
from scalegate.ledger.verify import verify_entries
from tests.ledger.workers import KIND

SEED = 20261123
TRIALS = 6
REPO = Path(__file__).resolve().parents[2]


def _start_writer(url: str, key_path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.workers", "write-forever", url, str(key_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"writer did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc


def _check_complete(ledger: Ledger) -> int:
    """Every entry parses, every writer's payload is whole, the head names the last entry."""
    entries = ledger.entries()
    for e in entries[1:]:
        assert e.kind == KIND and set(e.payload) == {
            "text",
            "reporter",
            "blob",
            "blob_sha256",
            "recorded_by",
        }, e.seq
        assert hashlib.sha256(e.payload["blob"].encode()).hexdigest() == e.payload["blob_sha256"], e.seq
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert ledger.head() == (entries[-1].seq, entries[-1].entry_hash)
    return len(entries)


def test_writer_killed_at_random_moments_leaves_complete_verifiable_ledger(
    backend: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    ledger = Ledger(backend)
    key_path = tmp_path / "operator.key"
    key = workflow.operator_key(ledger, key_path)
    count = ledger.head()[0]
    appended = []
    for _ in range(TRIALS):
        proc = _start_writer(backend, key_path)
        time.sleep(rng.uniform(0.02, 0.8))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        # a fresh connection, as the next user of the ledger would open it
        after = Ledger(backend)
        if backend.startswith("sqlite"):
            with after.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert verify_entries(list(after.raw_rows())) == []
        n = _check_complete(after)
        assert n >= count
        appended.append(n - count)
        count = n
        after.close()
    # the chain goes on after the crashes
    ledger.append(
        KIND,
        {"text": "after", "reporter": "test", "blob": "", "blob_sha256": hashlib.sha256(b"").hexdigest()},
        [(key, "operator")],
    )
    assert verify_entries(list(ledger.raw_rows())) == []
    assert _check_complete(ledger) == count + 1
    assert sum(appended) > 0, appended
    print(f"\nentries appended before each kill: {appended}")
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar() == count + 1
    ledger.close()
