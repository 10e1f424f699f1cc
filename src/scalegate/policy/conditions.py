"""Condition trees and their one reader.

A threshold's `when`/`alert` (comparisons of eval metrics, task suites, `all`/`any`/`not`)
and a response's `if` (facts about the scorecard, combined the same way) are read by the
gate, by scoring, by early stopping, by forecasts and by every review. They all walk the
trees through this module, so there is one polarity rule (`not:` flips it, two flip it back)
and one notion of a comparison (`Bound`), and the readings cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Self

from pydantic import Field, model_validator

from scalegate.policy.base import EvidenceRuleStatus, Strict


class Op(StrEnum):
    """Which side of a threshold value counts as crossing it."""

    at_least = "at_least"
    at_most = "at_most"

    @property
    def ascii(self) -> str:
        return ">=" if self is Op.at_least else "<="

    @property
    def symbol(self) -> str:
        return "\u2265" if self is Op.at_least else "\u2264"


@dataclass(frozen=True)
class Bound:
    """One comparison: `eval`'s `metric` (None: the eval's own) at least / at most `value`."""

    eval: str
    metric: str | None
    op: Op
    value: float

    def condition(self) -> ThresholdCondition:
        """The threshold condition that makes exactly this comparison."""
        return ThresholdCondition(eval=self.eval, metric=self.metric, **{self.op.value: self.value})

    def text(self, *, unicode: bool = False) -> str:
        sym = self.op.symbol if unicode else self.op.ascii
        return f"{self.eval} {sym} {self.value:g}"


class Suite(Strict):
    """A task-suite rule as a framework states it (Anthropic RSP v1 autonomy: a task passes on
    at least one success in 10 attempts; the threshold is met when half the tasks pass).

    A counting rule over attempts, not an estimate: each task eval reports successes out of
    attempts, and a task with fewer attempts than required and no pass is undecided.
    """

    evals: list[str] = Field(min_length=1)
    attempts: int = Field(ge=1)
    pass_at: int = Field(1, ge=1)  # successes a task needs to pass
    at_least_fraction: float = Field(gt=0, le=1)  # share of tasks that must pass
    metric: str | None = None

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.pass_at > self.attempts:
            raise ValueError(f"pass_at ({self.pass_at}) cannot exceed attempts ({self.attempts})")
        if len(set(self.evals)) != len(self.evals):
            raise ValueError("suite evals must be distinct")
        return self

    def tasks_needed(self) -> int:
        return max(1, math.ceil(self.at_least_fraction * len(self.evals) - 1e-9))


class DecisionRef(Strict):
    """A reference pinned to one decision recorded in the ledger (its entry id or a prefix)."""

    decision: str = Field(min_length=6)


class RelativeClaim(Strict):
    """ "Not higher than a reference by more than `margin`" on every eval named: a leaf of the
    threshold algebra (docs/design/relative.md). It reads `below` when the model is shown not
    higher on every eval (an intersection-union test), `crossed` when it is shown higher on
    some eval (Bonferroni over the evals), `inconclusive` otherwise. A higher-scoring model
    makes it more likely to hold, as for a comparison, so it combines like one: inside
    `all:` with a comparison it rules a threshold out for a model no more capable than a
    reference that was itself below that threshold.

    `to`: `reference` (the decision named by `assess --relative-to`), `last_comprehensive`
    (the newest decision in the ledger on another model from an assessment that ran every
    eval of its policy in full), or `{decision: ID}`. Never a number typed by hand.
    """

    to: Literal["reference", "last_comprehensive"] | DecisionRef
    evals: list[str] = Field(min_length=1)
    margin: float = Field(ge=0.0, lt=1.0)
    direction: Literal["not_higher"] = "not_higher"

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.evals)) != len(self.evals):
            raise ValueError("relative evals must be distinct")
        return self

    @property
    def key(self) -> str:
        """Which reference the claim reads: `reference`, `last_comprehensive` or `decision:ID`."""
        return self.to if isinstance(self.to, str) else f"decision:{self.to.decision}"

    def text(self) -> str:
        return f"not higher than {self.key} by more than {self.margin:g} on {', '.join(self.evals)}"


class ThresholdCondition(Strict):
    """A condition over eval metrics: one comparison, a task suite, a relative claim, or
    all/any/not of them."""

    eval: str | None = None
    metric: str | None = None
    # the metric is a proportion (the share of samples scored correct), so is its threshold
    at_least: float | None = Field(None, ge=0.0, le=1.0)
    at_most: float | None = Field(None, ge=0.0, le=1.0)
    suite: Suite | None = None
    relative: RelativeClaim | None = None
    all: list[ThresholdCondition] | None = None
    any: list[ThresholdCondition] | None = None
    not_: ThresholdCondition | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        forms = [
            self.eval is not None,
            self.suite is not None,
            self.relative is not None,
            self.all is not None,
            self.any is not None,
            self.not_ is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "expected exactly one of: {eval: NAME, at_least: X} (or at_most), {suite: {...}}, "
                "{relative: {...}}, {all: [...]}, {any: [...]}, {not: {...}}"
            )
        if self.eval is not None and (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"comparison on eval '{self.eval}' needs exactly one of at_least, at_most")
        if self.eval is None and (
            self.metric is not None or self.at_least is not None or self.at_most is not None
        ):
            raise ValueError("metric/at_least/at_most belong with an `eval:` comparison")
        if (self.all is not None and not self.all) or (self.any is not None and not self.any):
            raise ValueError("all/any need at least one condition")
        return self

    def children(self) -> list[ThresholdCondition]:
        """The parts of an `all:`, `any:` or `not:` (empty for a leaf)."""
        return list(self.all or self.any or ([self.not_] if self.not_ else []))

    def evals(self) -> set[str]:
        """Every eval this condition reads, so missing evidence can be traced to thresholds."""
        return {e for leaf, _positive in leaves(self) for e, _metric in leaf.reads()}

    def reads(self) -> list[tuple[str, str | None]]:
        """(eval, metric) pairs this node reads itself: one for a comparison, one per task
        for a suite, one per eval for a relative claim (accuracy), none for a combination
        (its leaves read theirs)."""
        if self.eval is not None:
            return [(self.eval, self.metric)]
        if self.relative is not None:
            return [(e, None) for e in self.relative.evals]
        return [(e, self.suite.metric) for e in self.suite.evals] if self.suite is not None else []

    @property
    def is_leaf(self) -> bool:
        return self.eval is not None or self.suite is not None or self.relative is not None

    def bound(self) -> Bound | None:
        """The comparison at this node, or None for a suite or a combination."""
        if self.eval is None:
            return None
        op, value = (Op.at_least, self.at_least) if self.at_least is not None else (Op.at_most, self.at_most)
        assert value is not None  # _one_form: a comparison has exactly one of them
        return Bound(self.eval, self.metric, op, value)


class ResponseCondition(Strict):
    """When a response applies: a fact about the scorecard, or all/any/not of them."""

    pre_mitigation_at_least: str | None = None
    post_mitigation_at_least: str | None = None
    alert: bool | None = None
    evidence: list[EvidenceRuleStatus] | None = None
    # the checkpoint's effective training compute (FLOP); unknown compute counts as reached
    effective_compute_at_least: float | None = Field(None, gt=0)
    # raw training FLOP, without the algorithmic multiplier; unknown counts as reached
    training_compute_at_least: float | None = Field(None, gt=0)
    # holds unless the model is shown no more than the margin above the reference on every
    # eval: a claim not shown (inconclusive, no usable reference) counts as holding
    relative: RelativeClaim | None = None
    # Restricts level and alert facts to these domains (default: any domain).
    domains: list[str] | None = None
    # beside a level fact: true matches only thresholds confirmed crossed, false only those
    # that cannot be ruled out but are not confirmed (the precautionary state)
    confirmed: bool | None = None
    all: list[ResponseCondition] | None = None
    any: list[ResponseCondition] | None = None
    not_: ResponseCondition | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        facts = [
            self.pre_mitigation_at_least is not None,
            self.post_mitigation_at_least is not None,
            self.alert is not None,
            self.evidence is not None,
            self.effective_compute_at_least is not None,
            self.training_compute_at_least is not None,
            self.relative is not None,
        ]
        combos = [self.all is not None, self.any is not None, self.not_ is not None]
        if sum(facts) + sum(combos) != 1:
            raise ValueError(
                "expected exactly one of: pre_mitigation_at_least, post_mitigation_at_least, "
                "alert, evidence, effective_compute_at_least, training_compute_at_least, relative, all, "
                "any, not"
            )
        level_or_alert = any(
            x is not None for x in (self.pre_mitigation_at_least, self.post_mitigation_at_least, self.alert)
        )
        if self.domains is not None and not level_or_alert:
            raise ValueError("`domains` narrows a level or alert fact; use it beside one")
        if (
            self.confirmed is not None
            and self.pre_mitigation_at_least is None
            and (self.post_mitigation_at_least is None)
        ):
            raise ValueError("`confirmed` qualifies a level fact; use it beside pre/post_mitigation_at_least")
        if self.evidence is not None and not self.evidence:
            raise ValueError("evidence needs at least one status")
        return self

    def children(self) -> list[ResponseCondition]:
        return list(self.all or self.any or ([self.not_] if self.not_ else []))

    @property
    def is_fact(self) -> bool:
        """A leaf (level, alert, evidence or compute fact), not an `all`/`any`/`not`."""
        return self.all is None and self.any is None and self.not_ is None


# --- the readers ----------------------------------------------------------------------------------


def leaves(
    cond: ThresholdCondition | None, positive: bool = True
) -> Iterator[tuple[ThresholdCondition, bool]]:
    """Comparisons, suites and relative claims with their polarity: True under an even number
    of `not:`, where a higher score makes the whole condition more likely to hold."""
    if cond is None:
        return
    if cond.is_leaf:
        yield cond, positive
        return
    for child in cond.children():
        yield from leaves(child, positive if cond.not_ is None else not positive)


def bounds(cond: ThresholdCondition | None, positive: bool = True) -> Iterator[tuple[Bound, bool]]:
    """Every comparison of a condition with its polarity (suites are counting rules and relative
    claims comparisons with another model, not bounds)."""
    for leaf, pol in leaves(cond, positive):
        b = leaf.bound()
        if b is not None:
            yield b, pol


def relative_claims(cond: ThresholdCondition | ResponseCondition | None) -> Iterator[RelativeClaim]:
    """The relative claims of a threshold or response condition."""
    if isinstance(cond, ResponseCondition):
        found = (n.relative for n, _pol in nodes(cond))
    else:
        found = (leaf.relative for leaf, _pol in leaves(cond))
    yield from (c for c in found if c is not None)


def nodes(cond: ResponseCondition, positive: bool = True) -> Iterator[tuple[ResponseCondition, bool]]:
    """Every node of a response condition, combinations included, with its polarity: True
    where the node holding makes the whole condition more likely to hold."""
    yield cond, positive
    for child in cond.children():
        yield from nodes(child, positive if cond.not_ is None else not positive)


def facts(cond: ResponseCondition, positive: bool = True) -> Iterator[tuple[ResponseCondition, bool]]:
    """The leaf facts (level, alert, evidence, compute) with their polarity."""
    return ((n, pol) for n, pol in nodes(cond, positive) if n.is_fact)


def level_facts(cond: ResponseCondition) -> Iterator[tuple[Literal["pre", "post"], ResponseCondition]]:
    """(view, fact) of every level fact through which rising capability makes the condition
    hold; those under an odd number of `not:` switch the response off instead, so they are
    left out."""
    for fact, positive in facts(cond):
        if not positive:
            continue
        if fact.pre_mitigation_at_least is not None:
            yield "pre", fact
        if fact.post_mitigation_at_least is not None:
            yield "post", fact


def sufficient_facts(cond: ResponseCondition) -> Iterator[ResponseCondition]:
    """Facts that make the whole condition hold on their own: the condition itself, or a branch
    of an `any:` (a fact inside `all:` or `not:` does not)."""
    if cond.any is not None:
        for child in cond.any:
            yield from sufficient_facts(child)
    elif cond.is_fact:
        yield cond
