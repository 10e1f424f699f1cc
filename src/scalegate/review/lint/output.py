"""Findings as data for people and machines: sorted, as JSON, counted (rendered in
`scalegate.report.policy_review`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scalegate.review.lint.registry import RULES, SEVERITIES, Finding, Severity


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then notes; rule order within a severity."""
    order = {rid: i for i, rid in enumerate(RULES)}
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), order.get(f.rule, len(order))))


def findings_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in findings]


def summary(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f.severity] += 1
    return counts
