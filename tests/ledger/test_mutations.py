"""Tampering with a stored ledger is always found, and the finding names the entry.

A realistic ledger (every kind the workflow writes) is built once per backend. Then, seeded,
TRIALS tamperings per backend: one change each, of any kind a person with database access
could make (edit any column of any entry, delete, insert forged entries, reorder, replay
signatures, move sign-offs after the actions they gate). Every SQL_EVERY-th trial is written
to the database with real UPDATE / DELETE / INSERT statements, verified from
`ledger.raw_rows()` and then restored; the others are applied to a copy of the raw rows,
which is what `raw_rows()` would return (the SQL trials assert that equivalence).
"""

from __future__ import annotations

import functools
import json
import math
import random
import string
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pytest
import sqlalchemy as sa

from scalegate.ledger.keys import SigningKey
from scalegate.ledger.records import GENESIS, EntryKind, new_salt
from scalegate.ledger.store import entries_t
from scalegate.ledger.verify import Problem, verify_entries
from tests.ledger.conftest import BACKENDS, Built, backend_url, build_realistic
from tests.ledger.forge import Row, clone, make_row, now_iso, rechain, stored_rows, to_stored

SEED = 20261123
TRIALS = 1000
SQL_EVERY = 4  # 250 of the 1000 trials per backend go through the database

ENTRY_KINDS = list(get_args(EntryKind))


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=BACKENDS)
def realistic(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The realistic ledger, built once per backend for the whole module."""
    folder = tmp_path_factory.mktemp(f"mutations-{request.param}")
    with backend_url(request.param, folder) as url:
        b = build_realistic(url, folder / "keys")
        try:
            yield b
        finally:
            b.ledger.close()


@pytest.fixture
def cached_policy_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify re-parses the policy YAML (pure Python, ~50 ms) for every decision and override
    it checks; memoise the parse by text so 2000 verifications fit in the time budget. The
    parse is a pure function of the text, and the first trials are re-verified uncached."""
    import scalegate.policy.loader as loader

    monkeypatch.setattr(loader, "parse_policy", functools.lru_cache(maxsize=16)(loader.parse_policy))


# ----------------------------------------------------------------------------- tamperings


@dataclass
class Tamper:
    kind: str
    detail: str
    rows: list[Row]  # the ledger as `raw_rows()` returns it afterwards, ordered by seq
    blame_ids: set[str] = field(default_factory=set)
    blame_seqs: set[int] = field(default_factory=set)
    anchored: bool = False  # only detectable against the published head (truncation)


@dataclass
class Ctx:
    b: Built
    rows: list[Row]  # untampered raw rows
    keys_by_id: dict[str, SigningKey]

    def index(self, name: str) -> int:
        eid = self.b.ids[name]
        return next(i for i, r in enumerate(self.rows) if r["entry_id"] == eid)

    def copy(self) -> list[Row]:
        return clone(self.rows)


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: r["seq"])


def _leaf_paths(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from _leaf_paths(v, (*path, k))
    elif isinstance(obj, list) and obj:
        for i, v in enumerate(obj):
            yield from _leaf_paths(v, (*path, i))
    else:
        yield path


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value


HEX = "0123456789abcdef"


def _mutate_str(rng: random.Random, s: str, same_length: bool = False) -> str:
    if not s:
        return "x"
    alphabet = HEX if all(c in HEX for c in s) else string.ascii_letters + string.digits + " -_:."
    i = rng.randrange(len(s))
    op = "replace" if same_length else rng.choice(["replace", "replace", "insert", "delete", "append"])
    if op == "insert":
        return s[:i] + rng.choice(alphabet) + s[i:]
    if op == "delete":
        return s[:i] + s[i + 1 :]
    if op == "append":
        return s + rng.choice(alphabet)
    return s[:i] + rng.choice([c for c in alphabet if c != s[i]]) + s[i + 1 :]


def _mutate_value(rng: random.Random, v: Any) -> Any:
    """A different value of the same JSON type (None and empty containers gain content)."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + rng.choice([-3, -1, 1, 2, 997])
    if isinstance(v, float):
        out = rng.choice(
            [math.nextafter(v, math.inf), math.nextafter(v, -math.inf), v * 1.01 + 0.01, v - 0.25]
        )
        return out if out != v else v + 1.0
    if isinstance(v, str):
        return _mutate_str(rng, v)
    if v is None:
        return rng.choice(["", "x", "tampered"])
    if isinstance(v, list):
        return ["x"]
    if isinstance(v, dict):
        return {"x": 1}
    raise AssertionError(f"unexpected JSON value {v!r}")


def _field_edit(kind: str, ctx: Ctx, i: int, new: Row, detail: str) -> Tamper:
    old = ctx.rows[i]
    rows = ctx.copy()
    rows[i] = new
    rows = _sorted(rows)
    return Tamper(
        kind,
        detail,
        rows,
        blame_ids={old["entry_id"], new["entry_id"]},
        blame_seqs={old["seq"], new["seq"]},
    )


def edit_payload_value(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    top = rng.choice(sorted(new["payload"]))
    path = (top, *rng.choice(list(_leaf_paths(new["payload"][top]))))
    before = _get(new["payload"], path)
    after = _mutate_value(rng, before)
    _set(new["payload"], path, after)
    shown = "/".join(map(str, path))
    return _field_edit(
        "edit_payload_value",
        ctx,
        i,
        new,
        f"seq {new['seq']} payload {shown}: {before!r:.40} -> {after!r:.40}",
    )


def edit_payload_fields(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    op = rng.choice(["add_with_salt", "add_without_salt", "drop_with_salt", "drop_without_salt"])
    if op.startswith("add"):
        name = rng.choice(["note", "approved", "role", "justification", "extra"])
        if name in new["payload"]:
            name += "_2"
        new["payload"][name] = rng.choice(["ok", True, 1, ["board"]])
        if op == "add_with_salt":
            new["salts"][name] = new_salt()
    else:
        name = rng.choice(sorted(new["payload"]))
        del new["payload"][name]
        if op == "drop_with_salt":
            del new["salts"][name]
    return _field_edit("edit_payload_fields", ctx, i, new, f"seq {new['seq']} {op} {name}")


def edit_salt(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    names = sorted(new["salts"])
    if len(names) >= 2 and rng.random() < 0.3:
        a, c = rng.sample(names, 2)
        new["salts"][a], new["salts"][c] = new["salts"][c], new["salts"][a]
        detail = f"swap salts {a}, {c}"
    else:
        a = rng.choice(names)
        new["salts"][a] = rng.choice([new_salt(), _mutate_str(rng, new["salts"][a], same_length=True)])
        detail = f"salt of {a}"
    return _field_edit("edit_salt", ctx, i, new, f"seq {new['seq']} {detail}")


def edit_kind(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    choices = [k for k in ENTRY_KINDS if k != new["kind"]] + ["decisionX", "SIGNOFF"]
    new["kind"] = rng.choice(choices)
    return _field_edit("edit_kind", ctx, i, new, f"seq {new['seq']} kind -> {new['kind']}")


def edit_created_at(rng: random.Random, ctx: Ctx) -> Tamper:
    import datetime as dt

    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    t = dt.datetime.fromisoformat(new["created_at"])
    op = rng.choice(["shift", "shift", "reformat"])
    if op == "reformat":
        new["created_at"] = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        delta = dt.timedelta(microseconds=rng.choice([1, 1000, 10**6, 3600 * 10**6, 86400 * 10**6]))
        t = t + delta if rng.random() < 0.5 else t - delta
        new["created_at"] = t.isoformat(timespec="microseconds")
    return _field_edit("edit_created_at", ctx, i, new, f"seq {new['seq']} created_at {op}")


def edit_actor(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    new["actor"] = rng.choice(["ceo@laptop", "", _mutate_str(rng, new["actor"])])
    return _field_edit("edit_actor", ctx, i, new, f"seq {new['seq']} actor")


def edit_entry_id(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    new["entry_id"] = rng.choice([uuid.uuid4().hex, _mutate_str(rng, new["entry_id"], same_length=True)])
    return _field_edit("edit_entry_id", ctx, i, new, f"seq {new['seq']} entry_id")


def edit_seq(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    new["seq"] = rng.choice([0, -1, len(ctx.rows) + 1, len(ctx.rows) + rng.randrange(2, 1000)])
    return _field_edit("edit_seq", ctx, i, new, f"seq {ctx.rows[i]['seq']} -> {new['seq']}")


def edit_prev_hash(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    others = [r["entry_hash"] for j, r in enumerate(ctx.rows) if j != i - 1]
    new["prev_hash"] = rng.choice(
        [
            _mutate_str(rng, new["prev_hash"], same_length=True),
            uuid.uuid4().hex * 2,
            GENESIS if i else uuid.uuid4().hex * 2,
            rng.choice(others),  # another entry's hash (the schema's UNIQUE may refuse it)
        ]
    )
    return _field_edit("edit_prev_hash", ctx, i, new, f"seq {new['seq']} prev_hash")


def edit_entry_hash(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    new["entry_hash"] = rng.choice(
        [
            _mutate_str(rng, new["entry_hash"], same_length=True),
            uuid.uuid4().hex * 2,
            rng.choice([r["entry_hash"] for j, r in enumerate(ctx.rows) if j != i]),
        ]
    )
    return _field_edit("edit_entry_hash", ctx, i, new, f"seq {new['seq']} entry_hash")


def _holders(ctx: Ctx) -> list[tuple[SigningKey, str]]:
    k = ctx.b.keys
    return [
        (k["operator"], "operator"),
        (k["operator"], "admin"),
        (k["rso"], "rso"),
        (k["ceo"], "ceo"),
        (k["board"], "board"),
    ]


def edit_signature(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    sigs = new["signatures"]
    j = rng.randrange(len(sigs))
    op = rng.choice(["bitflip", "role", "key_id", "drop", "drop_all", "duplicate", "add_valid", "reorder"])
    if op == "reorder" and len(sigs) < 2:
        op = "bitflip"
    if op == "bitflip":
        sigs[j]["signature"] = _mutate_str(rng, sigs[j]["signature"], same_length=True)
    elif op == "role":
        sigs[j]["role"] = rng.choice(
            [r for r in ("admin", "operator", "rso", "ceo", "board", "self") if r != sigs[j]["role"]]
        )
    elif op == "key_id":
        sigs[j]["key_id"] = rng.choice([kid for kid in ctx.keys_by_id if kid != sigs[j]["key_id"]])
    elif op == "drop":
        del sigs[j]
    elif op == "drop_all":
        sigs.clear()
    elif op == "duplicate":
        sigs.append(dict(sigs[j]))
    elif op == "reorder":
        sigs.reverse()
    else:  # a genuine extra signature over this entry's body, by a key in a role it holds
        key, role = rng.choice(_holders(ctx))
        body = bytes.fromhex(_body_of(ctx.rows[i]))
        sigs.append({"key_id": key.key_id, "role": role, "signature": key.sign(body)})
    return _field_edit("edit_signature", ctx, i, new, f"seq {new['seq']} signature {op}")


def _body_of(row: Row) -> str:
    from scalegate.ledger.records import Entry

    return Entry.model_validate(row).body_hash()


def replay_signature(rng: random.Random, ctx: Ctx) -> Tamper:
    """Replace a signature with another *valid* signature: the same key's from another entry,
    or another key's over this very entry."""
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    j = rng.randrange(len(new["signatures"]))
    mine = new["signatures"][j]
    if rng.random() < 0.5:
        donors = [
            s
            for k, r in enumerate(ctx.rows)
            if k != i
            for s in r["signatures"]
            if s["key_id"] == mine["key_id"]
        ]
        if donors:
            new["signatures"][j] = dict(rng.choice(donors))
            return _field_edit("replay_signature", ctx, i, new, f"seq {new['seq']} sig from other entry")
    key, role = rng.choice([h for h in _holders(ctx) if h[0].key_id != mine["key_id"]])
    new["signatures"][j] = {
        "key_id": key.key_id,
        "role": rng.choice([role, mine["role"]]),
        "signature": key.sign(bytes.fromhex(_body_of(ctx.rows[i]))),
    }
    return _field_edit("replay_signature", ctx, i, new, f"seq {new['seq']} sig by other key")


def corrupt_json(rng: random.Random, ctx: Ctx) -> Tamper:
    """The stored JSON text of payload, salts or signatures no longer parses."""
    i = rng.randrange(len(ctx.rows))
    new = clone(ctx.rows[i])
    name = rng.choice(["payload", "salts", "signatures"])
    text = to_stored(new)[name]
    cut = rng.randrange(1, len(text) - 1)
    new[name] = rng.choice([text[:cut], text + "}", "", "null", text.replace('"', "'", 1)])
    if new[name] == "null":
        new[name] = None  # json.loads("null"): raw_rows hands verify a None
    return _field_edit("corrupt_json", ctx, i, new, f"seq {new['seq']} {name} text")


def delete_entry(rng: random.Random, ctx: Ctx) -> Tamper:
    i = rng.randrange(len(ctx.rows))
    rows = ctx.copy()
    gone = rows.pop(i)
    if i == len(ctx.rows) - 1:  # truncation: only a published head shows it
        return Tamper(
            "delete_entry", f"last entry {gone['seq']}", rows, blame_seqs={gone["seq"]}, anchored=True
        )
    after = ctx.rows[i + 1]
    return Tamper(
        "delete_entry",
        f"entry {gone['seq']} ({gone['kind']})",
        rows,
        blame_ids={gone["entry_id"], after["entry_id"]},
        blame_seqs={gone["seq"], after["seq"]},
    )


@dataclass
class Forgery:
    variant: str
    kind: str
    payload: dict[str, Any]
    signers: list[tuple[SigningKey, str]]
    after: str | None = None  # insert after this named entry
    before: str | None = None  # ... and before this one


def _forgeries(ctx: Ctx) -> list[Forgery]:
    b, k = ctx.b, ctx.b.keys
    d1, d2 = b.ids["decision1"], b.ids["decision2"]
    outsider = {
        "key_id": k["outsider"].key_id,
        "public_key": k["outsider"].public_hex,
        "roles": ["admin", "operator"],
        "holder": "mallory",
    }
    policy = next(r for r in ctx.rows if r["kind"] == "policy_adopted")["payload"]
    lenient_text = policy["text"].replace("override: [board]", "override: []")
    from scalegate.ledger.records import sha256_hex

    lenient = {**policy, "text": lenient_text, "sha256": sha256_hex(lenient_text.encode())}

    def so(decision: str, action: str, role: str) -> dict[str, Any]:
        return {"decision_entry": decision, "action": action, "role": role, "comment": ""}

    return [
        # a key signs in a role it does not hold
        Forgery("lacking_role", "signoff", so(d1, "open_weights", "ceo"), [(k["rso"], "ceo")], "decision1"),
        Forgery("lacking_role", "signoff", so(d1, "open_weights", "board"), [(k["rso"], "rso")], "decision1"),
        Forgery(
            "lacking_role",
            "action_taken",
            {"decision_entry": d2, "action": "continue_training"},
            [(k["ceo"], "operator")],
            "decision2",
        ),
        Forgery(
            "lacking_role",
            "override",
            {
                "decision_entry": d2,
                "action": "external_deployment",
                "justification": "ship it",
                "required_roles": ["board"],
            },
            [(k["ceo"], "board")],
            "decision2",
        ),
        Forgery(
            "lacking_role",
            "key_revoked",
            {"key_id": k["ceo"].key_id, "reason": "coup"},
            [(k["board"], "admin")],
            "decision1",
        ),
        Forgery(
            "lacking_role",
            "key_registered",
            outsider,
            [(k["outsider"], "self"), (k["rso"], "admin")],
            "decision1",
        ),
        Forgery("lacking_role", "policy_adopted", lenient, [(k["board"], "operator")], "decision1"),
        # a key revoked earlier in the chain
        Forgery(
            "revoked_key",
            "signoff",
            so(d1, "external_deployment", "rso"),
            [(k["deputy"], "rso")],
            "revoke_deputy",
        ),
        Forgery(
            "revoked_key", "signoff", so(d1, "open_weights", "rso"), [(k["deputy"], "rso")], "revoke_deputy"
        ),
        Forgery(
            "revoked_key",
            "key_revoked",
            {"key_id": k["deputy"].key_id, "reason": "again"},
            [(k["deputy"], "self")],
            "revoke_deputy",
        ),
        Forgery(
            "revoked_key",
            "audit_statement",
            {"text": "all fine", "scope": "all", "covers": {"seq": 0, "hash": GENESIS}},
            [(k["auditor"], "auditor")],
            "revoke_auditor",
        ),
        # a key never registered
        Forgery(
            "unregistered_key",
            "signoff",
            so(d1, "external_deployment", "ceo"),
            [(k["outsider"], "ceo")],
            "decision1",
        ),
        Forgery(
            "unregistered_key",
            "action_taken",
            {"decision_entry": d1, "action": "internal_deployment"},
            [(k["outsider"], "operator")],
            "decision1",
        ),
        Forgery(
            "unregistered_key",
            "key_revoked",
            {"key_id": k["board"].key_id, "reason": "x"},
            [(k["outsider"], "admin")],
            "decision1",
        ),
        # a registration after the first without an admin
        Forgery("no_admin", "key_registered", outsider, [(k["outsider"], "self")], "decision1"),
        # an action the decision does not allow, by the genuine operator key
        Forgery(
            "ungated_action",
            "action_taken",
            {"decision_entry": d2, "action": "external_deployment"},
            [(k["operator"], "operator")],
            "decision2",
        ),
        Forgery(
            "ungated_action",
            "action_taken",
            {"decision_entry": d1, "action": "open_weights"},
            [(k["operator"], "operator")],
            "decision1",
            before="override",
        ),
    ]


def insert_forged(rng: random.Random, ctx: Ctx) -> Tamper:
    """A forged entry, hash-linked and signed. Appended at the end it needs no other key; in
    the middle the forger re-links and re-signs every later entry (holding every key)."""
    f = rng.choice(_forgeries(ctx))
    lo = ctx.index(f.after) + 1 if f.after else 1
    hi = ctx.index(f.before) if f.before else len(ctx.rows)
    pos = rng.randint(lo, hi)
    rows = ctx.copy()
    prev = rows[pos - 1]
    created = now_iso() if pos == len(rows) else prev["created_at"]
    forged = make_row(
        seq=pos + 1,
        prev_hash=prev["entry_hash"],
        kind=f.kind,
        payload=f.payload,
        signers=f.signers,
        created_at=created,
    )
    rows.insert(pos, forged)
    rows = rechain(rows, pos + 1, ctx.keys_by_id)
    where = "appended" if pos == len(ctx.rows) else f"inserted at {pos + 1}, later entries re-signed"
    return Tamper(
        f"insert_forged/{f.variant}",
        f"{f.kind} {where}",
        rows,
        blame_ids={forged["entry_id"]},
        blame_seqs={forged["seq"]},
    )


def insert_unlinked(rng: random.Random, ctx: Ctx) -> Tamper:
    """A forged entry inserted mid-chain without re-signing what follows (later seqs shifted)."""
    last = len(ctx.rows) - 1
    f = rng.choice([f for f in _forgeries(ctx) if f.after is None or ctx.index(f.after) < last])
    pos = rng.randint(ctx.index(f.after) + 1 if f.after else 1, len(ctx.rows) - 1)
    rows = ctx.copy()
    prev = rows[pos - 1]
    forged = make_row(
        seq=pos + 1,
        prev_hash=prev["entry_hash"],
        kind=f.kind,
        payload=f.payload,
        signers=f.signers,
        created_at=prev["created_at"],
    )
    for r in rows[pos:]:
        r["seq"] += 1
    rows.insert(pos, forged)
    nxt = rows[pos + 1]
    return Tamper(
        "insert_unlinked",
        f"{f.kind} at {pos + 1}",
        rows,
        blame_ids={forged["entry_id"], nxt["entry_id"]},
        blame_seqs={forged["seq"], nxt["seq"]},
    )


def reorder(rng: random.Random, ctx: Ctx) -> Tamper:
    """Swap the seq numbers of two entries (adjacent half of the time)."""
    n = len(ctx.rows)
    i = rng.randrange(n - 1)
    j = i + 1 if rng.random() < 0.5 else rng.randrange(i + 1, n)
    rows = ctx.copy()
    rows[i]["seq"], rows[j]["seq"] = rows[j]["seq"], rows[i]["seq"]
    return Tamper(
        "reorder",
        f"swap seq {i + 1} and {j + 1}",
        _sorted(rows),
        blame_ids={rows[i]["entry_id"], rows[j]["entry_id"]},
        blame_seqs={i + 1, j + 1},
    )


def backdate_signoff(rng: random.Random, ctx: Ctx) -> Tamper:
    """A sign-off (or the override) that really came after the action it gates, made to look
    as if it came first or recorded late, with the chain re-linked and re-signed throughout."""
    gated = {
        "signoff_rso": "action_external",
        "signoff_ceo": "action_external",
        "override": "action_open_weights",
    }
    name = rng.choice(sorted(gated))
    action = gated[name]
    variant = rng.choice(["moved_keeps_time", "moved_new_time", "re_appended"])
    rows = ctx.copy()
    s = ctx.index(name)
    moved = rows.pop(s)
    a = next(i for i, r in enumerate(rows) if r["entry_id"] == ctx.b.ids[action])
    blame = {ctx.b.ids[action], moved["entry_id"]}
    if variant == "re_appended":  # the genuine late sign-off, honestly appended at the end
        key_role = [(ctx.keys_by_id[x["key_id"]], x["role"]) for x in moved["signatures"]]
        rows = rechain(rows, s, ctx.keys_by_id)
        late = make_row(
            seq=len(rows) + 1,
            prev_hash=rows[-1]["entry_hash"],
            kind=moved["kind"],
            payload=moved["payload"],
            signers=key_role,
        )
        rows.append(late)
        blame.add(late["entry_id"])
    else:
        if variant == "moved_new_time":
            moved["created_at"] = rows[a]["created_at"]
        rows.insert(a + 1, moved)
        rows = rechain(rows, s, ctx.keys_by_id)
    return Tamper(f"backdate_signoff/{variant}", f"{name} after {action}", rows, blame_ids=blame)


GENERATORS: list[Callable[[random.Random, Ctx], Tamper]] = [
    edit_payload_value,
    edit_payload_fields,
    edit_salt,
    edit_kind,
    edit_created_at,
    edit_actor,
    edit_entry_id,
    edit_seq,
    edit_prev_hash,
    edit_entry_hash,
    edit_signature,
    replay_signature,
    corrupt_json,
    delete_entry,
    insert_forged,
    insert_forged,
    insert_unlinked,
    reorder,
    backdate_signoff,
]


# ----------------------------------------------------------------------------- applying in SQL


class Unstorable(Exception):
    """The schema itself refuses the tampering (UNIQUE / NOT NULL / length constraint)."""


def apply_sql(b: Built, orig: list[Row], new: list[Row]) -> str:
    """Write the tampered state with UPDATE / DELETE / INSERT; return the statements used."""
    o = {r["seq"]: r for r in orig}
    n = {r["seq"]: r for r in new}
    if len(n) != len(new):
        raise Unstorable("duplicate seq")
    removed = sorted(o.keys() - n.keys())
    added = sorted(n.keys() - o.keys())
    changed = sorted(s for s in o.keys() & n.keys() if o[s] != n[s])
    t = entries_t
    try:
        with b.ledger.engine.begin() as conn:
            if not removed and not added and len(changed) == 1:
                s = changed[0]
                cols = {c: v for c, v in to_stored(n[s]).items() if to_stored(o[s])[c] != v}
                conn.execute(t.update().where(t.c.seq == s).values(**cols))
                return "UPDATE " + ",".join(sorted(cols))
            if len(removed) == 1 and len(added) == 1 and not changed:
                moved = {**o[removed[0]], "seq": added[0]}
                if moved == n[added[0]]:
                    conn.execute(t.update().where(t.c.seq == removed[0]).values(seq=added[0]))
                    return "UPDATE seq"
            if added == [] and changed == [] and removed:
                conn.execute(t.delete().where(t.c.seq.in_(removed)))
                return "DELETE"
            ops = []
            if removed or changed:
                conn.execute(t.delete().where(t.c.seq.in_(removed + changed)))
                ops.append("DELETE")
            for s in changed + added:
                conn.execute(t.insert().values(**to_stored(n[s])))
            ops.append("INSERT")
            return "+".join(ops)
    except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
        raise Unstorable(str(exc.orig).splitlines()[0]) from exc


def restore(b: Built, snapshot: list[Row]) -> None:
    with b.ledger.engine.begin() as conn:
        conn.execute(entries_t.delete())
        for r in snapshot:
            conn.execute(entries_t.insert().values(**r))


def _normal(rows: list[Row]) -> list[Row]:
    """Rows as `raw_rows()` would parse them back (JSON round trip)."""
    out = []
    for r in rows:
        r = dict(r)
        for name in ("payload", "salts", "signatures"):
            if not isinstance(r[name], str) and r[name] is not None:
                r[name] = json.loads(json.dumps(r[name]))
        out.append(r)
    return out


# ----------------------------------------------------------------------------- the tests


def test_untampered_realistic_ledger_verifies_clean(realistic: Built) -> None:
    entries = realistic.entries()
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    kinds = {e.kind for e in entries}
    # every kind except the policy-change ones, which tests/ledger/test_policy_change.py covers,
    # and `preliminary`, which needs a policy with `cadence.preliminary` and real per-sample
    # scores: tests/test_relative_gate.py records them and forges their verdicts
    assert kinds >= set(ENTRY_KINDS) - {"policy_proposed", "policy_approval", "preliminary"}
    assert verify_entries(list(realistic.ledger.raw_rows())) == []
    assert verify_entries(list(realistic.ledger.raw_rows()), anchor=realistic.ledger.head()) == []
    assert realistic.ledger.head() == (entries[-1].seq, entries[-1].entry_hash)


def _named(problems: list[Problem], t: Tamper, rows: list[Row]) -> bool:
    seqs = set(t.blame_seqs) | {r["seq"] for r in rows if r.get("entry_id") in t.blame_ids}
    return any(p.entry_id in t.blame_ids or p.seq in seqs for p in problems)


def test_every_tampering_is_detected_and_names_the_entry(
    realistic: Built, cached_policy_parse: None, request: pytest.FixtureRequest
) -> None:
    b = realistic
    snapshot = stored_rows(b.ledger)
    base = list(b.ledger.raw_rows())
    ctx = Ctx(b=b, rows=base, keys_by_id=b.keys_by_id)
    head = b.ledger.head()
    rng = random.Random(SEED)

    stats: dict[str, Counter[str]] = defaultdict(Counter)
    sql_ops: Counter[str] = Counter()
    failures: list[str] = []
    uncached_checked = 0
    for trial in range(TRIALS):
        t = rng.choice(GENERATORS)(rng, ctx)
        st = stats[t.kind]
        st["trials"] += 1
        rows = t.rows
        if trial % SQL_EVERY == 0:
            try:
                sql_ops[apply_sql(b, base, t.rows).split(" ")[0]] += 1
            except Unstorable as exc:
                st["refused_by_schema"] += 1
                sql_ops["refused by schema: " + str(exc)[:60]] += 1
            else:
                st["sql"] += 1
                try:
                    rows = list(b.ledger.raw_rows())
                    assert rows == _normal(t.rows), f"trial {trial}: database and model disagree"
                    anchor = b.ledger.head() if t.anchored else None
                    assert anchor in (None, head)
                finally:
                    restore(b, snapshot)
        anchor = head if t.anchored else None
        try:
            problems = verify_entries(rows, anchor)
        except Exception as exc:  # a crash is a failure to report the tampering
            failures.append(f"{t.kind}: {t.detail}: verify raised {exc!r}")
            st["crashed"] += 1
            continue
        if uncached_checked < 5 and trial % 7 == 0:
            import scalegate.policy.loader as loader

            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(loader, "parse_policy", loader.parse_policy.__wrapped__)
                assert verify_entries(rows, anchor) == problems
            uncached_checked += 1
        if not problems:
            st["missed"] += 1
            failures.append(f"{t.kind}: {t.detail}: no problem found")
        elif not _named(problems, t, rows):
            st["not_named"] += 1
            failures.append(
                f"{t.kind}: {t.detail}: problems name other entries: {[str(p) for p in problems]}"
            )
        else:
            st["detected"] += 1

    assert stored_rows(b.ledger) == snapshot, "the ledger was not restored"
    assert verify_entries(list(b.ledger.raw_rows())) == []
    table = "\n".join(
        f"  {k:40s} " + " ".join(f"{c}={v}" for c, v in sorted(stats[k].items())) for k in sorted(stats)
    )
    summary = (
        f"[{request.node.callspec.id}] {TRIALS} tamperings, seed {SEED}\n{table}\n"
        f"  SQL statements: {dict(sql_ops)}"
    )
    print("\n" + summary)
    sql_applied = sum(s["sql"] for s in stats.values())
    assert sql_applied >= 100, summary
    assert not failures, summary + "\nfailures:\n" + "\n".join(failures[:25])
    assert sum(s["detected"] for s in stats.values()) == TRIALS, summary


def test_rewrite_with_every_key_is_caught_by_audit_statement_or_published_head(realistic: Built) -> None:
    """The documented limit: someone holding every key can rewrite history and re-sign the rest.
    Verify alone cannot tell after the last audit statement; a published head (anchor) can, and
    an audit statement pins everything up to the state it covers."""
    b = realistic
    rows = list(b.ledger.raw_rows())
    head = b.ledger.head()
    last = rows[-1]
    assert last["entry_id"] == b.ids["revoke_auditor"]
    edited = clone(last)
    edited["payload"]["reason"] = "key compromised"  # rewritten and re-signed by the auditor key
    forged = rechain([*rows[:-1], edited], len(rows) - 1, b.keys_by_id)
    assert verify_entries(forged) == []
    problems = verify_entries(forged, anchor=head)
    assert [(p.seq, "anchor mismatch" in p.message) for p in problems] == [(head[0], True)]

    i = next(i for i, r in enumerate(rows) if r["entry_id"] == b.ids["noncompliance"])
    forged = rechain(rows[:i] + rows[i + 1 :], i, b.keys_by_id)
    problems = verify_entries(forged)
    statement = b.ids["audit_statement"]
    assert [p.entry_id for p in problems] == [statement], problems
    assert "audit statement covers a ledger state" in problems[0].message


def test_sql_tampering_of_a_single_column_is_found(realistic: Built, tmp_path: Path) -> None:
    """The plainest attack, spelled out: flip a decision's status in the database."""
    b = realistic
    snapshot = stored_rows(b.ledger)
    d1 = b.ledger.get(b.ids["decision1"])
    payload = clone(d1.payload)
    payload["decision"]["actions"]["open_weights"]["status"] = "allowed"
    try:
        with b.ledger.engine.begin() as conn:
            conn.execute(
                entries_t.update()
                .where(entries_t.c.seq == d1.seq)
                .values(payload=json.dumps(payload, sort_keys=True))
            )
        problems = verify_entries(list(b.ledger.raw_rows()))
    finally:
        restore(b, snapshot)
    assert any(p.seq == d1.seq and "altered" in p.message for p in problems), problems
    assert verify_entries(list(b.ledger.raw_rows())) == []


# ----------------------------------------------------------------------------- known gaps


def _apply_and_verify(b: Built, new_rows: list[Row]) -> list[Problem]:
    """Write the tampered rows with SQL, verify from the database, restore."""
    base = list(b.ledger.raw_rows())
    snapshot = stored_rows(b.ledger)
    apply_sql(b, base, new_rows)
    try:
        return verify_entries(list(b.ledger.raw_rows()))
    finally:
        restore(b, snapshot)


def _first_of(kind: str) -> Callable[[Built, list[Row]], int]:
    return lambda b, rows: next(i for i, r in enumerate(rows) if r["kind"] == kind)


def _named_entry(name: str) -> Callable[[Built, list[Row]], int]:
    return lambda b, rows: next(i for i, r in enumerate(rows) if r["entry_id"] == b.ids[name])


def _was_crash(reason: str, exc: type[Exception]) -> tuple[pytest.MarkDecorator, ...]:
    """Formerly a crash of verify ({exc} from {reason}); now it must be reported as a problem."""
    return ()


TYPE_CONFUSED = [
    pytest.param(
        _first_of("key_registered"),
        ("salts", "key_id"),
        "zz",
        marks=_was_crash("non-hex salt -> bytes.fromhex in records.field_digest", ValueError),
        id="salt-not-hex",
    ),
    pytest.param(
        _named_entry("register_auditor"),
        ("payload", "public_key"),
        5,
        marks=_was_crash("public_key not a str -> bytes.fromhex in keys.verify", TypeError),
        id="public_key-int",
    ),
    pytest.param(
        _named_entry("register_auditor"),
        ("payload", "roles"),
        5,
        marks=_was_crash("set(p.get('roles')) on an int in _check_kind", TypeError),
        id="roles-int",
    ),
    pytest.param(
        _named_entry("register_auditor"),
        ("payload", "roles"),
        [["auditor"]],
        marks=_was_crash("set() of unhashable roles in _check_kind", TypeError),
        id="roles-nested",
    ),
    pytest.param(
        _named_entry("revoke_deputy"),
        ("payload", "key_id"),
        ["x"],
        marks=_was_crash("`kid not in state.keys` with a list key_id", TypeError),
        id="revoked-key_id-list",
    ),
    pytest.param(
        _named_entry("assessment1"),
        ("payload", "policy"),
        "reference",
        marks=_was_crash("p.get('policy', {}).get on a str", AttributeError),
        id="assessment-policy-str",
    ),
    pytest.param(
        _named_entry("signoff_rso"),
        ("payload", "role"),
        ["rso"],
        marks=_was_crash("`role not in roles` with a list role", TypeError),
        id="signoff-role-list",
    ),
    pytest.param(
        _named_entry("override"),
        ("payload", "required_roles"),
        3,
        marks=_was_crash("set(required_roles) on an int", TypeError),
        id="override-required_roles-int",
    ),
    pytest.param(
        _named_entry("decision1"),
        ("payload", "protections_in_place"),
        7,
        marks=_was_crash("set(protections_in_place) outside the try in _check_decision", TypeError),
        id="decision-protections-int",
    ),
    pytest.param(
        _named_entry("decision1"),
        ("payload", "decision", "actions"),
        [],
        marks=_was_crash("actions.get in _check_action (on a later action_taken)", AttributeError),
        id="decision-actions-list",
    ),
    pytest.param(
        _named_entry("audit_statement"),
        ("payload", "covers"),
        [1],
        marks=_was_crash("covered.get on a list in _check_kind", AttributeError),
        id="audit-covers-list",
    ),
]


@pytest.mark.parametrize(("where", "path", "value"), TYPE_CONFUSED)
def test_type_confused_column_is_reported_not_crashed(
    realistic: Built,
    cached_policy_parse: None,
    where: Callable[[Built, list[Row]], int],
    path: tuple[str, ...],
    value: Any,
) -> None:
    """verify.py: 'a tampered row which no longer parses is a finding, not a crash'. A value
    of the wrong JSON type in a stored column must give a problem naming the entry."""
    b = realistic
    rows = list(b.ledger.raw_rows())
    i = where(b, rows)
    new = clone(rows)
    _set(new[i], path, value)
    problems = _apply_and_verify(b, new)
    assert any(p.seq == rows[i]["seq"] or p.entry_id == rows[i]["entry_id"] for p in problems), problems


def _forged_assessment_and_decision(b: Built, rows: list[Row]) -> tuple[list[Row], set[str]]:
    from tests.ledger.conftest import make_assessment

    data = make_assessment(b.loaded).model_dump(mode="json")
    decision = data.pop("decision")
    signer = [(b.keys["rso"], "rso")]
    a = make_row(
        seq=len(rows) + 1, prev_hash=rows[-1]["entry_hash"], kind="assessment", payload=data, signers=signer
    )
    d = make_row(
        seq=len(rows) + 2,
        prev_hash=a["entry_hash"],
        kind="decision",
        signers=signer,
        payload={
            "assessment_entry": a["entry_id"],
            "policy_sha256": b.loaded.sha256,
            "protections_in_place": [],
            "decision": decision,
        },
    )
    return [*rows, a, d], {a["entry_id"], d["entry_id"]}


def _forged_action(b: Built, rows: list[Row]) -> tuple[list[Row], set[str]]:
    act = make_row(
        seq=len(rows) + 1,
        prev_hash=rows[-1]["entry_hash"],
        kind="action_taken",
        payload={"decision_entry": b.ids["decision1"], "action": "internal_deployment"},
        signers=[(b.keys["ceo"], "ceo")],
    )
    return [*rows, act], {act["entry_id"]}


def _policy_adopted_by_board(b: Built, rows: list[Row]) -> tuple[list[Row], set[str]]:
    i = next(i for i, r in enumerate(rows) if r["kind"] == "policy_adopted")
    new = clone(rows)
    new[i]["signatures"] = [{"key_id": b.keys["board"].key_id, "role": "board", "signature": ""}]
    return rechain(new, i, b.keys_by_id), {rows[i]["entry_id"]}


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(_forged_assessment_and_decision, id="assessment+decision-by-rso"),
        pytest.param(_forged_action, id="action_taken-by-ceo"),
        pytest.param(_policy_adopted_by_board, id="policy_adopted-by-board"),
    ],
)
def test_operator_entries_signed_by_another_role_are_flagged(
    realistic: Built,
    cached_policy_parse: None,
    forge: Callable[[Built, list[Row]], tuple[list[Row], set[str]]],
) -> None:
    b = realistic
    rows, forged_ids = forge(b, list(b.ledger.raw_rows()))
    problems = _apply_and_verify(b, rows)
    assert {p.entry_id for p in problems} & forged_ids, problems
