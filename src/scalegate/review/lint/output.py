"""Findings for people and machines: sorted, as JSON, counted, and rendered as a table that stays
readable on a narrow terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from scalegate.review.lint.registry import RULES, SEVERITIES, Finding, Severity

_STYLE: dict[str, str] = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then notes; rule order within a severity."""
    order = {rid: i for i, rid in enumerate(RULES)}
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), order.get(f.rule, len(order))))


def findings_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in findings]


def summary(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f.severity] += 1
    return counts


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
