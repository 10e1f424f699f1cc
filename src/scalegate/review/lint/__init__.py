"""Lint a scaling policy against the documented criticisms of published frameworks.

A policy can be valid (the schema accepts it) and still be a gate that never closes: no
operational eval, no pause, nobody who owns the decision. Each rule here turns one published
criticism or best practice (docs/lint.md, DOMAIN.md section 11) into a check over the schema's
fields, so the gap is named with the clause it belongs to and what would close it.

Rules are pure functions of the policy: the same file always gives the same findings, in
registry order. The rule registry is `registry`; what the rules read is `reads`; the rules
live in one module per METR component (`limits`, `evaluation`, `response`, `protections`,
`accountability`), each of which registers its rules when imported here; `output` renders
findings.
"""

from __future__ import annotations

# importing each component registers its rules (grouped by METR component, as docs/lint.md lists them)
from scalegate.review.lint import accountability, evaluation, limits, protections, response  # noqa: F401
from scalegate.review.lint.output import findings_json, sorted_findings, summary
from scalegate.review.lint.reads import (
    ACTOR,
    ADVERSARIAL,
    BOARD_ROLE,
    CORE_CATEGORIES,
    CORE_GROUPS,
    HEDGE,
    MAGNITUDE,
    MISALIGNMENT_CATEGORIES,
    MISUSE_CATEGORIES,
    SELF_ACTING,
    capability_conditioned,
    release_actions,
    response_clause,
    training_actions,
)

# tests read the level facts directly (tests/policy/test_conditions.py)
from scalegate.review.lint.reads import _level_facts as _level_facts
from scalegate.review.lint.registry import (
    RULES,
    SEVERITIES,
    Check,
    Finding,
    Hit,
    Rule,
    Severity,
    _numeric_order,
    has_errors,
    lint_policy,
)

_numeric_order()

__all__ = [
    "ACTOR",
    "ADVERSARIAL",
    "BOARD_ROLE",
    "CORE_CATEGORIES",
    "CORE_GROUPS",
    "HEDGE",
    "MAGNITUDE",
    "MISALIGNMENT_CATEGORIES",
    "MISUSE_CATEGORIES",
    "RULES",
    "SELF_ACTING",
    "SEVERITIES",
    "Check",
    "Finding",
    "Hit",
    "Rule",
    "Severity",
    "capability_conditioned",
    "findings_json",
    "has_errors",
    "lint_policy",
    "release_actions",
    "response_clause",
    "sorted_findings",
    "summary",
    "training_actions",
]
