"""Who decides and how often: cadence, governance, the change process, commitments and the
marginal-risk clause. Their directions are in the table; here is only what has no fixed
reading (a role redefined, a commitment added hedged)."""

from __future__ import annotations

from functools import partial

from scalegate.policy.schema import Governance
from scalegate.review.diff.change import short
from scalegate.review.diff.context import Context
from scalegate.review.diff.directions import direction
from scalegate.review.diff.walk import assess_clause, compare


def assess_cadence(ctx: Context) -> None:
    buffer = partial(assess_clause, ctx, "cadence.buffer", clause="cadence.buffer")
    cadence = partial(assess_clause, ctx, "cadence", clause="cadence", deeper={"buffer": buffer})
    compare(ctx, direction("", "cadence"), ctx.old.cadence, ctx.new.cadence, "cadence", deeper=cadence)


def assess_governance(ctx: Context) -> None:
    changes = partial(assess_clause, ctx, "governance.changes", clause="governance.changes")

    def governance(a: Governance, b: Governance) -> None:
        _roles(ctx, a, b)
        assess_clause(ctx, "governance", a, b, "governance", also=("roles",), deeper={"changes": changes})

    row = direction("", "governance")
    compare(ctx, row, ctx.old.governance, ctx.new.governance, "governance", deeper=governance)


def _roles(ctx: Context, a: Governance, b: Governance) -> None:
    """A role redefined may now be someone else: unclear. A role added or removed is judged
    where it is named (signoff, notify, approve)."""
    for role, text in a.roles.items():
        if role in b.roles and b.roles[role] != text:
            ctx.add(
                "unclear",
                f"governance.roles.{role}",
                f"role {role} redefined: {short(text, 40)!r} -> {short(b.roles[role], 40)!r}",
                "the same name may now be someone else",
            )
        elif role not in b.roles:
            ctx.add(
                "neutral",
                f"governance.roles.{role}",
                f"role {role} removed",
                "its duties are assessed where it was named",
            )
    for role in b.roles:
        if role not in a.roles:
            ctx.add("neutral", f"governance.roles.{role}", f"role {role} added")


def assess_commitments(ctx: Context) -> None:
    """A commitment dropped is weaker and one added stronger, even hedged (the summary says so);
    one kept is compared by its rows."""
    old, new = ctx.old.commitments, ctx.new.commitments
    for kind in list(old) + [k for k in new if k not in old]:
        a, b = old.get(kind), new.get(kind)
        clause = f"commitments.{kind.value}"
        if b is None:
            ctx.add("weaker", clause, f"commitment {kind.value} dropped")
        elif a is None:
            hedge = "" if b.binding else " (hedged)"
            ctx.add("stronger", clause, f"commitment {kind.value} added{hedge}")
        else:
            assess_clause(ctx, "commitments.*", a, b, clause, name=kind.value)


def assess_marginal_risk(ctx: Context) -> None:
    more = partial(assess_clause, ctx, "marginal_risk", clause="marginal_risk")
    row = direction("", "marginal_risk")
    compare(ctx, row, ctx.old.marginal_risk, ctx.new.marginal_risk, "marginal_risk", deeper=more)
