"""`scalegate serve` on a real ledger: what the pages say, who may see them, and what they
send back with every reply."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from scalegate.errors import InputError
from scalegate.ledger.store import Ledger, db_url
from scalegate.ledger.workflow import action_status
from scalegate.serve.access import Access, create_token, for_bind, load_tokens
from scalegate.serve.app import SECURITY_HEADERS, create_app
from tests.report.conftest import MARKERS, Recorded


def _client(db: Path, access: Access | None = None) -> TestClient:
    return TestClient(create_app(Ledger(db_url(str(db)), read_only=True), access or Access({})))


def test_overview_shows_what_ledger_status_says(recorded: Recorded) -> None:
    page = _client(recorded.db).get("/")
    assert page.status_code == 200
    for header, value in SECURITY_HEADERS.items():
        assert page.headers[header] == value
    ledger = Ledger(db_url(str(recorded.db)), read_only=True)
    expected = {a: s["effective"] for a, s in action_status(ledger, recorded.decision).items()}
    table = page.text.split(f'data-decision="{recorded.decision}"', 1)[1].split("</table>", 1)[0]
    for action, effective in expected.items():
        row = table.split(f'data-action="{action}"', 1)[1].split("</tr>", 1)[0]
        assert f">{effective}<" in row, (action, effective, row)
    assert "ledger verifies" in page.text
    assert "OVERRIDE entry" in page.text  # an override is flagged on the overview


def test_read_only_and_every_page_renders(recorded: Recorded) -> None:
    client = _client(recorded.db)
    for path in ("/", "/ledger", "/ledger?kind=decision&page=2", "/ledger?page=x", "/api/head"):
        assert client.get(path).status_code == 200, path
    for kind in ("capability", "safeguards", "model-report", "transparency", "history"):
        res = client.get(f"/decision/{recorded.decision[:12]}/{kind}")
        assert res.status_code == 200, (kind, res.text[:500])
    assert client.get("/decision/ffffffff").status_code == 404
    assert client.get("/decision/x/nonsense").status_code == 404
    assert client.get("/static/../../etc/passwd").status_code == 404
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/").status_code == 405


def test_a_tampered_ledger_names_the_entry_and_refuses_reports(recorded: Recorded, ledger_copy: Path) -> None:
    with sqlite3.connect(ledger_copy) as conn:
        seq, payload = conn.execute(
            "SELECT seq, payload FROM ledger_entries WHERE kind = 'decision' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        edited = json.loads(payload)
        for a in edited["decision"]["actions"].values():
            a["status"] = "allowed"
        conn.execute("UPDATE ledger_entries SET payload = ? WHERE seq = ?", (json.dumps(edited), seq))
    client = _client(ledger_copy)
    page = client.get("/")
    assert "LEDGER DOES NOT VERIFY" in page.text and f'data-seq="{seq}"' in page.text
    assert "does not verify" in client.get(f"/decision/{recorded.decision}").text


def test_tokens_guard_every_page(recorded: Recorded, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    with pytest.raises(InputError, match="create one"):
        for_bind("0.0.0.0", tokens)  # reachable from elsewhere with no token: refused up front
    internal = create_token(tokens, "ops", "internal")
    public = create_token(tokens, "press", "public")
    assert internal not in tokens.read_text() and public not in tokens.read_text()  # digests only
    client = _client(recorded.db, for_bind("0.0.0.0", tokens))
    refused = client.get("/")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert refused.headers["X-Frame-Options"] == "DENY"
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {internal}"}).status_code == 200
    basic = base64.b64encode(f"anyone:{public}".encode()).decode()
    as_public = client.get("/", headers={"Authorization": f"Basic {basic}"})
    assert as_public.status_code == 200 and "viewing as <strong>public</strong>" in as_public.text
    assert set(load_tokens(tokens)) == {"ops", "press"}


def test_the_public_role_sees_no_private_marker(recorded: Recorded, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    public = create_token(tokens, "press", "public")
    internal = create_token(tokens, "ops", "internal")
    client = _client(recorded.db, for_bind("127.0.0.1", tokens))
    paths = ["/", "/ledger", "/ledger?kind=override", "/ledger?kind=noncompliance_report"]
    paths += [f"/decision/{recorded.decision}/{k}" for k in ("capability", "transparency", "model-report")]
    seen_internal = ""
    for path in paths:
        shown = client.get(path, headers={"Authorization": f"Bearer {public}"})
        assert shown.status_code == 200, path
        leaked = [m for m in MARKERS.values() if m in shown.text]
        assert not leaked, (path, leaked)
        seen_internal += client.get(path, headers={"Authorization": f"Bearer {internal}"}).text
    assert MARKERS["justification"] in seen_internal  # the markers are there to be withheld


def test_policy_page_and_ledger_filters(recorded: Recorded) -> None:
    client = _client(recorded.db)
    policy = client.get("/policy").text
    assert "Lint findings" in policy and "first policy adopted" in policy and "report policy" in policy
    rso = client.get("/ledger?role=rso").text
    rows = rso.count("<tr data-seq=")
    assert rows >= 1 and all("rso" in r.split("</tr>")[0] for r in rso.split("<tr data-seq=")[1:])
    assert client.get("/ledger?since=2999-01-01").text.count("<tr data-seq=") == 0
    every = client.get("/ledger?kind=assessment").text
    assert every.count("<tr data-seq=") == 2  # the two assessments the fixture recorded
    overview = client.get("/").text
    assert "Next assessment due" in overview


def test_pages_hold_under_odd_queries(recorded: Recorded) -> None:
    client = _client(recorded.db)
    for query in ("page=-5", "page=99999", "kind=<script>", "role=%00", "since=not-a-date", "until=&page=1"):
        res = client.get(f"/ledger?{query}")
        assert res.status_code == 200, query
        assert "<script>" not in res.text.replace('<script src="/static/live.js" defer></script>', "")


def test_the_ledger_filters_by_model(recorded: Recorded) -> None:
    client = _client(recorded.db)
    ledger = Ledger(db_url(str(recorded.db)), read_only=True)
    entries = list(ledger.iter_entries())
    decision = next(e for e in entries if e.entry_id == recorded.decision)
    assessment = next(e for e in entries if e.entry_id == decision.payload["assessment_entry"])
    model = assessment.payload["model"]["reference"]
    page = client.get("/ledger", params={"model": model})
    assert page.status_code == 200 and f'data-seq="{decision.seq}"' in page.text
    table = page.text.split('id="entries"', 1)[1]
    about = {e.seq for e in entries if e.kind in ("noncompliance_report", "key_registered", "policy_adopted")}
    assert about and not any(f'data-seq="{seq}"' in table for seq in about)  # not about a model
    none = client.get("/ledger", params={"model": "no/such-model"}).text.split('id="entries"', 1)[1]
    assert "data-seq=" not in none


def test_the_model_line_page(recorded: Recorded, tmp_path: Path) -> None:
    """Every decision on the line, newest first, the older one marked superseded (it authorises
    nothing), the newest as `ledger status` reads it, the history plot, and when it is next due."""
    client = _client(recorded.db)
    ledger = Ledger(db_url(str(recorded.db)), read_only=True)
    entries = list(ledger.iter_entries())
    decisions = [e for e in entries if e.kind == "decision"]
    assert len(decisions) == 2 and decisions[-1].entry_id == recorded.decision
    assessment = next(e for e in entries if e.entry_id == decisions[-1].payload["assessment_entry"])
    model = assessment.payload["model"]["reference"]
    assert 'href="/model?ref=' in client.get("/").text
    page = client.get("/model", params={"ref": model})
    assert page.status_code == 200, page.text[-500:]
    rows = page.text.split('id="decisions"', 1)[1].split("</table>", 1)[0].split("<tr data-decision=")[1:]
    assert [r.split(">", 1)[0].strip('"') for r in rows] == [recorded.decision, decisions[0].entry_id]
    newest, older = rows
    assert f"superseded by {recorded.decision[:12]}" in older and "superseded" not in newest
    assert 'data-status="external_deployment">superseded' in older
    for action, s in action_status(ledger, recorded.decision).items():
        assert f'data-status="{action}">{s["effective"]}<' in newest, (action, s)
    assert "<svg" in page.text.split('id="history"', 1)[1]  # the history report's plot, in place
    assert "Next assessment due" in page.text
    assert client.get("/model", params={"ref": model[:-2]}).status_code == 404  # exact, not a prefix
    assert client.get("/model", params={"ref": "<script>x</script>"}).status_code == 404
    tokens = tmp_path / "tokens.json"
    public = create_token(tokens, "press", "public")
    as_public = _client(recorded.db, for_bind("127.0.0.1", tokens))
    shown = as_public.get("/model", params={"ref": model}, headers={"Authorization": f"Bearer {public}"})
    assert shown.status_code == 200 and not [m for m in MARKERS.values() if m in shown.text]


def _copy_to(url: str, db: Path) -> None:
    """The recorded SQLite ledger's rows, byte for byte, in a fresh PostgreSQL ledger."""
    import sqlalchemy as sa

    from scalegate.ledger.store import entries_t, head_t

    source = sa.create_engine(db_url(str(db)))
    with source.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(entries_t).order_by(entries_t.c.seq))]
        seq, entry_hash = conn.execute(sa.select(head_t.c.seq, head_t.c.entry_hash)).one()
    source.dispose()
    target = Ledger(url)  # creates the schema
    with target.engine.begin() as conn:
        conn.execute(entries_t.insert(), rows)
        conn.execute(head_t.update().where(head_t.c.id == 1).values(seq=seq, entry_hash=entry_hash))
    target.close()


@pytest.mark.postgres
def test_serve_over_postgresql(recorded: Recorded) -> None:
    """The same pages over a PostgreSQL ledger: statuses as `ledger status` reads them there, and
    a row edited in the database named on the overview."""
    from tests.ledger.conftest import pg_database

    with pg_database() as url:
        _copy_to(url, recorded.db)
        ledger = Ledger(url, read_only=True)
        client = TestClient(create_app(ledger, Access({})))
        page = client.get("/")
        assert page.status_code == 200 and "ledger verifies" in page.text
        table = page.text.split(f'data-decision="{recorded.decision}"', 1)[1].split("</table>", 1)[0]
        for action, s in action_status(ledger, recorded.decision).items():
            assert f'data-status="{action}">{s["effective"]}<' in table, (action, s)
        assert client.get("/ledger?kind=assessment").text.count("<tr data-seq=") == 2
        assert client.get(f"/decision/{recorded.decision}/capability").status_code == 200
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            seq = conn.execute(
                sa.text("SELECT max(seq) FROM ledger_entries WHERE kind = 'override'")
            ).scalar()
            conn.execute(
                sa.text("UPDATE ledger_entries SET payload = replace(payload, 'a', 'b') WHERE seq = :s"),
                {"s": seq},
            )
        engine.dispose()
        fresh = TestClient(create_app(Ledger(url, read_only=True), Access({}))).get("/")
        assert "LEDGER DOES NOT VERIFY" in fresh.text and f'data-seq="{seq}"' in fresh.text
        ledger.close()
