"""The rule registry: what a rule is, what it reports, and the one table every lint run walks.
Each component module registers its rules here with `@_rule` when the package imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from scalegate.policy.schema import Policy

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


class Finding(BaseModel):
    """One problem in one clause of one policy, with why it matters and how to fix it."""

    model_config = ConfigDict(frozen=True)

    rule: str
    name: str
    severity: Severity
    clause: str  # field path (`domains.cyber.thresholds.high`), or the section a missing clause belongs in
    message: str
    why: str
    source: str
    fix: str


@dataclass(frozen=True)
class Hit:
    """What a check reports; the rule adds its id, name, why and source."""

    clause: str
    message: str
    severity: Severity | None = None  # None: the rule's default severity
    fix: str | None = None  # None: the rule's default fix


Check = Callable[[Policy], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    checks: str  # what fails, in schema terms (docs/lint.md is written from these)
    why: str
    source: str
    fix: str
    check: Check

    def run(self, policy: Policy) -> list[Finding]:
        return [
            Finding(
                rule=self.id,
                name=self.name,
                severity=hit.severity or self.severity,
                clause=hit.clause,
                message=hit.message,
                why=self.why,
                source=self.source,
                fix=hit.fix or self.fix,
            )
            for hit in self.check(policy)
        ]


RULES: dict[str, Rule] = {}


def _rule(
    rule_id: str, name: str, severity: Severity, *, checks: str, why: str, source: str, fix: str
) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        RULES[rule_id] = Rule(rule_id, name, severity, checks, why, source, fix, fn)
        return fn

    return register


def lint_policy(policy: Policy, ignore: Collection[str] = ()) -> list[Finding]:
    """Every finding of every rule (except those whose id or name is in `ignore`), in rule order."""
    return [f for r in RULES.values() if r.id not in ignore and r.name not in ignore for f in r.run(policy)]


def has_errors(findings: Iterable[Finding]) -> bool:
    """`scalegate policy lint` exits non-zero exactly when this holds."""
    return any(f.severity == "error" for f in findings)


def _numeric_order() -> None:
    """Rules are defined grouped by METR component; the registry runs them in numeric order.
    The package calls this once every component module has registered its rules."""
    ordered = sorted(RULES.items(), key=lambda kv: int(kv[0][1:]))
    RULES.clear()
    RULES.update(ordered)
