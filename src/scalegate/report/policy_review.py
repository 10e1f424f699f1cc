"""Policy reviews rendered: the comparison, grades, lint findings and policy changes, for the
terminal (rich), Markdown and HTML.

The reviews (`scalegate.review`) compute values and never print; this module is the only
place that turns them into text, so `import scalegate.review` loads no rich, and a new format
is one function here (registered in `FORMATS`) with nothing below `report/` changing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markup import escape
from rich.padding import Padding
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from scalegate.report.formats import renders
from scalegate.report.render import md_cell, page
from scalegate.review.compare import ABSENT, PolicyComparison
from scalegate.review.diff import Change, changes_summary, ordered
from scalegate.review.grade import CriterionResult, Grades
from scalegate.review.lint import Finding, sorted_findings, summary

# --- comparison -----------------------------------------------------------------------------------


@renders("policy-compare", "terminal")
def to_rich_table(cmp: PolicyComparison) -> Table:
    """One table, a titled band per section (cells are Text, so `[` in a label is not markup)."""
    t = Table(title="Policy comparison", title_justify="left", show_lines=False)
    t.add_column("")
    for name in cmp.names:
        t.add_column(Text(name), overflow="fold")
    for s in cmp.sections:
        t.add_row(Text(s.title, style="bold cyan"), *("" for _ in cmp.names))
        for r in s.rows:
            t.add_row(Text(r.label), *(Text(c, style="dim" if c == ABSENT else "") for c in r.cells))
        t.add_section()
    return t


@renders("policy-compare", "markdown")
def to_markdown(cmp: PolicyComparison) -> str:
    """A GitHub table: section bands in bold, pipes in cells escaped."""
    lines = [
        "| " + " | ".join(["", *(md_cell(n) for n in cmp.names)]) + " |",
        "|" + "---|" * (len(cmp.names) + 1),
    ]
    for s in cmp.sections:
        lines.append("| " + " | ".join([f"**{md_cell(s.title)}**", *("" for _ in cmp.names)]) + " |")
        for r in s.rows:
            lines.append("| " + " | ".join([md_cell(r.label), *(md_cell(c) for c in r.cells)]) + " |")
    return "\n".join(lines) + "\n"


@renders("policy-compare", "html")
def to_html(cmp: PolicyComparison, title: str = "Policy comparison") -> str:
    """A self-contained page (inline CSS, no scripts, nothing fetched); every text escaped."""
    return page("compare.html.j2", "compare.css", cmp=cmp, title=title, absent=ABSENT)


# --- grades ---------------------------------------------------------------------------------------

_LETTER_STYLE: dict[str, str] = {"A": "bold green", "B": "green", "C": "yellow", "D": "red", "F": "bold red"}


def render_grades(grades: Grades, *, details: bool = False) -> RenderableType:
    """A table per framework; `details` lists each criterion with its evidence."""
    parts: list[RenderableType] = []
    frameworks: tuple[Literal["METR", "Seoul"], ...] = ("METR", "Seoul")
    for fw in frameworks:
        label = "key component" if fw == "METR" else "commitment"
        table = Table(title=f"{fw} {label}s: {escape(grades.policy)}", title_justify="left")
        for col in (label, "grade", "points", "met"):
            table.add_column(col)
        if details:
            table.add_column("criteria", overflow="fold")
        for c in grades.framework(fw):
            row: list[RenderableType] = [
                c.title,
                Text(c.letter, style=_LETTER_STYLE[c.letter]),
                f"{c.points:.1f}",
                f"{c.met}/{c.total}",
            ]
            if details:
                row.append(_criteria_text(c.criteria))
            table.add_row(*row)
        parts.append(table)
    parts.append(
        Text(f"overall (mean of METR components): {grades.overall_letter} ({grades.overall_points:.2f} / 4)")
    )
    return Group(*parts)


def _criteria_text(criteria: Iterable[CriterionResult]) -> Text:
    out = Text()
    for i, r in enumerate(criteria):
        if i:
            out.append("\n")
        out.append("✓ " if r.met else "✗ ", style="green" if r.met else "red")
        out.append(r.text)
        out.append(f"  {'; '.join(r.evidence)}", style="dim")
    return out


# --- lint findings --------------------------------------------------------------------------------

_STYLE: dict[str, str] = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_findings(findings: list[Finding], *, details: bool = True) -> RenderableType:
    """A table of findings (most severe first) and a one-line count. Without `details` the table
    holds errors and warnings only, without why/fix/source, and says how many notes it left out."""
    counts = summary(findings)
    line = Text(", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in counts.items()))
    if not findings:
        return Text("no findings: every lint rule passes", style="green")
    shown = sorted_findings(f for f in findings if details or f.severity != "info")
    if not details:
        if counts["info"]:
            line.append(f"; {counts['info']} info note(s) not shown")
        line.append("; --details adds them, with why, fix and source for each", style="dim")
    if not shown:
        return Group(Text("no errors or warnings", style="green"), line)
    return Group(_FindingsView(shown, details), line)


class _FindingsView:
    """A table where it fits without breaking a rule name, else one block per finding, so an
    80-column terminal or a pipe sees every rule, clause and message whole."""

    def __init__(self, findings: list[Finding], details: bool) -> None:
        self.findings, self.details = findings, details

    def _more(self, f: Finding) -> str:
        return f"why: {f.why}\nfix: {f.fix}\nsource: {f.source}" if self.details else ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widest = max(len(f"{f.rule} {f.name}") + len(f.clause) for f in self.findings)
        if options.max_width >= widest + 60:
            table = Table(title="Policy lint", title_justify="left")
            for col in ("severity", "rule", "clause", "finding"):
                table.add_column(col, overflow="fold")
            for f in self.findings:
                body = Text(f.message)
                if self.details:
                    body.append("\n" + self._more(f), style="dim")
                table.add_row(
                    Text(f.severity, style=_STYLE[f.severity]),
                    Text(f"{f.rule} {f.name}"),
                    Text(f.clause),
                    body,
                )
            yield table
            return
        yield Text("Policy lint")
        for f in self.findings:
            # raw segments: the identifiers stay whole on one line, however narrow the console
            yield Segment(f.severity, console.get_style(_STYLE[f.severity]))
            yield Segment(f" {f.rule} {f.name}  {f.clause}")
            yield Segment.line()
            yield Padding(
                Text(f.message + ("\n" + self._more(f) if self.details else "")), (0, 0, 0, 2), expand=False
            )


# --- policy changes -------------------------------------------------------------------------------


_KIND_STYLE = {"weaker": "bold red", "unclear": "yellow", "stronger": "green", "neutral": "dim"}


@renders("policy-diff", "terminal")
def changes_table(changes: Sequence[Change], *, neutral: bool = True) -> Table:
    """Weaker changes first (neutral ones only with `neutral`); the summary line is the caption."""
    t = Table(title="Policy changes", title_justify="left", caption=changes_summary(changes, neutral=neutral))
    for col in ("kind", "clause", "change"):
        t.add_column(col)
    for c in ordered(changes, neutral):
        t.add_row(Text(c.kind, style=_KIND_STYLE[c.kind]), Text(c.clause), Text(c.summary))
    return t


@renders("policy-diff", "markdown")
def changes_markdown(changes: Sequence[Change], *, neutral: bool = True) -> str:
    """A summary line and a GitHub table, weaker changes first (neutral ones only with `neutral`)."""
    lines = [f"**{changes_summary(changes, neutral=neutral)}**"]
    listed = ordered(changes, neutral)
    if listed:
        lines += ["", "| kind | clause | change |", "|---|---|---|"]
        for c in listed:
            cells = (c.kind, f"`{c.clause}`", c.summary)
            lines.append("| " + " | ".join(x.replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return "\n".join(lines) + "\n"
