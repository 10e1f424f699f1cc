"""Risk domains and their thresholds: a domain matched across a rename, a threshold moved
between levels, a condition crossed sooner or later. Dropping a domain is weaker only when no
new domain could be its rename."""

from __future__ import annotations

from scalegate.policy.conditions import ThresholdCondition
from scalegate.policy.schema import Domain, Threshold
from scalegate.review.compare import domain_category
from scalegate.review.diff.change import few
from scalegate.review.diff.conditions import compare_conditions, same_when
from scalegate.review.diff.context import Context
from scalegate.review.diff.walk import Deeper, assess_clause


def assess_domains(ctx: Context) -> None:
    """A dropped domain is weaker unless an unmatched new domain could be its rename (same
    category, or either uncategorized); then it is unclear, and so is the new one."""
    gone = [d for d in ctx.old.domains if d not in ctx.domains]
    fresh = [d for d in ctx.new.domains if d not in ctx.domains.values()]
    cat_old = {d: domain_category(d, ctx.old.domains[d]) for d in gone}
    cat_new = {d: domain_category(d, ctx.new.domains[d]) for d in fresh}

    def may_be(a: str, b: str) -> bool:
        return a == b or "other" in (a, b)

    for name, new_name in ctx.domains.items():
        if name != new_name:
            ctx.add("neutral", f"domains.{new_name}", f"domain {name} renamed to {new_name}")
        _domain(ctx, ctx.old.domains[name], new_name, ctx.new.domains[new_name])
    for name in gone:
        rivals = [d for d in fresh if may_be(cat_old[name], cat_new[d])]
        if rivals:
            ctx.add(
                "unclear", f"domains.{name}", f"domain {name} dropped", f"may be renamed to {few(rivals)}"
            )
        else:
            ctx.add("weaker", f"domains.{name}", f"domain {name} dropped")
    for name in fresh:
        rivals = [d for d in gone if may_be(cat_old[d], cat_new[name])]
        if rivals:
            ctx.add("unclear", f"domains.{name}", f"domain {name} added", f"may be a rename of {few(rivals)}")
        else:
            ctx.add("stronger", f"domains.{name}", f"domain {name} added")


def _domain(ctx: Context, a: Domain, new_name: str, b: Domain) -> None:
    clause = f"domains.{new_name}"
    assess_clause(ctx, "domains.*", a, b, clause, also=("thresholds",), name=new_name)

    matched = {lv: ctx.levels[lv] for lv in a.thresholds if ctx.levels.get(lv) in b.thresholds}
    gone = [lv for lv in a.thresholds if lv not in matched]
    fresh = [lv for lv in b.thresholds if lv not in matched.values()]
    if len(gone) == 1 and len(fresh) == 1 and same_when(ctx, a.thresholds[gone[0]], b.thresholds[fresh[0]]):
        _moved(ctx, clause, new_name, gone[0], fresh[0])
        matched[gone[0]] = fresh[0]
        gone, fresh = [], []
    for lo, ln in matched.items():
        _threshold(ctx, f"{clause}.thresholds.{ln}", f"{new_name}.{ln}", a.thresholds[lo], b.thresholds[ln])
    for lv in gone:
        ctx.add(
            "weaker",
            f"{clause}.thresholds.{lv}",
            f"threshold {new_name}.{lv} removed",
            "nothing marks this level",
        )
    for lv in fresh:
        ctx.add("stronger", f"{clause}.thresholds.{lv}", f"threshold {new_name}.{lv} added")


def _moved(ctx: Context, clause: str, domain: str, lo: str, ln: str) -> None:
    """One threshold moved to another level with the same condition. A domain's level is the
    highest one not ruled out, and responses fire "at least" a level: the same result marking
    a higher level fires more responses."""
    rank_old = ctx.new.level_rank(ctx.levels[lo]) if lo in ctx.levels else None
    if rank_old is None:
        ctx.add("unclear", f"{clause}.thresholds.{ln}", f"threshold {domain}.{lo} moved to {ln}")
        return
    up = ctx.new.level_rank(ln) > rank_old
    ctx.add(
        "stronger" if up else "weaker",
        f"{clause}.thresholds.{ln}",
        f"threshold {domain}.{lo} moved to level {ln}",
        "the same result now marks a higher level" if up else "the same result marks a lower level",
    )


def _threshold(ctx: Context, clause: str, name: str, a: Threshold, b: Threshold) -> None:
    deeper = {f: _conditions(ctx, clause, name, f) for f in _READINGS}
    assess_clause(ctx, "domains.*.thresholds.*", a, b, clause, deeper=deeper, name=name)


#: field -> (what the summary names, why when weaker, why when stronger)
_READINGS = {
    "when": ("threshold", "crossed later", "crossed earlier"),
    "alert": ("alert", "fires later", "fires earlier"),
}


def _conditions(ctx: Context, clause: str, name: str, field: str) -> Deeper:
    """A threshold's `when` or `alert`, set on both sides: each change in the condition."""
    noun, later, earlier = _READINGS[field]

    def compare(a: ThresholdCondition, b: ThresholdCondition) -> None:
        for kind, detail in compare_conditions(ctx, a, b):
            why = {"weaker": later, "stronger": earlier}.get(kind, "cannot compare")
            ctx.add(kind, f"{clause}.{field}", f"{noun} {name} {detail}", why)

    return compare
