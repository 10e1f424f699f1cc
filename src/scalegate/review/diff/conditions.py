"""Threshold conditions compared in the new policy's names: whether the same result crosses
sooner or later. `pol` is +1 where the condition holding means "crossed", -1 under `not`."""

from __future__ import annotations

from typing import Any

from scalegate.policy.conditions import Op, ThresholdCondition
from scalegate.policy.schema import Policy, Threshold
from scalegate.review.diff.change import ChangeKind, fmt
from scalegate.review.diff.context import Context

Finding = tuple[ChangeKind, str]


def canonical(ctx: Context, c: ThresholdCondition, old: bool) -> Any:
    """The condition as data, its eval names (on the old side) mapped to the new policy's."""

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            out = {k: walk(v) for k, v in x.items()}
            if old and isinstance(out.get("eval"), str):
                out["eval"] = ctx.evals.get(out["eval"], "?" + out["eval"])
            if old and isinstance(out.get("evals"), list):
                out["evals"] = [ctx.evals.get(e, "?" + e) for e in out["evals"]]
            return out
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(c.model_dump(mode="json", by_alias=True, exclude_none=True))


def _same(ctx: Context, a: ThresholdCondition, b: ThresholdCondition) -> bool:
    return bool(canonical(ctx, a, old=True) == canonical(ctx, b, old=False))


def same_when(ctx: Context, a: Threshold, b: Threshold) -> bool:
    if a.when is None or b.when is None:
        return False
    return _same(ctx, a.when, b.when)


def _ease(easier: bool, pol: int) -> ChangeKind:
    return "stronger" if easier == (pol > 0) else "weaker"


def _metric(c: ThresholdCondition, policy: Policy) -> str:
    spec = policy.evals.get(c.eval or "")
    return c.metric or (spec.metric if spec else "accuracy")


def compare_conditions(
    ctx: Context, a: ThresholdCondition, b: ThresholdCondition, pol: int = 1
) -> list[Finding]:
    """What changed from `a` (old) to `b` (new), each with its direction."""
    if _same(ctx, a, b):
        return []
    if a.eval is not None and b.eval is not None:
        return _bounds(ctx, a, b, pol)
    if a.suite is not None and b.suite is not None:
        return _suites(ctx, a, b, pol)
    if a.relative is not None and b.relative is not None:
        return _relatives(ctx, a, b, pol)
    if a.not_ is not None and b.not_ is not None:
        return compare_conditions(ctx, a.not_, b.not_, -pol)
    if (a.all or a.any) and (b.all or b.any):
        return _combinations(ctx, a, b, pol)
    return [("unclear", f"condition {condition_text(a)} -> {condition_text(b)}")]


def _bounds(ctx: Context, a: ThresholdCondition, b: ThresholdCondition, pol: int) -> list[Finding]:
    assert a.eval is not None and b.eval is not None
    if ctx.evals.get(a.eval) != b.eval:
        return [("unclear", f"now reads {b.eval} instead of {a.eval}")]
    ma, mb = _metric(a, ctx.old), _metric(b, ctx.new)
    if ma != mb:
        return [("unclear", f"metric {ma} -> {mb}")]
    ba, bb = a.bound(), b.bound()
    assert ba is not None and bb is not None
    if ba.op is not bb.op:
        return [("unclear", "comparison flipped between at_least and at_most")]
    x, y = ba.value, bb.value
    if x == y:
        return []
    # at_least crosses sooner when lowered; at_most (crossed at or below) when raised
    easier = y < x if ba.op is Op.at_least else y > x
    verb = "raised" if y > x else "lowered"
    prefix = "" if ba.op is Op.at_least else "at_most "
    return [(_ease(easier, pol), f"{prefix}{verb} from {fmt(x)} to {fmt(y)}")]


def _suites(ctx: Context, a: ThresholdCondition, b: ThresholdCondition, pol: int) -> list[Finding]:
    sa, sb = a.suite, b.suite
    assert sa is not None and sb is not None
    if {ctx.evals.get(e) for e in sa.evals} != set(sb.evals):
        return [("unclear", "suite tasks changed")]
    if sa.metric != sb.metric:
        return [("unclear", f"suite metric {sa.metric} -> {sb.metric}")]
    out: list[Finding] = []
    if sa.attempts != sb.attempts:  # more attempts: a task passes more easily
        out.append((_ease(sb.attempts > sa.attempts, pol), f"suite attempts {sa.attempts} -> {sb.attempts}"))
    if sa.pass_at != sb.pass_at:
        out.append((_ease(sb.pass_at < sa.pass_at, pol), f"suite pass_at {sa.pass_at} -> {sb.pass_at}"))
    if sa.at_least_fraction != sb.at_least_fraction:
        out.append(
            (
                _ease(sb.at_least_fraction < sa.at_least_fraction, pol),
                f"suite share of tasks {fmt(sa.at_least_fraction)} -> {fmt(sb.at_least_fraction)}",
            )
        )
    return out


def _relatives(ctx: Context, a: ThresholdCondition, b: ThresholdCondition, pol: int) -> list[Finding]:
    """A relative leaf holds (reads crossed) when the model is shown higher than the reference
    by more than the margin on some eval: a wider margin makes it harder to hold, more evals
    easier."""
    ra, rb = a.relative, b.relative
    assert ra is not None and rb is not None
    if ra.key != rb.key:
        return [("unclear", f"relative reference {ra.key} -> {rb.key}")]
    out: list[Finding] = []
    old_evals, new_evals = {ctx.evals.get(e, "?" + e) for e in ra.evals}, set(rb.evals)
    if old_evals != new_evals:
        if not (old_evals <= new_evals or new_evals <= old_evals):
            return [("unclear", "relative evals changed")]
        out.append((_ease(new_evals > old_evals, pol), f"relative evals {len(ra.evals)} -> {len(rb.evals)}"))
    if ra.margin != rb.margin:
        out.append(
            (_ease(rb.margin < ra.margin, pol), f"relative margin {fmt(ra.margin)} -> {fmt(rb.margin)}")
        )
    return out


def _combinations(ctx: Context, a: ThresholdCondition, b: ThresholdCondition, pol: int) -> list[Finding]:
    ca, cb = a.all or a.any or [], b.all or b.any or []
    out: list[Finding] = []
    if (a.all is None) != (b.all is None):
        # `any` holds whenever `all` does
        out.append(
            (
                _ease(b.any is not None, pol),
                f"combination {'all' if a.all else 'any'} -> {'all' if b.all else 'any'}",
            )
        )
    pairs, removed, added = _pair(ctx, ca, cb)
    for part_a, part_b in pairs:
        out.extend(compare_conditions(ctx, part_a, part_b, pol))
    for part in removed:  # dropping a part of `all` makes it easier, of `any` harder
        out.append((_ease(a.all is not None, pol), f"part {condition_text(part)} removed"))
    for part in added:
        out.append((_ease(b.any is not None, pol), f"part {condition_text(part)} added"))
    return out


def _signature(ctx: Context, c: ThresholdCondition, old: bool) -> Any:
    evals = c.evals()
    names = sorted(ctx.evals.get(e, "?" + e) for e in evals) if old else sorted(evals)
    form = next(f for f in ("eval", "suite", "relative", "all", "any", "not_") if getattr(c, f) is not None)
    return (form, tuple(names))


def _pair(
    ctx: Context, ca: list[ThresholdCondition], cb: list[ThresholdCondition]
) -> tuple[
    list[tuple[ThresholdCondition, ThresholdCondition]], list[ThresholdCondition], list[ThresholdCondition]
]:
    """Parts of an all/any: identical ones first, then ones reading the same evals."""
    left, right = list(ca), list(cb)
    pairs: list[tuple[ThresholdCondition, ThresholdCondition]] = []
    for x in list(left):
        for y in right:
            if _same(ctx, x, y):
                pairs.append((x, y))
                left.remove(x)
                right.remove(y)
                break
    for x in list(left):
        hits = [y for y in right if _signature(ctx, y, False) == _signature(ctx, x, True)]
        rivals = [z for z in left if _signature(ctx, z, True) == _signature(ctx, x, True)]
        if len(hits) == 1 and len(rivals) == 1:
            pairs.append((x, hits[0]))
            left.remove(x)
            right.remove(hits[0])
    return pairs, left, right


def condition_text(c: ThresholdCondition) -> str:
    b = c.bound()
    if b is not None:
        return f"{b.eval} {b.op.symbol} {fmt(b.value)}"
    if c.suite is not None:
        return f"suite of {len(c.suite.evals)}"
    if c.relative is not None:
        return c.relative.text()
    form = "all" if c.all is not None else "any" if c.any is not None else "not"
    return f"{form}({', '.join(condition_text(x) for x in c.children())})"
