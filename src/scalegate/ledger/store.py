"""Ledger storage through SQLAlchemy 2: SQLite by default (WAL), PostgreSQL for a team.

Appends are serialised on the single `ledger_head` row (`BEGIN IMMEDIATE` on SQLite,
`SELECT ... FOR UPDATE` on PostgreSQL), and the entry and the new head are written in one
transaction: a writer killed mid-append leaves the entry fully present or absent, and
concurrent writers never fork the chain (`prev_hash` is also unique in the schema).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from scalegate.errors import InputError
from scalegate.ledger.keys import SigningKey
from scalegate.ledger.records import (
    RECORDED_BY,
    Entry,
    EntryKind,
    Signature,
    body_hash,
    entry_hash,
    field_digest,
    new_salt,
)

DEFAULT_DB = "scalegate-ledger.db"
_WRITE = "scalegate_write"
_MIGRATIONS = Path(__file__).parent / "migrations"

metadata = sa.MetaData()
# The live schema; migrations/ holds the history that creates it (kept as frozen snapshots).
entries_t = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("entry_id", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("salts", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("signatures", sa.Text, nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
)
head_t = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("seq", sa.BigInteger),
    sa.Column("entry_hash", sa.String(64)),
)


def db_url(db: str | None) -> str:
    """A SQLAlchemy URL from `--db`: a URL as is, or a SQLite file path (default in the cwd)."""
    if db and "://" in db:
        return db
    return f"sqlite:///{Path(db or DEFAULT_DB).expanduser().resolve()}"


def _engine(url: str, read_only: bool = False) -> Engine:
    if url.startswith("sqlite"):
        if read_only and url.startswith("sqlite:///"):
            # SQLite itself refuses every write: verification of a file on read-only media, or
            # one the verifier may not change, cannot alter it
            path = url.removeprefix("sqlite:///")
            url = f"sqlite:///file:{quote(path)}?mode=ro&uri=true"
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            if not read_only:  # a reader of a WAL file needs no change of journal mode
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # writers take the write lock up front (no deadlock on upgrade); readers do not
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if read_only and url.startswith("postgresql"):
        # works for a role granted only SELECT; the server refuses any write
        return sa.create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})
    return sa.create_engine(url)


class Ledger:
    """An open ledger. Reads are plain; `append` is the only write."""

    def __init__(
        self, url: str, clock: Callable[[], dt.datetime] | None = None, *, read_only: bool = False
    ) -> None:
        """`read_only`: open without any write, not even a schema upgrade (verification of a
        read-only file or with a SELECT-only database role); appends then fail."""
        self.url = url
        self.read_only = read_only
        # injectable so tests can show a notice period ending without waiting 30 days
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        try:
            self.engine = _engine(url, read_only)
            self._check_schema() if read_only else self._migrate()
        except sa.exc.SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise InputError(f"cannot open ledger {url}: {first}") from exc

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self._writing() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _check_schema(self) -> None:
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current != ScriptDirectory.from_config(cfg).get_current_head():
            raise InputError(
                f"{self.url}: {'not a scalegate ledger' if current is None else 'an older ledger schema'}"
                " (opened read-only, so it was not upgraded; open it once with write access)"
            )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction: on SQLite it starts with the write lock held."""
        try:
            with self.engine.connect() as conn:
                conn.info[_WRITE] = True
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.info.pop(_WRITE, None)
        except (sa.exc.OperationalError, sa.exc.InternalError) as exc:
            # a full disk, a read-only file or a server that refuses writes: the transaction
            # rolled back whole, so the ledger is as it was and still verifies
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise InputError(
                f"{self.url}: cannot write to the ledger ({first}); nothing was appended"
            ) from exc

    def close(self) -> None:
        self.engine.dispose()

    def append(
        self,
        kind: EntryKind,
        payload: dict[str, Any],
        signers: Sequence[tuple[SigningKey, str]],
        actor: str | None = None,
    ) -> Entry:
        """Append one entry signed by each (key, role). Atomic and serialised."""
        with self.batch() as tx:
            return tx.append(kind, payload, signers, actor)

    @contextlib.contextmanager
    def batch(self) -> Iterator[Batch]:
        """One write transaction holding the append lock: what is read through the batch and
        what is appended through it happen as one step, so a check-then-append (is a policy in
        force? is this key registered?) cannot race another writer. All or nothing."""
        with self._writing() as conn:
            head_q = sa.select(head_t.c.seq).where(head_t.c.id == 1)
            if conn.dialect.name == "postgresql":
                head_q = head_q.with_for_update()  # the lock, taken before anything is read
            conn.execute(head_q).one()
            yield Batch(self, conn)

    def _append(
        self,
        conn: Connection,
        kind: EntryKind,
        payload: dict[str, Any],
        signers: Sequence[tuple[SigningKey, str]],
        actor: str | None = None,
    ) -> Entry:
        if not signers:
            raise InputError("every ledger entry must be signed by at least one key")
        if RECORDED_BY in payload:
            raise InputError(f"`{RECORDED_BY}` is set by the ledger, not by the caller")
        # who ran the command is a salted, redactable payload field; the clear-text `actor` of
        # the entry names only the signing key, which is public anyway (format 2, see records)
        payload = {**payload, RECORDED_BY: _local_user()}
        salts = {k: new_salt() for k in payload}
        digests = {k: field_digest(k, v, salts[k]) for k, v in payload.items()}
        who = actor or f"key:{signers[0][0].key_id}"
        # the caller holds the write transaction and its lock (`batch`)
        seq, prev = conn.execute(sa.select(head_t.c.seq, head_t.c.entry_hash).where(head_t.c.id == 1)).one()
        seq += 1
        created = self.clock().isoformat(timespec="microseconds")
        eid = uuid.uuid4().hex
        body = body_hash(seq, eid, kind, created, who, digests, prev)
        sigs = [Signature(key_id=k.key_id, role=r, signature=k.sign(bytes.fromhex(body))) for k, r in signers]
        ehash = entry_hash(body, sigs)
        conn.execute(
            entries_t.insert().values(
                seq=seq,
                entry_id=eid,
                kind=kind,
                created_at=created,
                actor=who,
                payload=json.dumps(payload, sort_keys=True),
                salts=json.dumps(salts, sort_keys=True),
                prev_hash=prev,
                signatures=json.dumps([s.model_dump() for s in sigs]),
                entry_hash=ehash,
            )
        )
        conn.execute(head_t.update().where(head_t.c.id == 1).values(seq=seq, entry_hash=ehash))
        return Entry(
            seq=seq,
            entry_id=eid,
            kind=kind,
            created_at=created,
            actor=who,
            payload=payload,
            salts=salts,
            prev_hash=prev,
            signatures=sigs,
            entry_hash=ehash,
        )

    def entries(self) -> list[Entry]:
        return list(self.iter_entries())

    def iter_entries(self) -> Iterator[Entry]:
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(entries_t).order_by(entries_t.c.seq)):
                yield row_to_entry(row._mapping)

    def raw_rows(self, after: int | None = None, upto: int | None = None) -> Iterator[dict[str, Any]]:
        """Rows as stored, parsed leniently: verification must see a broken row, not crash.
        `after`/`upto`: only rows with after < seq <= upto (a live reader's new rows); without
        them every row, whatever its seq (a tampered 0 or negative one included)."""
        query = sa.select(entries_t).order_by(entries_t.c.seq)
        if after is not None:
            query = query.where(entries_t.c.seq > after)
        if upto is not None:
            query = query.where(entries_t.c.seq <= upto)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                out = dict(row._mapping)
                for name in ("payload", "salts", "signatures"):
                    with contextlib.suppress(TypeError, ValueError):
                        out[name] = json.loads(out[name])
                yield out

    def get(self, entry_id: str) -> Entry:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(entries_t).where(entries_t.c.entry_id.startswith(entry_id, autoescape=True))
            ).all()
        if len(row) != 1:
            raise InputError(
                f"no ledger entry with id {entry_id!r}" if not row else f"id prefix {entry_id!r} is ambiguous"
            )
        return row_to_entry(row[0]._mapping)

    def head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            seq, h = conn.execute(sa.select(head_t.c.seq, head_t.c.entry_hash)).one()
        return int(seq), str(h)


class Batch:
    """Reads and appends inside one locked write transaction (`Ledger.batch`)."""

    def __init__(self, ledger: Ledger, conn: Connection) -> None:
        self.ledger = ledger
        self.conn = conn

    def append(
        self,
        kind: EntryKind,
        payload: dict[str, Any],
        signers: Sequence[tuple[SigningKey, str]],
        actor: str | None = None,
    ) -> Entry:
        return self.ledger._append(self.conn, kind, payload, signers, actor)

    def iter_entries(self) -> Iterator[Entry]:
        for row in self.conn.execute(sa.select(entries_t).order_by(entries_t.c.seq)).all():
            yield row_to_entry(row._mapping)

    def head(self) -> tuple[int, str]:
        seq, h = self.conn.execute(sa.select(head_t.c.seq, head_t.c.entry_hash)).one()
        return int(seq), str(h)


def _local_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def row_to_entry(row: Any) -> Entry:
    return Entry(
        seq=int(row["seq"]),
        entry_id=row["entry_id"],
        kind=row["kind"],
        created_at=row["created_at"],
        actor=row["actor"],
        payload=json.loads(row["payload"]),
        salts=json.loads(row["salts"]),
        prev_hash=row["prev_hash"],
        signatures=[Signature(**s) for s in json.loads(row["signatures"])],
        entry_hash=row["entry_hash"],
    )
