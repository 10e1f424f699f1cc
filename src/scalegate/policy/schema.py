"""Policy schema v1: the typed form of a scaling policy.

Everything a gate decides is traced back to a field of these models, so they are strict
(unknown keys are errors) and validated across references (a threshold naming an eval that
does not exist is an error at load time, never a silent `unknown` at gate time).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1

Loc = tuple[str | int, ...]

#: The actions every policy gates. A policy may add its own in `actions`.
DEFAULT_ACTIONS: tuple[str, ...] = (
    "continue_training",
    "internal_deployment",
    "external_deployment",
    "open_weights",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EvidenceStatus(StrEnum):
    """Why a piece of evidence can or cannot be used. Anything but `ok` is unknown to a gate."""

    ok = "ok"
    missing = "missing"  # never ran, or the task could not be found
    error = "error"  # the run failed
    cancelled = "cancelled"  # the run was interrupted
    partial = "partial"  # some samples errored or never completed
    unreliable = "unreliable"  # ran, but the answers could not be read (format check failed)
    insufficient = "insufficient"  # fewer scored samples than the policy's minimum
    stale = "stale"  # for another checkpoint, or older than the cadence allows


#: Statuses that a response's `evidence:` condition may name. `inconclusive` is the state of a
#: threshold comparison whose interval straddles the threshold.
EvidenceRuleStatus = Literal[
    "missing",
    "error",
    "cancelled",
    "partial",
    "unreliable",
    "insufficient",
    "stale",
    "inconclusive",
]


class PolicyMeta(Strict):
    name: str
    version: str
    effective: dt.date | None = None
    owner: str | None = None
    description: str | None = None


class Statistics(Strict):
    """How evidence becomes a three-state comparison."""

    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    interval: Literal["wilson", "clopper_pearson"] = "wilson"
    # What an interval straddling a threshold means for the level. `crossed` is the
    # precautionary reading ("cannot rule out" means act as though crossed).
    inconclusive_as: Literal["crossed", "below"] = "crossed"


class EvidenceRules(Strict):
    """When evidence is too weak to be evidence at all."""

    min_samples: int = Field(20, ge=1)
    # Generate-and-parse scoring: share of answers that could not be read before the eval is
    # `unreliable` (fail closed) instead of a low score.
    max_unparsed_fraction: float = Field(0.05, ge=0.0, le=1.0)


class EvalSpec(Strict):
    """One evaluation the policy relies on: an Inspect task, its arguments and the metric."""

    task: str = Field(description="Inspect task: scalegate/<name>, a registry name, or a file")
    args: dict[str, Any] = Field(default_factory=dict)
    metric: str = "accuracy"
    description: str | None = None
    # score of random guessing (0.25 for four options): the floor of capability forecasts
    chance: float = Field(0.0, ge=0.0, lt=1.0)


class ThresholdCondition(Strict):
    """A condition over eval metrics: one comparison, or all/any/not of conditions."""

    eval: str | None = None
    metric: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    all: list[ThresholdCondition] | None = None
    any: list[ThresholdCondition] | None = None
    not_: ThresholdCondition | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        forms = [
            self.eval is not None,
            self.all is not None,
            self.any is not None,
            self.not_ is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "expected exactly one of: {eval: NAME, at_least: X} (or at_most), "
                "{all: [...]}, {any: [...]}, {not: {...}}"
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

    def evals(self) -> set[str]:
        """Every eval this condition reads, so missing evidence can be traced to thresholds."""
        if self.eval is not None:
            return {self.eval}
        children = self.all or self.any or ([self.not_] if self.not_ else [])
        return set().union(*(c.evals() for c in children))


class Threshold(Strict):
    description: str
    # None: the threshold exists only as prose. The gate treats it as unknown (fail closed).
    when: ThresholdCondition | None = None
    alert: ThresholdCondition | None = None
    source: str | None = None


class Domain(Strict):
    title: str
    description: str | None = None
    thresholds: dict[str, Threshold]


class ResponseCondition(Strict):
    """When a response applies: a fact about the scorecard, or all/any/not of them."""

    pre_mitigation_at_least: str | None = None
    post_mitigation_at_least: str | None = None
    alert: bool | None = None
    evidence: list[EvidenceRuleStatus] | None = None
    # the checkpoint's effective training compute (FLOP); unknown compute counts as reached
    effective_compute_at_least: float | None = Field(None, gt=0)
    # Restricts level and alert facts to these domains (default: any domain).
    domains: list[str] | None = None
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
        ]
        combos = [self.all is not None, self.any is not None, self.not_ is not None]
        if sum(facts) + sum(combos) != 1:
            raise ValueError(
                "expected exactly one of: pre_mitigation_at_least, post_mitigation_at_least, "
                "alert, evidence, effective_compute_at_least, all, any, not"
            )
        if self.domains is not None and not (
            sum(facts) and self.evidence is None and self.effective_compute_at_least is None
        ):
            raise ValueError("`domains` narrows a level or alert fact; use it beside one")
        if self.evidence is not None and not self.evidence:
            raise ValueError("evidence needs at least one status")
        return self

    def children(self) -> list[ResponseCondition]:
        return list(self.all or self.any or ([self.not_] if self.not_ else []))


class ProtectionRequirement(Strict):
    """Protections that must be in place before the listed actions (default: all actions)."""

    protections: list[str] = Field(min_length=1)
    before: list[str] | None = Field(None, min_length=1)


class Response(Strict):
    id: str | None = None
    description: str | None = None
    if_: ResponseCondition = Field(alias="if")
    block: list[str] = Field(default_factory=list)
    require: ProtectionRequirement | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if not self.block and self.require is None:
            raise ValueError("a response needs `block: [actions]`, `require: {...}`, or both")
        return self


class ChangeProcess(Strict):
    """How this policy may be replaced: who approves, and how long the notice runs."""

    approve: list[str] = Field(min_length=1)
    notice_days: int = Field(0, ge=0)


class Governance(Strict):
    roles: dict[str, str] = Field(default_factory=dict)
    changes: ChangeProcess | None = None
    # action (or `override`, `policy_change`) -> roles that must sign off
    signoff: dict[str, list[str]] = Field(default_factory=dict)
    # ledger fields (`kind.field`) a public audit bundle replaces by their digests
    restricted_fields: list[str] = Field(default_factory=list)


class Cadence(Strict):
    """When an assessment is due: whichever trigger comes first."""

    every_effective_compute_multiple: float | None = Field(None, gt=1.0)
    max_days: int | None = Field(None, ge=1)
    # Anthropic RSP v2: accumulated post-training enhancements count, measured in calendar time
    post_training_months: float | None = Field(None, gt=0)
    during_training: bool = True
    # a fired alert pauses training (not only a crossed threshold)
    alerts_pause_training: bool = False
    # when a forecast projects a crossing before the next scheduled assessment, assess early
    shorten_on_forecast: bool = True


class Policy(Strict):
    scalegate: Literal[1] = Field(description="policy schema version")
    policy: PolicyMeta
    levels: list[str] = Field(min_length=2)
    actions: list[str] = Field(default_factory=lambda: list(DEFAULT_ACTIONS))
    statistics: Statistics = Field(default_factory=lambda: Statistics())
    evidence: EvidenceRules = Field(default_factory=lambda: EvidenceRules())
    evals: dict[str, EvalSpec] = Field(min_length=1)
    domains: dict[str, Domain] = Field(min_length=1)
    protections: dict[str, str] = Field(default_factory=dict)
    responses: list[Response] = Field(min_length=1)
    cadence: Cadence | None = None
    governance: Governance | None = None

    def reference_problems(self) -> list[tuple[Loc, str]]:
        """Cross-references pydantic cannot see: names that must exist elsewhere in the file.

        Each problem comes with the field path it belongs to, so the loader can name its line.
        """
        out: list[tuple[Loc, str]] = []
        if len(set(self.levels)) != len(self.levels):
            out.append((("levels",), "level names must be unique"))
        if len(set(self.actions)) != len(self.actions):
            out.append((("actions",), "action names must be unique"))
        for dname, domain in self.domains.items():
            for level, thr in domain.thresholds.items():
                loc: Loc = ("domains", dname, "thresholds", level)
                if level not in self.levels:
                    out.append((loc, f"unknown level '{level}' (levels: {self.levels})"))
                elif level == self.levels[0]:
                    out.append((loc, f"'{level}' is the baseline level and takes no threshold"))
                for key, cond in (("when", thr.when), ("alert", thr.alert)):
                    if cond is not None:
                        out.extend(((*loc, key), p) for p in self._comparison_problems(cond))
        for i, resp in enumerate(self.responses):
            rloc: Loc = ("responses", i)
            out.extend(((*rloc, "if"), p) for p in self._condition_problems(resp.if_))
            for action in resp.block:
                if action not in self.actions:
                    out.append(((*rloc, "block"), f"unknown action '{action}' (actions: {self.actions})"))
            if resp.require:
                for action in resp.require.before or []:
                    if action not in self.actions:
                        out.append(
                            (
                                (*rloc, "require", "before"),
                                f"unknown action '{action}' (actions: {self.actions})",
                            )
                        )
                for prot in resp.require.protections:
                    if prot not in self.protections:
                        out.append(
                            (
                                (*rloc, "require", "protections"),
                                f"protection '{prot}' is not declared under `protections:`",
                            )
                        )
        ids = [r.id for r in self.responses if r.id]
        if len(set(ids)) != len(ids):
            out.append((("responses",), "response ids must be unique"))
        if self.governance:
            for role in self.governance.changes.approve if self.governance.changes else []:
                if role not in self.governance.roles:
                    out.append(
                        (
                            ("governance", "changes", "approve"),
                            f"unknown role '{role}' (roles: {sorted(self.governance.roles)})",
                        )
                    )
            for key, roles in self.governance.signoff.items():
                for role in roles:
                    if role not in self.governance.roles:
                        out.append(
                            (
                                ("governance", "signoff", key),
                                f"unknown role '{role}' (roles: {sorted(self.governance.roles)})",
                            )
                        )
        return out

    def _comparison_problems(self, cond: ThresholdCondition) -> list[str]:
        if cond.eval is None:
            children = cond.all or cond.any or ([cond.not_] if cond.not_ else [])
            return [p for c in children for p in self._comparison_problems(c)]
        spec = self.evals.get(cond.eval)
        if spec is None:
            return [f"unknown eval '{cond.eval}' (evals: {sorted(self.evals)})"]
        if cond.metric is not None and cond.metric != spec.metric:
            return [
                f"eval '{cond.eval}' reports metric '{spec.metric}', not '{cond.metric}' "
                "(omit `metric` to use the eval's own)"
            ]
        return []

    def _condition_problems(self, cond: ResponseCondition) -> list[str]:
        out: list[str] = []
        for level in (cond.pre_mitigation_at_least, cond.post_mitigation_at_least):
            if level is not None and level not in self.levels:
                out.append(f"unknown level '{level}' (levels: {self.levels})")
        for d in cond.domains or []:
            if d not in self.domains:
                out.append(f"unknown domain '{d}' (domains: {sorted(self.domains)})")
        for child in cond.children():
            out.extend(self._condition_problems(child))
        return out

    def level_rank(self, level: str) -> int:
        return self.levels.index(level)

    def response_id(self, index: int) -> str:
        """The clause name a decision cites: the response's id, or its position."""
        rid = self.responses[index].id
        return rid if rid else f"responses[{index}]"
