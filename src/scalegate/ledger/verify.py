"""Verify a ledger from its entries alone: the chain (sequence, links, hashes, time, the head
row, published anchors) here; signatures against the key registry as it stood at each entry,
recomputed decisions and sign-offs before the actions they gate in the state machine
(`scalegate.ledger.state`) that the workflow's pre-flight checks replay too.

Reads raw rows so that a tampered row which no longer parses is a finding, not a crash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from scalegate.ledger.keys import verify as verify_signature
from scalegate.ledger.records import GENESIS, Entry, canonical, sha256_hex
from scalegate.ledger.state import LedgerState, is_hex, valid_keys


@dataclass(frozen=True)
class Problem:
    seq: int | None
    entry_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"entry {self.seq} ({self.entry_id})" if self.entry_id else f"entry {self.seq}"
        return f"{where}: {self.message}"


CHECKPOINT_SCHEMA = "scalegate.checkpoint/1"


def checkpoint_message(seq: int, entry_hash: str, created_at: str) -> bytes:
    """What a published checkpoint's key signs: the head, and when it was taken."""
    body = {"schema": CHECKPOINT_SCHEMA, "seq": seq, "entry_hash": entry_hash, "created_at": created_at}
    return bytes.fromhex(sha256_hex(canonical(body)))


def make_checkpoint(seq: int, entry_hash: str, signer: Any, role: str) -> dict[str, Any]:
    """A signed checkpoint of a head (`ledger checkpoint`, and the one an audit bundle carries)."""
    import datetime as dt

    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {
        "schema": CHECKPOINT_SCHEMA,
        "seq": seq,
        "entry_hash": entry_hash,
        "created_at": created,
        "key_id": signer.key_id,
        "role": role,
        "signature": signer.sign(checkpoint_message(seq, entry_hash, created)),
    }


def checkpoint_anchor(data: Any, raw: Iterable[dict[str, Any] | Entry]) -> tuple[tuple[int, str], list[str]]:
    """The (seq, hash) a signed checkpoint file publishes, and why it cannot be trusted: its
    signature must verify under a key whose registration verifies in this chain (a revoked
    key's checkpoint still counts: it was valid when published). The chain must then extend
    it, which `verify_entries(anchor=...)` checks."""
    problems: list[str] = []
    try:
        seq, h = int(data["seq"]), str(data["entry_hash"])
        created, key_id, signature = str(data["created_at"]), str(data["key_id"]), str(data["signature"])
        if data.get("schema") != CHECKPOINT_SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}")
    except (TypeError, ValueError, KeyError) as exc:
        return (-1, ""), [f"the checkpoint file is not a scalegate checkpoint ({exc})"]
    entries = []
    for row in raw:
        try:
            entries.append(row if isinstance(row, Entry) else Entry.model_validate(row))
        except ValidationError:
            continue
    key = valid_keys(entries).get(key_id)
    if key is None:
        problems.append(
            f"the checkpoint is signed by key {key_id}, which this ledger never validly registered"
        )
    elif not is_hex(signature) or not verify_signature(
        key.public_hex, checkpoint_message(seq, h, created), signature
    ):
        problems.append(f"the checkpoint's signature by key {key_id} does not verify (forged or edited)")
    return (seq, h), problems


def verify_entries(
    raw: Iterable[dict[str, Any] | Entry],
    anchor: tuple[int, str] | None = None,
    head: tuple[int, str] | None = None,
) -> list[Problem]:
    """Every problem of a chain of raw rows. `anchor`: a (seq, hash) published earlier, which
    the chain must still contain. `head`: the store's head row, which must be the chain's end
    (a deleted tail or a rolled-back head row is named)."""
    chain = ChainVerifier()
    chain.feed(raw)
    return chain.problems_at(anchor=anchor, head=head)


class ChainVerifier:
    """A chain verified so far, to which later rows can be fed: verifying rows 1..n and then
    n+1..m finds exactly what verifying 1..m at once finds (the state carried between is the
    whole of what the check of a row reads). A live reader (`scalegate serve`) verifies only
    what was appended since; it must still verify the whole chain again from time to time,
    since feeding new rows cannot notice an old row edited in place."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.state = LedgerState()
        self.prev_hash, self.expected_seq, self.last_time = GENESIS, 1, ""

    @property
    def last_seq(self) -> int:
        return self.expected_seq - 1

    def feed(self, raw: Iterable[dict[str, Any] | Entry]) -> None:
        for item in raw:
            try:
                e = item if isinstance(item, Entry) else Entry.model_validate(item)
            except ValidationError as exc:
                seq = item.get("seq") if isinstance(item, dict) else None
                self.problems.append(Problem(seq, None, f"entry does not parse: {exc.errors()[0]['msg']}"))
                self.expected_seq += 1
                continue
            self._check(e)

    def _check(self, e: Entry) -> None:
        def bad(msg: str) -> None:
            self.problems.append(Problem(e.seq, e.entry_id, msg))

        if e.seq != self.expected_seq:
            want = self.expected_seq
            bad(f"sequence number {e.seq} where {want} was expected (deleted, inserted or reordered)")
        if e.prev_hash != self.prev_hash:
            bad("does not link to the previous entry (prev_hash mismatch)")
        if set(e.salts) != set(e.payload):
            bad("payload fields and salts do not match")
        elif not all(is_hex(v) for v in e.salts.values()) or e.computed_hash() != e.entry_hash:
            bad("content does not match its hash (altered)")
        if e.created_at < self.last_time:
            bad(f"timestamp {e.created_at} is earlier than the entry before it (backdated)")
        self.state.step(e, bad)
        self.prev_hash, self.expected_seq = e.entry_hash, e.seq + 1
        self.last_time = max(self.last_time, e.created_at)

    def problems_at(
        self, anchor: tuple[int, str] | None = None, head: tuple[int, str] | None = None
    ) -> list[Problem]:
        """The problems so far, with the anchor's and the head row's checks against the chain as
        fed (they are not kept: a later head is checked against a longer chain)."""
        out = list(self.problems)
        if anchor is not None:
            out += _anchor_problems(anchor, self.state, self.last_seq)
        if head is not None:
            out += _head_problems(head, self.state, self.last_seq)
        return out


def _anchor_problems(anchor: tuple[int, str], state: LedgerState, last_seq: int) -> list[Problem]:
    """A head published earlier must still be in the chain, with the same hash."""
    seq, h = anchor
    found = state.by_seq.get(seq)
    if found is None and seq > last_seq:
        return [
            Problem(
                seq,
                None,
                f"the ledger ends at entry {last_seq} but a published checkpoint shows entry {seq}: "
                f"{_range(last_seq + 1, seq)} missing (truncated or rolled back)",
            )
        ]
    if found is None or found.entry_hash != h:
        return [Problem(seq, None, f"anchor mismatch: entry {seq} should have hash {h}")]
    return []


def _head_problems(head: tuple[int, str], state: LedgerState, last_seq: int) -> list[Problem]:
    """The store's head row must be the chain's last entry (a deleted tail, an edited head)."""
    seq, h = head
    end = state.by_seq.get(last_seq)
    if seq > last_seq:
        return [
            Problem(
                seq,
                None,
                f"the head row says the ledger ends at entry {seq} but the chain ends at {last_seq}: "
                f"{_range(last_seq + 1, seq)} deleted",
            )
        ]
    if seq < last_seq or (end is not None and end.entry_hash != h) or (end is None and seq != 0):
        return [Problem(seq, None, f"the head row ({seq}:{h[:12]}) does not match the chain's last entry")]
    return []


def _range(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}-{last} are"
