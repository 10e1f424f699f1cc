"""The live server verifies a growing ledger row by row: it must find exactly what verifying the
whole chain finds, and notice what row-by-row feeding cannot (a rollback, an old row edited)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scalegate.ledger.store import Ledger, db_url
from scalegate.ledger.verify import ChainVerifier, verify_entries
from scalegate.serve.live import LiveChain
from tests.report.conftest import Recorded


def _rows(db: Path) -> list[dict[str, Any]]:
    return list(Ledger(db_url(str(db)), read_only=True).raw_rows())


def _tampered(rows: list[dict[str, Any]], index: int, how: str) -> list[dict[str, Any]]:
    out = [dict(r) for r in rows]
    if how == "edit":
        out[index]["payload"] = {**out[index]["payload"], "tampered": True}
    elif how == "drop":
        del out[index]
    elif how == "swap" and index + 1 < len(out):
        out[index], out[index + 1] = out[index + 1], out[index]
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_feeding_in_pieces_finds_what_one_pass_finds(recorded: Recorded, data: st.DataObject) -> None:
    rows = _rows(recorded.db)
    how = data.draw(st.sampled_from(["none", "edit", "drop", "swap"]))
    rows = _tampered(rows, data.draw(st.integers(0, len(rows) - 2)), how)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=4)))
    chain = ChainVerifier()
    for start, end in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        chain.feed(rows[start:end])
    head = (int(rows[-1]["seq"]), str(rows[-1]["entry_hash"]))
    assert [str(p) for p in chain.problems_at(head=head)] == [str(p) for p in verify_entries(rows, head=head)]
    assert (how == "none") == (verify_entries(rows, head=head) == [])


def _cut_tail(db: Path, keep: int) -> list[tuple[Any, ...]]:
    """Delete the entries after `keep` (head row moved back with them: a consistent shorter
    ledger) and return them to put back."""
    with sqlite3.connect(db) as conn:
        tail = conn.execute("SELECT * FROM ledger_entries WHERE seq > ? ORDER BY seq", (keep,)).fetchall()
        conn.execute("DELETE FROM ledger_entries WHERE seq > ?", (keep,))
        (h,) = conn.execute("SELECT entry_hash FROM ledger_entries WHERE seq = ?", (keep,)).fetchone()
        conn.execute("UPDATE ledger_head SET seq = ?, entry_hash = ?", (keep, h))
    return tail


def test_appended_entries_are_verified_incrementally(ledger_copy: Path) -> None:
    full = _rows(ledger_copy)
    tail = _cut_tail(ledger_copy, len(full) - 3)
    live = LiveChain(Ledger(db_url(str(ledger_copy)), read_only=True))
    first = live.current()
    assert first.problems == [] and first.head[0] == len(full) - 3 and first.appended_since == 0
    with sqlite3.connect(ledger_copy) as conn:
        marks = ",".join("?" * len(tail[0]))
        conn.executemany(f"INSERT INTO ledger_entries VALUES ({marks})", tail)
        conn.execute(
            "UPDATE ledger_head SET seq = ?, entry_hash = ?", (full[-1]["seq"], full[-1]["entry_hash"])
        )
    grown = live.current()
    assert grown.problems == [] and grown.appended_since == 3 and grown.full_at == first.full_at
    assert [e.seq for e in grown.entries] == [r["seq"] for r in full]


def test_a_rollback_behind_the_servers_back_is_named(ledger_copy: Path) -> None:
    live = LiveChain(Ledger(db_url(str(ledger_copy)), read_only=True))
    seen = live.current()
    assert seen.problems == []
    _cut_tail(ledger_copy, seen.head[0] - 2)  # both tables consistent: only a witness can tell
    problems = [str(p) for p in live.current().problems]
    assert any("missing (truncated or rolled back)" in p and "this server verified" in p for p in problems)


def test_an_old_row_edited_in_place_is_found_by_the_background_sweep(ledger_copy: Path) -> None:
    live = LiveChain(Ledger(db_url(str(ledger_copy)), read_only=True), full_every=0.0)
    assert live.current().problems == []  # this call also starts a sweep
    with sqlite3.connect(ledger_copy) as conn:  # an early row: appends alone would never reread it
        (payload,) = conn.execute("SELECT payload FROM ledger_entries WHERE seq = 2").fetchone()
        conn.execute(
            "UPDATE ledger_entries SET payload = ? WHERE seq = 2",
            (json.dumps({**json.loads(payload), "x": 1}),),
        )
    import time

    deadline = time.time() + 30
    while time.time() < deadline:
        problems = live.current().problems
        if any(p.seq == 2 for p in problems):
            break
        time.sleep(0.1)
    assert any(p.seq == 2 for p in problems), problems
