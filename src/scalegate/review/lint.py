"""Lint a scaling policy against the documented criticisms of published frameworks.

A policy can be valid (the schema accepts it) and still be a gate that never closes: no
operational eval, no pause, nobody who owns the decision. Each rule here turns one published
criticism or best practice (docs/lint.md, DOMAIN.md section 11) into a check over the schema's
fields, so the gap is named with the clause it belongs to and what would close it.

Rules are pure functions of the policy: the same file always gives the same findings, in
registry order.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from scalegate.gates import ActionStatus, decide
from scalegate.policy import conditions
from scalegate.policy.base import Cited
from scalegate.policy.conditions import Op, ResponseCondition
from scalegate.policy.schema import CommitmentKind, Domain, Elicitation, Policy, Response, Threshold
from scalegate.scoring import build_scorecard

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


# --- what the rules read --------------------------------------------------------------------------

MISUSE_CATEGORIES = frozenset({"cbrn", "bio", "chem", "nuclear", "cyber"})
CORE_CATEGORIES = MISUSE_CATEGORIES | {"ai_rnd", "autonomy"}
# a policy should cover one category of each group (L18)
CORE_GROUPS: dict[str, frozenset[str]] = {
    "biological/chemical (cbrn, bio or chem)": frozenset({"cbrn", "bio", "chem"}),
    "cyber": frozenset({"cyber"}),
    "AI R&D / autonomy (ai_rnd or autonomy)": frozenset({"ai_rnd", "autonomy"}),
}
MISALIGNMENT_CATEGORIES = frozenset({"autonomy", "misalignment"})
BOARD_ROLE = re.compile(r"board|trust|ltbt|director|oversight|committee|\bssc\b", re.I)
ADVERSARIAL = re.compile(r"red[- ]?team|adversarial|jailbreak|bug bount|control eval|penetration", re.I)
HEDGE = re.compile(
    r"\b(may(?! not)|might|could|aims? to|intends? to|seeks? to|strives? to|endeavou?rs? to|tries to"
    r"|try to|where (?:possible|feasible|practicable|appropriate)|as appropriate|if feasible"
    r"|best efforts?|hopes? to)\b",
    re.I,
)
# L01 vocabulary: who gains (actor profile) and how much / compared with what (magnitude, baseline)
ACTOR = re.compile(
    r"\b(?:novice|non-?expert|expert|amateur|lay(?:person|people)?\b|undergrad|graduate|ph\.?d|student"
    r"|researcher|scientist|engineer|professional|specialist|practitioner|actor|attacker|adversar"
    r"|individual|group|team|terrorist|criminal|hacker|operator|states?\b|nation|anyone|user|people"
    r"|person|human|insider|malicious|skilled|unskilled|resourced|basic training)",
    re.I,
)
# the model itself is the actor: no human actor profile to name
SELF_ACTING = re.compile(r"automat|autonom|on its own|without human", re.I)
MAGNITUDE = re.compile(
    r"\d|%|uplift|beyond|compar|relative|baseline|\bthan\b|without|significant|substantial|meaningful"
    r"|dramatic|material|severe|mass|catastroph|casualt|death|fatalit|damage|end-to-end|fully|autonom"
    r"|automat|accelerat|-level|equivalent|textbook|search|internet|tools|novel|large-scale|widespread"
    r"|infrastructure",
    re.I,
)


def _thresholds(policy: Policy) -> Iterator[tuple[str, Domain, str, Threshold, str]]:
    for dname, domain in policy.domains.items():
        for level, thr in domain.thresholds.items():
            yield dname, domain, level, thr, f"domains.{dname}.thresholds.{level}"


def _level_facts(cond: ResponseCondition) -> Iterator[ResponseCondition]:
    """Level facts through which rising capability can make the condition hold."""
    return (fact for _view, fact in conditions.level_facts(cond))


def _alert_facts(cond: ResponseCondition) -> Iterator[ResponseCondition]:
    """Alert facts through which a firing alert can make the condition hold."""
    return (f for f, positive in conditions.facts(cond) if f.alert is not None and f.alert == positive)


def _any_fact(cond: ResponseCondition, pred: Callable[[ResponseCondition], bool]) -> bool:
    return any(pred(node) for node, _positive in conditions.nodes(cond))


def _fact_level(fact: ResponseCondition) -> str:
    level = fact.pre_mitigation_at_least or fact.post_mitigation_at_least
    assert level is not None
    return level


def _ranks(policy: Policy) -> dict[str, int]:
    """Each level's rank, looked up in constant time (rules that compare every threshold with
    every response stay linear on a policy with a thousand levels)."""
    return {level: i for i, level in enumerate(policy.levels)}


def _fact_ranks(policy: Policy, resp: Response, dname: str, ranks: dict[str, int] | None = None) -> list[int]:
    """Ranks of the levels at which capability in domain `dname` can make `resp` apply."""
    ranks = ranks if ranks is not None else _ranks(policy)
    return [ranks[_fact_level(f)] for f in _level_facts(resp.if_) if f.domains is None or dname in f.domains]


def capability_conditioned(resp: Response) -> bool:
    """Whether a level fact (not under `not`) can make the response apply: it reacts to capability."""
    return next(_level_facts(resp.if_), None) is not None


def _gates(policy: Policy, resp: Response, action: str) -> bool:
    """Whether the response blocks the action or requires something before it."""
    if action in resp.block:
        return True
    return resp.require is not None and action in (resp.require.before or policy.actions)


def _capability_gated(policy: Policy, action: str) -> bool:
    return any(capability_conditioned(r) and _gates(policy, r, action) for r in policy.responses)


def response_clause(policy: Policy, index: int) -> str:
    """`responses[3] (pause-at-critical)`: the path, and the id a decision would cite."""
    rid = policy.responses[index].id
    return f"responses[{index}]" + (f" ({rid})" if rid else "")


def _commitment_present(policy: Policy, kind: CommitmentKind) -> bool:
    return kind in policy.commitments


def _binding(policy: Policy, kind: CommitmentKind) -> bool:
    """A commitment the policy makes, not one it hedges (`binding: false`): only these stand in
    for a mechanism (a forecast for an alert, an audit for outside access)."""
    c = policy.commitments.get(kind)
    return c is not None and c.binding


def _missing_commitments(policy: Policy, *kinds: CommitmentKind) -> list[str]:
    return [k.value for k in kinds if k not in policy.commitments]


def training_actions(policy: Policy) -> list[str]:
    return [a for a in policy.actions if a == "continue_training" or "train" in a]


def release_actions(policy: Policy) -> list[str]:
    """Actions that put the model in others' hands: external deployment and weight release. A
    policy that names none so gets every action that is neither training nor internal."""
    out = [a for a in policy.actions if ("deploy" in a and "internal" not in a) or "open_weights" in a]
    training = training_actions(policy)
    return out or [a for a in policy.actions if a not in training and "internal" not in a] or policy.actions


def _is_board(policy: Policy, role: str) -> bool:
    roles = policy.governance.roles if policy.governance else {}
    return bool(BOARD_ROLE.search(role) or BOARD_ROLE.search(roles.get(role, "")))


def _strong(e: Elicitation | None) -> bool:
    return e is not None and bool(
        e.without_safety_training
        or e.fine_tune_for_misuse
        or e.best_scaffolds
        or e.treat_as_lower_bound
        or e.sandbagging is not None
        # profiles beyond the task's own prompt are elicitation the assessment actually runs
        or any(name != "zero_shot" for name in e.profiles or [])
    )


def _cited(obj: Any, path: str) -> Iterator[tuple[str, Cited]]:
    """Every clause that can carry a citation, with its dotted path."""
    if isinstance(obj, Cited):
        yield path, obj
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _cited(getattr(obj, name), f"{path}.{name}" if path else name)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _cited(value, f"{path}.{getattr(key, 'value', key)}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _cited(value, f"{path}[{i}]")


# --- limits ---------------------------------------------------------------------------------------


@_rule(
    "L01",
    "VAGUE_THRESHOLD",
    "warning",
    checks="A threshold's `description` has fewer than 4 words; or names no magnitude or baseline "
    "(uplift, beyond, compared with, a number, expert-level, ...); or, for a capability/outcome "
    "threshold in a misuse domain (cbrn, bio, chem, nuclear, cyber), names no actor profile "
    "(novice, expert, attacker, state, ...) unless the model itself acts (automates, autonomously); "
    "or repeats another level's description in the same domain.",
    why="A threshold that does not say who gains how much over what baseline is decided by an opaque "
    "internal judgement, not by the policy.",
    source="METR common elements (metr.org/common-elements); LessWrong on RSP v2; SaferAI ratings "
    "(Microsoft, Anthropic v3)",
    fix="State the actor profile, the baseline (e.g. 2023 search and textbooks) and the harm magnitude "
    "in the threshold's description.",
)
def _vague_threshold(policy: Policy) -> Iterator[Hit]:
    same: dict[tuple[str, str], list[str]] = {}  # (domain, normalised description) -> levels
    for dname, _domain, level, thr, _clause in _thresholds(policy):
        same.setdefault((dname, thr.description.strip().lower()), []).append(level)
    for dname, domain, level, thr, clause in _thresholds(policy):
        text = thr.description
        gaps: list[str] = []
        if len(text.split()) < 4:
            gaps.append("is too short to define a capability")
        if not MAGNITUDE.search(text):
            gaps.append("names no magnitude or baseline")
        misuse = domain.category in MISUSE_CATEGORIES and thr.kind in ("capability", "outcome")
        if misuse and not ACTOR.search(text) and not SELF_ACTING.search(text):
            gaps.append("names no actor profile (who is uplifted)")
        twins = [lv for lv in same[(dname, text.strip().lower())] if lv != level]
        if twins:
            named = ", ".join(twins[:5]) + (f" and {len(twins) - 5} more" if len(twins) > 5 else "")
            gaps.append(f"is word for word the description of level(s) {named}")
        if gaps:
            yield Hit(clause, f"{dname} '{level}' threshold description {'; '.join(gaps)}: {text!r}")


@_rule(
    "L02",
    "NO_OPERATIONAL_EVAL",
    "warning",
    checks="A threshold has no `when` condition (error when no threshold of the policy has one; "
    "info when `not_operationalized` explains what is left to judgement).",
    why="Without a pre-registered pass/fail condition, eval results do not translate into a level; "
    "scalegate treats such a threshold as unknown (fail closed), so it can only ever block.",
    source="aisafetyclaims.org on OpenAI; Seoul commitment II (assess how close a model is)",
    fix="Add `when: {eval: NAME, at_least: X}` (or a suite); if the framework leaves it to judgement, "
    "say so in `not_operationalized`.",
)
def _no_operational_eval(policy: Policy) -> Iterator[Hit]:
    all_thr = list(_thresholds(policy))
    if all_thr and all(thr.when is None for *_, thr, _c in all_thr):
        yield Hit(
            "domains",
            f"none of the policy's {len(all_thr)} thresholds has a `when` condition: no eval result "
            "can ever move a level, so the gate decides on prose alone",
            severity="error",
        )
        return
    for dname, _d, level, thr, clause in all_thr:
        if thr.when is not None:
            continue
        if thr.not_operationalized:
            yield Hit(
                clause,
                f"{dname} '{level}' is prose only ({thr.not_operationalized}); the gate treats it as unknown",
                severity="info",
            )
        else:
            yield Hit(
                clause,
                f"{dname} '{level}' has no `when` condition and no `not_operationalized` explanation",
            )


@_rule(
    "L09",
    "THRESHOLD_TOO_HIGH",
    "warning",
    checks="In a core domain (cbrn, bio, chem, nuclear, cyber, ai_rnd, autonomy), the lowest threshold "
    "that a blocking or requiring response reaches is at the top level (no intermediate tier), or "
    "no threshold of the domain is reached by one at all.",
    why="If the first tier that changes anything is the catastrophic one, nothing changes until the "
    "model is near catastrophe.",
    source="Midas Project, 'How Anthropic's AI Safety Framework Misses the Mark' (2025-07-08); "
    "Zvi on OpenAI PF beta",
    fix="Add a threshold below the top level and a response that blocks or requires protections there.",
)
def _threshold_too_high(policy: Policy) -> Iterator[Hit]:
    top = len(policy.levels) - 1
    level_ranks = _ranks(policy)
    for dname, domain in policy.domains.items():
        if domain.category not in CORE_CATEGORIES or not domain.thresholds:
            continue
        gating = [
            rank
            for r in policy.responses
            if r.block or r.require is not None
            for rank in _fact_ranks(policy, r, dname, level_ranks)
        ]
        lowest = min(gating, default=None)
        ranks = sorted(level_ranks[lv] for lv in domain.thresholds)
        gated = [t for t in ranks if lowest is not None and lowest <= t]
        if gated and gated[0] == top:
            yield Hit(
                f"domains.{dname}",
                f"the first tier of {dname} that blocks or requires anything is the top level "
                f"'{policy.levels[top]}'",
            )
        elif not gated:  # worse still: the rule must not fall silent when the last gate goes
            yield Hit(f"domains.{dname}", f"no tier of {dname} blocks or requires anything")


@_rule(
    "L18",
    "MISSING_DOMAIN",
    "warning",
    checks="No domain with thresholds in one of the core groups: bio/chem (`category` cbrn, bio or chem), "
    "cyber, AI R&D/autonomy (ai_rnd or autonomy). A domain in the group that has no thresholds "
    "(status research / ongoing_assessment) does not count.",
    why="An omitted core risk is a risk no eval watches; exclusions should be justified, not silent.",
    source="SaferAI ratings (Microsoft, Amazon: no justification for excluded risks)",
    fix="Add a domain with thresholds for the group (and set each domain's `category`).",
)
def _missing_domain(policy: Policy) -> Iterator[Hit]:
    for group, cats in CORE_GROUPS.items():
        covering = [n for n, d in policy.domains.items() if d.category in cats]
        if any(policy.domains[n].thresholds for n in covering):
            continue
        extra = (
            f" ({', '.join(covering)} is tracked without thresholds)"
            if covering
            else " (check each domain's `category`)"
        )
        yield Hit("domains", f"no domain with thresholds covers {group}{extra}")


@_rule(
    "L17",
    "NO_MISALIGNMENT_COVERAGE",
    "warning",
    checks="No domain of category autonomy or misalignment has thresholds, and no capability-conditioned "
    "response requires a protection of kind `alignment` or a safety case with a control or "
    "propensity argument.",
    why="Policies that only watch misuse leave a model that undermines oversight or exfiltrates itself "
    "outside the gate.",
    source="EA Forum, 'We read every lab's safety plan' (2025); DeepMind FSF v2 instrumental reasoning "
    "levels; OpenAI PF v2 research categories",
    fix="Add an autonomy/misalignment domain, or require an `alignment` protection (or a safety case "
    "with control/propensity arguments) at a capability level.",
)
def _no_misalignment(policy: Policy) -> Iterator[Hit]:
    if any(d.category in MISALIGNMENT_CATEGORIES and d.thresholds for d in policy.domains.values()):
        return
    for r in policy.responses:
        if r.require is None or not capability_conditioned(r):
            continue
        if any(policy.protections[p].kind == "alignment" for p in r.require.protections):
            return
        case = policy.safety_cases.get(r.require.safety_case or "")
        if case is not None and {"control", "propensity"} & set(case.arguments):
            return
    yield Hit(
        "domains",
        "no autonomy/misalignment domain with thresholds and no alignment protection or control/propensity "
        "safety case required at any level",
    )


@_rule(
    "L19",
    "NO_RESIDUAL_RISK_STATEMENT",
    "warning",
    checks="`commitments` lacks `risk_tolerance` (what risk is acceptable) or `residual_risk` "
    "(assessment of the risk left after mitigations).",
    why="Without a stated tolerance, 'adequately mitigated' has no yardstick; thresholds alone are "
    "risk management without acceptance criteria.",
    source="SaferAI, 'RSPs Are Risk Management Done Wrong'; DeepMind FSF v3 §1.6; OpenAI PF v2 "
    "Safeguards Report",
    fix="Add `commitments.risk_tolerance` and `commitments.residual_risk`.",
)
def _no_residual_risk(policy: Policy) -> Iterator[Hit]:
    missing = _missing_commitments(policy, CommitmentKind.risk_tolerance, CommitmentKind.residual_risk)
    if missing:
        yield Hit("commitments", f"no {' or '.join(missing)} commitment")


@_rule(
    "L25",
    "NO_UNKNOWN_UNKNOWNS",
    "warning",
    checks="`commitments` lacks `unknown_unknowns`.",
    why="The tracked domains are the risks known when the policy was written; new ones need a process "
    "to be found and added.",
    source="SaferAI rating of OpenAI PF v2 (removed the beta's unknown-unknowns work); OpenAI PF beta",
    fix="Add `commitments.unknown_unknowns` describing how new risk categories are sought.",
)
def _no_unknown_unknowns(policy: Policy) -> Iterator[Hit]:
    if not _commitment_present(policy, CommitmentKind.unknown_unknowns):
        yield Hit("commitments", "no process for identifying new risk categories (unknown_unknowns)")


# --- evaluation -----------------------------------------------------------------------------------


@_rule(
    "L03",
    "NO_EARLY_WARNING_BUFFER",
    "warning",
    checks="No operationalized threshold has an `alert`, there is no `cadence.buffer`, and no binding "
    "`forecasting` commitment (info: some thresholds have alerts but this operationalized one has none).",
    why="With nothing firing before the threshold, a model can overshoot it between two assessments.",
    source="Anthropic RSP v1 (6x buffer); DeepMind FSF v1/v2 alert thresholds; Seoul commitment II",
    fix="Add an `alert` below each threshold (or a `cadence.buffer`, or a forecasting commitment).",
)
def _no_buffer(policy: Policy) -> Iterator[Hit]:
    operational = [(t, c) for *_, t, c in _thresholds(policy) if t.when is not None]
    alerted = [c for t, c in operational if t.alert is not None]
    cadence_buffer = policy.cadence is not None and policy.cadence.buffer is not None
    if not alerted:
        if operational and not cadence_buffer and not _binding(policy, CommitmentKind.forecasting):
            yield Hit("domains", "no threshold has an alert, no cadence.buffer and no forecasting commitment")
        return
    for t, clause in operational:
        if t.alert is None:
            yield Hit(clause, "operationalized threshold without an `alert`", severity="info")


@_rule(
    "L27",
    "ALERT_NOT_BELOW_THRESHOLD",
    "warning",
    checks="An `alert` that is a single comparison on the same eval and metric as its `when` fires no "
    "earlier than it (at_least alert >= threshold, at_most alert <= threshold, or the opposite "
    "direction); for suites on the same tasks, an alert fraction >= the threshold's.",
    why="An alert at or past its threshold gives no warning: the buffer exists on paper only.",
    source="DeepMind FSF v1 (alert evals must fire before the CCL); Anthropic RSP v1 buffer",
    fix="Set the alert strictly below the threshold (above it for at_most).",
)
def _alert_not_below(policy: Policy) -> Iterator[Hit]:
    for dname, _d, level, thr, clause in _thresholds(policy):
        if thr.when is None or thr.alert is None:
            continue
        w, a = thr.when.bound(), thr.alert.bound()
        if w is not None and a is not None and (w.eval, w.metric) == (a.eval, a.metric):
            earlier = a.value < w.value if w.op is Op.at_least else a.value > w.value
            if a.op is not w.op or not earlier:
                yield Hit(
                    f"{clause}.alert",
                    f"{dname} '{level}' alert ({a.eval} {a.op} {a.value}) does not fire before the threshold "
                    f"({w.eval} {w.op} {w.value})",
                )
        ws, as_ = thr.when.suite, thr.alert.suite
        if (
            ws is not None
            and as_ is not None
            and set(ws.evals) == set(as_.evals)
            and (ws.attempts, ws.pass_at) == (as_.attempts, as_.pass_at)
            and as_.at_least_fraction >= ws.at_least_fraction
        ):
            yield Hit(
                f"{clause}.alert",
                f"{dname} '{level}' alert suite needs {as_.at_least_fraction:g} of tasks, the threshold "
                f"{ws.at_least_fraction:g}: it cannot fire first",
            )


@_rule(
    "L28",
    "ALERT_WITHOUT_RESPONSE",
    "warning",
    checks="Thresholds declare `alert`s, but no response condition contains `alert: true` and "
    "`cadence.alerts_pause_training` is false.",
    why="An alert that triggers nothing is a number on a scorecard, not an early warning.",
    source="DeepMind FSF (alert threshold => response plan); Anthropic RSP v1 (warning-sign evals pause "
    "training)",
    fix="Add a response `if: {alert: true}` (e.g. requiring a response plan), or set "
    "`cadence.alerts_pause_training: true`.",
)
def _alert_without_response(policy: Policy) -> Iterator[Hit]:
    if not any(t.alert is not None for *_, t, _c in _thresholds(policy)):
        return
    if policy.cadence is not None and policy.cadence.alerts_pause_training:
        return
    if any(next(_alert_facts(r.if_), None) is not None for r in policy.responses):
        return
    yield Hit("responses", "thresholds have alerts, but no response is conditioned on `alert: true`")


@_rule(
    "L04",
    "NO_CADENCE",
    "warning",
    checks="`cadence` is missing, or sets no trigger (`every_effective_compute_multiple`, `max_days`, "
    "`post_training_months`, `events`); info when its only triggers are events.",
    why="Without a trigger, assessments happen when someone remembers to run them.",
    source="SaferAI rating of OpenAI PF v2 (unclear how often evals run); Anthropic RSP v1 (4x / 3 months)",
    fix="Add `cadence: {every_effective_compute_multiple: 4, max_days: 90}`.",
)
def _no_cadence(policy: Policy) -> Iterator[Hit]:
    c = policy.cadence
    if c is None:
        yield Hit("cadence", "no cadence: nothing says when an assessment is due")
        return
    periodic = [
        x for x in (c.every_effective_compute_multiple, c.max_days, c.post_training_months) if x is not None
    ]
    if not periodic and not c.events:
        yield Hit(
            "cadence", "cadence sets no trigger (compute multiple, days, post-training months or events)"
        )
    elif not periodic:
        yield Hit(
            "cadence",
            f"only event triggers ({', '.join(c.events)}); no compute or calendar interval bounds the gap",
            severity="info",
        )


@_rule(
    "L05",
    "WEAK_ELICITATION",
    "warning",
    checks="No elicitation (policy-wide `elicitation` or an eval's own) sets any of "
    "`without_safety_training`, `fine_tune_for_misuse`, `best_scaffolds`, `treat_as_lower_bound`, "
    "`sandbagging`, or a profile other than `zero_shot`, for an eval a threshold reads; info when no "
    "elicitation says how sandbagging is handled.",
    why="Under-elicited evals report a capability lower than a motivated attacker would get; the gate "
    "then passes models it should not.",
    source="Anthropic RSP v2 announcement ('Learning from experience'); OpenAI PF v2 §3.1 (lower bound, "
    "sandbagging)",
    fix="Add `elicitation: {without_safety_training: true, fine_tune_for_misuse: true, "
    "treat_as_lower_bound: true, sandbagging: conservative_upper_bound}`.",
)
def _weak_elicitation(policy: Policy) -> Iterator[Hit]:
    used = sorted(
        {e for *_, t, _c in _thresholds(policy) for cond in (t.when, t.alert) if cond for e in cond.evals()}
    )
    overrides = {e: policy.evals[e].elicitation for e in used if policy.evals[e].elicitation is not None}
    if not _strong(policy.elicitation):
        weak = [e for e in used if not _strong(overrides.get(e))]
        if weak:
            what = "no `elicitation`" if policy.elicitation is None else "`elicitation` commits to none"
            yield Hit(
                "elicitation",
                f"{what} of: testing without safety training, misuse fine-tuning, best scaffolds, "
                f"lower-bound reading, sandbagging handling (evals: {', '.join(weak)})",
            )
            return
    else:
        for e, el in overrides.items():
            if not _strong(el):
                yield Hit(
                    f"evals.{e}.elicitation",
                    f"eval '{e}' overrides the policy's elicitation with a weaker one",
                )
    profiles = [policy.elicitation, *overrides.values()]
    if used and not any(p is not None and p.sandbagging is not None for p in profiles):
        yield Hit("elicitation", "no elicitation says how sandbagging is handled", severity="info")


@_rule(
    "L22",
    "CANNOT_RULE_OUT_SEMANTICS",
    "warning",
    checks="`statistics.inconclusive_as` is `below` and no blocking or requiring response handles the "
    "precautionary state (a level fact with `confirmed: false`, or `evidence: [inconclusive]`, that "
    "applies the response on its own: not inside an `all:`), or one does but not for every action a "
    "level rule holds back.",
    why="Reading 'cannot rule out' as 'below' lets a model whose interval straddles a threshold pass "
    "as though it were ruled out.",
    source="Anthropic RSP v2 §3.3 ('act as though surpassed'); OpenAI ChatGPT Agent system card "
    "(precautionary High)",
    fix="Set `statistics.inconclusive_as: crossed`, or add a response on `confirmed: false`.",
)
def _cannot_rule_out(policy: Policy) -> Iterator[Hit]:
    if policy.statistics.inconclusive_as == "crossed":
        return
    by_level: set[str] = set()
    precautionary: set[str] = set()
    for r in policy.responses:
        gated = _gated_actions(policy, r)
        if any(f.confirmed is not False for f in _level_facts(r.if_)):
            by_level |= gated
        # only a fact that applies the response on its own handles the state (inside an `all:`
        # beside a level fact, it waits for the level that `below` no longer reaches)
        if any(_precautionary(f) for f in conditions.sufficient_facts(r.if_)):
            precautionary |= gated
    if not precautionary:
        yield Hit(
            "statistics.inconclusive_as",
            "inconclusive comparisons count as below, and no response acts on the cannot-rule-out state",
        )
    elif uncovered := sorted(by_level - precautionary):
        # per action: a wider interval would lift the level rule and nothing would hold it back
        yield Hit(
            "statistics.inconclusive_as",
            f"inconclusive comparisons count as below, and no response acts on the cannot-rule-out "
            f"state before {', '.join(uncovered)} (a level rule holds it back only once a crossing "
            "is confirmed)",
        )


# --- response -------------------------------------------------------------------------------------


@_rule(
    "L10",
    "NO_PAUSE_COMMITMENT",
    "error",
    checks="No capability-conditioned response blocks a training action (`continue_training`, or an "
    "action naming `train`) and there is no binding `commitments.pause`. Warning instead when training "
    "is only conditioned (a response `require`s protections before it, but none blocks it outright); "
    "info when the pause is a binding commitment that no response enforces.",
    why="Seoul commitment IV: in the extreme, do not develop or deploy at all. A policy that never stops "
    "training only decides how to deploy; one that stops it only until a protection is claimed has no "
    "level at which it stops regardless.",
    source="Seoul commitment IV; Anthropic RSP v3.3 §1 and App. A; LessWrong on RSP v3",
    fix="Add a response that blocks continue_training at the top level, and a binding `commitments.pause`.",
)
def _no_pause(policy: Policy) -> Iterator[Hit]:
    training = training_actions(policy)
    conditioned = [r for r in policy.responses if capability_conditioned(r)]
    if any(a in r.block for r in conditioned for a in training):
        return
    pause = policy.commitments.get(CommitmentKind.pause)
    if pause is not None and pause.binding:
        yield Hit(
            "commitments.pause",
            "the pause is a commitment only: no response blocks training at any level, so the gate "
            "never enforces it",
            severity="info",
        )
        return
    if any(_gates(policy, r, a) for r in conditioned for a in training):
        yield Hit(
            "responses",
            f"{', '.join(training)} is only ever conditioned on protections, never blocked, and there is "
            "no binding pause commitment",
            severity="warning",
        )
        return
    what = "no training action to gate" if not training else f"nothing gates {', '.join(training)}"
    yield Hit("responses", f"{what} at any capability level, and no binding pause commitment")


@_rule(
    "L24",
    "NO_INTERIM_MEASURES",
    "warning",
    checks="`commitments` lacks `interim_measures`.",
    why="Between a crossing and the safeguards being ready there is a gap; without a plan, the choice "
    "is made under pressure.",
    source="Anthropic RSP v2 §6.2; Anthropic RSP v1 response policy",
    fix="Add `commitments.interim_measures` (interim controls, de-deployment, weight deletion, pause).",
)
def _no_interim(policy: Policy) -> Iterator[Hit]:
    if not _commitment_present(policy, CommitmentKind.interim_measures):
        yield Hit("commitments", "no interim_measures commitment for the gap before safeguards are ready")


@_rule(
    "L11",
    "COMPETITOR_ESCAPE_HATCH",
    "warning",
    checks="`marginal_risk` is present without all of the conditions `rigorous_confirmation`, "
    "`public_acknowledgement`, `remain_more_protective`, `government_notice`.",
    why="A clause that lowers safeguards when a competitor went ahead invites a race to the bottom on "
    "weak evidence about competitors.",
    source="GovAI, 'Assessing Risk Relative to Competitors' (Oct 2025); OpenAI PF v2 §4.3; Anthropic "
    "RSP v2 fn.17",
    fix="List all four conditions under `marginal_risk.conditions`, or drop the clause.",
)
def _escape_hatch(policy: Policy) -> Iterator[Hit]:
    mr = policy.marginal_risk
    if mr is None:
        return
    need = ("rigorous_confirmation", "public_acknowledgement", "remain_more_protective", "government_notice")
    missing = [c for c in need if c not in mr.conditions]
    if missing:
        yield Hit("marginal_risk.conditions", f"competitor clause without: {', '.join(missing)}")


@_rule(
    "L29",
    "INERT_THRESHOLD",
    "warning",
    checks="Crossing a threshold triggers no response: no response has a level fact covering the domain "
    "at a level above the domain's previous threshold and at or below this one.",
    why="A threshold with no consequence is measured but changes no decision; readers assume it does.",
    source="METR key components (which protection is required at each limit)",
    fix="Add a response conditioned on this level, or remove the threshold.",
)
def _inert_threshold(policy: Policy) -> Iterator[Hit]:
    level_ranks = _ranks(policy)
    for dname, domain in policy.domains.items():
        prev = 0
        facts = sorted(f for r in policy.responses for f in _fact_ranks(policy, r, dname, level_ranks))
        for level in sorted(domain.thresholds, key=level_ranks.__getitem__):
            rank = level_ranks[level]
            # the lowest fact rank above `prev` is at most `rank`
            above = bisect.bisect_right(facts, prev)
            if not (above < len(facts) and facts[above] <= rank):
                yield Hit(
                    f"domains.{dname}.thresholds.{level}",
                    f"crossing {dname} '{level}' changes nothing: no response applies from that level",
                )
            prev = rank


# --- protections ----------------------------------------------------------------------------------


@_rule(
    "L06",
    "NO_SAFEGUARD_EFFICACY_TEST",
    "warning",
    checks="No `safeguard_testing` commitment, no `post_mitigation` with `red_team: true`, and no "
    "protection of kind `deployment` or `alignment` whose description names adversarial testing "
    "(red-team, jailbreak, bug bounty, control eval).",
    why="Safeguards shown to work only by re-running capability evals on the safeguarded model have "
    "not been tested against anyone trying to break them.",
    source="OpenAI PF v2 changelog item 9; DeepMind FSF v1 deployment level 2; Anthropic ASL-3 "
    "Deployment Standard item 3",
    fix="Add `commitments.safeguard_testing` with an efficacy target, or a deployment protection that "
    "requires red-teaming.",
)
def _no_safeguard_test(policy: Policy) -> Iterator[Hit]:
    if _commitment_present(policy, CommitmentKind.safeguard_testing):
        return
    if policy.post_mitigation is not None and policy.post_mitigation.red_team:
        return  # post-mitigation evidence must come from red-team runs: tested by the gate itself
    if any(
        p.kind in ("deployment", "alignment") and ADVERSARIAL.search(p.description)
        for p in policy.protections.values()
    ):
        return
    yield Hit("protections", "no safeguard_testing commitment and no adversarially tested protection")


@_rule(
    "L16",
    "NO_SECURITY_LEVEL_MAPPING",
    "warning",
    checks="No protection of kind `security` is required by a capability-conditioned response; or such a "
    "protection has no `rand_sl`; or security is required only on post-mitigation levels.",
    why="Stolen weights bypass every deployment safeguard; security must follow capability, with "
    "attackers in and out of scope named.",
    source="DeepMind FSF v2/v3; Anthropic ASL-3 Security Standard; RAND 'Securing AI Model Weights' (2024)",
    fix="Declare security protections with `kind: security` and `rand_sl`, required on "
    "`pre_mitigation_at_least` levels.",
)
def _no_security_mapping(policy: Policy) -> Iterator[Hit]:
    required: dict[str, set[str]] = {}  # protection -> sides that require it
    for r in policy.responses:
        if r.require is None:
            continue
        sides = {"pre" if f.pre_mitigation_at_least else "post" for f in _level_facts(r.if_)}
        for p in r.require.protections:
            if sides and policy.protections[p].kind == "security":
                required.setdefault(p, set()).update(sides)
    if not required:
        yield Hit("protections", "no security protection is required at any capability level")
        return
    for p in sorted(required):
        if policy.protections[p].rand_sl is None:
            yield Hit(
                f"protections.{p}", f"security protection '{p}' maps to no RAND security level (rand_sl)"
            )
    if not any("pre" in s for s in required.values()):
        yield Hit(
            "responses",
            "security is required only on post-mitigation levels; theft bypasses mitigations",
        )


@_rule(
    "L07",
    "INTERNAL_DEPLOYMENT_GAP",
    "warning",
    checks="No action named like `internal_deployment` is gated by a capability-conditioned response, and "
    "there is no `internal_deployment` commitment.",
    why="The most capable systems are used internally first, often with fewer safeguards.",
    source="Apollo Research, 'AI Behind Closed Doors' (2025-04-17); OpenAI PF v2 scope; DeepMind FSF v3",
    fix="Gate `internal_deployment` in a response, or add `commitments.internal_deployment`.",
)
def _internal_gap(policy: Policy) -> Iterator[Hit]:
    internal = [a for a in policy.actions if "internal" in a]
    if any(_capability_gated(policy, a) for a in internal):
        return
    if _commitment_present(policy, CommitmentKind.internal_deployment):
        return
    what = f"{', '.join(internal)} is never gated" if internal else "no internal-deployment action"
    yield Hit("actions", f"{what} at any capability level and no internal_deployment commitment")


@_rule(
    "L31",
    "OPEN_WEIGHTS_UNGATED",
    "warning",
    checks="An open-weights action exists but no capability-conditioned response blocks it or requires "
    "anything before it.",
    why="Released weights cannot be recalled, and every safeguard can be fine-tuned away.",
    source="OpenAI PF v2 (fine-tune if weights are released); Anthropic RSP v1 containment risks",
    fix="Add a response that blocks the open-weights action at a capability level.",
)
def _open_weights(policy: Policy) -> Iterator[Hit]:
    for a in policy.actions:
        if "open_weights" in a and not _capability_gated(policy, a):
            yield Hit("responses", f"'{a}' is not gated at any capability level")


# --- accountability -------------------------------------------------------------------------------


@_rule(
    "L12",
    "NO_DECISION_OWNER",
    "error",
    checks="`governance` is missing or has no `roles`, or no release action (external deployment, open "
    "weights) is under `governance.signoff` (warning: some release actions are, others not).",
    why="Without named decision-makers and a sign-off chain, nobody is accountable for a go decision.",
    source="Seoul commitment VI; Anthropic RSP v2 §7; OpenAI PF v2 App. B",
    fix="Declare `governance.roles` and `governance.signoff: {external_deployment: [rso, ceo], ...}`.",
)
def _no_decision_owner(policy: Policy) -> Iterator[Hit]:
    g = policy.governance
    if g is None or not g.roles:
        yield Hit("governance", "no governance roles: nobody owns the decision")
        return
    release = release_actions(policy)
    signed = [a for a in release if g.signoff.get(a)]
    if not signed:
        yield Hit("governance.signoff", f"no sign-off for {', '.join(release)}")
        return
    for a in release:
        if a not in signed:
            yield Hit("governance.signoff", f"'{a}' needs no sign-off", severity="warning")


@_rule(
    "L30",
    "UNGOVERNED_OVERRIDE",
    "warning",
    checks="`governance.signoff` names no roles for `override`.",
    why="Frameworks let someone lift a gate (a board reversing a decision, a benefit exception); a "
    "policy that does not say who leaves that exception ungoverned. scalegate's ledger refuses every "
    "override without `override` roles (L35), so such an exception could only be taken off the record.",
    source="OpenAI PF v2 App. B (Board SSC may reverse); Anthropic RSP v2 §7",
    fix="Add `governance.signoff.override: [board]` (a body independent of the decision-makers).",
)
def _ungoverned_override(policy: Policy) -> Iterator[Hit]:
    g = policy.governance
    if g is not None and g.roles and not g.signoff.get("override"):
        yield Hit("governance.signoff", "no roles must sign an override")


@_rule(
    "L35",
    "OVERRIDES_FAIL_CLOSED",
    "info",
    checks="`governance` is declared and `governance.signoff.override` is missing or names no roles "
    "(a policy without `governance` gets L12 instead).",
    why="The ledger allows an override only when every role under `governance.signoff.override` signs "
    "it; with none named it refuses every override (fail closed): a blocked action stays blocked "
    "until a new assessment or a new policy allows it.",
    source="scalegate ledger (docs/design/ledger.md: no override where the policy names no override roles)",
    fix="If the policy allows exceptions, name who must sign one: `governance.signoff.override: [board]` "
    "(roles declared under `governance.roles`); if it allows none, nothing needs to change.",
)
def _overrides_fail_closed(policy: Policy) -> Iterator[Hit]:
    g = policy.governance
    if g is None or g.signoff.get("override"):
        return
    how = "names no roles (`override: []`)" if "override" in g.signoff else "has no `override` entry"
    yield Hit(
        "governance.signoff",
        f"governance.signoff {how}: the ledger will refuse every override of this policy's decisions",
    )


@_rule(
    "L13",
    "NO_BOARD_OVERRIDE_OR_NOTICE",
    "warning",
    checks="No board-like role (key or title naming board, trust, LTBT, directors, oversight, committee) "
    "is in `governance.reverse` or in any `governance.inform_before` list.",
    why="A board that is neither told before a go decision nor able to reverse it cannot oversee it.",
    source="OpenAI PF beta/v2 (Board can reverse); Anthropic RSP v2 (shared with Board and LTBT before "
    "proceeding)",
    fix="Add `governance.reverse: [board]` and/or "
    "`governance.inform_before: {external_deployment: [board]}`.",
)
def _no_board(policy: Policy) -> Iterator[Hit]:
    g = policy.governance
    if g is None:
        return
    roles = set(g.reverse) | {r for rs in g.inform_before.values() for r in rs}
    if not any(_is_board(policy, r) for r in roles):
        yield Hit("governance", "no board-like role is informed before go decisions or can reverse them")


@_rule(
    "L14",
    "NO_NONCOMPLIANCE_CHANNEL",
    "warning",
    checks="`commitments` lacks `noncompliance_reporting` (info: it has one but lacks `anti_retaliation` "
    "or `no_non_disparagement`).",
    why="Staff who see the policy broken need a channel that does not run through the officer who "
    "broke it, and protection for using it.",
    source="Anthropic RSP v2 §7.1; OpenAI PF v2 §5.1; xAI RMF",
    fix="Add `commitments.noncompliance_reporting` (anonymous; `scalegate` ledger noncompliance reports), "
    "`anti_retaliation`, `no_non_disparagement`.",
)
def _no_noncompliance(policy: Policy) -> Iterator[Hit]:
    missing = _missing_commitments(
        policy,
        CommitmentKind.noncompliance_reporting,
        CommitmentKind.anti_retaliation,
        CommitmentKind.no_non_disparagement,
    )
    if CommitmentKind.noncompliance_reporting.value in missing:
        yield Hit("commitments", f"no {', '.join(missing)} commitment")
    elif missing:
        yield Hit("commitments", f"no {' or '.join(missing)} commitment", severity="info")


@_rule(
    "L08",
    "NO_EXTERNAL_ACCOUNTABILITY",
    "warning",
    checks="`commitments` has neither a binding `third_party_audit` nor a binding `external_evaluation` "
    "(a hedged one, `binding: false`, gives outsiders no access to count on).",
    why="Self-assessment under NDA is not an audit; outsiders need access to check the claims.",
    source="METR, 'Clarifying METR's auditing role'; SaferAI on Meta; Seoul commitment VIII",
    fix="Add `commitments.third_party_audit` (e.g. an auditor verifies the ledger's audit bundle) and/or "
    "`commitments.external_evaluation`.",
)
def _no_external(policy: Policy) -> Iterator[Hit]:
    kinds = (CommitmentKind.third_party_audit, CommitmentKind.external_evaluation)
    if not any(_binding(policy, k) for k in kinds):
        yield Hit("commitments", "no binding third_party_audit or external_evaluation commitment")


@_rule(
    "L15",
    "OPAQUE_POLICY_CHANGES",
    "warning",
    checks="`governance.changes` is missing, or lacks `public_changelog: true`, "
    "`publish_before_effective: true` or `notice_days` > 0 (info: empty `consult`).",
    why="Unannounced weakening: changes noted only in a PDF, or made days before they bite.",
    source="Midas Project Watchtower (Anthropic, 2025-05-14); METR key components (accountability)",
    fix="Set `governance.changes: {approve: [board], consult: [...], notice_days: 30, "
    "public_changelog: true, publish_before_effective: true}`.",
)
def _opaque_changes(policy: Policy) -> Iterator[Hit]:
    ch = policy.governance.changes if policy.governance else None
    if ch is None:
        yield Hit("governance.changes", "no change process: nothing says who may replace this policy, or how")
        return
    missing = [
        text
        for ok, text in (
            (ch.public_changelog, "no public change log"),
            (ch.publish_before_effective, "changes need not be published before they take effect"),
            (ch.notice_days > 0, "no notice period"),
        )
        if not ok
    ]
    if missing:
        yield Hit("governance.changes", "; ".join(missing))
    if not ch.consult:
        yield Hit("governance.changes.consult", "nobody is consulted before a change", severity="info")


@_rule(
    "L26",
    "NO_PERIODIC_REVIEW",
    "warning",
    checks="`commitments.periodic_review` is missing, or has no `every_months`, or `every_months` > 12.",
    why="A policy reviewed only when convenient drifts behind the science and the models.",
    source="OpenAI PF v2 (at least yearly); DeepMind FSF v3 (at least yearly); Anthropic RSP v2 "
    "(safeguards re-approved at least annually)",
    fix="Add `commitments.periodic_review` with `every_months: 12` or less.",
)
def _no_review(policy: Policy) -> Iterator[Hit]:
    c = policy.commitments.get(CommitmentKind.periodic_review)
    if c is None:
        yield Hit("commitments", "no periodic_review commitment")
    elif c.every_months is None:
        yield Hit("commitments.periodic_review", "periodic review without a schedule (every_months)")
    elif c.every_months > 12:
        yield Hit(
            "commitments.periodic_review", f"reviewed every {c.every_months:g} months, less than yearly"
        )


@_rule(
    "L20",
    "NO_PUBLIC_REPORTING",
    "warning",
    checks="`commitments.public_reporting` is missing, or its `audience` is set and is not `public`.",
    why="Delayed or absent disclosure leaves the public unable to check the policy was followed.",
    source="Seoul commitment VII; UK parliamentarians' letter (2025-08-29) on Gemini 2.5 Pro",
    fix="Add `commitments.public_reporting` (eval results / system card at or before deployment).",
)
def _no_public_reporting(policy: Policy) -> Iterator[Hit]:
    c = policy.commitments.get(CommitmentKind.public_reporting)
    if c is None:
        yield Hit("commitments", "no public_reporting commitment")
    elif c.audience not in (None, "public"):
        yield Hit("commitments.public_reporting.audience", f"'public' reporting addressed to {c.audience}")


@_rule(
    "L21",
    "NO_GOV_NOTICE",
    "warning",
    checks="`commitments` lacks `government_notice`.",
    why="Governments cannot prepare for a crossing, or an unmitigated risk, they are not told about.",
    source="Anthropic RSP v2 (notice to the U.S. Government); DeepMind FSF v2/v3 disclosure",
    fix="Add `commitments.government_notice`.",
)
def _no_gov_notice(policy: Policy) -> Iterator[Hit]:
    if not _commitment_present(policy, CommitmentKind.government_notice):
        yield Hit("commitments", "no government_notice commitment")


@_rule(
    "L23",
    "HEDGED_LANGUAGE",
    "warning",
    checks="A commitment has `binding: false`, or a commitment's `text`, a response's `description` or "
    "`obligations` hedge (may, might, could, aim to, intend to, strive, where possible, as appropriate, "
    "best effort; 'may not' is a prohibition and passes).",
    why="'May' and 'aim to' turn an obligation into an option, and an option is not a gate.",
    source="DeepMind FSF v1 ('exploratory'); xAI RMF Aug 2025 vs draft ('would' -> 'may')",
    fix="Rephrase as 'will' / 'must', or mark what is genuinely optional outside the commitments.",
)
def _hedged(policy: Policy) -> Iterator[Hit]:
    for kind, c in policy.commitments.items():
        clause = f"commitments.{kind.value}"
        if not c.binding:
            yield Hit(clause, f"{kind.value} is marked non-binding (binding: false)")
        elif m := HEDGE.search(c.text):
            yield Hit(clause, f"{kind.value} hedges with '{m.group(0)}': {c.text!r}")
    for i, r in enumerate(policy.responses):
        for field, text in [
            ("description", r.description or ""),
            *(("obligations", o) for o in r.obligations),
        ]:
            if m := HEDGE.search(text):
                yield Hit(
                    f"responses[{i}].{field}", f"{response_clause(policy, i)} hedges with '{m.group(0)}'"
                )


@_rule(
    "L36",
    "ALLOWS_WITHOUT_EVIDENCE",
    "warning",
    checks="Run the gate on no evidence at all (every eval missing, no protection in place, no safety "
    "case): an action it still allows outright (not under sign-off) is named.",
    why="An action a policy allows when nothing was measured is gated by nothing the evaluations find: "
    "the policy's levels, thresholds and evals do not decide it, however the model scores. Often it "
    "is deliberate (a framework that gates only deployment); it should never be an accident of "
    "prose-only thresholds or responses keyed on levels that missing evidence never reaches.",
    source="scalegate fail-closed principle (docs/design/gates.md); DOMAIN.md 8 (unknown is not safe)",
    fix="Gate the action on missing or unusable evidence (`if: {evidence: [missing, error]}` with a "
    "`block:`), or on a level that unknown evidence reaches, or put it under sign-off "
    "(`governance.signoff`); if no eval should ever gate it, say so in the response's description.",
)
def _allows_without_evidence(policy: Policy) -> Iterator[Hit]:
    # the gate itself decides: one algebra, no second reading of the conditions here
    decision = decide(policy, build_scorecard(policy, {}), set())
    allowed = [a for a, d in decision.actions.items() if d.status is ActionStatus.allowed]
    if allowed:
        yield Hit(
            "responses",
            f"with no evidence at all this policy allows {', '.join(allowed)}: no clause gates "
            f"{'it' if len(allowed) == 1 else 'them'} on what was (not) measured",
        )


def _gated_actions(policy: Policy, r: Response) -> set[str]:
    """What a response holds back: the actions it blocks or requires something before."""
    gated = set(r.block)
    if r.require is not None:
        gated |= set(r.require.before or policy.actions)
    return gated


def _non_monotone(cond: ResponseCondition) -> Iterator[str]:
    """The parts of a condition through which worse evidence can stop it holding."""
    for node, _positive in conditions.nodes(cond):
        if node.not_ is not None:
            yield "`not:`"
        if node.alert is False:
            yield "`alert: false`"
        if node.confirmed is True:  # `false` (the precautionary state) only widens under worse evidence
            yield "`confirmed: true`"


@_rule(
    "L37",
    "NON_MONOTONE_RESPONSE",
    "warning",
    checks="A response that blocks or requires something is conditioned through `not:`, "
    "`alert: false` or `confirmed: true`.",
    why="Through these, worse evidence can switch the response off: under `confirmed: true` a "
    "crossing that missing or inconclusive evidence can no longer confirm stops blocking, and "
    "under `not:` or `alert: false` an alert that unusable evidence leaves undecided does the same. "
    "scalegate proves 'worse evidence never allows more' only for policies without them "
    "(tests/test_gate_properties.py).",
    source="scalegate fail-closed principle (docs/design/gates.md); DOMAIN.md 8",
    fix="Condition the response on what rising capability or worse evidence makes true (a level "
    "fact without `confirmed: true`, `alert: true`, `evidence: [...]`); keep `confirmed: true` only "
    "beside a second response that covers the unconfirmed state.",
)
def _non_monotone_response(policy: Policy) -> Iterator[Hit]:
    for i, r in enumerate(policy.responses):
        found = sorted(set(_non_monotone(r.if_)))
        if found and _gated_actions(policy, r):
            yield Hit(
                f"responses[{i}]" + (f" ({r.id})" if r.id else ""),
                f"conditioned through {', '.join(found)}: worse evidence can lift what it gates",
            )


@_rule(
    "L38",
    "UNCERTAINTY_ONLY_GATE",
    "warning",
    checks="An action is held back by a response on undecided evidence (`evidence: [inconclusive]`, "
    "or a level fact with `confirmed: false`), but not by level rules that every crossing of an "
    "operational threshold triggers (a rule in a view the threshold applies to, at or below its "
    "level, over its domain).",
    why="A rule on undecided evidence asks for more evidence, and a decided result in either "
    "direction satisfies it: a model whose higher score confirms the crossing then gets the action "
    "that an inconclusive score was refused, because no level rule holds it back.",
    source="scalegate gate properties (higher scores never allow more; tests/test_gate_properties.py)",
    fix="Gate the action on the capability level too (`pre_mitigation_at_least` / "
    "`post_mitigation_at_least` with `block:` or `require:`), at the level the uncertainty rule is "
    "about.",
)
def _uncertainty_only_gate(policy: Policy) -> Iterator[Hit]:
    covered = _crossing_gated_actions(policy)
    by_uncertainty: dict[str, list[int]] = {}
    undecided = lambda c: "inconclusive" in (c.evidence or []) or c.confirmed is False  # noqa: E731
    for i, r in enumerate(policy.responses):
        if _any_fact(r.if_, undecided):
            for a in _gated_actions(policy, r):
                by_uncertainty.setdefault(a, []).append(i)
    for action, where in by_uncertainty.items():
        if action not in covered:
            yield Hit(
                f"responses[{where[0]}]",
                f"{action} is held back on inconclusive evidence, but no level rule holds it back at "
                "every threshold that can be crossed, so a confirmed crossing can allow it",
            )


def _precautionary(fact: ResponseCondition) -> bool:
    return fact.confirmed is False or "inconclusive" in (fact.evidence or [])


def _sufficient_level_facts(cond: ResponseCondition) -> Iterator[ResponseCondition]:
    """Level facts that make the whole condition hold on their own, not counting
    `confirmed: false` (the precautionary state only)."""
    for fact in conditions.sufficient_facts(cond):
        if (fact.pre_mitigation_at_least or fact.post_mitigation_at_least) and fact.confirmed is not False:
            yield fact


def _crossing_gated_actions(policy: Policy) -> set[str]:
    """Actions that any crossing of any operational threshold holds back: every such threshold
    is reached, in a view it applies to, by a level rule at or below its level, over its domain."""
    ranks = _ranks(policy)
    thresholds: list[tuple[str, int, set[str]]] = [
        (dname, ranks[level], {"pre", "post"} if thr.applies_to == "both" else {str(thr.applies_to)})
        for dname, _d, level, thr, _clause in _thresholds(policy)
        if thr.when is not None
    ]
    gates: dict[str, list[tuple[str, int, list[str] | None]]] = {a: [] for a in policy.actions}
    for r in policy.responses:
        for fact in _sufficient_level_facts(r.if_):
            side = "pre" if fact.pre_mitigation_at_least else "post"
            gate = (side, ranks.get(_fact_level(fact), len(policy.levels)), fact.domains)
            for action in _gated_actions(policy, r):
                gates.setdefault(action, []).append(gate)

    def reached(action: str, dname: str, rank: int, sides: set[str]) -> bool:
        return any(
            side in sides and g_rank <= rank and (doms is None or dname in doms)
            for side, g_rank, doms in gates[action]
        )

    return {a for a in gates if all(reached(a, *t) for t in thresholds)}


@_rule(
    "L32",
    "UNNAMED_RESPONSE",
    "info",
    checks="A response has no `id`.",
    why="Decisions cite a response by id; without one they cite `responses[i]`, which changes meaning "
    "when responses are reordered.",
    source="scalegate ledger design (decisions must stay recomputable and citable)",
    fix="Give every response a stable `id`.",
)
def _unnamed(policy: Policy) -> Iterator[Hit]:
    for i, r in enumerate(policy.responses):
        if not r.id:
            yield Hit(f"responses[{i}]", f"response {i} has no id; decisions will cite 'responses[{i}]'")


@_rule(
    "L33",
    "UNVERIFIED_CLAUSE",
    "info",
    checks="A clause carries `tag: U` (unverified against any source).",
    why="An unverified clause may not say what the framework says; it should be checked before anyone "
    "relies on it.",
    source="DOMAIN spec verification legend (V / V-2 / S / U)",
    fix="Check the clause against the primary text and update `tag`.",
)
def _unverified(policy: Policy) -> Iterator[Hit]:
    for path, clause in _cited(policy, ""):
        if clause.tag == "U":
            yield Hit(path, f"clause tagged unverified (U){f': {clause.source}' if clause.source else ''}")


@_rule(
    "L34",
    "SAMPLES_CANNOT_DECIDE",
    "warning",
    checks="`evidence.min_samples` is below 20, or an eval's planned number of samples (its `limit` "
    "argument, else `min_samples`) is too small for even a zero score (for `at_least`) or a perfect "
    "one (for `at_most`) to rule a threshold on it out at the policy's confidence with an exact "
    "interval: n <= log((1 - c) / 2) / log(1 - t).",
    why="An eval too small to rule a level out can only ever say 'cannot rule out': the threshold "
    "then blocks forever, or, once someone lowers the confidence to make it move, stops protecting. "
    "Below 20 samples the usual intervals also miss their level (Wilson's one-sided error reaches "
    "5-16% at n = 20 near high thresholds).",
    source="scalegate statistics notes (docs/design/statistics.md); planned-n check",
    fix="Raise the eval's `limit` (or `evidence.min_samples`) to at least the number named.",
)
def _samples_cannot_decide(policy: Policy) -> Iterator[Hit]:
    if policy.evidence.min_samples < 20:
        yield Hit(
            "evidence.min_samples",
            f"min_samples is {policy.evidence.min_samples}: below 20 an interval is too wide to decide, and "
            "Wilson's misses its level",
        )
    tail = (1 - policy.statistics.confidence) / 2
    for dname, _domain, level, thr, path in _thresholds(policy):
        for bound, _positive in filter(lambda bp: bp[1], conditions.bounds(thr.when)):
            op, eval_id, value = bound.op, bound.eval, bound.value
            spec = policy.evals.get(eval_id)
            limit = spec.args.get("limit") if spec is not None else None
            planned = limit if isinstance(limit, int) and limit > 0 else policy.evidence.min_samples
            edge = 1 - value if op == "at_least" else value  # the chance a perfect result clears it
            if not 0 < edge < 1:
                continue
            needed = math.floor(math.log(tail) / math.log(edge)) + 1
            if planned < needed:
                yield Hit(
                    f"{path}.when",
                    f"{dname} {level}: eval '{eval_id}' plans {planned} samples; even a "
                    f"{'zero' if op == 'at_least' else 'perfect'} score rules `{op}: {value:g}` out only "
                    f"from {needed} samples at confidence {policy.statistics.confidence:g}",
                )


# --- output ---------------------------------------------------------------------------------------

_STYLE: dict[str, str] = {"error": "bold red", "warning": "yellow", "info": "cyan"}


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


def render_findings(findings: list[Finding], *, details: bool = True) -> RenderableType:
    """A table of findings (most severe first) and a one-line count. Without `details` the table
    holds errors and warnings only, without why/fix/source, and says how many notes it left out."""
    counts = summary(findings)
    line = Text(", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in counts.items()))
    if not findings:
        return Text("no findings: every lint rule passes", style="green")
    shown = sorted_findings(f for f in findings if details or f.severity != "info")
    if not details:
        if counts["info"]:
            line.append(f"; {counts['info']} info note(s) not shown")
        line.append("; --details adds them, with why, fix and source for each", style="dim")
    if not shown:
        return Group(Text("no errors or warnings", style="green"), line)
    return Group(_FindingsView(shown, details), line)


class _FindingsView:
    """A table where it fits without breaking a rule name, else one block per finding, so an
    80-column terminal or a pipe sees every rule, clause and message whole."""

    def __init__(self, findings: list[Finding], details: bool) -> None:
        self.findings, self.details = findings, details

    def _more(self, f: Finding) -> str:
        return f"why: {f.why}\nfix: {f.fix}\nsource: {f.source}" if self.details else ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widest = max(len(f"{f.rule} {f.name}") + len(f.clause) for f in self.findings)
        if options.max_width >= widest + 60:
            table = Table(title="Policy lint", title_justify="left")
            for col in ("severity", "rule", "clause", "finding"):
                table.add_column(col, overflow="fold")
            for f in self.findings:
                body = Text(f.message)
                if self.details:
                    body.append("\n" + self._more(f), style="dim")
                table.add_row(
                    Text(f.severity, style=_STYLE[f.severity]),
                    Text(f"{f.rule} {f.name}"),
                    Text(f.clause),
                    body,
                )
            yield table
            return
        yield Text("Policy lint")
        for f in self.findings:
            # raw segments: the identifiers stay whole on one line, however narrow the console
            yield Segment(f.severity, console.get_style(_STYLE[f.severity]))
            yield Segment(f" {f.rule} {f.name}  {f.clause}")
            yield Segment.line()
            yield Padding(
                Text(f.message + ("\n" + self._more(f) if self.details else "")), (0, 0, 0, 2), expand=False
            )


# rules are defined grouped by METR component above; the registry runs them in numeric order
RULES = dict(sorted(RULES.items(), key=lambda kv: int(kv[0][1:])))
