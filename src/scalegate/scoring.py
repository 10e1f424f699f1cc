"""Evidence -> scorecard: the three-state reading of every threshold and alert, per domain.

Pure: a function of the policy and the evidence. A domain's level is the highest level not
ruled out, so missing evidence and inconclusive intervals (read as the policy says) push the
level up, never down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.paired import Relation
from scalegate.evals.stats import ComparisonState, compare
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.conditions import RelativeClaim, Suite, ThresholdCondition, relative_claims
from scalegate.policy.schema import Policy
from scalegate.relative import Reference, RelativeInputs, compare_eval

State = ComparisonState


class Comparison(BaseModel):
    """One metric compared with one number: the leaf a reason points to."""

    model_config = ConfigDict(frozen=True)

    eval_id: str
    metric: str
    # "at_least" | "at_most" | "passes" (a suite task: successes >= threshold) | "relative"
    # (a relative claim's eval: value is the difference from the reference, threshold the
    # margin; crossed when shown higher by more than the margin)
    op: str
    threshold: float
    state: State
    value: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    evidence_status: EvidenceStatus
    # the comparison is one of a family of this many on its rule-out side: low/high are the
    # interval at (1 - confidence) / family (scoring.evaluate_condition)
    family: int = 1
    # a relative comparison: which reference, and why it is unpaired or unreadable
    note: str | None = None

    def describe(self) -> str:
        sym = "<=" if self.op == "at_most" else ">="  # a suite task passes at successes >= threshold
        if self.op == RELATIVE_OP:
            return self._describe_relative()
        if self.value is None or self.evidence_status is not EvidenceStatus.ok:
            return f"{self.eval_id}.{self.metric} {sym} {self.threshold:g}: evidence {self.evidence_status}"
        if self.op == "passes":
            return (
                f"{self.eval_id}: {self.value:g} successes in {self.n} attempts "
                f"(passes at {self.threshold:g}): {self.state}"
            )
        fam = f", family of {self.family}" if self.family > 1 else ""
        return (
            f"{self.eval_id}.{self.metric} = {self.value:.3f} "
            f"[{self.low:.3f}, {self.high:.3f}{fam}] n={self.n} {sym} {self.threshold:g}: {self.state}"
        )

    def _describe_relative(self) -> str:
        head = f"{self.eval_id} against the reference, margin {self.threshold:g}"
        note = f" ({self.note})" if self.note else ""
        if self.value is None or self.low is None or self.high is None:
            return f"{head}: {self.state}{note}"
        return (
            f"{head}: difference {self.value:+.3f} [{self.low:+.3f}, {self.high:+.3f}] "
            f"n={self.n}: {self.state}{note}"
        )


#: The op of a relative claim's comparisons (Comparison.op).
RELATIVE_OP = "relative"


class ConditionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: State
    comparisons: list[Comparison] = Field(default_factory=list)
    operationalized: bool = True


ThresholdStatus = Literal["ruled_out", "cannot_rule_out", "crossed"]


class ThresholdResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: str
    description: str
    label: str | None = None
    when: ConditionResult
    alert: ConditionResult | None = None
    ruled_out: bool
    alert_fired: bool

    @property
    def status(self) -> ThresholdStatus:
        """`cannot_rule_out` is its own state: safeguards apply, but nothing is confirmed."""
        if self.ruled_out:
            return "ruled_out"
        return "crossed" if self.when.state is State.crossed else "cannot_rule_out"

    @property
    def name(self) -> str:
        return f"{self.level} ({self.label})" if self.label else self.level


class DomainScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    title: str
    level: str  # highest level not ruled out
    confirmed_level: str  # highest level confirmed crossed
    unknown: bool  # some threshold could not be evaluated at all
    alerts: list[str]  # levels whose alert is not ruled out
    thresholds: list[ThresholdResult]


class MitigationView(BaseModel):
    """Levels for one side of the mitigation boundary (pre: the raw model; post: safeguarded)."""

    model_config = ConfigDict(frozen=True)

    domains: dict[str, DomainScore]
    note: str | None = None


class Undecided(BaseModel):
    """An undecided comparison (inconclusive or unknown) of an undecided threshold, in the view
    where it was read: what an evidence rule on `inconclusive` names. Derived here, once, so
    the gate reads it and never re-derives it from one view."""

    model_config = ConfigDict(frozen=True)

    domain: str
    view: Literal["pre", "post"]
    level: str
    comparison: Comparison


class RelativeReading(BaseModel):
    """A response condition's relative claim as read: `shown` when the model is shown no more
    than the margin above the reference on every eval (the fact then does not hold)."""

    model_config = ConfigDict(frozen=True)

    claim: str
    shown: bool
    comparisons: list[Comparison]


def claim_id(claim: RelativeClaim) -> str:
    """The key a response's relative fact is read under (the claim as data)."""
    return json.dumps(claim.model_dump(mode="json"), sort_keys=True)


class Scorecard(BaseModel):
    model_config = ConfigDict(frozen=True)

    pre_mitigation: MitigationView
    post_mitigation: MitigationView
    evidence_status: dict[str, EvidenceStatus]
    inconclusive: bool
    # required, never defaulted: a scorecard without it would read as having nothing undecided
    undecided: list[Undecided]
    effective_compute: float | None = None
    training_compute: float | None = None
    # the responses' relative claims, by `claim_id`; one not read here counts as not shown
    relative: dict[str, RelativeReading] = Field(default_factory=dict)


POST_EQUALS_PRE = (
    "No post-mitigation evidence was gathered, so the safeguarded system is judged on the "
    "pre-mitigation evidence (an upper bound on its capability)."
)


def evaluate_condition(
    cond: ThresholdCondition,
    evidence: dict[str, EvalEvidence],
    metrics: Mapping[str, str] | None = None,
    *,
    family: int = 1,
    positive: bool = True,
    relative: RelativeContext | None = None,
) -> ConditionResult:
    """Kleene logic over three states, with `unknown` (no evidence) kept apart from
    `inconclusive` (evidence too weak to decide), because they call for different remedies.

    Family-wise control on the side that rules the condition out: an `all:` of k parts is
    ruled out when any one part is, so each part's rule-out reading is made at (1 - c) / k
    (Bonferroni), and the condition as a whole errs towards allowing at most (1 - c) / 2.
    Under `not:` the sides swap, and `any:` is the family. `family` is the divisor so far;
    `positive` whether the node is under an even number of `not:`. `relative`: what a
    relative claim reads (None: every claim is unknown)."""
    if cond.eval is not None:
        comp = _compare(cond, evidence, metrics or {}, family=family, positive=positive)
        return ConditionResult(state=comp.state, comparisons=[comp])
    if cond.suite is not None:
        return _suite(cond.suite, evidence, metrics or {})
    if cond.relative is not None:
        return _relative(cond.relative, relative, family=family, positive=positive)
    if cond.not_ is not None:
        inner = evaluate_condition(
            cond.not_, evidence, metrics, family=family, positive=not positive, relative=relative
        )
        flipped = {State.crossed: State.below, State.below: State.crossed}.get(inner.state, inner.state)
        return ConditionResult(state=flipped, comparisons=inner.comparisons)
    parts = cond.all or cond.any or []
    divides = (cond.all is not None) == positive and len(parts) > 1
    each = family * len(parts) if divides else family
    children = [
        evaluate_condition(c, evidence, metrics, family=each, positive=positive, relative=relative)
        for c in parts
    ]
    comps = [c for child in children for c in child.comparisons]
    states = {child.state for child in children}
    decisive, other = (State.below, State.crossed) if cond.all else (State.crossed, State.below)
    if decisive in states:
        state = decisive
    elif states == {other}:
        state = other
    elif State.unknown in states:
        state = State.unknown
    else:
        state = State.inconclusive
    return ConditionResult(state=state, comparisons=comps)


def _compare(
    cond: ThresholdCondition,
    evidence: dict[str, EvalEvidence],
    metrics: Mapping[str, str],
    *,
    family: int = 1,
    positive: bool = True,
) -> Comparison:
    bound = cond.bound()
    assert bound is not None
    metric = bound.metric or metrics.get(bound.eval, "accuracy")
    op, threshold = bound.op.value, bound.value
    ev = evidence.get(bound.eval)
    status = ev.status if ev else EvidenceStatus.missing
    est = ev.metrics.get(metric) if ev else None
    if ev is None or not ev.usable or est is None:
        return Comparison(
            eval_id=bound.eval,
            metric=metric,
            op=op,
            threshold=threshold,
            state=State.unknown,
            evidence_status=status if status is not EvidenceStatus.ok else EvidenceStatus.missing,
        )
    low, high = est.low, est.high
    state = compare(low, high, **{op: threshold})
    if family > 1:
        # the rule-out side (below for a positive node, crossed under `not:`) is read on the
        # wider interval at (1 - c) / family; never narrower than the recorded one
        wide = est.at(1 - (1 - est.confidence) / family)
        low, high = min(low, wide.low), max(high, wide.high)
        strict = compare(low, high, **{op: threshold})
        rule_out = State.below if positive else State.crossed
        if state is rule_out and strict is not rule_out:
            state = State.inconclusive
    return Comparison(
        eval_id=bound.eval,
        metric=metric,
        op=op,
        threshold=threshold,
        state=state,
        value=est.value,
        low=low,
        high=high,
        n=est.n,
        evidence_status=status,
        family=family,
    )


def _suite(suite: Suite, evidence: dict[str, EvalEvidence], metrics: Mapping[str, str]) -> ConditionResult:
    """Count passed tasks as the framework states the rule; a task short of its attempts
    without a pass is undecided, so the suite stays unknown until it could not matter."""
    comps: list[Comparison] = []
    for eval_id in suite.evals:
        metric = suite.metric or metrics.get(eval_id, "accuracy")
        ev = evidence.get(eval_id)
        est = ev.metrics.get(metric) if ev is not None and ev.usable else None
        status = EvidenceStatus.ok if est is not None else EvidenceStatus.missing
        if ev is not None and not ev.usable:
            status = ev.status
        state = State.unknown  # no evidence, or fewer attempts than required and no pass yet
        if est is not None and est.successes >= suite.pass_at:
            state = State.crossed
        elif est is not None and est.n >= suite.attempts:
            state = State.below
        comps.append(
            Comparison(
                eval_id=eval_id,
                metric=metric,
                op="passes",
                threshold=suite.pass_at,
                state=state,
                value=None if est is None else est.successes,
                n=None if est is None else est.n,
                evidence_status=status,
            )
        )
    passed = sum(c.state is State.crossed for c in comps)
    undecided = sum(c.state is State.unknown for c in comps)
    needed = suite.tasks_needed()
    if passed >= needed:
        state = State.crossed
    elif passed + undecided < needed:
        state = State.below
    else:
        state = State.unknown
    return ConditionResult(state=state, comparisons=comps)


@dataclass(frozen=True)
class RelativeContext:
    """What a relative claim reads beyond the condition: the model's pre-mitigation evidence
    and per-sample scores, the resolved references, the policy's confidence, and the
    threshold being read (`domain/level`, or `domain/level/alert`), which the reference's own
    decision must have ruled out for the claim to rule it out here."""

    inputs: RelativeInputs
    evidence: Mapping[str, EvalEvidence]
    confidence: float
    threshold: str | None  # None: a response's fact, about no threshold


def _relative(
    claim: RelativeClaim, ctx: RelativeContext | None, *, family: int, positive: bool
) -> ConditionResult:
    """`below` when every eval shows the model not higher than the reference by more than the
    margin (an intersection-union test, at (1 - c) / family on the rule-out side), `crossed`
    when some eval shows it higher (Bonferroni over the evals), `unknown` without a usable
    reference, else `inconclusive`. The pre-mitigation comparison serves both views: the raw
    model bounds the safeguarded one from above."""
    ref = None if ctx is None else ctx.inputs.references.get(claim.key)
    if ctx is None or ref is None or ref.problem is not None:
        why = "no reference resolved for this claim" if ref is None else ref.problem
        comps = [_relative_unread(e, claim, why) for e in claim.evals]
        return ConditionResult(state=State.unknown, comparisons=comps)
    # a model no more capable than a reference rules out only what the reference was below
    unsafe = (
        None
        if ctx.threshold is None or ctx.threshold in ref.ruled_out
        else f"the reference's decision did not rule out {ctx.threshold}"
    )
    rule_out_family = family if positive else 1
    cross_family = len(claim.evals) * (1 if positive else family)
    comps = [_relative_eval(e, claim, ctx, ref, rule_out_family, cross_family, unsafe) for e in claim.evals]
    states = {c.state for c in comps}
    state = (
        State.crossed
        if State.crossed in states
        else State.below
        if states == {State.below}
        else State.inconclusive
    )
    return ConditionResult(state=state, comparisons=comps)


def _relative_eval(
    e: str,
    claim: RelativeClaim,
    ctx: RelativeContext,
    ref: Reference,
    rule_out_family: int,
    cross_family: int,
    unsafe: str | None,
) -> Comparison:
    args = (e, ctx.evidence.get(e), ref.evidence.get(e), claim.margin)
    scores = (ctx.inputs.scores.get(e, "no scores recorded"), ref.scores.get(e, "no scores recorded"))
    out = compare_eval(*args, 1 - (1 - ctx.confidence) / rule_out_family, *scores)
    wide = compare_eval(*args, 1 - (1 - ctx.confidence) / cross_family, *scores)
    if wide.relation is Relation.higher:
        state = State.crossed
    elif out.relation is Relation.not_higher and unsafe is None:
        state = State.below
    else:
        state = State.inconclusive
    d = out.difference
    note = "; ".join(x for x in (f"reference {(ref.decision_id or ref.key)[:12]}", out.reason, unsafe) if x)
    return Comparison(
        eval_id=e,
        metric="accuracy",
        op=RELATIVE_OP,
        threshold=claim.margin,
        state=state,
        value=None if d is None else d.value,
        low=None if d is None else d.low,
        high=None if d is None else d.high,
        n=None if d is None else d.n,
        evidence_status=_status(ctx.evidence.get(e)),
        family=rule_out_family,
        note=note,
    )


def _status(ev: EvalEvidence | None) -> EvidenceStatus:
    return EvidenceStatus.missing if ev is None else ev.status


def _relative_unread(eval_id: str, claim: RelativeClaim, why: str | None) -> Comparison:
    return Comparison(
        eval_id=eval_id,
        metric="accuracy",
        op=RELATIVE_OP,
        threshold=claim.margin,
        state=State.unknown,
        evidence_status=EvidenceStatus.missing,
        note=f"{claim.key}: {why}",
    )


def _not_ruled_out(state: State, policy: Policy) -> bool:
    if state is State.inconclusive:
        return policy.statistics.inconclusive_as == "crossed"
    return state is not State.below


def score_domains(
    policy: Policy,
    evidence: dict[str, EvalEvidence],
    side: Literal["pre", "post"] = "pre",
    relative: RelativeInputs | None = None,
    pre_evidence: Mapping[str, EvalEvidence] | None = None,
) -> dict[str, DomainScore]:
    """Levels on one side of the mitigation boundary; a threshold that `applies_to` only the
    other side does not count here. Relative claims read `pre_evidence` (default: `evidence`)."""

    def ctx(threshold: str) -> RelativeContext | None:
        if relative is None:
            return None
        pre = evidence if pre_evidence is None else pre_evidence
        return RelativeContext(relative, pre, policy.statistics.confidence, threshold)

    out: dict[str, DomainScore] = {}
    metrics = {eval_id: spec.metric for eval_id, spec in policy.evals.items()}  # each eval's own
    for name, domain in policy.domains.items():
        results: list[ThresholdResult] = []
        level = confirmed = policy.levels[0]
        for lvl in policy.levels[1:]:
            thr = domain.thresholds.get(lvl)
            if thr is None or thr.applies_to not in ("both", side):
                continue
            when = (
                evaluate_condition(thr.when, evidence, metrics, relative=ctx(f"{name}/{lvl}"))
                if thr.when is not None
                else ConditionResult(state=State.unknown, operationalized=False)
            )
            alert = (
                evaluate_condition(thr.alert, evidence, metrics, relative=ctx(f"{name}/{lvl}/alert"))
                if thr.alert is not None
                else None
            )
            ruled_out = not _not_ruled_out(when.state, policy)
            fired = alert is not None and _not_ruled_out(alert.state, policy)
            results.append(
                ThresholdResult(
                    level=lvl,
                    description=thr.description,
                    label=thr.label,
                    when=when,
                    alert=alert,
                    ruled_out=ruled_out,
                    alert_fired=fired,
                )
            )
            if not ruled_out:
                level = lvl
            if when.state is State.crossed:
                confirmed = lvl
        out[name] = DomainScore(
            domain=name,
            title=domain.title,
            level=level,
            confirmed_level=confirmed,
            unknown=any(r.when.state is State.unknown for r in results),
            alerts=[r.level for r in results if r.alert_fired],
            thresholds=results,
        )
    return out


def refuse_unred_teamed(policy: Policy, ev: EvalEvidence) -> EvalEvidence:
    """Post-mitigation evidence that was not gathered under red-team profiles, where the policy
    demands red-teaming, is read as missing: a safeguard shown only to friendly prompts proves
    nothing, so it cannot lower a level."""
    post = policy.post_mitigation
    if post is None or not post.red_team or ev.red_teamed or ev.status is not EvidenceStatus.ok:
        return ev
    return ev.model_copy(
        update={
            "status": EvidenceStatus.missing,
            "message": (
                "post-mitigation evidence was not red-teamed and the policy requires it "
                f"(post_mitigation.red_team; profiles {post.red_team_profiles})"
            ),
        }
    )


def undecided_comparisons(pre: dict[str, DomainScore], post: dict[str, DomainScore]) -> list[Undecided]:
    """Each undecided comparison of an undecided threshold once, from both views (a threshold
    that `applies_to: post` is inconclusive only in the post view). Undecided is inconclusive
    *or unknown*: evidence that went missing is worse than evidence too weak to decide, so a
    rule on inconclusive evidence must not stop applying when the evidence disappears (worse
    evidence never allows more; tests/test_gate_properties.py)."""
    undecided = (State.inconclusive, State.unknown)
    seen: set[tuple[object, ...]] = set()
    out: list[Undecided] = []
    views: tuple[tuple[dict[str, DomainScore], Literal["pre", "post"]], ...] = ((pre, "pre"), (post, "post"))
    for domains, side in views:
        for d in domains.values():
            for t in d.thresholds:
                if t.when.state not in undecided:
                    continue
                for c in t.when.comparisons:
                    key = (d.domain, t.level, c.eval_id, c.metric, c.op, c.threshold)
                    if c.state in undecided and key not in seen:
                        seen.add(key)
                        out.append(Undecided(domain=d.domain, view=side, level=t.level, comparison=c))
    return out


def _response_claims(
    policy: Policy, evidence: dict[str, EvalEvidence], relative: RelativeInputs | None
) -> dict[str, RelativeReading]:
    """The responses' relative claims, read on the pre-mitigation evidence (it bounds the
    safeguarded model from above)."""
    out: dict[str, RelativeReading] = {}
    ctx = (
        None if relative is None else RelativeContext(relative, evidence, policy.statistics.confidence, None)
    )
    for resp in policy.responses:
        for claim in relative_claims(resp.if_):
            read = _relative(claim, ctx, family=1, positive=True)
            out[claim_id(claim)] = RelativeReading(
                claim=claim.text(), shown=read.state is State.below, comparisons=read.comparisons
            )
    return out


def build_scorecard(
    policy: Policy,
    evidence: dict[str, EvalEvidence],
    effective_compute: float | None = None,
    *,
    post_evidence: dict[str, EvalEvidence] | None = None,
    training_compute: float | None = None,
    relative: RelativeInputs | None = None,
) -> Scorecard:
    """Every eval the policy names gets a status; one it never ran is `missing`.

    Without `post_evidence` the safeguarded system is judged on the raw model's evidence:
    safeguards can only lower a score, so this errs towards the higher level. `relative`:
    what the policy's relative claims read (None: they are unknown, so rule nothing out).
    """
    pre = score_domains(policy, evidence, "pre", relative)
    if post_evidence is not None:
        post_evidence = {k: refuse_unred_teamed(policy, ev) for k, ev in post_evidence.items()}
    post = score_domains(
        policy, evidence if post_evidence is None else post_evidence, "post", relative, evidence
    )
    statuses = {
        eval_id: (evidence[eval_id].status if eval_id in evidence else EvidenceStatus.missing)
        for eval_id in policy.evals
    }
    inconclusive = any(
        t.when.state is State.inconclusive
        for view in (pre, post)
        for d in view.values()
        for t in d.thresholds
    )
    return Scorecard(
        relative=_response_claims(policy, evidence, relative),
        undecided=undecided_comparisons(pre, post),
        pre_mitigation=MitigationView(domains=pre),
        post_mitigation=MitigationView(domains=post, note=POST_EQUALS_PRE if post_evidence is None else None),
        evidence_status=statuses,
        inconclusive=inconclusive,
        effective_compute=effective_compute,
        training_compute=training_compute,
    )
