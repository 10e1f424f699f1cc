"""Helpers shared by the framework decision-rule tests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from scalegate.gates import Decision
from scalegate.policy.base import Cited
from scalegate.safety_case import CaseResult


def status(decision: Decision) -> dict[str, str]:
    return {a: d.status.value for a, d in decision.actions.items()}


def reasons(decision: Decision, action: str) -> list[tuple[str, str]]:
    """(clause, kind) of every reason that keeps `action` from being allowed."""
    return [(r.clause, r.kind) for r in decision.actions[action].reasons]


def applied(decision: Decision) -> list[str]:
    return [a.clause for a in decision.applied_responses]


def supported(case: str) -> CaseResult:
    return CaseResult(requirement=case, claim="checked elsewhere", supported=True, arguments=[], missing=[])


def cited_clauses(node: Any, path: str = "") -> list[tuple[str, Cited]]:
    """Every clause of a policy that can carry a citation, with its path."""
    out: list[tuple[str, Cited]] = []
    if isinstance(node, Cited):
        out.append((path, node))
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            out += cited_clauses(getattr(node, name), f"{path}.{name}")
    elif isinstance(node, dict):
        for key, value in node.items():
            out += cited_clauses(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += cited_clauses(value, f"{path}[{i}]")
    return out
