"""A new policy version replaces the one in force only through its change process."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scalegate.errors import InputError
from scalegate.ledger import keys, workflow
from scalegate.ledger.store import Ledger, db_url
from scalegate.ledger.verify import verify_entries
from scalegate.policy import load_policy, parse_policy


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = Clock()
    ledger = Ledger(db_url(str(tmp_path / "l.db")), clock=clock)
    op = workflow.operator_key(ledger, tmp_path / "op.key")
    board = keys.generate()
    workflow.register(ledger, board, ["board"], "Board", admin=op)
    current = load_policy("reference")
    ledger.append(
        "policy_adopted",
        {
            "name": "r",
            "version": "1",
            "sha256": current.sha256,
            "text": current.text,
            "diff": [],
            "proposal_entry": None,
        },
        [(op, "operator")],
    )
    new = parse_policy(
        current.text.replace("version: 1.0.0", "version: 1.1.0").replace(
            "at_least: 0.70}", "at_least: 0.80}", 1
        )
    )
    return ledger, clock, op, board, new


def test_adoption_needs_board_approval_and_30_days_notice(setup) -> None:  # type: ignore[no-untyped-def]
    ledger, clock, op, board, new = setup
    proposal = workflow.propose_policy(ledger, new, op)
    assert "changed domains.cyber.thresholds.high.when.at_least: 0.7 -> 0.8" in proposal.payload["diff"]
    assert proposal.payload["approve_roles"] == ["board"] and proposal.payload["notice_days"] == 30
    with pytest.raises(InputError, match="needs approval by \\['board'\\]"):
        workflow.adopt_policy(ledger, proposal.entry_id, op)
    workflow.approve_policy(ledger, proposal.entry_id, "board", board)
    clock.now += dt.timedelta(days=29)
    with pytest.raises(InputError, match="notice period"):
        workflow.adopt_policy(ledger, proposal.entry_id, op)
    clock.now += dt.timedelta(days=1, seconds=1)
    adopted = workflow.adopt_policy(ledger, proposal.entry_id, op)
    assert adopted.payload["sha256"] == new.sha256 and adopted.payload["diff"] == proposal.payload["diff"]
    assert workflow.policy_in_force(ledger).payload["sha256"] == new.sha256  # type: ignore[union-attr]
    assert verify_entries(ledger.raw_rows()) == []
    with pytest.raises(InputError, match="not the policy in force"):
        workflow.check_policy(ledger, load_policy("reference"))


def test_verify_flags_adoption_that_skipped_the_process(setup) -> None:  # type: ignore[no-untyped-def]
    ledger, _clock, op, _board, new = setup
    proposal = workflow.propose_policy(ledger, new, op)
    # a writer with the operator key adopts at once, bypassing the workflow's checks
    ledger.append(
        "policy_adopted",
        {
            "name": "r",
            "version": "1.1.0",
            "sha256": new.sha256,
            "text": new.text,
            "diff": [],
            "proposal_entry": proposal.entry_id,
        },
        [(op, "operator")],
    )
    messages = [p.message for p in verify_entries(ledger.raw_rows())]
    assert any("without approval by ['board']" in m for m in messages)
    assert any("30-day notice period" in m for m in messages)
