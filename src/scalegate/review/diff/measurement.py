"""How capability is measured: statistics, evidence rules, evaluations, elicitation and the
post-mitigation clause; a different measurement is unclear, more effort to find capability is
stronger."""

from __future__ import annotations

from scalegate.policy.schema import Elicitation
from scalegate.review.diff.context import Context
from scalegate.review.diff.directions import fields
from scalegate.review.diff.walk import assess_clause, walk


def assess_statistics(ctx: Context) -> None:
    a, b = ctx.old.statistics, ctx.new.statistics
    walk(ctx, "statistics", a, b, "statistics")
    ctx.rest("statistics", a, b, fields("statistics"))
    e, f = ctx.old.evidence, ctx.new.evidence
    walk(ctx, "evidence", e, f, "evidence")
    ctx.rest("evidence", e, f, fields("evidence"))


def assess_evals(ctx: Context) -> None:
    for name, spec in ctx.old.evals.items():
        new_name = ctx.evals.get(name)
        if new_name is None:
            ctx.add(
                "neutral",
                f"evals.{name}",
                f"evaluation {name} no longer declared",
                "thresholds that read it are assessed on their own",
            )
            continue
        clause = f"evals.{new_name}"
        other = ctx.new.evals[new_name]
        if new_name != name:
            ctx.add("neutral", clause, f"evaluation {name} renamed to {new_name}")
        assess_clause(ctx, "evals.*", spec, other, clause, also=("elicitation",), name=new_name)
        if spec.elicitation != other.elicitation:
            # an eval's elicitation replaces the policy-wide one: compare what applies
            assess_elicitation(
                ctx,
                f"{clause}.elicitation",
                spec.elicitation or ctx.old.elicitation,
                other.elicitation or ctx.new.elicitation,
            )
    for name in ctx.new.evals:
        if name not in ctx.evals.values():
            ctx.add("neutral", f"evals.{name}", f"evaluation {name} added")


def assess_elicitation(ctx: Context, clause: str, a: Elicitation | None, b: Elicitation | None) -> None:
    """The policy-wide elicitation (`clause` "elicitation") or one eval's; unset is the default."""
    ea, eb = a or Elicitation(), b or Elicitation()
    where = "" if clause == "elicitation" else f" ({clause.rsplit('.', 1)[0]})"
    profiles = (set(ea.profiles or []) - {"zero_shot"}, set(eb.profiles or []) - {"zero_shot"})
    assess_clause(ctx, "elicitation", ea, eb, clause, values={"profiles": profiles}, where=where)


def assess_post_mitigation(ctx: Context) -> None:
    a, b = ctx.old.post_mitigation, ctx.new.post_mitigation
    if a == b:
        return
    if a is None or b is None:
        ctx.add(
            "unclear",
            "post_mitigation",
            f"post-mitigation evidence clause {'added' if a is None else 'removed'}",
            "without it the safeguarded system is judged on the raw model's evidence",
        )
        return
    assess_clause(ctx, "post_mitigation", a, b, "post_mitigation")
