"""The one registry of formats, and the docs that describe the reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scalegate.errors import InputError
from scalegate.report import formats
from scalegate.report.checklists import load

ROOT = Path(__file__).resolve().parents[2]


def test_every_subject_lists_its_formats() -> None:
    assert formats.formats_of("report") == ["json", "markdown", "html", "pdf"]
    assert formats.formats_of("assessment") == ["terminal", "json"]
    assert formats.formats_of("policy-compare") == ["terminal", "markdown", "html"]
    assert formats.formats_of("policy-diff") == ["terminal", "markdown"]


def test_aliases_and_refusals() -> None:
    assert formats.resolve("report", "md").name == "markdown"
    assert formats.resolve("report", "HTML").name == "html"
    with pytest.raises(InputError, match="choose terminal or markdown"):
        formats.resolve("policy-diff", "html")
    with pytest.raises(InputError, match=r"-o FILE\.pdf"):
        formats.emit("report", "pdf", object(), None)  # binary never to a terminal


def test_files_are_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "r.md"
    target.write_text("old")
    formats.write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]  # no temporary left behind


@pytest.mark.parametrize("name", ["model-report", "capability"])
def test_docs_explain_every_checklist_item(name: str) -> None:
    docs = (ROOT / "docs" / "reports.md").read_text()
    _, items = load(name)
    rows = set(re.findall(r"^\| ([^|]+?) \|", docs, flags=re.M))
    missing = [i.id for i in items if i.id not in rows]
    assert not missing, f"docs/reports.md has no row for {missing}"
