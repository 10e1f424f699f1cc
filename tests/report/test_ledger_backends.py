"""Every kind of report from a realistic ledger (keys registered and revoked, sign-offs and
refusals, an override, actions, a noncompliance report, an audit statement) on SQLite and on
a real PostgreSQL server: the same document from both, and the public one withholds the
restricted values (the reference policy restricts evidence, output folders and reporters)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scalegate.report import render
from scalegate.report.kinds import KINDS
from scalegate.report.sources import check_no_leak, from_ledger, read_ledger
from tests.ledger.conftest import BACKENDS, Built, backend_url, build_realistic


@pytest.fixture(params=BACKENDS)
def built(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Built]:
    with backend_url(request.param, tmp_path) as url:
        yield build_realistic(url, tmp_path / "keys")


def _documents(url: str, profile: str, decision: str | None = None) -> dict[str, str]:
    facts, withheld = read_ledger(url, profile)  # type: ignore[arg-type]
    src = from_ledger(facts, withheld, decision)
    out = {}
    for name, kind in KINDS.items():
        page = render.to_html(kind.build(src))
        check_no_leak(src, page)
        out[name] = page
    return out


def test_every_kind_from_a_realistic_ledger(built: Built) -> None:
    pages = _documents(built.url, "internal")
    transparency = pages["transparency"]
    assert "research release approved by the board" in transparency  # the override, flagged
    assert "REFUSED" in transparency  # a refused sign-off is shown as such
    assert built.ids["decision2"] in transparency  # the newest decision is the one reported
    assert "7.2(3): no sign-off is recorded" not in pages["model-report"]  # D2 has a refusal on record
    # the earlier decision, by id: its sign-offs (rso, ceo) and the override answer 7.2(3)
    older = _documents(built.url, "internal", built.ids["decision1"][:12])["model-report"]
    assert built.ids["decision1"] in older
    assert "7.2(3): no sign-off is recorded" not in older


def test_public_reports_withhold_what_the_policy_restricts(built: Built) -> None:
    internal = _documents(built.url, "internal")
    public = _documents(built.url, "public")
    # the reference policy restricts assessment.evidence: its records are in the internal view only
    assert 'id="ev-pre-cyber_knowledge"' in internal["capability"]
    for name, page in public.items():
        assert 'id="ev-pre-' not in page, name
    assert "withheld" in public["capability"]
    # the same decisions and scorecard either way
    assert internal["transparency"].count("blocked") == public["transparency"].count("blocked")
