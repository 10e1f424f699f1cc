"""Ledger fixtures: a database per test on each backend, and a realistic ledger built through
the workflow (keys, policy, assessments, decisions, sign-offs, override, actions, revocation)."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scalegate.ledger import keys, workflow
from scalegate.ledger.keys import SigningKey
from scalegate.ledger.records import Entry
from scalegate.ledger.store import Ledger, db_url

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres connect_timeout=5"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pg_unreachable() -> str | None:
    """Why the local PostgreSQL server cannot be used, or None when it can."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency of the ledger
        return f"psycopg is not installed: {exc}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} (user {PG_USER}) is unreachable: {exc}".strip()
    return None


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, uniquely named database for one test; dropped afterwards (connections forced out)."""
    import psycopg

    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    name = f"scalegate_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def backend_url(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield db_url(str(folder / "ledger.db"))
    else:
        with pg_database() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty ledger: a SQLite file, or a fresh PostgreSQL database."""
    with backend_url(request.param, tmp_path) as url:
        yield url


# --------------------------------------------------------------------------- realistic ledger

N = 100
LOW = 20  # Wilson 95% [0.133, 0.289]: below every threshold and alert of the reference policy
HIGH = 80  # [0.711, 0.867]: crosses `high` for cyber, so external deployment is blocked


def make_assessment(loaded, successes: dict[str, int] | None = None, protections: list[str] | None = None):  # type: ignore[no-untyped-def]
    """An Assessment as `run_assessment` would record it, from hand-made evidence."""
    from scalegate import __version__
    from scalegate.assessment import Assessment, ModelRef, PolicyRef
    from scalegate.evals.evidence import EvalEvidence
    from scalegate.evals.stats import estimate_proportion
    from scalegate.gates import decide
    from scalegate.plan import Checkpoint
    from scalegate.policy.base import EvidenceStatus
    from scalegate.scoring import build_scorecard

    policy = loaded.policy
    successes = successes or {}
    evidence = {
        eid: EvalEvidence(
            eval_id=eid,
            status=EvidenceStatus.ok,
            metrics={"accuracy": estimate_proportion(successes.get(eid, LOW), N)},
            n_planned=N,
            n_scored=N,
        )
        for eid in policy.evals
    }
    scorecard = build_scorecard(policy, evidence)
    protections = sorted(protections or [])
    decision = decide(policy, scorecard, set(protections))
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return Assessment(
        scalegate_version=__version__,
        started_at=now,
        completed_at=now,
        policy=PolicyRef(
            name=policy.policy.name, version=policy.policy.version, sha256=loaded.sha256, source=loaded.source
        ),
        model=ModelRef(reference="hf/acme/frontier-7b", inspect_model="hf/acme/frontier-7b"),
        checkpoint=Checkpoint(model="acme/frontier-7b", effective_compute=1e24, label="step-1000"),
        sample_limit=None,
        protections_in_place=protections,
        evidence=evidence,
        scorecard=scorecard,
        decision=decision,
        output_dir="/srv/assessments/frontier-7b/step-1000",
    )


@dataclass
class Built:
    """A ledger built through the workflow, with every key that signed it."""

    url: str
    ledger: Ledger
    folder: Path
    keys: dict[str, SigningKey]  # operator, rso, ceo, board, deputy (revoked), outsider (never registered)
    loaded: object
    ids: dict[str, str] = field(default_factory=dict)  # names for the interesting entries

    @property
    def keys_by_id(self) -> dict[str, SigningKey]:
        return {k.key_id: k for k in self.keys.values()}

    def entries(self) -> list[Entry]:
        return self.ledger.entries()

    def seq_of(self, name: str) -> int:
        return self.ledger.get(self.ids[name]).seq


def build_realistic(url: str, folder: Path) -> Built:
    """About twenty entries of every kind the workflow writes, in a realistic order:

    1 key_registered operator (admin, operator)   2-5 key_registered rso, ceo, board, deputy (rso)
    6 policy_adopted   7 assessment   8 decision D1 (nothing crossed: external_deployment and
    open_weights need sign-off)   9 signoff rso   10 signoff deputy on open_weights
    11 signoff_refused board on open_weights   12 signoff ceo   13 action_taken external_deployment
    14 action_taken continue_training   15 key_revoked deputy   16 override open_weights (board)
    17 action_taken open_weights   18 assessment   19 decision D2 (cyber high: external blocked)
    20 signoff_refused ceo on D2   21 noncompliance_report   22 key_registered auditor (role auditor)
    23 audit_statement   24 key_revoked auditor (by itself)
    """
    from scalegate.policy.loader import load_policy

    folder.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(url)
    op = workflow.operator_key(ledger, folder / "operator.key")
    ks: dict[str, SigningKey] = {"operator": op}
    for name, roles in (("rso", ["rso"]), ("ceo", ["ceo"]), ("board", ["board"]), ("deputy", ["rso"])):
        ks[name] = keys.generate()
        keys.save(ks[name], folder / f"{name}.key")
        workflow.register(ledger, ks[name], roles, holder=f"{name} holder", admin=op)
    ks["outsider"] = keys.generate()
    loaded = load_policy("reference")
    b = Built(url=url, ledger=ledger, folder=folder, keys=ks, loaded=loaded)

    a1, d1 = workflow.record_assessment(ledger, loaded, make_assessment(loaded), op)
    statuses = {k: v["status"] for k, v in d1.payload["decision"]["actions"].items()}
    assert statuses["external_deployment"] == "needs_signoff", statuses
    assert statuses["open_weights"] == "needs_signoff", statuses
    assert statuses["continue_training"] == "allowed", statuses
    b.ids.update(assessment1=a1.entry_id, decision1=d1.entry_id)
    D1 = d1.entry_id
    b.ids["signoff_rso"] = workflow.signoff(ledger, D1, "external_deployment", "rso", ks["rso"]).entry_id
    b.ids["signoff_deputy"] = workflow.signoff(ledger, D1, "open_weights", "rso", ks["deputy"]).entry_id
    b.ids["refused_board"] = workflow.signoff(
        ledger, D1, "open_weights", "board", ks["board"], comment="not yet", refuse=True
    ).entry_id
    b.ids["signoff_ceo"] = workflow.signoff(
        ledger, D1, "external_deployment", "ceo", ks["ceo"], comment="approved for launch"
    ).entry_id
    b.ids["action_external"] = workflow.record_action(ledger, D1, "external_deployment", op).entry_id
    b.ids["action_training"] = workflow.record_action(ledger, D1, "continue_training", op).entry_id
    b.ids["revoke_deputy"] = workflow.revoke(ledger, ks["deputy"].key_id, "left the company", op).entry_id
    b.ids["override"] = workflow.override(
        ledger, D1, "open_weights", "research release approved by the board", [(ks["board"], "board")]
    ).entry_id
    b.ids["action_open_weights"] = workflow.record_action(ledger, D1, "open_weights", op).entry_id
    a2, d2 = workflow.record_assessment(
        ledger, loaded, make_assessment(loaded, {"cyber_knowledge": HIGH}, ["response_plan"]), op
    )
    assert d2.payload["decision"]["actions"]["external_deployment"]["status"] == "blocked"
    b.ids.update(assessment2=a2.entry_id, decision2=d2.entry_id)
    b.ids["refused_ceo_d2"] = workflow.signoff(
        ledger, d2.entry_id, "external_deployment", "ceo", ks["ceo"], refuse=True
    ).entry_id
    b.ids["noncompliance"] = workflow.report_noncompliance(
        ledger, "evals were run on the wrong checkpoint", op, reporter=None
    ).entry_id
    ks["auditor"] = keys.generate()
    b.ids["register_auditor"] = workflow.register(
        ledger, ks["auditor"], ["auditor"], holder="external auditor", admin=op
    ).entry_id
    b.ids["audit_statement"] = workflow.audit_statement(
        ledger, "sign-offs precede actions", "governance", ks["auditor"]
    ).entry_id
    b.ids["revoke_auditor"] = workflow.revoke(
        ledger, ks["auditor"].key_id, "engagement ended", ks["auditor"]
    ).entry_id
    return b


@pytest.fixture
def built(backend: str, tmp_path: Path) -> Iterator[Built]:
    b = build_realistic(backend, tmp_path / "keys")
    try:
        yield b
    finally:
        b.ledger.close()
