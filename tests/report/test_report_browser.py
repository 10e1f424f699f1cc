"""The HTML reports in a real headless Chromium (Playwright driving Debian's chromium): what a
reader sees equals the record, every link lands on an element, and nothing is fetched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scalegate.report.render import CHROMIUM_FLAGS
from tests.report.conftest import Recorded

LAUNCH_ARGS = list(CHROMIUM_FLAGS)  # the flags the PDF printer uses


@pytest.fixture(scope="module")
def chromium(browser: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh page per test, so one test's listeners never see another's requests."""
    page = chromium.new_page()
    try:
        yield page
    finally:
        page.close()


@pytest.mark.parametrize("kind", ["capability", "safeguards", "model-report", "transparency", "history"])
def test_html_renders_links_resolve_and_nothing_is_fetched(
    recorded: Recorded, page: Any, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"{kind}.html"
    res = recorded.cli("report", kind, "--db", str(recorded.db), "-o", str(out))
    assert res.returncode == 0, res.stderr
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    assert requests == [out.as_uri()], requests  # the page fetches nothing, not even a font
    assert page.title().lower().startswith(kind.replace("-", " ").split()[0]) or kind == "model-report"
    targets = page.eval_on_selector_all("a[href^='#']", "as => as.map(a => a.getAttribute('href').slice(1))")
    assert targets, "a report links its numbers to their records"
    missing = page.evaluate("ids => ids.filter(id => !document.getElementById(id))", sorted(set(targets)))
    assert missing == []
    # figures are real inline SVG with text a reader (and a search) can find
    if kind in ("capability", "history"):
        assert page.locator("figure svg").count() >= 1
        assert page.locator("figure svg text").count() > 0


def test_scorecard_in_the_browser_equals_assessment_json(
    recorded: Recorded, page: Any, tmp_path: Path
) -> None:
    out = tmp_path / "cap.html"
    res = recorded.cli("report", "capability", "-a", str(recorded.folder), "-o", str(out))
    assert res.returncode == 0, res.stderr
    page.goto(out.as_uri())
    rows = page.eval_on_selector_all(
        "table#scorecard tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )
    card = json.loads((recorded.folder / "assessment.json").read_text())["scorecard"]
    pre, post = card["pre_mitigation"]["domains"], card["post_mitigation"]["domains"]
    assert [r[0] for r in rows] == [f"{k} ({d['title']})" for k, d in pre.items()]
    assert [r[1] for r in rows] == [d["level"] for d in pre.values()]
    assert [r[2] for r in rows] == [post[k]["level"] for k in pre]
    assert [r[3] for r in rows] == [", ".join(d["alerts"]) or "none" for d in pre.values()]
    decision = json.loads((recorded.folder / "assessment.json").read_text())["decision"]["actions"]
    shown = page.eval_on_selector_all(
        "table#decision tbody tr",
        "rows => rows.map(r => [r.cells[0].innerText.trim(), r.cells[1].innerText.trim()])",
    )
    assert dict(shown) == {k: v["status"] for k, v in decision.items()}


def test_pdf_is_printed_from_the_same_page(recorded: Recorded, tmp_path: Path, browser: str) -> None:
    import subprocess

    pdf = tmp_path / "cap.pdf"
    res = recorded.cli("report", "capability", "-a", str(recorded.folder), "-f", "pdf", "-o", str(pdf))
    assert res.returncode == 0, res.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    card = json.loads((recorded.folder / "assessment.json").read_text())
    est = card["evidence"]["security"]["metrics"]["accuracy"]
    assert f"{est['value']:.3f}" in text and "Records cited" in text
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True
    )
    assert any(tmp_path.glob("p*.png"))
