"""Responses, judged by what they do and when: a response matched across policies (by id, by
condition, else by position) is compared aspect by aspect, and an effect dropped here but still
provided by another response in the same cases is neutral."""

from __future__ import annotations

from dataclasses import dataclass

from scalegate.policy.schema import Policy, Response
from scalegate.review.compare import security_level
from scalegate.review.diff.change import ChangeKind, short
from scalegate.review.diff.context import Context
from scalegate.review.diff.directions import direction, fields
from scalegate.review.diff.facts import Fact, Side, effects_text, implies
from scalegate.review.diff.walk import compare

#: a response's fields this module compares itself (the table has the rest)
_OWN = ("id", "if_", "block", "require", "obligations")


def assess_responses(ctx: Context) -> None:
    old, new = Side(ctx, old=True), Side(ctx, old=False)
    for i, j in _match(old, new):
        if i is not None and j is not None:
            _Pair.of(ctx, old, new, i, j).assess()
        elif i is not None:
            _removed(ctx, old, new, i)
        elif j is not None:
            _added(ctx, old, new, j)


def _removed(ctx: Context, old: Side, new: Side, i: int) -> None:
    """Weaker for what no response of the new policy still does in the same cases."""
    rid = old.policy.response_id(i)
    lost = {e for e in old.effects[i] if new.covered(old.facts[i], e) is None}
    if lost:
        ctx.add("weaker", _clause(rid), f"response {rid} removed", f"lost: {effects_text(lost)}")
    else:
        ctx.add("neutral", _clause(rid), f"response {rid} removed", "other responses still do what it did")


def _added(ctx: Context, old: Side, new: Side, j: int) -> None:
    """Stronger for what no response of the old policy already did in the same cases."""
    rid = new.policy.response_id(j)
    won = {e for e in new.effects[j] if old.covered(new.facts[j], e) is None}
    if won:
        ctx.add("stronger", _clause(rid), f"response {rid} added", effects_text(won))
    else:
        ctx.add("neutral", _clause(rid), f"response {rid} added", "the policy already did this")


def _match(old: Side, new: Side) -> list[tuple[int | None, int | None]]:
    """Old and new positions of the same response: by id, then by an identical condition, then
    (where as many unnamed responses are left on both sides) by position; the rest unmatched."""
    m = _Matching(old, new)
    m.by_id()
    m.by_condition()
    m.by_position()
    return [*m.pairs, *((i, None) for i in m.left_old()), *((None, j) for j in m.left_new())]


class _Matching:
    """Response positions paired so far, and those left on either side."""

    def __init__(self, old: Side, new: Side) -> None:
        self.old, self.new = old.policy.responses, new.policy.responses
        self.facts_old, self.facts_new = old.facts, new.facts
        self.pairs: list[tuple[int | None, int | None]] = []
        self.used_old: set[int] = set()
        self.used_new: set[int] = set()

    def pair(self, i: int, j: int) -> None:
        self.pairs.append((i, j))
        self.used_old.add(i)
        self.used_new.add(j)

    def left_old(self) -> list[int]:
        return [i for i in range(len(self.old)) if i not in self.used_old]

    def left_new(self) -> list[int]:
        return [j for j in range(len(self.new)) if j not in self.used_new]

    def by_id(self) -> None:
        new_ids = {r.id: j for j, r in enumerate(self.new) if r.id}
        for i, r in enumerate(self.old):
            if r.id and r.id in new_ids:
                self.pair(i, new_ids[r.id])

    def by_condition(self) -> None:
        for i in self.left_old():
            j = next((j for j in self.left_new() if self.facts_old[i] == self.facts_new[j]), None)
            if j is not None:
                self.pair(i, j)

    def by_position(self) -> None:
        rest_old = [i for i in self.left_old() if not self.old[i].id]
        rest_new = [j for j in self.left_new() if not self.new[j].id]
        if rest_old and len(rest_old) == len(rest_new):
            for i, j in zip(rest_old, rest_new, strict=True):
                self.pair(i, j)


def _security(policy: Policy, name: str) -> int | None:
    """A declared protection's RAND security level (None when undeclared or unstated)."""
    return security_level(name, policy.protections[name]) if name in policy.protections else None


def _clause(rid: str) -> str:
    return rid if rid.startswith("responses[") else f"responses.{rid}"


@dataclass(frozen=True)
class _Pair:
    """One response in both policies: `a` (its condition `na`, id `rid_a`) old, `b` new."""

    ctx: Context
    old: Side
    new: Side
    a: Response
    b: Response
    rid_a: str
    rid: str
    na: Fact
    nb: Fact

    @classmethod
    def of(cls, ctx: Context, old: Side, new: Side, i: int, j: int) -> _Pair:
        a, b = old.policy.responses[i], new.policy.responses[j]
        rid_a, rid = old.policy.response_id(i), new.policy.response_id(j)
        return cls(ctx, old, new, a, b, rid_a, rid, old.facts[i], new.facts[j])

    @property
    def clause(self) -> str:
        return _clause(self.rid)

    def assess(self) -> None:
        ctx, a, b, clause = self.ctx, self.a, self.b, self.clause
        if self.rid_a != self.rid:
            what = f"response {self.rid_a} renamed to {self.rid}"
            ctx.add("neutral", clause, what, "matched by its condition")
        self._condition()
        self._blocks()
        self._protections()
        ra, rb = a.require, b.require
        if ra and rb:
            ctx.rest(
                f"{clause}.require", ra, rb, (*fields("responses[].require"), "protections", "safety_case")
            )
            before_a, before_b = set(ra.before or ctx.old.actions), set(rb.before or ctx.new.actions)
            self._row("responses[].require", "before", sorted(before_a), sorted(before_b))
        self._safety_case()
        self._row("responses[]", "notify", a.notify, b.notify)
        self._obligations()
        self._row("responses[]", "description", a.description, b.description)
        ctx.citation(clause, a, b)
        ctx.rest(clause, a, b, (*fields("responses[]"), *_OWN))

    def _row(self, section: str, field: str, a: object, b: object) -> None:
        """A field compared by its row in the table, in this response's words."""
        clause = f"{self.clause}{section.removeprefix('responses[]')}.{field}"
        row = direction(section, field)
        compare(self.ctx, row, a, b, clause, rid=self.rid, at_a=self.na.text, at_b=self.nb.text)

    def _condition(self) -> None:
        na, nb = self.na, self.nb
        if na == nb:
            return
        wider, narrower = implies(na, nb), implies(nb, na)
        simple = na.kind == nb.kind == "level"
        kind: ChangeKind
        if wider and narrower:
            kind, why = "neutral", "applies in the same cases"
        elif wider:
            kind, why = "stronger", "applies earlier" if simple else "applies in more cases"
        elif narrower:
            kind, why = "weaker", "applies later" if simple else "applies in fewer cases"
        else:
            kind, why = "unclear", "cannot compare the conditions"
        self.ctx.add(
            kind, f"{self.clause}.if", f"response {self.rid} now applies {nb.text} instead of {na.text}", why
        )

    def _blocks(self) -> None:
        """An action no longer blocked here is neutral where another response still blocks it."""
        ctx, a, b, clause = self.ctx, self.a, self.b, f"{self.clause}.block"
        for act in a.block:
            if act not in b.block:
                by = self.new.covered(self.na, ("block", act))
                if by:
                    what = f"action {act} no longer blocked {self.na.text} by {self.rid}"
                    ctx.add("neutral", clause, what, f"still blocked by {by}")
                else:
                    ctx.add("weaker", clause, f"action {act} no longer blocked {self.na.text}")
        for act in b.block:
            if act not in a.block:
                by = self.old.covered(self.nb, ("block", act))
                if by:
                    what = f"action {act} now blocked {self.nb.text} by {self.rid}"
                    ctx.add("neutral", clause, what, f"already blocked by {by}")
                else:
                    ctx.add("stronger", clause, f"action {act} now blocked {self.nb.text}")

    def _protections(self) -> None:
        ra, rb = self.a.require, self.b.require
        pa = [self.ctx.protections.get(p, "?" + p) for p in ra.protections] if ra else []
        pb = list(rb.protections) if rb else []
        lost, won = [p for p in pa if p not in pb], [p for p in pb if p not in pa]
        if len(lost) == 1 and len(won) == 1:
            self._swapped(lost[0], won[0])
            return
        self._dropped(lost)
        self._required(won)

    def _swapped(self, lost: str, won: str) -> None:
        """One protection required in place of another: compared by RAND security level."""
        ctx = self.ctx
        old_name = next(
            p
            for p in (self.a.require.protections if self.a.require else [])
            if ctx.protections.get(p, "?" + p) == lost
        )
        sa, sb = _security(ctx.old, old_name), _security(ctx.new, won)
        clause = f"{self.clause}.require.protections"
        what = f"protection {old_name} -> {won} required {self.nb.text}"
        if sa is not None and sb is not None and sa != sb:
            ctx.add("stronger" if sb > sa else "weaker", clause, what, f"RAND SL{sa} -> SL{sb}")
        elif sa is not None and sb is None:
            ctx.add("weaker", clause, what, f"RAND SL{sa} -> a protection with no stated security level")
        else:
            ctx.add("unclear", clause, what, "different protections")

    def _dropped(self, lost: list[str]) -> None:
        ra = self.a.require
        before = set(ra.before or self.ctx.old.actions) if ra else set()
        blocked = before <= set(self.b.block) and bool(before)
        for p in lost:
            covered = all(self.new.covered(self.na, ("protect", p, act)) for act in before)
            if blocked and not covered:  # the inverse of a block turned into a requirement
                self.ctx.add(
                    "stronger",
                    f"{self.clause}.require.protections",
                    f"protection {p} no longer required {self.na.text}: "
                    + ", ".join(sorted(before))
                    + " now blocked outright",
                    "a requirement replaced by a block: the action is no longer possible at all",
                )
                continue
            self.ctx.add(
                "neutral" if covered else "weaker",
                f"{self.clause}.require.protections",
                f"protection {p} no longer required {self.na.text}",
                "still required by another response" if covered else None,
            )

    def _required(self, won: list[str]) -> None:
        rb = self.b.require
        before = set(rb.before or self.ctx.new.actions) if rb else set()
        unblocked = (set(self.a.block) - set(self.b.block)) & before
        clause = f"{self.clause}.require.protections"
        for p in won:
            covered = all(self.old.covered(self.nb, ("protect", p, act)) for act in before)
            if unblocked and not covered:  # a block turned into "allowed once p is in place"
                self.ctx.add(
                    "weaker",
                    clause,
                    f"protection {p} now required {self.nb.text} in place of blocking "
                    + ", ".join(sorted(unblocked)),
                    "a block replaced by a requirement: the action becomes possible once it is in place",
                )
                continue
            self.ctx.add(
                "neutral" if covered else "stronger",
                clause,
                f"protection {p} now required {self.nb.text}",
                "already required by another response" if covered else None,
            )

    def _safety_case(self) -> None:
        ra, rb = self.a.require, self.b.require
        ca, cb = ra.safety_case if ra else None, rb.safety_case if rb else None
        if ca == cb:
            return
        clause = f"{self.clause}.require.safety_case"
        if ca is None:
            self.ctx.add("stronger", clause, f"safety case {cb} now required {self.nb.text}")
        elif cb is None:
            self.ctx.add("weaker", clause, f"safety case {ca} no longer required {self.na.text}")
        else:
            self.ctx.add(
                "unclear", clause, f"safety case {ca} -> {cb} required {self.nb.text}", "a different case"
            )

    def _obligations(self) -> None:
        """Obligations are free text: one swapped for another reads as a rewording."""
        a, b, clause = self.a.obligations, self.b.obligations, f"{self.clause}.obligations"
        lost, won = [o for o in a if o not in b], [o for o in b if o not in a]
        if len(lost) == 1 and len(won) == 1:
            self.ctx.add("unclear", clause, f"obligation of {self.rid} reworded", "free text")
            return
        for o in lost:
            self.ctx.add("weaker", clause, f"obligation of {self.rid} dropped: {short(o)}")
        for o in won:
            self.ctx.add("stronger", clause, f"obligation of {self.rid} added: {short(o)}")
