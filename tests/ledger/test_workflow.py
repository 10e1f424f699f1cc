"""Sign-off rules as the workflow enforces them, and as verify checks them afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalegate.errors import InputError
from scalegate.ledger import keys, workflow
from scalegate.ledger.store import Ledger
from scalegate.ledger.verify import verify_entries
from tests.ledger.conftest import Built, make_assessment

EXT = "external_deployment"


def _unchanged(b: Built):  # type: ignore[no-untyped-def]
    """Context: the call must be refused with InputError and append nothing."""

    class _Ctx:
        def __enter__(self) -> None:
            self.head = b.ledger.head()

        def __exit__(self, *exc: object) -> None:
            assert b.ledger.head() == self.head, "a refused call appended to the ledger"

    return _Ctx()


def _fresh_decision(b: Built, model: str | None = None) -> str:
    """A new decision with nothing signed yet (external deployment needs rso and ceo); for
    another model than the realistic ledger's when `model` is given (a newer decision for the
    same model supersedes the older one)."""
    assessment = make_assessment(b.loaded)
    if model is not None:
        assessment = assessment.model_copy(
            update={"model": assessment.model.model_copy(update={"reference": model, "inspect_model": model})}
        )
    _, d = workflow.record_assessment(b.ledger, b.loaded, assessment, b.keys["operator"])
    assert d.payload["decision"]["actions"][EXT]["status"] == "needs_signoff"
    assert d.payload["decision"]["actions"][EXT]["signoff_roles"] == ["rso", "ceo"]
    return d.entry_id


def test_signoff_by_a_key_lacking_the_role_is_refused(built: Built) -> None:
    b, k = built, built.keys
    d = _fresh_decision(b)
    with _unchanged(b), pytest.raises(InputError, match="does not hold role 'ceo'"):
        workflow.signoff(b.ledger, d, EXT, "ceo", k["rso"])
    with _unchanged(b), pytest.raises(InputError, match="does not hold role 'rso'"):
        workflow.signoff(b.ledger, d, EXT, "rso", k["operator"])
    with _unchanged(b), pytest.raises(InputError, match="not registered"):
        workflow.signoff(b.ledger, d, EXT, "ceo", k["outsider"])
    with _unchanged(b), pytest.raises(InputError, match="no action 'launch'"):
        workflow.signoff(b.ledger, d, "launch", "ceo", k["ceo"])
    with _unchanged(b), pytest.raises(InputError, match="not a decision"):
        workflow.signoff(b.ledger, b.ids["assessment1"], EXT, "ceo", k["ceo"])
    # the same attempt written straight into the ledger is flagged by verify
    forged = b.ledger.append(
        "signoff", {"decision_entry": d, "action": EXT, "role": "ceo", "comment": ""}, [(k["rso"], "ceo")]
    )
    problems = verify_entries(list(b.ledger.raw_rows()))
    assert problems and {p.entry_id for p in problems} == {forged.entry_id}
    assert any("does not hold role 'ceo'" in p.message for p in problems)


def test_action_is_refused_until_every_required_signoff_then_verifies_clean(built: Built) -> None:
    b, k = built, built.keys
    d = _fresh_decision(b)
    with _unchanged(b), pytest.raises(InputError, match=r"sign-off missing from \['ceo', 'rso'\]"):
        workflow.record_action(b.ledger, d, EXT, k["operator"])
    workflow.signoff(b.ledger, d, EXT, "rso", k["rso"])
    workflow.signoff(b.ledger, d, EXT, "ceo", k["ceo"], refuse=True)  # a refusal is not a sign-off
    assert workflow.action_status(b.ledger, d)[EXT]["refused"] == ["ceo"]
    with _unchanged(b), pytest.raises(InputError, match=r"sign-off missing from \['ceo'\]"):
        workflow.record_action(b.ledger, d, EXT, k["operator"])
    # a sign-off on another decision (of another model) does not count for this one
    other = _fresh_decision(b, model="hf/acme/other-1b")
    workflow.signoff(b.ledger, other, EXT, "ceo", k["ceo"])
    with _unchanged(b), pytest.raises(InputError, match=r"sign-off missing from \['ceo'\]"):
        workflow.record_action(b.ledger, d, EXT, k["operator"])
    workflow.signoff(b.ledger, d, EXT, "ceo", k["ceo"], comment="approved after review")
    assert workflow.action_status(b.ledger, d)[EXT]["effective"] == "allowed"
    with _unchanged(b), pytest.raises(InputError, match="does not hold role 'operator'"):
        workflow.record_action(b.ledger, d, EXT, k["ceo"])  # only an operator records actions
    action = workflow.record_action(b.ledger, d, EXT, k["operator"])
    assert action.payload == {
        "decision_entry": d,
        "action": EXT,
        "recorded_by": action.payload["recorded_by"],
    }
    assert verify_entries(list(b.ledger.raw_rows())) == []
    # the action appended straight into the ledger without sign-offs is flagged by verify
    forged = b.ledger.append(
        "action_taken", {"decision_entry": other, "action": EXT}, [(k["operator"], "operator")]
    )
    problems = verify_entries(list(b.ledger.raw_rows()))
    assert [(p.entry_id, "before sign-off by ['rso']" in p.message) for p in problems] == [
        (forged.entry_id, True)
    ]


def test_revoked_key_cannot_sign_and_its_forged_entries_are_flagged(built: Built) -> None:
    b, k = built, built.keys
    d = _fresh_decision(b)
    deputy = k["deputy"]  # an rso key, revoked by the admin in the realistic ledger
    assert workflow.registry(b.ledger)[deputy.key_id]["revoked"]
    with _unchanged(b), pytest.raises(InputError, match="has been revoked"):
        workflow.signoff(b.ledger, d, EXT, "rso", deputy)
    with _unchanged(b), pytest.raises(InputError, match="has been revoked"):
        workflow.signoff(b.ledger, d, EXT, "rso", deputy, refuse=True)
    # a revoked admin can neither register nor revoke; a revoked operator cannot record actions
    workflow.revoke(b.ledger, k["operator"].key_id, "rotated", k["operator"])
    with _unchanged(b), pytest.raises(InputError, match="has been revoked"):
        workflow.register(b.ledger, keys.generate(), ["rso"], "x", admin=k["operator"])
    with _unchanged(b), pytest.raises(InputError, match="has been revoked"):
        workflow.revoke(b.ledger, k["ceo"].key_id, "x", k["operator"])
    with _unchanged(b), pytest.raises(InputError, match="has been revoked"):
        workflow.record_action(b.ledger, d, "continue_training", k["operator"])
    with _unchanged(b), pytest.raises(InputError, match="has been revoked"):
        workflow.operator_key(b.ledger, b.folder / "operator.key")
    # the deputy's sign-off made before its revocation stays valid (it was valid when made)
    assert verify_entries(list(b.ledger.raw_rows())) == []
    # a sign-off by the revoked key, written straight into the ledger, is flagged
    forged = b.ledger.append(
        "signoff", {"decision_entry": d, "action": EXT, "role": "rso", "comment": ""}, [(deputy, "rso")]
    )
    problems = verify_entries(list(b.ledger.raw_rows()))
    assert problems and {p.entry_id for p in problems} == {forged.entry_id}
    assert any("revoked before this entry" in p.message for p in problems)


def test_override_needs_the_policy_roles_and_a_justification(built: Built) -> None:
    b, k = built, built.keys
    d2 = b.ids["decision2"]  # cyber crossed `high`: external deployment is blocked
    assert workflow.action_status(b.ledger, d2)[EXT]["effective"] == "blocked"
    with _unchanged(b), pytest.raises(InputError, match=r"requires roles \['board'\].*missing \['board'\]"):
        workflow.override(b.ledger, d2, EXT, "market pressure", [(k["ceo"], "ceo"), (k["rso"], "rso")])
    with _unchanged(b), pytest.raises(InputError, match="needs a justification"):
        workflow.override(b.ledger, d2, EXT, "   ", [(k["board"], "board")])
    with _unchanged(b), pytest.raises(InputError, match="does not hold role 'board'"):
        workflow.override(b.ledger, d2, EXT, "market pressure", [(k["ceo"], "board")])
    with _unchanged(b), pytest.raises(InputError, match=r"external_deployment is blocked"):
        workflow.record_action(b.ledger, d2, EXT, k["operator"])
    workflow.override(b.ledger, d2, EXT, "board accepts the risk: limited pilot", [(k["board"], "board")])
    assert workflow.action_status(b.ledger, d2)[EXT]["effective"] == "allowed (override)"
    workflow.record_action(b.ledger, d2, EXT, k["operator"])
    assert verify_entries(list(b.ledger.raw_rows())) == []
    # overrides written straight into the ledger without the board, or without a reason
    no_board = b.ledger.append(
        "override",
        {"decision_entry": d2, "action": "open_weights", "justification": "x", "required_roles": []},
        [(k["ceo"], "ceo")],
    )
    no_reason = b.ledger.append(
        "override",
        {"decision_entry": d2, "action": "open_weights", "justification": "", "required_roles": ["board"]},
        [(k["board"], "board")],
    )
    problems = verify_entries(list(b.ledger.raw_rows()))
    flagged = {p.entry_id: p.message for p in problems}
    assert set(flagged) == {no_board.entry_id, no_reason.entry_id}, problems
    assert any("fewer roles than the policy requires" in p.message for p in problems)
    assert any("needs a justification" in p.message for p in problems)


def test_signoff_of_a_blocked_action_is_refused(built: Built) -> None:
    b, k = built, built.keys
    d2 = b.ids["decision2"]
    for action in (EXT, "open_weights"):
        with _unchanged(b), pytest.raises(InputError, match="blocked by the decision itself"):
            workflow.signoff(b.ledger, d2, action, "rso", k["rso"])
    refusal = workflow.signoff(b.ledger, d2, EXT, "rso", k["rso"], refuse=True)  # refusing is fine
    assert refusal.kind == "signoff_refused"
    assert verify_entries(list(b.ledger.raw_rows())) == []
    # sign-offs written straight into the ledger still do not unblock the action
    for role in ("rso", "ceo"):
        b.ledger.append(
            "signoff", {"decision_entry": d2, "action": EXT, "role": role, "comment": ""}, [(k[role], role)]
        )
    forged = b.ledger.append(
        "action_taken", {"decision_entry": d2, "action": EXT}, [(k["operator"], "operator")]
    )
    problems = verify_entries(list(b.ledger.raw_rows()))
    assert [(p.entry_id, "no override exists" in p.message) for p in problems] == [(forged.entry_id, True)]


def test_registration_after_the_first_key_needs_an_admin(built: Built, tmp_path: Path) -> None:
    b, k = built, built.keys
    new = keys.generate()
    with _unchanged(b), pytest.raises(InputError, match="needs an admin key"):
        workflow.register(b.ledger, new, ["rso"], "new rso", admin=None)
    with _unchanged(b), pytest.raises(InputError, match="does not hold role 'admin'"):
        workflow.register(b.ledger, new, ["rso"], "new rso", admin=k["rso"])
    with _unchanged(b), pytest.raises(InputError, match="not registered"):
        workflow.register(b.ledger, new, ["rso"], "new rso", admin=k["outsider"])
    with _unchanged(b), pytest.raises(InputError, match="already has entries"):
        workflow.operator_key(b.ledger, tmp_path / "nobody.key")  # no bootstrap on a used ledger
    assert not (tmp_path / "nobody.key").exists()
    entry = workflow.register(b.ledger, new, ["rso", "rso"], "new rso", admin=k["operator"])
    assert entry.payload["roles"] == ["rso"]
    assert {s.role for s in entry.signatures} == {"self", "admin"}
    workflow.signoff(b.ledger, _fresh_decision(b), EXT, "rso", new)  # the new key can sign at once
    assert verify_entries(list(b.ledger.raw_rows())) == []
    # the same registration written straight into the ledger, self-signed only, is flagged
    rogue = keys.generate()
    forged = b.ledger.append(
        "key_registered",
        {"key_id": rogue.key_id, "public_key": rogue.public_hex, "roles": ["admin"], "holder": "rogue"},
        [(rogue, "self")],
    )
    problems = verify_entries(list(b.ledger.raw_rows()))
    assert [(p.entry_id, "must be signed by an admin" in p.message) for p in problems] == [
        (forged.entry_id, True)
    ]


def test_first_key_bootstraps_an_empty_ledger(backend: str, tmp_path: Path) -> None:
    ledger = Ledger(backend)
    path = tmp_path / "keys" / "operator.key"
    key = workflow.operator_key(ledger, path)
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert path.with_suffix(".key.pub").read_text().strip() == key.public_hex
    reg = workflow.registry(ledger)
    assert reg[key.key_id]["roles"] == ["admin", "operator"]
    assert workflow.operator_key(ledger, path).key_id == key.key_id  # loaded, not re-created
    assert ledger.head()[0] == 1
    assert verify_entries(list(ledger.raw_rows())) == []
    ledger.close()


# ----------------------------------------------------------------------------- known gaps


def _reregister(b: Built) -> None:
    workflow.register(b.ledger, b.keys["rso"], ["rso", "ceo"], "rso again", admin=b.keys["operator"])


def _revoked_revokes_itself(b: Built) -> None:
    workflow.revoke(b.ledger, b.keys["deputy"].key_id, "again", b.keys["deputy"])


def _assessment_by_rso_key(b: Built) -> None:
    workflow.record_assessment(b.ledger, b.loaded, make_assessment(b.loaded), b.keys["rso"])


def _assessment_by_revoked_key(b: Built) -> None:
    workflow.record_assessment(b.ledger, b.loaded, make_assessment(b.loaded), b.keys["deputy"])


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(
            _reregister,
            id="register-a-registered-key",
        ),
        pytest.param(
            _revoked_revokes_itself,
            id="revoked-key-revokes-itself",
        ),
        pytest.param(
            _assessment_by_rso_key,
            id="assessment-by-key-without-operator",
        ),
        pytest.param(
            _assessment_by_revoked_key,
            id="assessment-by-revoked-key",
        ),
    ],
)
def test_workflow_refuses_what_verify_would_flag(built: Built, attempt) -> None:  # type: ignore[no-untyped-def]
    """workflow.py: 'the checks here refuse what verify would flag, so an honest user never
    writes a bad entry'. Each attempt must be refused, or else leave a ledger that verifies."""
    b = built
    try:
        attempt(b)
    except InputError:
        return
    assert verify_entries(list(b.ledger.raw_rows())) == []
