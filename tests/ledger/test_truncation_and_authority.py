"""The record holds under truncation, rollback, superseded decisions and policies without an
override rule, on SQLite and PostgreSQL (the `built` fixture runs each test on both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalegate.errors import InputError
from scalegate.ledger import workflow
from scalegate.ledger.store import entries_t, head_t
from scalegate.ledger.verify import verify_entries
from scalegate.policy.loader import parse_policy
from tests.ledger.conftest import HIGH, Built, make_assessment


def _delete_tail(b: Built, keep: int) -> None:
    with b.ledger.engine.begin() as conn:
        conn.execute(entries_t.delete().where(entries_t.c.seq > keep))


def _set_head(b: Built, seq: int, h: str) -> None:
    with b.ledger.engine.begin() as conn:
        conn.execute(head_t.update().where(head_t.c.id == 1).values(seq=seq, entry_hash=h))


@pytest.mark.parametrize("cut", [1, 3, "all"])
def test_a_deleted_tail_is_named_by_the_head_row_without_an_anchor(built: Built, cut: int | str) -> None:
    b = built
    n = len(b.entries())
    assert verify_entries(list(b.ledger.raw_rows()), head=b.ledger.head()) == []
    keep = 0 if cut == "all" else n - int(cut)
    _delete_tail(b, keep)
    problems = verify_entries(list(b.ledger.raw_rows()), head=b.ledger.head())
    assert problems, "a truncated ledger must not verify"
    want = f"entry {n} is deleted" if keep == n - 1 else f"entries {keep + 1}-{n} are deleted"
    assert any(want in p.message for p in problems), [p.message for p in problems]


def test_a_rewritten_head_row_is_caught_and_a_rollback_needs_a_published_anchor(built: Built) -> None:
    b = built
    published = b.ledger.head()  # what the lab published (e.g. in its transparency report)
    rows = list(b.ledger.raw_rows())
    # the head row edited alone
    _set_head(b, published[0], "0" * 64)
    assert any("does not match the chain" in p.message for p in verify_entries(rows, head=b.ledger.head()))
    # a consistent rollback: tail deleted and the head row set to the new end
    keep = published[0] - 3
    _delete_tail(b, keep)
    last = list(b.ledger.raw_rows())[-1]
    _set_head(b, keep, last["entry_hash"])
    rolled = list(b.ledger.raw_rows())
    assert verify_entries(rolled, head=b.ledger.head()) == []  # undetectable without an anchor
    problems = verify_entries(rolled, anchor=published, head=b.ledger.head())
    assert any(f"entries {keep + 1}-{published[0]} are missing" in p.message for p in problems)


def test_only_the_newest_decision_for_a_model_authorises_an_action(built: Built) -> None:
    b, k = built, built.keys
    _, old = workflow.record_assessment(b.ledger, b.loaded, make_assessment(b.loaded), k["operator"])
    # continue_training is allowed by the old decision ...
    assert old.payload["decision"]["actions"]["continue_training"]["status"] == "allowed"
    # ... until a newer assessment of the same model blocks more
    newer = make_assessment(b.loaded, {"cyber_knowledge": HIGH}, ["response_plan"])
    _, new = workflow.record_assessment(b.ledger, b.loaded, newer, k["operator"])
    before = len(b.entries())
    with pytest.raises(InputError, match="superseded by decision"):
        workflow.record_action(b.ledger, old.entry_id, "continue_training", k["operator"])
    assert len(b.entries()) == before
    # written straight into the ledger, verify names it
    forged = b.ledger.append(
        "action_taken",
        {"decision_entry": old.entry_id, "action": "continue_training"},
        [(k["operator"], "operator")],
    )
    problems = verify_entries(list(b.ledger.raw_rows()))
    assert any(p.entry_id == forged.entry_id and "superseded" in p.message for p in problems)
    # the newest decision governs: it blocks training, and says so (not "superseded")
    assert new.payload["decision"]["actions"]["continue_training"]["status"] == "blocked"
    with pytest.raises(InputError, match="continue_training is blocked under decision"):
        workflow.record_action(b.ledger, new.entry_id, "continue_training", k["operator"])


def test_a_policy_without_an_override_rule_allows_no_override(backend: str, tmp_path: Path) -> None:
    from scalegate.ledger import keys
    from scalegate.ledger.store import Ledger
    from scalegate.policy.loader import load_policy

    text = load_policy("reference").text
    start = text.index("    override:")
    end = text.index("\n", start) + 1
    stripped = parse_policy(text[:start] + text[end:], "no-override.yaml")
    assert stripped.policy.governance is not None and "override" not in stripped.policy.governance.signoff
    ledger = Ledger(backend)
    try:
        op = workflow.operator_key(ledger, tmp_path / "op.key")
        board = keys.generate()
        workflow.register(ledger, board, ["board"], holder="board", admin=op)
        blocked = make_assessment(stripped, {"cyber_knowledge": HIGH})
        _, d = workflow.record_assessment(ledger, stripped, blocked, op)
        assert d.payload["decision"]["actions"]["external_deployment"]["status"] == "blocked"
        with pytest.raises(InputError, match="names no override roles"):
            workflow.override(ledger, d.entry_id, "external_deployment", "ship it", [(board, "board")])
        forged = ledger.append(
            "override",
            {
                "decision_entry": d.entry_id,
                "action": "external_deployment",
                "justification": "x",
                "required_roles": [],
            },
            [(board, "board")],
        )
        problems = verify_entries(list(ledger.raw_rows()))
        assert any(p.entry_id == forged.entry_id and "no override roles" in p.message for p in problems)
    finally:
        ledger.close()


def test_the_cli_verifies_the_head_row_of_a_live_ledger(tmp_path: Path) -> None:
    from scalegate.ledger.store import db_url
    from tests.conftest import run_cli
    from tests.ledger.conftest import build_realistic

    db = tmp_path / "ledger.db"
    b = build_realistic(db_url(str(db)), tmp_path / "keys")
    n = len(b.entries())
    _delete_tail(b, n - 2)
    b.ledger.close()
    res = run_cli("ledger", "verify", "--db", str(db))
    assert res.returncode == 4 and f"entries {n - 1}-{n} are deleted" in res.stderr, res.stderr


def test_a_self_registered_key_is_not_acted_on_and_what_it_signs_is_named(built: Built) -> None:
    from scalegate.ledger import keys

    b = built
    rogue = keys.generate()
    # written straight into the database: registered by itself only, claiming the board role
    reg = b.ledger.append(
        "key_registered",
        {"key_id": rogue.key_id, "public_key": rogue.public_hex, "roles": ["board"], "holder": "x"},
        [(rogue, "self")],
    )
    d2 = b.ids["decision2"]
    with pytest.raises(InputError, match="not registered"):
        workflow.override(b.ledger, d2, "external_deployment", "rogue", [(rogue, "board")])
    forged = b.ledger.append(
        "override",
        {
            "decision_entry": d2,
            "action": "external_deployment",
            "justification": "rogue",
            "required_roles": ["board"],
        },
        [(rogue, "board")],
    )
    action = b.ledger.append(
        "action_taken",
        {"decision_entry": d2, "action": "external_deployment"},
        [(b.keys["operator"], "operator")],
    )
    named = {p.entry_id for p in verify_entries(list(b.ledger.raw_rows()))}
    assert {reg.entry_id, forged.entry_id, action.entry_id} <= named


def test_a_signed_checkpoint_file_detects_a_later_rollback(tmp_path: Path) -> None:
    """`ledger checkpoint` signs the head into a file to publish; `verify --anchor FILE` checks
    its signature against the chain's keys and that the ledger still extends it."""
    import json

    from scalegate.ledger.store import db_url
    from tests.conftest import run_cli
    from tests.ledger.conftest import build_realistic

    db = tmp_path / "ledger.db"
    b = build_realistic(db_url(str(db)), tmp_path / "keys")
    op_key = tmp_path / "keys" / "operator.key"
    res = run_cli(
        "ledger", "checkpoint", "--out", str(tmp_path / "cp.json"), "--db", str(db), "--key", str(op_key)
    )
    assert res.returncode == 0, res.stderr
    ok = run_cli("ledger", "verify", "--db", str(db), "--anchor", str(tmp_path / "cp.json"))
    assert ok.returncode == 0, ok.stderr
    n = len(b.entries())
    # roll back three entries consistently (head row too): only the published checkpoint shows it
    _delete_tail(b, n - 3)
    _set_head(b, n - 3, b.entries()[-1].entry_hash)
    b.ledger.close()
    assert run_cli("ledger", "verify", "--db", str(db)).returncode == 0
    bad = run_cli("ledger", "verify", "--db", str(db), "--anchor", str(tmp_path / "cp.json"))
    assert bad.returncode == 4 and f"entries {n - 2}-{n} are missing" in bad.stderr, bad.stderr
    # a forged checkpoint (edited head) fails its signature
    data = json.loads((tmp_path / "cp.json").read_text())
    data["seq"] = 1
    (tmp_path / "forged.json").write_text(json.dumps(data))
    forged = run_cli("ledger", "verify", "--db", str(db), "--anchor", str(tmp_path / "forged.json"))
    assert forged.returncode == 4 and "does not verify" in forged.stderr, forged.stderr


def test_the_workflow_acts_only_on_what_verify_accepts(built: Built) -> None:
    """One state machine: a forged override counts for nothing in `action_status` and
    `record-action` (as in `verify`), and a decision whose recorded result differs from the one
    recomputed from its inputs authorises nothing, although its signature is the operator's."""
    from scalegate.ledger import keys

    b, k = built, built.keys
    newer = make_assessment(b.loaded, {"cyber_knowledge": HIGH}, ["response_plan"])
    a_entry, honest = workflow.record_assessment(b.ledger, b.loaded, newer, k["operator"])
    assert honest.payload["decision"]["actions"]["continue_training"]["status"] == "blocked"
    rogue = keys.generate()
    b.ledger.append(
        "key_registered",
        {"key_id": rogue.key_id, "public_key": rogue.public_hex, "roles": ["board"], "holder": "x"},
        [(rogue, "self")],
    )
    b.ledger.append(
        "override",
        {
            "decision_entry": honest.entry_id,
            "action": "continue_training",
            "justification": "rogue",
            "required_roles": ["board"],
        },
        [(rogue, "board")],
    )
    standing = workflow.action_status(b.ledger, honest.entry_id)["continue_training"]
    assert not standing["overridden"] and standing["effective"] == "blocked"
    with pytest.raises(InputError, match="continue_training is blocked"):
        workflow.record_action(b.ledger, honest.entry_id, "continue_training", k["operator"])

    # the operator's own key signs a decision that allows what the evidence blocks
    allowed = {
        name: {**a, "status": "allowed", "signoff_roles": []}
        for name, a in honest.payload["decision"]["actions"].items()
    }
    payload = {k: v for k, v in honest.payload.items() if k != "recorded_by"}  # set by the ledger
    forged = b.ledger.append(
        "decision",
        {**payload, "decision": {**honest.payload["decision"], "actions": allowed}},
        [(k["operator"], "operator")],
    )
    assert forged.payload["assessment_entry"] == a_entry.entry_id
    before = b.ledger.head()
    for attempt in (
        lambda: workflow.record_action(b.ledger, forged.entry_id, "continue_training", k["operator"]),
        lambda: workflow.signoff(b.ledger, forged.entry_id, "external_deployment", "rso", k["rso"]),
    ):
        with pytest.raises(InputError, match="does not verify"):
            attempt()
    assert b.ledger.head() == before
    problems = verify_entries(list(b.ledger.raw_rows()))
    assert any(p.entry_id == forged.entry_id and "recomputed" in p.message for p in problems)
