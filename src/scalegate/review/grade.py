"""Grade a policy per METR key component and per Seoul commitment, with the evidence for each grade.

The rubric is a fixed list of criteria per component. A criterion either reads fields of the
policy (and names the clauses that satisfy it) or requires the absence of lint findings of
given rules at error or warning severity (info notes never cost a grade). A component's grade
is the share of its criteria met, on a 0-4 scale mapped to a letter. Nothing here weighs or
judges: the same policy always gets the same grades, and each one can be traced to fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from scalegate.policy.schema import CommitmentKind, Policy, Response
from scalegate.review.lint import (
    Finding,
    capability_conditioned,
    lint_policy,
    release_actions,
    response_clause,
    training_actions,
)

Letter = Literal["A", "B", "C", "D", "F"]
# lowest points for each letter; points = 4 * criteria met / criteria
LETTER_FLOORS: tuple[tuple[float, Letter], ...] = ((3.5, "A"), (2.5, "B"), (1.5, "C"), (0.5, "D"), (0.0, "F"))

Evidence = Callable[[Policy], list[str]]


def letter(points: float) -> Letter:
    return next(grade for floor, grade in LETTER_FLOORS if points >= floor - 1e-9)


@dataclass(frozen=True)
class Criterion:
    """Met when `evidence` (if given) finds at least one supporting clause and none of `rules` has
    an error or warning finding. `describe` only names the clauses behind a met criterion.
    `needs_evals`: the criterion is about evals (alerts, elicitation, inconclusive results), so a
    policy with no eval condition at all does not meet it, although no rule can fire."""

    id: str
    text: str
    rules: tuple[str, ...] = ()
    evidence: Evidence | None = None
    describe: Evidence | None = None
    reads: str = ""  # the fields `evidence` looks for, shown when none is found
    needs_evals: bool = False
    # about governance (sign-off, overrides, the board): a policy without a governance section
    # does not meet it, although the rules that read the section cannot fire on its absence
    needs_governance: bool = False


@dataclass(frozen=True)
class Component:
    key: str
    framework: Literal["METR", "Seoul"]
    title: str
    question: str
    criteria: tuple[Criterion, ...]


class CriterionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    met: bool
    evidence: list[str]  # supporting clauses when met; the findings or the gap when not


class ComponentGrade(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    framework: Literal["METR", "Seoul"]
    title: str
    question: str
    criteria: list[CriterionResult]
    met: int
    total: int
    points: float  # 0-4
    letter: Letter


class Grades(BaseModel):
    model_config = ConfigDict(frozen=True)

    policy: str
    components: list[ComponentGrade]

    def by_key(self, key: str) -> ComponentGrade:
        return next(c for c in self.components if c.key == key)

    def framework(self, name: Literal["METR", "Seoul"]) -> list[ComponentGrade]:
        return [c for c in self.components if c.framework == name]

    @property
    def overall_points(self) -> float:
        """The mean of the five METR component points."""
        metr = self.framework("METR")
        return round(sum(c.points for c in metr) / len(metr), 2)

    @property
    def overall_letter(self) -> Letter:
        return letter(self.overall_points)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(framework, component, letter, points, criteria met) per component, for tables."""
        return [
            (c.framework, c.title, c.letter, f"{c.points:.1f}", f"{c.met}/{c.total}") for c in self.components
        ]


# --- field evidence -------------------------------------------------------------------------------


def _commitment(kind: CommitmentKind, *, binding: bool = True, scheduled: bool = False) -> Evidence:
    """The commitment, where the policy makes it: a hedged one (`binding: false`) is not met,
    or adding a line the framework only 'aims' for would raise a grade."""

    def check(p: Policy) -> list[str]:
        c = p.commitments.get(kind)
        if c is None or (binding and not c.binding) or (scheduled and c.every_months is None):
            return []
        return [f"commitments.{kind.value}" + (f" (every {c.every_months:g} months)" if scheduled else "")]

    return check


def _all_operational(p: Policy) -> list[str]:
    thr = [t for d in p.domains.values() for t in d.thresholds.values()]
    ok = [t for t in thr if t.when is not None]
    return (
        [f"{len(ok)} of {len(thr)} thresholds have a `when` condition"] if thr and len(ok) == len(thr) else []
    )


def _capability_responses(p: Policy) -> list[tuple[int, Response]]:
    return [(i, r) for i, r in enumerate(p.responses) if capability_conditioned(r)]


def _blocks(actions: Callable[[Policy], list[str]]) -> Evidence:
    def check(p: Policy) -> list[str]:
        wanted = actions(p)
        return [
            f"{response_clause(p, i)} blocks {a}"
            for i, r in _capability_responses(p)
            for a in r.block
            if a in wanted
        ]

    return check


def _requires_kind(kind: str, before: Callable[[Policy], list[str]] | None = None) -> Evidence:
    def check(p: Policy) -> list[str]:
        out = []
        for i, r in _capability_responses(p):
            if r.require is None:
                continue
            acts = r.require.before or p.actions
            if before is not None and not set(before(p)) & set(acts):
                continue
            out += [
                f"{response_clause(p, i)} requires {n}"
                for n in r.require.protections
                if p.protections[n].kind == kind
            ]
            case = p.safety_cases.get(r.require.safety_case or "")
            if kind == "alignment" and case is not None and {"control", "propensity"} & set(case.arguments):
                out.append(f"{response_clause(p, i)} requires safety case {r.require.safety_case}")
        return out

    return check


def _periodic_training_trigger(p: Policy) -> list[str]:
    c = p.cadence
    if c is None or not c.during_training:
        return []
    found = [
        f"cadence.{name}"
        for name in ("every_effective_compute_multiple", "max_days", "post_training_months")
        if getattr(c, name) is not None
    ]
    return [f"{', '.join(found)} (during training)"] if found else []


def _restricted_fields(p: Policy) -> list[str]:
    g = p.governance
    return [f"governance.restricted_fields ({len(g.restricted_fields)})"] if g and g.restricted_fields else []


def _present(*kinds: CommitmentKind) -> Evidence:
    def describe(p: Policy) -> list[str]:
        return [f"commitments.{k.value}" for k in kinds if k in p.commitments]

    return describe


def _categories(p: Policy) -> list[str]:
    return [
        f"domains.{n}: {d.category}" for n, d in p.domains.items() if d.thresholds and d.category != "other"
    ]


def _security(p: Policy) -> list[str]:
    return [
        f"protections.{n}: RAND SL{s.rand_sl}"
        for n, s in p.protections.items()
        if s.kind == "security" and s.rand_sl
    ]


def _cadence(p: Policy) -> list[str]:
    c = p.cadence
    if c is None:
        return []
    fields = ("every_effective_compute_multiple", "max_days", "post_training_months")
    out = [f"cadence.{f}: {getattr(c, f):g}" for f in fields if getattr(c, f) is not None]
    return out + ([f"cadence.events: {', '.join(c.events)}"] if c.events else [])


def _elicitation(p: Policy) -> list[str]:
    e = p.elicitation
    if e is None:
        return []
    flags = ("without_safety_training", "fine_tune_for_misuse", "best_scaffolds", "treat_as_lower_bound")
    out = [f"elicitation.{f}" for f in flags if getattr(e, f)]
    return out + ([f"elicitation.sandbagging: {e.sandbagging}"] if e.sandbagging else [])


def _alerts(p: Policy) -> list[str]:
    thr = [t for d in p.domains.values() for t in d.thresholds.values() if t.when is not None]
    out = [f"{sum(t.alert is not None for t in thr)} of {len(thr)} operational thresholds have an alert"]
    return out + (["cadence.buffer"] if p.cadence and p.cadence.buffer else [])


def _governance(*fields: str) -> Evidence:
    """`signoff.ACTION`, `reverse`, `inform_before`, `changes`: the values found there."""

    def describe(p: Policy) -> list[str]:
        g = p.governance
        if g is None:
            return []
        out = []
        for f in fields:
            if f.startswith("signoff."):
                roles = g.signoff.get(f.removeprefix("signoff."), [])
                out += [f"governance.{f}: {', '.join(roles)}"] if roles else []
            elif f == "release_signoff":
                out += [
                    f"governance.signoff.{a}: {', '.join(g.signoff[a])}"
                    for a in release_actions(p)
                    if g.signoff.get(a)
                ]
            elif f == "reverse" and g.reverse:
                out.append(f"governance.reverse: {', '.join(g.reverse)}")
            elif f == "inform_before":
                out += [f"governance.inform_before.{a}: {', '.join(r)}" for a, r in g.inform_before.items()]
            elif f == "changes" and g.changes is not None:
                c = g.changes
                out.append(
                    f"governance.changes: approve {', '.join(c.approve)}, notice {c.notice_days} days"
                    + (", public changelog" if c.public_changelog else "")
                    + (", published before effective" if c.publish_before_effective else "")
                )
        return out

    return describe


K = CommitmentKind
OPERATIONAL = Criterion(
    "operational",
    "Every threshold has an operational eval condition",
    ("L02",),
    evidence=_all_operational,
    reads="a `when` on every threshold",
)
SPECIFIC = Criterion("specific", "Thresholds name actor, magnitude and baseline", ("L01",))
TIERS = Criterion(
    "tiers", "Core domains have an intermediate tier, and every tier has a consequence", ("L09", "L29")
)
COVERAGE = Criterion(
    "coverage", "Bio/chem, cyber and AI R&D/autonomy are covered", ("L18",), describe=_categories
)
MISALIGNMENT = Criterion("misalignment", "Misalignment/autonomy is covered", ("L17",))
TOLERANCE = Criterion(
    "tolerance",
    "Risk tolerance is stated",
    evidence=_commitment(K.risk_tolerance),
    reads="commitments.risk_tolerance",
)
UNKNOWNS = Criterion(
    "unknowns", "A process looks for new risk categories", ("L25",), describe=_present(K.unknown_unknowns)
)
SECURITY = Criterion(
    "security",
    "Weight security is mapped to RAND levels on pre-mitigation levels",
    ("L16",),
    describe=_security,
)
DEPLOY_SAFEGUARDS = Criterion(
    "deployment_safeguards",
    "Deployment safeguards are required before release at a capability level",
    evidence=_requires_kind("deployment", release_actions),
    reads="a capability-conditioned response requiring a `kind: deployment` protection before release",
)
TESTED = Criterion(
    "tested", "Safeguards are adversarially tested", ("L06",), describe=_present(K.safeguard_testing)
)
ALIGNMENT = Criterion(
    "alignment",
    "Alignment/control measures are required at a capability level",
    evidence=_requires_kind("alignment"),
    reads="a capability-conditioned response requiring an alignment protection or control/propensity case",
)
INTERNAL = Criterion(
    "internal", "Internal deployment is in scope", ("L07",), describe=_present(K.internal_deployment)
)
OPEN_WEIGHTS = Criterion("open_weights", "Weight release is gated", ("L31",))
CADENCE = Criterion("cadence", "Assessments have a trigger", ("L04",), describe=_cadence)
DURING_TRAINING = Criterion(
    "during_training",
    "A compute or calendar trigger runs during training",
    evidence=_periodic_training_trigger,
    reads="cadence.during_training with a compute, days or post-training-months trigger",
)
ELICITATION = Criterion(
    "elicitation",
    "Elicitation is strong (lower bound, no safety training, ...)",
    ("L05",),
    describe=_elicitation,
    needs_evals=True,
)
BUFFER = Criterion(
    "buffer",
    "Alerts fire before thresholds and trigger a response",
    ("L03", "L27", "L28"),
    describe=_alerts,
    needs_evals=True,
)
CANNOT_RULE_OUT = Criterion(
    "cannot_rule_out",
    "'Cannot rule out' is acted on",
    ("L22",),
    describe=lambda p: [f"statistics.inconclusive_as: {p.statistics.inconclusive_as}"],
    needs_evals=True,
)
PAUSE_ENFORCED = Criterion(
    "pause_enforced",
    "A response blocks training at a capability level",
    ("L10",),
    evidence=_blocks(training_actions),
    reads="a capability-conditioned response blocking a training action",
)
PAUSE_COMMITTED = Criterion(
    "pause_committed",
    "A binding pause commitment",
    evidence=_commitment(K.pause),
    reads="commitments.pause with binding: true",
)
DEPLOY_GATE = Criterion(
    "deploy_gate",
    "A response blocks release at a capability level",
    evidence=_blocks(release_actions),
    reads="a capability-conditioned response blocking a release action",
)
INTERIM = Criterion(
    "interim",
    "Interim measures between crossing and safeguards",
    ("L24",),
    describe=_present(K.interim_measures),
)
RESIDUAL = Criterion(
    "residual",
    "Residual risk is assessed after mitigations",
    evidence=_commitment(K.residual_risk),
    reads="commitments.residual_risk",
)
NO_HATCH = Criterion(
    "no_escape_hatch",
    "No unconditioned competitor clause",
    ("L11",),
    describe=lambda p: (
        [f"marginal_risk.conditions: {', '.join(p.marginal_risk.conditions)}"]
        if p.marginal_risk
        else ["no marginal_risk clause"]
    ),
)
OWNER = Criterion(
    "owner", "Named decision-makers sign off release", ("L12",), describe=_governance("release_signoff")
)
OVERRIDE = Criterion(
    "override",
    "Overrides need named roles",
    ("L30",),
    describe=_governance("signoff.override"),
    needs_governance=True,
)
BOARD = Criterion(
    "board",
    "The board is informed or can reverse",
    ("L13",),
    describe=_governance("reverse", "inform_before"),
    needs_governance=True,
)
NONCOMPLIANCE = Criterion(
    "noncompliance",
    "Anonymous noncompliance reporting",
    ("L14",),
    describe=_present(K.noncompliance_reporting, K.anti_retaliation, K.no_non_disparagement),
)
EXTERNAL = Criterion(
    "external",
    "External audit or evaluation",
    ("L08",),
    describe=_present(K.third_party_audit, K.external_evaluation),
)
CHANGES = Criterion(
    "changes", "Policy changes are approved, announced and public", ("L15",), describe=_governance("changes")
)
REVIEW = Criterion(
    "review",
    "The policy is reviewed at least yearly",
    ("L26",),
    describe=_commitment(K.periodic_review, scheduled=True),
)
PUBLIC = Criterion(
    "public_reporting", "Results are reported publicly", ("L20",), describe=_present(K.public_reporting)
)
BINDING = Criterion(
    "binding",
    "Obligations are binding, not hedged",
    ("L23",),
    evidence=lambda p: [f"commitments.{k}" for k, c in p.commitments.items() if c.binding],
    reads="a binding commitment (`binding: true`, the default)",
)
GOV_NOTICE = Criterion(
    "government_notice", "Government is notified", ("L21",), describe=_present(K.government_notice)
)
EXT_EVAL = Criterion(
    "external_evaluation",
    "External evaluators get access",
    evidence=_commitment(K.external_evaluation),
    reads="commitments.external_evaluation",
)
AUDIT = Criterion(
    "third_party_audit",
    "A third party audits adherence",
    evidence=_commitment(K.third_party_audit),
    reads="commitments.third_party_audit",
)
FORECAST = Criterion(
    "forecasting",
    "Capabilities are forecast",
    evidence=_commitment(K.forecasting),
    reads="commitments.forecasting",
)
RETEST = Criterion(
    "safeguards_retested",
    "Safeguards are re-tested on a schedule",
    evidence=_commitment(K.safeguard_testing, scheduled=True),
    reads="commitments.safeguard_testing with every_months",
)
RESOURCES = Criterion(
    "resourcing",
    "Sufficient resources are committed",
    evidence=_commitment(K.resourcing),
    reads="commitments.resourcing",
)
REDACTION = Criterion(
    "redaction",
    "What public audit bundles withhold is declared",
    evidence=_restricted_fields,
    reads="governance.restricted_fields",
)

RUBRIC: tuple[Component, ...] = (
    Component(
        "limits",
        "METR",
        "Limits",
        "Which observations show it is (or strongly might be) unsafe to continue scaling?",
        (OPERATIONAL, SPECIFIC, TIERS, COVERAGE, MISALIGNMENT, TOLERANCE, UNKNOWNS),
    ),
    Component(
        "protections",
        "METR",
        "Protections",
        "Which protective measures are needed to contain catastrophic risk?",
        (SECURITY, DEPLOY_SAFEGUARDS, TESTED, ALIGNMENT, INTERNAL, OPEN_WEIGHTS),
    ),
    Component(
        "evaluation",
        "METR",
        "Evaluation",
        "How are early warning signs caught promptly?",
        (CADENCE, DURING_TRAINING, ELICITATION, BUFFER, CANNOT_RULE_OUT),
    ),
    Component(
        "response",
        "METR",
        "Response",
        "Is the developer prepared to pause until protections improve?",
        (PAUSE_ENFORCED, PAUSE_COMMITTED, DEPLOY_GATE, INTERIM, RESIDUAL, NO_HATCH),
    ),
    Component(
        "accountability",
        "METR",
        "Accountability",
        "Are commitments executed, verifiable, critiqued, and changed openly?",
        (OWNER, OVERRIDE, BOARD, NONCOMPLIANCE, EXTERNAL, CHANGES, REVIEW, PUBLIC, BINDING),
    ),
    Component(
        "seoul.I",
        "Seoul",
        "I risk assessment",
        "Assess risks across the lifecycle, incl. mitigation efficacy and external evaluations",
        (CADENCE, DURING_TRAINING, ELICITATION, TESTED, EXT_EVAL, INTERNAL),
    ),
    Component(
        "seoul.II",
        "Seoul",
        "II thresholds",
        "Set intolerable-risk thresholds, assess closeness, explain them",
        (OPERATIONAL, SPECIFIC, BUFFER, TOLERANCE, CANNOT_RULE_OUT, COVERAGE, TIERS),
    ),
    Component(
        "seoul.III",
        "Seoul",
        "III mitigations",
        "Mitigations keep risk within thresholds, incl. security for unreleased weights",
        (SECURITY, DEPLOY_SAFEGUARDS, TESTED, ALIGNMENT, OPEN_WEIGHTS),
    ),
    Component(
        "seoul.IV",
        "Seoul",
        "IV processes",
        "Explicit processes when thresholds are met; in the extreme, do not develop or deploy",
        (PAUSE_ENFORCED, PAUSE_COMMITTED, INTERIM, RESIDUAL, NO_HATCH, DEPLOY_GATE),
    ),
    Component(
        "seoul.V",
        "Seoul",
        "V continual improvement",
        "Keep investing in assessment, thresholds and mitigation effectiveness",
        (REVIEW, UNKNOWNS, FORECAST, RETEST),
    ),
    Component(
        "seoul.VI",
        "Seoul",
        "VI accountability",
        "Internal governance with roles, responsibilities and sufficient resources",
        (OWNER, OVERRIDE, BOARD, NONCOMPLIANCE, RESOURCES, BINDING),
    ),
    Component(
        "seoul.VII",
        "Seoul",
        "VII transparency",
        "Public transparency on implementing I-VI, withholding only what increases risk",
        (PUBLIC, GOV_NOTICE, CHANGES, REDACTION),
    ),
    Component(
        "seoul.VIII",
        "Seoul",
        "VIII external actors",
        "External actors take part in assessing risks, the framework and adherence",
        (AUDIT, EXT_EVAL, CHANGES),
    ),
)


def grade_policy(policy: Policy, findings: list[Finding] | None = None) -> Grades:
    """Grades from the policy's fields and its lint findings (computed when not given)."""
    found = lint_policy(policy) if findings is None else findings
    blocking = [f for f in found if f.severity in ("error", "warning")]
    components = []
    for comp in RUBRIC:
        results = [_judge(policy, c, blocking) for c in comp.criteria]
        met = sum(r.met for r in results)
        points = round(4 * met / len(results), 1)
        components.append(
            ComponentGrade(
                key=comp.key,
                framework=comp.framework,
                title=comp.title,
                question=comp.question,
                criteria=results,
                met=met,
                total=len(results),
                points=points,
                letter=letter(points),
            )
        )
    return Grades(policy=policy.policy.name, components=components)


def _judge(policy: Policy, c: Criterion, findings: list[Finding]) -> CriterionResult:
    hits = [f"{f.rule} {f.clause}: {f.message}" for f in findings if f.rule in c.rules]
    if c.needs_evals and not any(
        t.when is not None for d in policy.domains.values() for t in d.thresholds.values()
    ):
        hits.append(
            "not found: no threshold has an eval condition (`when`), so there is nothing to apply it to"
        )
    if c.needs_governance and (policy.governance is None or not policy.governance.roles):
        hits.append("not found: the policy has no governance section naming roles")
    support = c.evidence(policy) if c.evidence is not None else []
    met = not hits and (c.evidence is None or bool(support))
    if met:
        shown = support or (c.describe(policy) if c.describe is not None else [])
        evidence = shown or [f"no {'/'.join(c.rules)} finding"]
    else:
        evidence = hits + ([f"not found: {c.reads}"] if c.evidence is not None and not support else [])
    return CriterionResult(id=c.id, text=c.text, met=met, evidence=evidence)


def grades_json(grades: Grades) -> dict[str, Any]:
    out = grades.model_dump(mode="json")
    out["overall"] = {"points": grades.overall_points, "letter": grades.overall_letter}
    return out
