"""Policy reviews rendered: the comparison, grades, lint findings and policy changes, for the
terminal (rich), Markdown and HTML.

The reviews (`scalegate.review`) compute values and never print; this module is the only
place that turns them into text, so `import scalegate.review` loads no rich, and a new format
is one function here (registered in `FORMATS`) with nothing below `report/` changing.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Literal

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scalegate.review.compare import ABSENT, PolicyComparison
from scalegate.review.grade import CriterionResult, Grades

# --- comparison -----------------------------------------------------------------------------------


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


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def to_markdown(cmp: PolicyComparison) -> str:
    """A GitHub table: section bands in bold, pipes in cells escaped."""
    lines = [
        "| " + " | ".join(["", *(_md_cell(n) for n in cmp.names)]) + " |",
        "|" + "---|" * (len(cmp.names) + 1),
    ]
    for s in cmp.sections:
        lines.append("| " + " | ".join([f"**{_md_cell(s.title)}**", *("" for _ in cmp.names)]) + " |")
        for r in s.rows:
            lines.append("| " + " | ".join([_md_cell(r.label), *(_md_cell(c) for c in r.cells)]) + " |")
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #333; color: #fff; position: sticky; top: 0; }
tr.section th { background: #e8eef7; font-size: 15px; }
th[scope=row] { font-weight: normal; background: #fafafa; white-space: nowrap; }
td.absent { color: #999; text-align: center; }
""".strip()


def to_html(cmp: PolicyComparison, title: str = "Policy comparison") -> str:
    """A self-contained page (inline CSS, no scripts); every text escaped."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>\n{_CSS}\n</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<table>",
        "<thead><tr><th></th>" + "".join(f"<th>{e(n)}</th>" for n in cmp.names) + "</tr></thead>",
        "<tbody>",
    ]
    span = len(cmp.names) + 1
    for s in cmp.sections:
        out.append(f'<tr class="section"><th colspan="{span}">{e(s.title)}</th></tr>')
        for r in s.rows:
            cells = "".join(
                '<td class="absent">—</td>' if c == ABSENT else f"<td>{e(c)}</td>" for c in r.cells
            )
            out.append(f'<tr><th scope="row">{e(r.label)}</th>{cells}</tr>')
    out += ["</tbody>", "</table>", "</body></html>"]
    return "\n".join(out) + "\n"


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
