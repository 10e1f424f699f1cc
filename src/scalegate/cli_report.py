"""`scalegate report KIND`: documents people decide and publish from, built from an assessment
folder or from a verified ledger, in HTML, PDF, Markdown or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

from scalegate.cli_ledger import DbOpt
from scalegate.errors import InputError

err = Console(stderr=True)

KIND_HELP = (
    "capability (scorecard, thresholds, evidence, plots, examples) | safeguards (mitigations, "
    "pre vs post, refusal rates, safety cases) | model-report (EU GPAI Code of Practice, Measures "
    "7.1-7.7) | transparency (the public summary, from a ledger) | history (a model line over "
    "effective compute, from a ledger)"
)


def report(
    kind: Annotated[str, typer.Argument(help=KIND_HELP, show_default=False)],
    assessment: Annotated[
        Path | None,
        typer.Option("--assessment", "-a", help="An assessment folder (what `scalegate assess -o` wrote)."),
    ] = None,
    decision: Annotated[
        str | None, typer.Option("--decision", help="A decision entry id (or prefix) in the ledger --db.")
    ] = None,
    db: DbOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="html, pdf, markdown (md) or json.")] = "html",
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            help="internal, or public: the ledger's public redaction (what `audit export --public` shows), "
            "no example items, no local paths.",
        ),
    ] = "internal",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (replaced atomically); default stdout.")
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", min=0, max=50, help="Example items per eval, from its Inspect log.")
    ] = 3,
    model: Annotated[
        str | None,
        typer.Option("--model", help="history: only assessments whose model or checkpoint names this."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="List the checklist items (CoP 7.x, STREAM, SB 53) this evidence cannot supply, each "
            "with its reason, instead of writing the report. Exit 3 if a required item is missing "
            "without a reason.",
        ),
    ] = False,
) -> None:
    """Write a report from an assessment folder (`--assessment DIR`) or a ledger (`--db`,
    default ./scalegate-ledger.db; `--decision ID`, default the newest decision). The
    source is verified first: a ledger that fails `ledger verify`, or a folder whose
    decision its evidence does not give, is refused with exit 4. The same inputs give the
    same bytes. docs/reports.md has every kind, checklist and exit code.

    Examples:

      scalegate report capability -o capability.html

      scalegate report capability --assessment scalegate-results/RUN -f pdf -o capability.pdf

      scalegate report transparency --db ledger.db --profile public -f pdf -o transparency.pdf

      scalegate report --check model-report
    """
    from scalegate.report import formats
    from scalegate.report.kinds import KINDS
    from scalegate.report.sources import check_no_leak, from_folder, from_ledger, read_ledger

    spec = KINDS.get(kind)
    if spec is None:
        raise InputError(f"report kind {kind!r}: choose {', '.join(KINDS)}")
    if profile not in ("internal", "public"):
        raise InputError(f"--profile {profile}: choose internal or public")
    prof: Literal["internal", "public"] = "public" if profile == "public" else "internal"
    if not check:
        formats.resolve("report", fmt)  # a bad --format fails before any work
    if assessment is not None and (db is not None or decision is not None):
        raise InputError("give --assessment DIR, or a ledger (--db URL, --decision ID), not both")
    if assessment is not None:
        if spec.needs_ledger:
            raise InputError(
                f"a {kind} report reads the ledger: give --db URL (the one `assess --db` wrote to)"
            )
        src = from_folder(assessment, prof)
    else:
        from scalegate.cli_ledger import open_ledger

        url = open_ledger(db, read_only=True).url  # a mistyped path is an error, not an empty ledger
        facts, withheld = read_ledger(url, prof)
        src = from_ledger(facts, withheld, decision)
    doc = spec.build(src, examples=examples, model=model)
    if check:
        raise typer.Exit(_print_check(doc))
    if out is not None and out.is_dir():
        suffix = formats.resolve("report", fmt).suffix
        raise InputError(f"-o {out} is a folder; name the file, e.g. {out / (kind + suffix)}")
    rendered = formats.render("report", "html", doc) if prof == "public" else None
    if rendered is not None:
        check_no_leak(src, rendered)
    formats.emit("report", fmt, doc, out)
    if out is not None:
        err.print(
            f"[green]wrote[/] {escape(str(out))} ({kind}, {prof}, {formats.resolve('report', fmt).name})"
        )


def _print_check(doc: object) -> int:
    """The items not provided, with reasons; 3 when a required one has none."""
    from scalegate.report.document import Checklist, Document
    from scalegate.report.records import print_records

    assert isinstance(doc, Document)
    items = [i for b in doc.blocks() if isinstance(b, Checklist) for i in b.items]
    if not items:
        err.print(f"a {doc.kind} report has no checklist")
        return 0
    gaps = [i for i in items if i.state != "provided"]
    rows = [[i.id, i.source, i.state.replace("_", " "), i.reason or "NO REASON GIVEN", i.text] for i in gaps]
    print_records(
        Console(),
        f"{doc.kind}: {len(gaps)} of {len(items)} items not provided",
        ("item", "source", "state", "reason", "requirement"),
        rows,
    )
    unexplained = [i for i in gaps if i.required and i.state == "missing" and not i.reason]
    for i in unexplained:
        err.print(f"[bold red]missing[/] {escape(i.id)}: required and not supplied, with no reason")
    return 3 if unexplained else 0
