"""Scorecard + policy + protections in place -> a decision per action, with reasons.

Pure and deterministic, so anyone can recompute a decision from what the assessment records.
It fails closed: an action is allowed only when no response that blocks it applies and every
protection a response requires before it is in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scalegate.policy.base import EvidenceStatus
from scalegate.policy.conditions import ResponseCondition
from scalegate.policy.schema import Policy
from scalegate.safety_case import CaseResult
from scalegate.scoring import Comparison, DomainScore, Scorecard, claim_id

#: The format of a recorded decision. 1: reasons carry rendered sentences only; 2: each also
#: carries its facts as data (`records`), which is what verification compares.
DECISION_FORMAT = 2

FactKind = Literal[
    "level",
    "baseline",
    "alert",
    "no_alert",
    "evidence",
    "inconclusive",
    "scorecard_inconclusive",
    "compute",
    "relative",
    "not",
]


class Fact(BaseModel):
    """One fact a response condition established, as data: the domain, view, level, the
    comparisons with their numbers, the evidence status. `text()` renders it; a decision is
    verified on these fields, never on the sentence, so rewording cannot break a ledger."""

    model_config = ConfigDict(frozen=True)

    kind: FactKind
    domain: str | None = None
    view: Literal["pre", "post"] | None = None
    level: str | None = None
    label: str | None = None
    eval_id: str | None = None
    status: str | None = None  # evidence status, or the threshold's status
    operationalized: bool = True
    comparisons: list[Comparison] = Field(default_factory=list)
    quantity: str | None = None  # compute facts: "effective compute" | "training compute"
    value: float | None = None
    limit: float | None = None
    inner: list[Fact] = Field(default_factory=list)  # `not`: what did not hold

    def text(self) -> str:
        return _TEXT[self.kind](self)


def _comparisons(f: Fact, sep: str = "; ") -> str:
    return sep.join(c.describe() for c in f.comparisons)


def _level_text(f: Fact) -> str:
    name = f"{f.level} ({f.label})" if f.label else f.level
    why = (_comparisons(f) if f.operationalized else "threshold is prose only (not operationalized)") or str(
        f.status
    ).replace("_", " ")
    return f"{f.domain} {f.view}-mitigation level {name}: {why}"


def _undecided_text(f: Fact) -> str:
    how = "inconclusive" if all(c.state == "inconclusive" for c in f.comparisons) else "undecided"
    suffix = " (post-mitigation)" if f.view == "post" else ""
    return f"{f.domain} '{f.level}' is {how}: {_comparisons(f, ', ')}{suffix}"


def _compute_text(f: Fact) -> str:
    if f.value is None:
        return f"{f.quantity} unknown (limit {f.limit:.3g} FLOP)"
    return f"{f.quantity} {f.value:.3g} >= {f.limit:.3g} FLOP"


#: The sentence of each kind of fact: rendering only, never compared (`same_decision`).
_TEXT: dict[str, Callable[[Fact], str]] = {
    "baseline": lambda f: f"{f.domain} {f.view}-mitigation level {f.level} (baseline)",
    "level": _level_text,
    "alert": lambda f: f"{f.domain} alert for '{f.level}': {_comparisons(f)}",
    "no_alert": lambda f: "no alert fired",
    "evidence": lambda f: f"evidence for '{f.eval_id}' is {f.status}",
    "inconclusive": _undecided_text,
    "scorecard_inconclusive": lambda f: "the scorecard is inconclusive",
    "compute": _compute_text,
    "relative": lambda f: f"not shown: {f.label}" + (f" ({_comparisons(f)})" if f.comparisons else ""),
    "not": lambda f: f"not ({'; '.join(x.text() for x in f.inner) or 'false'})",
}


Fact.model_rebuild()


def texts(records: list[Fact]) -> list[str]:
    return [f.text() for f in records]


class ActionStatus(StrEnum):
    allowed = "allowed"
    blocked = "blocked"
    # Nothing blocks it, but the policy puts it under sign-off: allowed once the named roles
    # have signed the decision in the ledger.
    needs_signoff = "needs_signoff"


class Reason(BaseModel):
    """Why an action is blocked: the policy clause, and the facts that made it apply."""

    model_config = ConfigDict(frozen=True)

    clause: str
    kind: str  # "block" | "missing_protection"
    summary: str
    facts: list[str] = Field(default_factory=list)  # rendered from `records` when decided
    evals: list[str] = Field(default_factory=list)
    records: list[Fact] = Field(default_factory=list)  # format 2: the facts as data


class ActionDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: str
    status: ActionStatus
    reasons: list[Reason] = Field(default_factory=list)
    required_protections: list[str] = Field(default_factory=list)
    required_cases: list[str] = Field(default_factory=list)
    signoff_roles: list[str] = Field(default_factory=list)
    # roles to inform before proceeding (governance.inform_before and applied responses)
    notify_roles: list[str] = Field(default_factory=list)


class AppliedResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    clause: str
    facts: list[str]
    evals: list[str]
    # what the clause obliges beyond the gate (lock down weights, post-mortem, ...)
    obligations: list[str] = Field(default_factory=list)
    records: list[Fact] = Field(default_factory=list)


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    actions: dict[str, ActionDecision]
    applied_responses: list[AppliedResponse]
    protections_in_place: list[str]
    required_protections: list[str]
    safety_cases: dict[str, bool] = Field(default_factory=dict)  # requirement -> supported
    record_format: int = 1  # absent from decisions recorded before facts were data

    def allowed(self, action: str) -> bool:
        found = self.actions.get(action)
        return found is not None and found.status is ActionStatus.allowed


class _Match(BaseModel):
    holds: bool
    records: list[Fact] = Field(default_factory=list)
    evals: list[str] = Field(default_factory=list)

    @property
    def facts(self) -> list[str]:
        return texts(self.records)


def _level_fact(
    policy: Policy,
    domains: dict[str, DomainScore],
    level: str,
    only: list[str] | None,
    side: str,
    confirmed: bool | None = None,
) -> _Match:
    """One fact per domain at or above `level`: the threshold that sets its level, and why.

    `confirmed=True` counts only confirmed crossings; `False` only the precautionary state
    (not ruled out, not confirmed); `None` both."""
    rank = policy.level_rank(level)
    facts: list[Fact] = []
    evals: set[str] = set()
    for name, d in domains.items():
        if only is not None and name not in only:
            continue
        reached = policy.level_rank(d.level) >= rank
        sure = policy.level_rank(d.confirmed_level) >= rank
        if not (sure if confirmed else reached and not sure if confirmed is False else reached):
            continue
        shown = d.confirmed_level if confirmed else d.level
        top = next((t for t in d.thresholds if t.level == shown), None)
        view: Literal["pre", "post"] = "pre" if side == "pre" else "post"
        if top is None:  # the baseline level: every domain is at least there
            facts.append(Fact(kind="baseline", domain=name, view=view, level=shown))
            continue
        facts.append(
            Fact(
                kind="level",
                domain=name,
                view=view,
                level=top.level,
                label=top.label,
                status=top.status,
                operationalized=top.when.operationalized,
                comparisons=top.when.comparisons,
            )
        )
        evals.update(c.eval_id for c in top.when.comparisons)
    return _Match(holds=bool(facts), records=facts, evals=sorted(evals))


def _alert_fact(domains: dict[str, DomainScore], want: bool, only: list[str] | None) -> _Match:
    """One fact per domain: its highest fired alert."""
    facts: list[Fact] = []
    evals: set[str] = set()
    for name, d in domains.items():
        if only is not None and name not in only:
            continue
        fired = [t for t in d.thresholds if t.alert_fired and t.alert is not None]
        if fired:
            top = fired[-1]
            assert top.alert is not None
            facts.append(Fact(kind="alert", domain=name, level=top.level, comparisons=top.alert.comparisons))
            evals.update(c.eval_id for c in top.alert.comparisons)
    if want:
        return _Match(holds=bool(facts), records=facts, evals=sorted(evals))
    return _Match(holds=not facts, records=[] if facts else [Fact(kind="no_alert")])


def _evidence_fact(scorecard: Scorecard, wanted: list[str]) -> _Match:
    facts: list[Fact] = []
    evals: list[str] = []
    for eval_id, status in scorecard.evidence_status.items():
        # evidence for another eval spec is, for this eval, missing
        named = status.value in wanted or (status is EvidenceStatus.mismatch and "missing" in wanted)
        if status is not EvidenceStatus.ok and named:
            facts.append(Fact(kind="evidence", eval_id=eval_id, status=status.value))
            evals.append(eval_id)
    found = _inconclusive(scorecard) if "inconclusive" in wanted else []
    if found or ("inconclusive" in wanted and scorecard.inconclusive):
        evals += [c.eval_id for f in found for c in f.comparisons]
        # the flag and the comparisons must never disagree towards allowing
        facts += found if found or facts else [Fact(kind="scorecard_inconclusive")]
    return _Match(holds=bool(facts), records=facts, evals=sorted(set(evals)))


def _inconclusive(scorecard: Scorecard) -> list[Fact]:
    """The undecided comparisons scoring derived (`scoring.undecided_comparisons`), as facts."""
    return [
        Fact(kind="inconclusive", comparisons=[u.comparison], domain=u.domain, view=u.view, level=u.level)
        for u in scorecard.undecided
    ]


def _matches(policy: Policy, cond: ResponseCondition, card: Scorecard) -> _Match:
    if cond.pre_mitigation_at_least is not None:
        return _level_fact(
            policy,
            card.pre_mitigation.domains,
            cond.pre_mitigation_at_least,
            cond.domains,
            "pre",
            cond.confirmed,
        )
    if cond.post_mitigation_at_least is not None:
        return _level_fact(
            policy,
            card.post_mitigation.domains,
            cond.post_mitigation_at_least,
            cond.domains,
            "post",
            cond.confirmed,
        )
    if cond.alert is not None:
        return _alert_fact(card.pre_mitigation.domains, cond.alert, cond.domains)
    if cond.evidence is not None:
        return _evidence_fact(card, list(cond.evidence))
    for label, value, limit in (
        ("effective compute", card.effective_compute, cond.effective_compute_at_least),
        ("training compute", card.training_compute, cond.training_compute_at_least),
    ):
        if limit is None:
            continue
        fact = Fact(kind="compute", quantity=label, value=value, limit=limit)
        # unknown compute counts as reached: fail closed
        return _Match(holds=value is None or value >= limit, records=[fact])
    if cond.relative is not None:
        # a claim not shown (inconclusive, no usable reference, not read) counts as holding
        read = card.relative.get(claim_id(cond.relative))
        fact = Fact(kind="relative", label=cond.relative.text(), comparisons=read.comparisons if read else [])
        return _Match(holds=read is None or not read.shown, records=[fact])
    children = [_matches(policy, c, card) for c in cond.children()]
    if cond.not_ is not None:
        inner = children[0]
        return _Match(holds=not inner.holds, records=[Fact(kind="not", inner=inner.records)])
    held = [c for c in children if c.holds]
    holds = len(held) == len(children) if cond.all is not None else bool(held)
    return _Match(
        holds=holds,
        records=[f for c in held for f in c.records],
        evals=sorted({e for c in held for e in c.evals}),
    )


class _Tally:
    """What the responses that apply add up to, per action: reasons against it, protections
    and safety cases required before it, roles to inform."""

    def __init__(self, policy: Policy) -> None:
        self.actions = list(policy.actions)
        self.reasons: dict[str, list[Reason]] = {a: [] for a in self.actions}
        self.required: dict[str, set[str]] = {a: set() for a in self.actions}
        self.cases: dict[str, set[str]] = {a: set() for a in self.actions}
        gov = policy.governance
        self.notify: dict[str, set[str]] = {
            a: set(gov.inform_before.get(a, []) if gov else []) for a in self.actions
        }

    def apply(
        self,
        resp: Any,
        clause: str,
        match: _Match,
        in_place: set[str],
        cases: dict[str, CaseResult],
    ) -> None:
        def reason(action: str, kind: str, summary: str) -> None:
            self.reasons[action].append(
                Reason(
                    clause=clause,
                    kind=kind,
                    summary=summary,
                    facts=match.facts,
                    evals=match.evals,
                    records=match.records,
                )
            )

        for action in self.actions:
            self.notify[action].update(resp.notify)
        for action in resp.block:
            reason(action, "block", resp.description or clause)
        req = resp.require
        if req is None:
            return
        for action in req.before or self.actions:
            self.required[action].update(req.protections)
            missing = [p for p in req.protections if p not in in_place]
            if missing:
                reason(
                    action, "missing_protection", f"requires {', '.join(missing)} in place before {action}"
                )
            if req.safety_case is None:
                continue
            self.cases[action].add(req.safety_case)
            case = cases.get(req.safety_case)
            if case is None or not case.supported:
                gaps = case.missing if case is not None else ["no case was submitted"]
                reason(
                    action,
                    "missing_safety_case",
                    f"requires an affirmative safety case '{req.safety_case}' before {action}: "
                    + "; ".join(gaps),
                )


def decide(
    policy: Policy,
    scorecard: Scorecard,
    protections_in_place: set[str],
    cases: dict[str, CaseResult] | None = None,
) -> Decision:
    """`cases`: the checked safety cases by requirement name; an absent one is unsupported."""
    cases = cases or {}
    tally = _Tally(policy)
    applied: list[AppliedResponse] = []
    for i, resp in enumerate(policy.responses):
        match = _matches(policy, resp.if_, scorecard)
        if not match.holds:
            continue
        clause = policy.response_id(i)
        applied.append(
            AppliedResponse(
                clause=clause,
                facts=match.facts,
                evals=match.evals,
                obligations=resp.obligations,
                records=match.records,
            )
        )
        tally.apply(resp, clause, match, protections_in_place, cases)
    reasons, required, required_cases, notify = tally.reasons, tally.required, tally.cases, tally.notify
    signoff = policy.governance.signoff if policy.governance else {}
    actions = {
        a: ActionDecision(
            action=a,
            status=(
                ActionStatus.blocked
                if reasons[a]
                else ActionStatus.needs_signoff
                if signoff.get(a)
                else ActionStatus.allowed
            ),
            reasons=reasons[a],
            required_protections=sorted(required[a]),
            required_cases=sorted(required_cases[a]),
            signoff_roles=list(signoff.get(a, [])),
            notify_roles=sorted(notify[a]),
        )
        for a in policy.actions
    }
    return Decision(
        actions=actions,
        applied_responses=applied,
        protections_in_place=sorted(protections_in_place),
        required_protections=sorted(set().union(*required.values())),
        safety_cases={name: c.supported for name, c in cases.items()},
        record_format=DECISION_FORMAT,
    )


#: Rendered sentences: what a recorded decision is never compared on.
_TEXT_FIELDS = ("summary", "facts")


def decision_data(decision: Decision, *, records: bool = True) -> dict[str, Any]:
    """A decision as the data verification compares: statuses, clauses, reason kinds, evals,
    protections, roles and (`records`) the facts as data, without any rendered sentence."""
    data = decision.model_dump(mode="json")
    data.pop("record_format")
    for part in [r for a in data["actions"].values() for r in a["reasons"]] + data["applied_responses"]:
        for name in (*_TEXT_FIELDS, *(() if records else ("records",))):
            part.pop(name, None)
    return data


def same_decision(recorded: Decision, again: Decision) -> bool:
    """Whether a recorded decision is the one recomputed from its inputs. Compared as data (a
    rewording of any sentence changes nothing); a decision recorded before format 2 has no
    facts as data and is compared on the rest. Numbers agree within 1e-9, the tolerance at
    which recorded intervals are re-graded (evals/special.py)."""
    records = recorded.record_format >= 2
    return _close(decision_data(recorded, records=records), decision_data(again, records=records))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class ActionBasis(BaseModel):
    """What an action's status rests on, so an "allowed" is never read as more than it is:
    either no clause of the policy gates the action at all, or the clauses that gate it did
    not apply, with how many operational thresholds the evidence ruled out and how many
    thresholds no evidence could decide (prose only, or unknown)."""

    model_config = ConfigDict(frozen=True)

    action: str
    gated_by: list[str]  # response clauses that can block or require something before it
    signoff: list[str]  # roles whose sign-off the policy puts it under
    ruled_out: int  # operational thresholds the evidence ruled out (pre and post views)
    undecided: int  # thresholds no evidence decided: prose only, or evidence unknown

    def describe(self, status: ActionStatus) -> str:
        if not self.gated_by:
            return f"no clause of this policy gates {self.action}" + (
                "; the policy puts it under sign-off" if self.signoff else ""
            )
        if status is ActionStatus.blocked:
            return f"gated by {len(self.gated_by)} response(s)"
        undecided = f", {self.undecided} undecided" if self.undecided else ""
        return (
            f"the {len(self.gated_by)} response(s) gating it did not apply: {self.ruled_out} operational "
            f"threshold(s) ruled out by evidence{undecided}"
        )


def basis(policy: Policy, scorecard: Scorecard) -> dict[str, ActionBasis]:
    """Per action: which clauses gate it, and how much evidence the scorecard decided."""
    thresholds = [
        t
        for view in (scorecard.pre_mitigation, scorecard.post_mitigation)
        for d in view.domains.values()
        for t in d.thresholds
    ]
    ruled_out = sum(t.ruled_out and t.when.operationalized for t in thresholds)
    undecided = sum(not t.when.operationalized or t.when.state.value == "unknown" for t in thresholds)
    signoff = policy.governance.signoff if policy.governance else {}
    out: dict[str, ActionBasis] = {}
    for action in policy.actions:
        gated = [
            policy.response_id(i)
            for i, r in enumerate(policy.responses)
            if action in r.block or (r.require is not None and action in (r.require.before or policy.actions))
        ]
        out[action] = ActionBasis(
            action=action,
            gated_by=gated,
            signoff=list(signoff.get(action, [])),
            ruled_out=ruled_out,
            undecided=undecided,
        )
    return out
