"""The one reader of `directions.DIRECTIONS`: compares two values of a field by its row and
records the change, so no assessor writes a field's direction by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scalegate.review.diff.change import ChangeKind, fmt, join
from scalegate.review.diff.context import Context
from scalegate.review.diff.directions import Direction, Rule, fields, rows

#: What an assessor does with a clause present on both sides (`PRESENT` / `ABSENT` rows).
Deeper = Callable[[Any, Any], None]


def walk(
    ctx: Context,
    section: str,
    a: Any,
    b: Any,
    clause: str,
    *,
    values: Mapping[str, tuple[Any, Any]] | None = None,
    deeper: Mapping[str, Deeper] | None = None,
    **names: str,
) -> None:
    """Every row of `section` in table order, on models `a` (old) and `b` (new) at `clause`.
    `values` replaces a field's values (derived ones); for a field with several rows, the first
    whose `when` holds on `b` applies."""
    done: set[str] = set()
    for row in rows(section):
        if row.field in done or (row.when is not None and getattr(b, row.when[0]) != row.when[1]):
            continue
        done.add(row.field)
        if values is not None and row.field in values:
            va, vb = values[row.field]
        else:
            va, vb = getattr(a, row.field), getattr(b, row.field)
        more = (deeper or {}).get(row.field)
        compare(ctx, row, va, vb, f"{clause}.{row.field}" if clause else row.field, deeper=more, **names)


def assess_clause(
    ctx: Context,
    section: str,
    a: Any,
    b: Any,
    clause: str,
    *,
    also: tuple[str, ...] = (),
    values: Mapping[str, tuple[Any, Any]] | None = None,
    deeper: Mapping[str, Deeper] | None = None,
    **names: str,
) -> None:
    """A cited clause: its rows, its citation, then any field neither the rows nor the caller
    (`also`: the fields it compares itself) assess."""
    walk(ctx, section, a, b, clause, values=values, deeper=deeper, **names)
    ctx.citation(clause, a, b)
    ctx.rest(clause, a, b, (*fields(section), *also))


def compare(
    ctx: Context, row: Direction, a: Any, b: Any, clause: str, *, deeper: Deeper | None = None, **names: str
) -> None:
    """One field by its row; a keyed row compares each key's list at `clause.key`."""
    if not row.keyed:
        _RULES[row.rule](_At(ctx, row, clause, names), a, b, deeper)
        return
    da: Mapping[str, Any] = a or {}
    db: Mapping[str, Any] = b or {}
    for key in list(da) + [k for k in db if k not in da]:
        at = _At(ctx, row, f"{clause}.{key}", {**names, "key": key})
        _RULES[row.rule](at, da.get(key, []), db.get(key, []), None)


@dataclass(frozen=True)
class _At:
    """Where a row is being applied: the clause and the names its wordings take."""

    ctx: Context
    row: Direction
    clause: str
    names: dict[str, str]

    def why(self, kind: ChangeKind) -> str | None:
        return self.row.why[0] if kind == "weaker" else self.row.why[1] if kind == "stronger" else None

    def say(self, kind: ChangeKind, why: str | None, text: str, a: Any, b: Any) -> None:
        shown = {"a": _value(a, self.row.unit), "b": _value(b, self.row.unit)}
        self.ctx.add(kind, self.clause, text.format(**shown, **self.names), why)

    def say_items(self, kind: ChangeKind, text: str, **items: str) -> None:
        self.ctx.add(kind, self.clause, text.format(**items, **self.names), self.why(kind))


def _value(x: Any, unit: str) -> str:
    if x is None:
        return "none"
    if isinstance(x, bool | int | float | str):
        return fmt(x) + unit
    return str(x)  # shown by no wording (evaluation arguments): only compared


def _amount(at: _At, a: Any, b: Any, _: Deeper | None) -> None:
    if a == b:
        return
    if a is None or b is None:
        kind: ChangeKind = "stronger" if a is None else "weaker"
    else:
        kind = "stronger" if (b > a) == (at.row.rule is Rule.HIGHER) else "weaker"
    at.say(kind, at.why(kind), at.row.changed, a, b)


def _flag(at: _At, a: Any, b: Any, _: Deeper | None) -> None:
    if bool(a) == bool(b):
        if a != b:
            at.say(*at.row.otherwise, at.row.changed, a, b)
        return
    kind: ChangeKind = "stronger" if b else "weaker"
    at.say(kind, at.why(kind), (at.row.added if b else at.row.dropped) or at.row.changed, a, b)


def _ranked(at: _At, a: Any, b: Any, _: Deeper | None) -> None:
    if a == b:
        return
    ranks = at.row.ranks or {}
    ra, rb = ranks.get(a), ranks.get(b)
    kind: ChangeKind
    if ra is None or rb is None:
        kind, why = "unclear", None
    elif ra == rb:
        kind, why = at.row.otherwise
    else:
        kind = "stronger" if rb > ra else "weaker"
        why = at.why(kind)
    at.say(kind, why, at.row.changed, a, b)


def _items(at: _At, a: Any, b: Any, _: Deeper | None) -> None:
    more = at.row.rule is Rule.MORE
    dropped: ChangeKind = "weaker" if more else "stronger"
    added: ChangeKind = "stronger" if more else "weaker"
    sa, sb = list(a or ()), list(b or ())
    for x in sa:
        if x not in sb:
            at.say_items(dropped, at.row.dropped, item=x)
    for x in sb:
        if x not in sa:
            at.say_items(added, at.row.added, item=x)


def _item_set(at: _At, a: Any, b: Any, _: Deeper | None) -> None:
    sa, sb = set(a or ()), set(b or ())
    if sa - sb:
        at.say_items("weaker", at.row.dropped, items=join(sorted(sa - sb)))
    if sb - sa:
        at.say_items("stronger", at.row.added, items=join(sorted(sb - sa)))


def _presence(at: _At, a: Any, b: Any, deeper: Deeper | None) -> None:
    if a is None and b is None:
        return
    if a is not None and b is not None:
        if deeper is not None:
            deeper(a, b)
        return
    kind: ChangeKind = "stronger" if (a is None) == (at.row.rule is Rule.PRESENT) else "weaker"
    at.say_items(kind, at.row.added if a is None else at.row.dropped)


def _none(at: _At, a: Any, b: Any, _: Deeper | None) -> None:
    if a != b:
        at.say(*at.row.otherwise, at.row.changed, a, b)


def _unordered(at: _At, a: Any, b: Any, _: Deeper | None) -> None:
    if a == b:
        return
    kind, why = ("neutral", None) if a is None or b is None else at.row.otherwise
    at.say(kind, why, at.row.changed, a, b)


_RULES: dict[Rule, Callable[[_At, Any, Any, Deeper | None], None]] = {
    Rule.HIGHER: _amount,
    Rule.LOWER: _amount,
    Rule.TRUE: _flag,
    Rule.RANKED: _ranked,
    Rule.MORE: _items,
    Rule.FEWER: _items,
    Rule.MORE_SET: _item_set,
    Rule.PRESENT: _presence,
    Rule.ABSENT: _presence,
    Rule.NONE: _none,
    Rule.UNORDERED: _unordered,
}
