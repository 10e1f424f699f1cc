"""The ledger as a long-running reader knows it: verified once in full, then row by row as it grows.

A new head costs only the rows appended since (`ChainVerifier` carries the chain's state), so
a decision recorded while the page is open shows within one poll even on a large ledger. Feeding
new rows cannot notice an old row edited in place, so the whole chain is verified again in a
background thread every `full_every` seconds, and at once when the head is not a descendant of
the one last seen (rolled back, or its tail rewritten). The server is also a witness: the
newest head it has verified is an anchor the chain must still contain, so a ledger rolled
back behind the server's back is named, not silently shown shorter.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from scalegate.ledger.records import Entry
from scalegate.ledger.state import LedgerState
from scalegate.ledger.verify import ChainVerifier, Problem

FULL_EVERY_SECONDS = 600.0


@dataclass(frozen=True)
class Verified:
    """One verified reading of the ledger at a head."""

    head: tuple[int, str]
    problems: list[Problem]
    state: LedgerState
    entries: list[Entry]
    full_at: float  # when the whole chain was last verified (time.time())
    full_seconds: float  # how long that took
    appended_since: int  # entries verified one by one since

    @property
    def full_at_text(self) -> str:
        import datetime as dt

        return dt.datetime.fromtimestamp(self.full_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class LiveChain:
    """The one verifier a server keeps for its ledger; `current()` is safe from any thread."""

    def __init__(self, ledger: Any, full_every: float = FULL_EVERY_SECONDS) -> None:
        self.ledger = ledger
        self.full_every = full_every
        self._lock = threading.Lock()
        self._chain: ChainVerifier | None = None
        self._full_at = 0.0
        self._full_seconds = 0.0
        self._since = 0
        self._witness: tuple[int, str] | None = None
        self._sweeping = False

    def current(self) -> Verified:
        head = self.ledger.head()
        with self._lock:
            chain = self._chain
            if chain is None or not self._extends(chain, head):
                chain = self._full()
            elif head[0] > chain.last_seq:
                before = chain.last_seq
                chain.feed(self.ledger.raw_rows(after=before, upto=head[0]))
                self._since += chain.last_seq - before
            if time.time() - self._full_at > self.full_every and not self._sweeping:
                self._sweeping = True
                threading.Thread(target=self._sweep, daemon=True, name="scalegate-verify").start()
            return self._reading(chain, head)

    def _extends(self, chain: ChainVerifier, head: tuple[int, str]) -> bool:
        """Whether `head` is the chain as verified, or may be reached from it by appending."""
        if head[0] == chain.last_seq:
            last = chain.state.by_seq.get(head[0])
            return last is not None and last.entry_hash == head[1]
        return head[0] > chain.last_seq

    def _full(self) -> ChainVerifier:
        start = time.time()
        chain = ChainVerifier()
        chain.feed(self.ledger.raw_rows())
        self._chain, self._full_at, self._full_seconds, self._since = chain, start, time.time() - start, 0
        return chain

    def _sweep(self) -> None:
        """Verify the whole chain again off the request path, then take it in place of the
        incremental one (with anything appended meanwhile fed to it)."""
        try:
            start = time.time()
            chain = ChainVerifier()
            chain.feed(self.ledger.raw_rows())
            with self._lock:
                self._chain, self._full_at, self._full_seconds = chain, start, time.time() - start
                self._since = 0
        finally:
            self._sweeping = False

    def _reading(self, chain: ChainVerifier, head: tuple[int, str]) -> Verified:
        witness = self._witness
        problems = chain.problems_at(head=head)
        if witness is not None and witness[0] > 0:
            problems += [
                Problem(p.seq, p.entry_id, f"{p.message} (this server verified entry {witness[0]} earlier)")
                for p in chain.problems_at(anchor=witness)[len(chain.problems) :]
            ]
        if not problems and (witness is None or head[0] >= witness[0]):
            self._witness = head
        entries = list(chain.state.by_seq.values())
        return Verified(head, problems, chain.state, entries, self._full_at, self._full_seconds, self._since)
