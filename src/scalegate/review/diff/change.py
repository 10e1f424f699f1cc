"""The record every assessment produces, and the short wordings its summaries share, kept apart
so the assessors and the renderers depend on the record, never on each other."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

ChangeKind = Literal["stronger", "weaker", "neutral", "unclear"]
#: The order a watchdog reads them in: what got weaker first, then what cannot be judged.
KIND_ORDER: tuple[ChangeKind, ...] = ("weaker", "unclear", "stronger", "neutral")


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    clause: str  # field path in the new policy (the old one where the clause is gone)
    summary: str


def fmt(x: float | int | str | bool | None) -> str:
    """Thresholds with two decimals (`0.70`), everything else as short as it goes."""
    if x is None:
        return "none"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, str):
        return x
    if isinstance(x, float) and 0 < abs(x) < 1:
        return f"{x:.2f}"
    return f"{x:g}"


def join(items: Iterable[str]) -> str:
    return ", ".join(items)


def few(names: Sequence[str], n: int = 3) -> str:
    return join(names) if len(names) <= n else f"{join(names[:n])} or {len(names) - n} more"


def short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
