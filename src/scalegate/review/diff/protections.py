"""Declared protections and safety-case requirements: a protection's text is the standard it
names, so rewording one is unclear; whether a response still requires it is judged in
responses.py."""

from __future__ import annotations

from scalegate.review.compare import security_level
from scalegate.review.diff.context import Context
from scalegate.review.diff.walk import assess_clause


def assess_protections(ctx: Context) -> None:
    for name, a in ctx.old.protections.items():
        new_name = ctx.protections.get(name)
        if new_name is None:
            ctx.add(
                "neutral",
                f"protections.{name}",
                f"protection {name} no longer declared",
                "requirements are assessed in responses",
            )
            continue
        b = ctx.new.protections[new_name]
        clause = f"protections.{new_name}"
        if new_name != name:
            ctx.add("neutral", clause, f"protection {name} renamed to {new_name}")
        levels = {"rand_sl": (security_level(name, a), security_level(new_name, b))}
        assess_clause(ctx, "protections.*", a, b, clause, values=levels, name=new_name)
    for name in ctx.new.protections:
        if name not in ctx.protections.values():
            ctx.add("neutral", f"protections.{name}", f"protection {name} declared")


def assess_safety_cases(ctx: Context) -> None:
    for name, a in ctx.old.safety_cases.items():
        b = ctx.new.safety_cases.get(name)
        clause = f"safety_cases.{name}"
        if b is None:
            ctx.add(
                "neutral",
                clause,
                f"safety case {name} no longer declared",
                "requirements are assessed in responses",
            )
            continue
        assess_clause(ctx, "safety_cases.*", a, b, clause, name=name)
    for name in ctx.new.safety_cases:
        if name not in ctx.old.safety_cases:
            ctx.add("neutral", f"safety_cases.{name}", f"safety case {name} declared")
