"""The assessed changes as a reviewer reads them: a summary line, then a table with what got
weaker first (terminal or GitHub markdown)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from scalegate.review.diff.change import KIND_ORDER, Change


def changes_summary(changes: Sequence[Change], *, neutral: bool = True) -> str:
    """`2 weaker, 1 stronger, 0 unclear, 3 neutral`: the line a reviewer reads first. It counts
    every change, also the neutral ones a view leaves out (`neutral=False` says so)."""
    if not changes:
        return "no changes"
    counts = {k: sum(c.kind == k for c in changes) for k in KIND_ORDER}
    line = ", ".join(f"{counts[k]} {k}" for k in ("weaker", "stronger", "unclear", "neutral"))
    return line + (" (not listed; --neutral lists them)" if not neutral and counts["neutral"] else "")


def _ordered(changes: Sequence[Change], neutral: bool = True) -> list[Change]:
    return sorted(
        (c for c in changes if neutral or c.kind != "neutral"), key=lambda c: KIND_ORDER.index(c.kind)
    )


_KIND_STYLE = {"weaker": "bold red", "unclear": "yellow", "stronger": "green", "neutral": "dim"}


def changes_table(changes: Sequence[Change], *, neutral: bool = True) -> Table:
    """Weaker changes first (neutral ones only with `neutral`); the summary line is the caption."""
    t = Table(title="Policy changes", title_justify="left", caption=changes_summary(changes, neutral=neutral))
    for col in ("kind", "clause", "change"):
        t.add_column(col)
    for c in _ordered(changes, neutral):
        t.add_row(Text(c.kind, style=_KIND_STYLE[c.kind]), Text(c.clause), Text(c.summary))
    return t


def changes_markdown(changes: Sequence[Change], *, neutral: bool = True) -> str:
    """A summary line and a GitHub table, weaker changes first (neutral ones only with `neutral`)."""
    lines = [f"**{changes_summary(changes, neutral=neutral)}**"]
    listed = _ordered(changes, neutral)
    if listed:
        lines += ["", "| kind | clause | change |", "|---|---|---|"]
        for c in listed:
            cells = (c.kind, f"`{c.clause}`", c.summary)
            lines.append("| " + " | ".join(x.replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return "\n".join(lines) + "\n"
