"""Tables that never cut an identifier.

On a terminal a rich table folds long values onto the next line instead of ending them with
an ellipsis; piped (or narrower than the table can be without breaking a word) the rows
become plain records, one field per line, so `| grep`, `| cat` and an 80-column terminal see
every name, action and status whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def print_records(
    console: Console, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    if console.is_terminal and console.width >= _needed(columns, rows):
        table = Table(title=escape(title))
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(escape(v) for v in row))
        console.print(table)
        return
    lines = [title]
    for row in rows:
        for i, (col, value) in enumerate(zip(columns, row, strict=True)):
            lines.append(f"{'- ' if i == 0 else '  '}{col}: {value or '-'}")
    console.print("\n".join(escape(line) for line in lines), soft_wrap=True, highlight=False)


def _needed(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """The width at which no column is narrower than its longest single word."""
    words = [
        max([len(w) for v in [col, *(r[i] for r in rows)] for w in v.split()] or [1])
        for i, col in enumerate(columns)
    ]
    return sum(words) + 3 * len(columns) + 1
