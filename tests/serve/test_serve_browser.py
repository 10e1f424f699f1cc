"""The real server on a free local port, driven by a real headless Chromium: the page follows
the ledger live without a reload, and nothing is fetched from outside the origin."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from scalegate.ledger.store import Ledger, db_url
from scalegate.serve.access import Access
from scalegate.serve.app import create_app
from tests.report.conftest import Recorded
from tests.report.test_report_browser import LAUNCH_ARGS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(ledger_copy: Path) -> Iterator[str]:
    port = _free_port()
    app = create_app(Ledger(db_url(str(ledger_copy)), read_only=True), Access({}))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def page(browser: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=LAUNCH_ARGS)
        try:
            yield b.new_page()
        finally:
            b.close()


def test_overview_follows_the_ledger_live_and_fetches_nothing_outside(
    recorded: Recorded, ledger_copy: Path, server: str, page: Any
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server + "/")
    accountability = page.locator("#accountability")
    assert "1 noncompliance report(s)" in accountability.inner_text()
    marker = page.evaluate("() => { window.__same_document = true; return true; }")
    assert marker
    # a second report appended by the CLI while the page is open
    res = recorded.cli("ledger", "report", "--text", "a second report", "--db", str(ledger_copy))
    assert res.returncode == 0, res.stderr
    page.wait_for_function(
        "() => document.querySelector('#accountability').innerText.includes('2 noncompliance report(s)')",
        timeout=15000,
    )
    assert page.evaluate("() => window.__same_document === true")  # swapped in place, not reloaded
    page.locator("#models caption a").first.click()  # the model line: its history plot, in place
    page.wait_for_selector("#history svg", timeout=15000)
    assert page.locator("#decisions tr[data-decision]").count() == 2
    page.go_back()
    page.wait_for_selector("#accountability", timeout=15000)
    assert requests and all(u.startswith(server) for u in requests), [
        u for u in requests if not u.startswith(server)
    ]
    statuses = page.eval_on_selector_all("td.status", "cells => cells.map(c => c.innerText.trim())")
    assert statuses and all(
        s in ("allowed", "blocked", "needs_signoff", "allowed (override)") for s in statuses
    )
