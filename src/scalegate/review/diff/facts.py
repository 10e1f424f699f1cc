"""Responses reduced to facts that compare across policies: when a response applies (in the new
policy's names) and what it does, so a change can be judged by whether another response still
does the same thing in the same cases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scalegate.policy.conditions import ResponseCondition
from scalegate.policy.schema import Policy, Response
from scalegate.review.diff.change import join
from scalegate.review.diff.context import Context

#: What a response does: ("block", action), ("protect", protection, action),
#: ("case", safety case, action), ("notify", role), ("obligation", text).
Effect = tuple[str, ...]


@dataclass(frozen=True)
class Fact:
    """A response condition in the new policy's names, so old and new compare directly."""

    kind: str  # level | evidence | alert | effective_compute | training_compute | all | any | not
    side: str = ""
    rank: int | None = None
    domains: frozenset[str] | None = None
    confirmed: bool | None = None
    statuses: frozenset[str] = frozenset()
    value: float | None = None
    alert: bool | None = None
    children: tuple[Fact, ...] = ()
    text: str = field(default="", compare=False)


def implies(a: Fact, b: Fact) -> bool:
    """True when `a` holding is known to make `b` hold (sound, not complete)."""
    if a == b:
        return True
    if b.kind == "all" and all(implies(a, c) for c in b.children):
        return True
    if a.kind == "any" and all(implies(c, b) for c in a.children):
        return True
    if b.kind == "any" and any(implies(a, c) for c in b.children):
        return True
    if a.kind == "all" and any(implies(c, b) for c in a.children):
        return True
    if a.kind != b.kind:
        return False
    if a.kind == "not":
        return implies(b.children[0], a.children[0])
    return _implies_leaf(a, b)


def _implies_leaf(a: Fact, b: Fact) -> bool:
    narrower = b.domains is None or (a.domains is not None and a.domains <= b.domains)
    if a.kind == "level":
        return (
            a.side == b.side
            and a.rank is not None
            and b.rank is not None
            and a.rank >= b.rank
            and narrower
            and (b.confirmed is None or a.confirmed == b.confirmed)
        )
    if a.kind == "alert":
        return a.alert == b.alert and narrower
    if a.kind == "evidence":
        return a.statuses <= b.statuses
    if a.kind in ("effective_compute", "training_compute"):
        return a.value is not None and b.value is not None and a.value >= b.value
    return False


def fact(ctx: Context, c: ResponseCondition, old: bool) -> Fact:
    """The condition `c` of the old (`old`) or new policy as a `Fact` in the new one's names."""

    def rank(level: str) -> int | None:
        if old:
            mapped = ctx.levels.get(level)
            return None if mapped is None else ctx.new.level_rank(mapped)
        return ctx.new.level_rank(level) if level in ctx.new.levels else None

    doms = None
    if c.domains is not None:
        doms = frozenset((ctx.domains.get(d, "?" + d) if old else d) for d in c.domains)
    text = when_text(c)
    for side in ("pre", "post"):
        level = getattr(c, f"{side}_mitigation_at_least")
        if level is not None:
            return Fact("level", side=side, rank=rank(level), domains=doms, confirmed=c.confirmed, text=text)
    if c.alert is not None:
        return Fact("alert", alert=c.alert, domains=doms, text=text)
    if c.evidence is not None:
        return Fact("evidence", statuses=frozenset(c.evidence), text=text)
    if c.effective_compute_at_least is not None:
        return Fact("effective_compute", value=c.effective_compute_at_least, text=text)
    if c.training_compute_at_least is not None:
        return Fact("training_compute", value=c.training_compute_at_least, text=text)
    form = "all" if c.all is not None else "any" if c.any is not None else "not"
    return Fact(form, children=tuple(fact(ctx, x, old) for x in c.children()), text=text)


def effects(ctx: Context, r: Response, old: bool) -> set[Effect]:
    policy = ctx.old if old else ctx.new
    out: set[Effect] = {("block", a) for a in r.block}
    if r.require:
        before = r.require.before or policy.actions
        for prot in r.require.protections:
            name = ctx.protections.get(prot, "?" + prot) if old else prot
            out |= {("protect", name, a) for a in before}
        if r.require.safety_case:
            out |= {("case", r.require.safety_case, a) for a in before}
    out |= {("notify", role) for role in r.notify}
    out |= {("obligation", text) for text in r.obligations}
    return out


def effects_text(found: Iterable[Effect]) -> str:
    blocks = sorted({e[1] for e in found if e[0] == "block"})
    prots = sorted({e[1].lstrip("?") for e in found if e[0] == "protect"})
    cases = sorted({e[1] for e in found if e[0] == "case"})
    roles = sorted({e[1] for e in found if e[0] == "notify"})
    obligations = sum(e[0] == "obligation" for e in found)
    parts = []
    if blocks:
        parts.append(f"blocks {join(blocks)}")
    if prots:
        parts.append(f"requires {join(prots)}")
    if cases:
        parts.append(f"safety case {join(cases)}")
    if roles:
        parts.append(f"notifies {join(roles)}")
    if obligations:
        parts.append(f"{obligations} obligation(s)")
    return "; ".join(parts)


class Side:
    """One policy's responses as facts: each one's condition and effects, by position."""

    def __init__(self, ctx: Context, old: bool) -> None:
        self.policy: Policy = ctx.old if old else ctx.new
        self.facts = [fact(ctx, r.if_, old) for r in self.policy.responses]
        self.effects = [effects(ctx, r, old) for r in self.policy.responses]

    def covered(self, cond: Fact, effect: Effect) -> str | None:
        """The response here that provides `effect` whenever `cond` holds."""
        for j in range(len(self.policy.responses)):
            if effect in self.effects[j] and implies(cond, self.facts[j]):
                return self.policy.response_id(j)
        return None


def when_text(c: ResponseCondition) -> str:
    """`at high`, `at high pre-mitigation`, `on missing/error evidence`: where a rule bites."""
    dom = f" in {join(c.domains)}" if c.domains else ""
    if c.post_mitigation_at_least is not None:
        return f"at {c.post_mitigation_at_least}{dom}"
    if c.pre_mitigation_at_least is not None:
        return f"at {c.pre_mitigation_at_least} pre-mitigation{dom}"
    if c.alert is not None:
        return f"on an alert{dom}" if c.alert else f"without an alert{dom}"
    if c.evidence is not None:
        return f"on {'/'.join(c.evidence)} evidence"
    if c.effective_compute_at_least is not None:
        return f"from {c.effective_compute_at_least:g} effective FLOP"
    if c.training_compute_at_least is not None:
        return f"from {c.training_compute_at_least:g} training FLOP"
    form = "all" if c.all is not None else "any" if c.any is not None else "not"
    return f"when {form}({', '.join(when_text(x) for x in c.children())})"
