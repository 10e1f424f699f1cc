"""Screenshots of `scalegate serve`'s pages for docs/img, from a real ledger.

    python scripts/serve_screenshots.py --db scalegate-ledger.db --out docs/img

Starts the server on a free loopback port over the ledger (read-only), opens each page in
Debian's headless Chromium (the browser the tests drive) and writes serve-overview.png,
serve-model.png, serve-decision.png, serve-ledger.png and serve-policy.png.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import uvicorn

from scalegate.ledger.store import Ledger, db_url
from scalegate.report.render import CHROMIUM_FLAGS
from scalegate.serve.access import Access
from scalegate.serve.app import create_app


def _newest(ledger: Ledger) -> tuple[str, str]:
    """The newest decision and the model it is about."""
    entries = list(ledger.iter_entries())
    decision = [e for e in entries if e.kind == "decision"][-1]
    assessment = next(e for e in entries if e.entry_id == decision.payload["assessment_entry"])
    return decision.entry_id, str(assessment.payload["model"]["reference"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the ledger (SQLite file or URL)")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    ledger = Ledger(db_url(args.db), read_only=True)
    decision, model = _newest(ledger)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(ledger, Access({})), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    pages = {
        "serve-overview.png": "/",
        "serve-model.png": f"/model?ref={quote(model, safe='')}",
        "serve-decision.png": f"/decision/{decision}/capability",
        "serve-ledger.png": "/ledger",
        "serve-policy.png": "/policy",
    }
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        raise SystemExit("chromium is needed: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=list(CHROMIUM_FLAGS))
            page = browser.new_page(viewport={"width": args.width, "height": 900})
            for name, path in pages.items():
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(args.out / name), full_page=False)
                print(f"wrote {args.out / name} ({path})")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
