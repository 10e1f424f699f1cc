"""The policy's name and version, its levels and its gated actions: what the rest of the
assessment lines up against, so a rename there reads as neutral and a reordering as unclear."""

from __future__ import annotations

from scalegate.review.diff.change import fmt, join, short
from scalegate.review.diff.context import Context


def assess_meta(ctx: Context) -> None:
    a, b = ctx.old.policy, ctx.new.policy
    for f in ("name", "version", "effective", "owner", "description"):
        va, vb = getattr(a, f), getattr(b, f)
        if va != vb:
            fa, fb = (short(fmt(str(v) if v else None), 40) for v in (va, vb))
            ctx.add("neutral", f"policy.{f}", f"policy {f} {fa} -> {fb}")


def assess_levels(ctx: Context) -> None:
    a, b = ctx.old.levels, ctx.new.levels
    if a != b:
        renames = {k: v for k, v in ctx.levels.items() if k != v}
        kept = [lv for lv in a if lv in ctx.levels]
        in_order = [ctx.levels[lv] for lv in kept] == [lv for lv in b if lv in ctx.levels.values()]
        what = f"levels {' < '.join(a)} -> {' < '.join(b)}"
        if len(kept) == len(a) and in_order:
            why = "renamed " + join(f"{k} -> {v}" for k, v in renames.items()) if renames else None
            ctx.add("neutral", "levels", what, why)
        else:
            ctx.add(
                "unclear", "levels", what, "levels removed or reordered; thresholds on them no longer line up"
            )
    # an action dropped from the list is gated by nothing; a new one moves nothing until a
    # response names it (and the responses are assessed on their own)
    for act in ctx.old.actions:
        if act not in ctx.new.actions:
            ctx.add("weaker", "actions", f"action {act} no longer gated", "nothing blocks it")
    for act in ctx.new.actions:
        if act not in ctx.old.actions:
            ctx.add("neutral", "actions", f"action {act} added", "gated by the responses that name it")
