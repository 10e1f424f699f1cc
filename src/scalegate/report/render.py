"""A `Document` in every format: JSON, Markdown, self-contained HTML, and PDF printed from
that same HTML by headless Chromium.

Why Chromium for PDF rather than WeasyPrint: it is the engine the tests already drive to
check the HTML (so the page tested is the page printed, and the two cannot diverge), it draws
inline SVG fully, and it is one Debian package with no Python-side native libraries. Its PDF
carries the print time as `/CreationDate` and `/ModDate`; both are rewritten, byte for byte
the same length, to the date the report speaks for, so the same inputs give the same PDF.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

from scalegate.errors import ScalegateError
from scalegate.report.document import Checklist, Document, Figure, Table, Text
from scalegate.report.formats import renders

#: Where Chromium is looked for, in order (`SCALEGATE_CHROMIUM` first).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def numbering(doc: Document) -> dict[str, int]:
    """Records numbered in the order they are listed: the footnote numbers of the PDF."""
    return {r.id: i for i, r in enumerate(doc.records, 1)}


@renders("report", "json")
def to_json(doc: Document) -> str:
    return json.dumps(doc.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


@cache
def environment(*packages: str) -> Environment:
    """Jinja2 over the packaged templates of `packages` (first match wins), report's last:
    every page can import the report's `document` macro."""
    loader = ChoiceLoader([PackageLoader(p, "templates") for p in (*packages, "scalegate.report")])
    return Environment(
        loader=loader,
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def template_text(name: str) -> str:
    return resources.files("scalegate.report").joinpath("templates", name).read_text(encoding="utf-8")


def page(template: str, css: str, **values: object) -> str:
    """A packaged Jinja2 template with its packaged CSS inlined: one self-contained page."""
    return environment().get_template(template).render(css=template_text(css), **values)


@renders("report", "html")
def to_html(doc: Document) -> str:
    titles = {s.id: s.title for s in doc.sections}
    return page("report.html.j2", "report.css", doc=doc, numbers=numbering(doc), titles=titles)


def md_cell(text: str) -> str:
    """Cell text safe in a GitHub table: pipes escaped, one line."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def _md_ref(text: str, ref: str | None, numbers: dict[str, int]) -> str:
    return f"[{md_cell(text)}](#{ref})<sup>{numbers[ref]}</sup>" if ref else md_cell(text)


def _md_text(b: Text, n: dict[str, int]) -> list[str]:
    cites = "".join(f" [[{n[r]}]](#{r})" for r in b.refs)
    text = " ".join(b.text.split())  # one paragraph: a newline in a record cannot start a heading
    return [("> " if b.tone in ("bad", "warn") else "") + text + cites]


def _md_table(b: Table, n: dict[str, int]) -> list[str]:
    return [
        f'<a id="{b.id}"></a>',
        f"*{' '.join(b.caption.split())}*",
        "",
        "| " + " | ".join(md_cell(c) for c in b.columns) + " |",
        "|" + "---|" * len(b.columns),
        *("| " + " | ".join(_md_ref(c.text, c.ref, n) for c in row) + " |" for row in b.rows),
    ]


def _md_figure(b: Figure, n: dict[str, int]) -> list[str]:
    cites = "".join(f" [[{n[r]}]](#{r})" for r in b.refs)
    return [f"*Figure: {b.caption}*{cites} (drawn in the HTML and PDF formats)"]


def _md_checklist(b: Checklist, n: dict[str, int]) -> list[str]:
    out = [f"*{b.title}*", "", "| item | requirement | state | where / why |", "|---|---|---|---|"]
    for i in b.items:
        where = f"[{i.where}](#{i.where}) " if i.where else ""
        cells = (f"{i.id} ({i.source})", i.text, i.state.replace("_", " "), where + i.reason)
        out.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return out


_MD_BLOCKS: dict[type, Callable[[Any, dict[str, int]], list[str]]] = {
    Text: _md_text,
    Table: _md_table,
    Figure: _md_figure,
    Checklist: _md_checklist,
}


@renders("report", "markdown")
def to_markdown(doc: Document) -> str:
    """GitHub Markdown; figures are described by their caption (the SVG lives in HTML/PDF)."""
    n = numbering(doc)
    line = " ".join  # a newline in a record's text cannot start a heading or a table
    out = [f"# {line(doc.title.split())}", "", f"**{line(doc.subtitle.split())}**", ""]
    out += [f"As of {doc.as_of} · profile: {doc.profile}", ""]
    for s in doc.sections:
        out += [f'<a id="{s.id}"></a>', f"## {line(s.title.split())}", ""]
        for b in s.blocks:
            out += [*_MD_BLOCKS[type(b)](b, n), ""]
    out += ['<a id="records"></a>', "## Records cited", ""]
    for r in doc.records:
        fields = "; ".join(f"{k}: `{v}`" for k, v in r.fields.items())
        kind = r.kind.replace("_", " ")
        out.append(f'{n[r.id]}. <a id="{r.id}"></a>**{md_cell(r.title)}** ({kind}) {fields}')
    f = doc.footer
    made = [f"policy {f.policy} (sha256 `{f.policy_sha256}`)"]
    made += [f"{label} `{v}`" for label, v in (("assessment", f.assessment), ("decision", f.decision)) if v]
    made += [f"ledger head `{f.ledger_head}`"] if f.ledger_head else []
    out += ["", "---", f"Generated by scalegate {f.scalegate_version} from {', '.join(made)}."]
    return "\n".join(out) + "\n"


class NoBrowser(ScalegateError):
    """PDF needs headless Chromium and none was found (exit 2: install it, or pick a format)."""

    exit_code = 2


def chromium() -> str:
    found = os.environ.get("SCALEGATE_CHROMIUM") or next(
        (p for name in CHROMIUM_NAMES if (p := shutil.which(name))), None
    )
    if not found:
        raise NoBrowser(
            "--format pdf prints the HTML report with headless Chromium, and none is installed: "
            "`apt-get install chromium` (or set SCALEGATE_CHROMIUM to its path), or use --format html"
        )
    return found


#: Offline and quiet: no background network, no first run (the tests launch with the same).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)


def chromium_args(user_dir: str) -> list[str]:
    """Headless with a throwaway profile."""
    return [chromium(), "--headless", *CHROMIUM_FLAGS, f"--user-data-dir={user_dir}"]


_PDF_DATE = re.compile(rb"(/(?:CreationDate|ModDate) \(D:)(\d{14})")


@renders("report", "pdf")
def to_pdf(doc: Document) -> bytes:
    return print_pdf(to_html(doc), doc.as_of)


def print_pdf(page: str, as_of: str) -> bytes:
    stamp = re.sub(r"\D", "", as_of)[:14].ljust(14, "0").encode()
    with tempfile.TemporaryDirectory(prefix="scalegate-pdf-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(page, encoding="utf-8")
        cmd = [
            *chromium_args(str(Path(tmp) / "profile")),
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            src.as_uri(),
        ]
        try:
            done = subprocess.run(
                cmd, capture_output=True, timeout=120, env={**os.environ, "TZ": "UTC"}, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ScalegateError("Chromium did not print the report within 120 s") from exc
        if not out.is_file() or out.stat().st_size == 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise ScalegateError(f"Chromium printed no PDF (exit {done.returncode}): {' / '.join(tail)}")
        data = out.read_bytes()
    return _PDF_DATE.sub(lambda m: m.group(1) + stamp, data)
