"""Eight processes append to one ledger at once: nothing lost, no gaps, no fork, verifies."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import defaultdict
from pathlib import Path

import pytest

from scalegate.ledger import workflow
from scalegate.ledger.store import Ledger
from scalegate.ledger.verify import verify_entries
from tests.ledger import workers
from tests.ledger.conftest import BACKENDS, backend_url, make_assessment

WORKERS = 8
PER_WORKER = 500
DEADLINE_S = 420


def test_eight_processes_appending_500_each_lose_nothing_and_verify(backend: str, tmp_path: Path) -> None:
    ledger = Ledger(backend)
    key_path = tmp_path / "operator.key"
    workflow.operator_key(ledger, key_path)  # registers the shared key: entry 1
    before = ledger.head()[0]

    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [
        ctx.Process(target=workers.append_many, args=(backend, str(key_path), w, PER_WORKER, start))
        for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    start.set()  # every writer has its Ledger open (or nearly): they start together
    for p in procs:
        p.join(timeout=max(1.0, DEADLINE_S - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    alive = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert not alive, f"writers {alive} still running after {DEADLINE_S}s"
    assert [p.exitcode for p in procs] == [0] * WORKERS

    entries = ledger.entries()
    total = before + WORKERS * PER_WORKER
    assert len(entries) == total
    assert [e.seq for e in entries] == list(range(1, total + 1))
    assert ledger.head() == (total, entries[-1].entry_hash)
    assert len({e.prev_hash for e in entries}) == total  # no two entries claim one predecessor
    per_worker: dict[str, list[int]] = defaultdict(list)
    for e in entries[before:]:
        w, _, n = e.payload["reporter"].partition(":")
        per_worker[w].append(int(n))
    # each writer's entries are all there, in the order it appended them
    assert dict(per_worker) == {f"w{w}": list(range(PER_WORKER)) for w in range(WORKERS)}
    t1 = time.monotonic()
    assert verify_entries(list(ledger.raw_rows())) == []
    print(
        f"\n{ledger.url.split(':')[0]}: {WORKERS}x{PER_WORKER} appends in {elapsed:.1f}s "
        f"({WORKERS * PER_WORKER / elapsed:.0f}/s); verify of {total} entries {time.monotonic() - t1:.1f}s"
    )
    ledger.close()


def _reader_blocks_writer(url: str, tmp_path: Path) -> bool:
    """Whether an appender waits while another connection is part way through reading."""
    import threading

    from scalegate.ledger import keys

    reader = Ledger(url)
    key = keys.generate()
    for n in range(3):
        reader.append(workers.KIND, workers.payload("r", n), [(key, "operator")])
    writer = Ledger(url)  # another user of the ledger, with its own connections
    rows = reader.iter_entries()
    next(rows)  # e.g. `ledger show` paging, an audit export writing files as it goes
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (writer.append(workers.KIND, workers.payload("w", 0), [(key, "operator")]), done.set())
    )
    thread.start()
    blocked = not done.wait(5)
    rows.close()  # release the reader; the append then goes through
    thread.join(120)
    assert done.is_set()
    reader.close()
    writer.close()
    return blocked


def test_a_reader_does_not_block_appenders(backend: str, tmp_path: Path) -> None:
    assert not _reader_blocks_writer(backend, tmp_path)


@pytest.mark.parametrize("kind", BACKENDS)
def test_eight_concurrent_first_assessments_adopt_once_and_verify(kind: str, tmp_path: Path) -> None:
    """8 processes x 5 rounds, each round on a new empty ledger with no key yet: one key is
    registered, the policy adopted once, 8 assessments and decisions recorded, and it verifies."""
    from scalegate.policy.loader import load_policy

    assessment_json = make_assessment(load_policy("reference")).model_dump_json()
    ctx = mp.get_context("spawn")
    for round_ in range(5):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        with backend_url(kind, folder) as url:
            Ledger(url).close()  # migrated once, before the race (as the first `assess` would)
            start = ctx.Event()
            key_path = folder / "keys" / "operator.key"
            procs = [
                ctx.Process(
                    target=workers.first_assessment, args=(url, str(key_path), assessment_json, start)
                )
                for _ in range(WORKERS)
            ]
            for p in procs:
                p.start()
            time.sleep(0.5)
            start.set()
            for p in procs:
                p.join(timeout=300)
            assert [p.exitcode for p in procs] == [0] * WORKERS, f"round {round_}"
            ledger = Ledger(url)
            kinds = [e.kind for e in ledger.entries()]
            assert kinds.count("key_registered") == 1 and kinds.count("policy_adopted") == 1, kinds
            assert kinds.count("assessment") == kinds.count("decision") == WORKERS
            assert verify_entries(list(ledger.raw_rows()), head=ledger.head()) == [], f"round {round_}"
            ledger.close()
