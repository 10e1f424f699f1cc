"""Hostile text in a record (a policy name, a threshold label, a justification) stays text in
every format: escaped in HTML, one cell in a Markdown table, plain words in a plot."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from scalegate.report.document import Document, Footer, Record, Section, Table, Text, cell
from scalegate.report.plots import Interval, forest
from scalegate.report.render import to_html, to_markdown

PIECES = [*"<>&\"'|\\`$*_[]()#!-\n\t ab", "</script>", "<img src=x>", "{{", "}}", "-->"]
HOSTILE = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)


def _doc(title: str, text: str, cells: list[str]) -> Document:
    table = Table(id="t", caption=text, columns=["a", "b"], rows=[[cell(c, "r1"), cell(c)] for c in cells])
    return Document(
        kind="capability",
        profile="internal",
        title=title,
        subtitle=text,
        as_of="2026-01-01",
        sections=[Section(id="s", title=text, blocks=[Text(text=text, refs=["r1"]), table])],
        records=[Record(id="r1", kind="assessment", title=text, fields={text or "k": text})],
        footer=Footer(policy=text, policy_sha256="0" * 64, scalegate_version="0"),
    )


@settings(max_examples=200, deadline=None)
@given(title=HOSTILE, text=HOSTILE, cells=st.lists(HOSTILE, min_size=1, max_size=4))
def test_html_never_carries_markup_from_the_record(title: str, text: str, cells: list[str]) -> None:
    page = to_html(_doc(title, text, cells))
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    # the page structure is the template's: one table, one records list, whatever the text
    assert page.count("<table") == 1 and page.count('<ol class="records">') == 1


@settings(max_examples=200, deadline=None)
@given(text=HOSTILE, cells=st.lists(HOSTILE, min_size=1, max_size=4))
def test_markdown_tables_keep_their_columns(text: str, cells: list[str]) -> None:
    md = to_markdown(_doc("t", text, cells)).splitlines()
    start = md.index("| a | b |")
    rows = md[start : md.index("", start)]
    assert len(rows) == 2 + len(cells)  # header, rule, one line per row: no cell broke a line
    for line in rows:
        assert len(re.findall(r"(?<!\\)\|", line)) == 3, line  # two cells: three unescaped pipes


def test_plot_labels_are_words_not_tex_or_markup() -> None:
    labels = ["$\\frac{", "cost $1B and $2B", "<script>alert(1)</script>", "a & b", "ünïcode ✓"]
    rows = [Interval(label, 0.3, 0.2, 0.4, 0.5, "at_least", "below") for label in labels]
    svg = forest(rows, "hostile")
    root = ET.fromstring(svg)  # well-formed XML
    texts = "".join(root.itertext())
    for label in labels:
        assert label in texts
    assert "<script>" not in svg
