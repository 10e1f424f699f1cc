"""What a forger with database access (and some keys) can write: rows exactly as the store
keeps them, hashed and signed like `Ledger.append` does, and chains re-linked after an edit."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from scalegate.ledger.keys import SigningKey
from scalegate.ledger.records import Signature, body_hash, entry_hash, field_digest, new_salt
from scalegate.ledger.store import Ledger, entries_t

Row = dict[str, Any]
COLUMNS = (
    "seq",
    "entry_id",
    "kind",
    "created_at",
    "actor",
    "payload",
    "salts",
    "prev_hash",
    "signatures",
    "entry_hash",
)


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (much faster than copy.deepcopy for big payloads)."""
    return json.loads(json.dumps(value))


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _sealed(row: Row, signers: Sequence[tuple[SigningKey, str]]) -> Row:
    digests = {k: field_digest(k, v, row["salts"][k]) for k, v in row["payload"].items()}
    body = body_hash(
        row["seq"], row["entry_id"], row["kind"], row["created_at"], row["actor"], digests, row["prev_hash"]
    )
    sigs = [Signature(key_id=k.key_id, role=r, signature=k.sign(bytes.fromhex(body))) for k, r in signers]
    return {
        **row,
        "signatures": [s.model_dump() for s in sigs],
        "entry_hash": entry_hash(body, sigs),
    }


def make_row(
    *,
    seq: int,
    prev_hash: str,
    kind: str,
    payload: dict[str, Any],
    signers: Sequence[tuple[SigningKey, str]],
    created_at: str | None = None,
    actor: str = "mallory@forge",
) -> Row:
    """A new row, hashed and signed exactly as `Ledger.append` would have written it."""
    row: Row = {
        "seq": seq,
        "entry_id": uuid.uuid4().hex,
        "kind": kind,
        "created_at": created_at or now_iso(),
        "actor": actor,
        "payload": clone(payload),
        "salts": {k: new_salt() for k in payload},
        "prev_hash": prev_hash,
    }
    return _sealed(row, signers)


def reseal(row: Row, keys_by_id: dict[str, SigningKey], *, seq: int, prev_hash: str) -> Row:
    """The same entry moved to `seq` after `prev_hash`, re-signed by the keys that signed it."""
    signers = [(keys_by_id[s["key_id"]], s["role"]) for s in row["signatures"]]
    return _sealed({**clone(row), "seq": seq, "prev_hash": prev_hash}, signers)


def rechain(rows: list[Row], start: int, keys_by_id: dict[str, SigningKey]) -> list[Row]:
    """Renumber and re-link rows[start:] (re-signing each), as a forger holding every key would."""
    out = [clone(r) for r in rows[:start]]
    for r in rows[start:]:
        prev = out[-1]["entry_hash"] if out else "0" * 64
        out.append(reseal(r, keys_by_id, seq=len(out) + 1, prev_hash=prev))
    return out


def to_stored(row: Row) -> Row:
    """A parsed row back to its column values (JSON text for the structured columns)."""
    out = dict(row)
    for name in ("payload", "salts", "signatures"):
        if not isinstance(out[name], str):
            out[name] = json.dumps(out[name], sort_keys=name != "signatures")
    return out


def stored_rows(ledger: Ledger) -> list[Row]:
    """The rows exactly as stored (JSON columns as text)."""
    with ledger.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(entries_t).order_by(entries_t.c.seq))]


def insert_rows(ledger: Ledger, rows: list[Row]) -> None:
    with ledger.engine.begin() as conn:
        for r in rows:
            conn.execute(entries_t.insert().values(**to_stored(r)))
