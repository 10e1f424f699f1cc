"""Benchmark: ledger append and full-verify rates, against the raw rates of the same database.

For SQLite (a temporary file, with the ledger's own settings: WAL, synchronous=FULL,
BEGIN IMMEDIATE) and PostgreSQL (a throwaway database created and dropped here) it measures:

  append      `Ledger.append` of N small entries, each signed by one Ed25519 key (one
              transaction each: head lock, insert, head update, as in real use);
  raw insert  the same rows, byte for byte, INSERTed one per transaction into a table of the
              same shape (same columns and unique indexes) in the same database, alternating
              with the appends in blocks of 1000 so that other load on the machine weighs on
              both alike;
  verify      `verify_entries(ledger.raw_rows())` over the whole ledger: read, JSON parse,
              hash chain, per-field digests, Ed25519 signatures, key registry;
  raw read    a plain `SELECT * ... ORDER BY seq` of the ledger table, every row fetched.

The entries are `noncompliance_report`s (about 130 bytes of payload, as
`workflow.report_noncompliance` writes them) signed by one registered operator key; `verify`
has no kind-specific check for them, so its rate is the per-entry cost of chain, digest,
signature and registry checking (a `decision` entry also re-parses its policy and recomputes
itself). `Ledger.append` is called directly: the workflow functions add their own checks.
Results are printed as a markdown table and written to benchmarks/results/ledger.json.

    make bench-ledger     # or: python benchmarks/bench_ledger.py [--n N] [--pg-url URL] [--no-pg]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scalegate import __version__
from scalegate.ledger import keys
from scalegate.ledger.store import Ledger, db_url, entries_t
from scalegate.ledger.verify import verify_entries
from scalegate.ledger.workflow import register

DEFAULT_PG = os.environ.get("SCALEGATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RAW_TABLE = "bench_raw_entries"
BLOCK = 1000  # appends, then raw inserts of the same rows, alternate in blocks of this many


def payload(i: int) -> dict[str, Any]:
    """A small noncompliance report, shaped as `workflow.report_noncompliance` writes it."""
    return {
        "text": f"run {i}: deployment runbook for checkpoint step-{i * 250} started before the rso sign-off",
        "reporter": "anonymous" if i % 2 else "j.doe@example.org",
    }


def raw_table() -> sa.Table:
    """A table of the same shape as `ledger_entries` (columns, indexes), under another name."""
    from scalegate.ledger.store import entries_t

    return entries_t.to_metadata(sa.MetaData(), name=RAW_TABLE)


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def timed_rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_backend(name: str, url: str, n: int) -> dict[str, Any]:
    ledger = Ledger(url)
    try:
        key = keys.generate()
        register(ledger, key, ["admin", "operator"], holder="benchmark operator", admin=None)
        signers = [(key, "operator")]

        raw_t = raw_table()
        raw_t.metadata.create_all(ledger.engine)
        # Interleaved in blocks, so that whatever else the machine does weighs on both alike.
        log(f"{name}: append {n} entries and raw-insert the same rows, in blocks of {BLOCK}")
        append_s = raw_insert_s = 0.0
        for lo in range(1, n + 1, BLOCK):
            hi = min(lo + BLOCK, n + 1)
            start = time.perf_counter()
            for i in range(lo, hi):
                ledger.append("noncompliance_report", payload(i), signers)
            append_s += time.perf_counter() - start
            with ledger.engine.connect() as conn:  # seq 1 is the key registration
                q = sa.select(entries_t).where(entries_t.c.seq.between(lo + 1, hi)).order_by(entries_t.c.seq)
                block = [dict(r._mapping) for r in conn.execute(q)]
            start = time.perf_counter()
            for row in block:
                with ledger.engine.begin() as conn:
                    conn.execute(raw_t.insert().values(**row))
            raw_insert_s += time.perf_counter() - start
            if (hi - 1) % (n // 10 or 1) < BLOCK and hi <= n:
                log(f"{name}: {hi - 1} of {n}")

        with ledger.engine.connect() as conn:
            rows = conn.execute(sa.select(entries_t)).all()
        row_bytes = sum(len(json.dumps(dict(r._mapping), default=str)) for r in rows) / len(rows)

        def raw_read() -> float:
            start = time.perf_counter()
            with ledger.engine.connect() as conn:
                got = sum(1 for _ in conn.execute(sa.select(entries_t).order_by(entries_t.c.seq)))
            assert got == len(rows)
            return time.perf_counter() - start

        log(f"{name}: raw read of {len(rows)} rows, and verify")
        read_times = [raw_read() for _ in range(3)]
        start, cpu = time.perf_counter(), time.process_time()
        problems = verify_entries(ledger.raw_rows())
        verify_s, verify_cpu = time.perf_counter() - start, time.process_time() - cpu
        read_times += [raw_read() for _ in range(3)]
        raw_read_s = sorted(read_times)[len(read_times) // 2]  # median of 6, around the verify
        if problems:
            raise SystemExit(f"{name}: the benchmark ledger does not verify: {problems[:3]}")

        return {
            "entries_appended": n,
            "entries_verified": len(rows),
            "mean_row_bytes": round(row_bytes),
            "append_seconds": round(append_s, 3),
            "append_per_s": round(timed_rate(n, append_s), 1),
            "raw_insert_seconds": round(raw_insert_s, 3),
            "raw_insert_per_s": round(timed_rate(n, raw_insert_s), 1),
            "append_over_raw_insert": round(raw_insert_s / append_s, 3),
            "verify_seconds": round(verify_s, 3),
            "verify_cpu_seconds": round(verify_cpu, 3),
            "verify_per_s": round(timed_rate(len(rows), verify_s), 1),
            "raw_read_seconds": round(raw_read_s, 4),
            "raw_read_per_s": round(timed_rate(len(rows), raw_read_s), 1),
            "verify_over_raw_read": round(raw_read_s / verify_s, 4),
        }
    finally:
        ledger.close()


@contextlib.contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="scalegate-bench-") as tmp:
        yield db_url(str(Path(tmp) / "ledger.db"))


@contextlib.contextmanager
def postgres_url(admin_url: str) -> Iterator[tuple[str, str]]:
    """A fresh database on the server of `admin_url`, dropped afterwards; yields (url, version)."""
    sa_admin = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(sa_admin, isolation_level="AUTOCOMMIT")
    name = f"scalegate_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            version = str(conn.exec_driver_sql("SHOW server_version").scalar())
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        base = sa.engine.make_url(admin_url).set(database=name)
        yield base.render_as_string(hide_password=False), version
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def fmt_rate(r: float) -> str:
    return f"{r:,.0f}"


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| backend | entries | append/s | raw insert/s | append ÷ raw "
        "| verify/s | raw read/s | verify ÷ raw |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['entries_appended']:,} | {fmt_rate(r['append_per_s'])} | "
            f"{fmt_rate(r['raw_insert_per_s'])} | {r['append_over_raw_insert']:.2f} | "
            f"{fmt_rate(r['verify_per_s'])} | {fmt_rate(r['raw_read_per_s'])} | "
            f"{r['verify_over_raw_read']:.3g} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="entries to append (default 100000)")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help=f"PostgreSQL admin URL (default {DEFAULT_PG})")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "ledger.json",
        help="where to write the JSON results",
    )
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    versions: dict[str, str] = {"sqlite": sqlite3.sqlite_version}
    with sqlite_url() as url:
        results["sqlite"] = bench_backend("sqlite", url, args.n)
    if not args.no_pg:
        with postgres_url(args.pg_url) as (url, version):
            versions["postgresql"] = version
            results["postgresql"] = bench_backend("postgresql", url, args.n)

    report = {
        "scalegate_version": __version__,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
        "servers": versions,
        "n": args.n,
        "total_seconds": round(time.perf_counter() - started, 1),
        # other work on the machine skews every rate; a 1-minute load near 0 means a quiet machine
        "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
        "notes": (
            "append: Ledger.append, one transaction per entry, one Ed25519 signature; raw insert: "
            "the same rows INSERTed one per transaction into a table of the same shape; verify: "
            "verify_entries(ledger.raw_rows()) over every entry; raw read: SELECT * ORDER BY seq, "
            "median of 6 around the verify; append and raw insert alternate in blocks of "
            f"{BLOCK}. Ratios are append rate / raw insert rate and verify rate / raw read rate."
        ),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    load = report["load_average_1min"]
    print(
        f"\nN={args.n}, {report['total_seconds']} s in all, {os.cpu_count()} CPUs, 1-min load average "
        f"{load['start']} at start and {load['end']} at end; written to {args.out}"
    )


if __name__ == "__main__":
    main()
