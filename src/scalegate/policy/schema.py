"""Policy schema v1: the typed form of a scaling policy.

Everything a gate decides is traced back to a field of these models, so they are strict
(unknown keys are errors) and validated across references (a threshold naming an eval that
does not exist is an error at load time, never a silent `unknown` at gate time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from scalegate.policy.base import (
    LISTED_NAMES,
    MAX_HINT_CANDIDATES,
    MAX_HINTS,
    Cited,
    Strict,
    _finite,
    closest,
    listing,
)
from scalegate.policy.cadence import Cadence
from scalegate.policy.conditions import ResponseCondition, ThresholdCondition, leaves

SCHEMA_VERSION = 1

Loc = tuple[str | int, ...]

#: Names that become parts of file names (evidence/<eval>.json, logs/<eval>/, plots): letters,
#: digits, `_`, `-` and `.`, starting with a letter or digit, so no name can leave its folder.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]

#: The actions every policy gates. A policy may add its own in `actions`.
DEFAULT_ACTIONS: tuple[str, ...] = (
    "continue_training",
    "internal_deployment",
    "external_deployment",
    "open_weights",
)


#: Keys of `governance.signoff` that are not actions, and who reads them: `override` is the
#: roles that must all sign an override in the ledger (scalegate.ledger.workflow.override and
#: ledger verify). Without it the ledger refuses every override (fail closed).
SIGNOFF_SPECIAL_KEYS: tuple[str, ...] = ("override",)

#: Largest notice period, in days (100 years): the ledger adds it to a date.
MAX_NOTICE_DAYS = 36_500


class _Refs:
    """The names a policy declares, as sets (membership in constant time) and as messages,
    with a budget of "did you mean" hints."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.levels = set(policy.levels)
        self.actions = set(policy.actions)
        self.roles = set(policy.governance.roles) if policy.governance else set()
        self.sorted_roles = sorted(self.roles)
        self.hints_left = MAX_HINTS

    def closest(self, name: str, known: list[str]) -> str | None:
        if self.hints_left <= 0 or len(known) > MAX_HINT_CANDIDATES:
            return None
        self.hints_left -= 1
        return closest(name, known)

    def unknown_action(self, action: str) -> str:
        return f"unknown action '{action}' (actions: {listing(self.policy.actions)})"

    def unknown_key(self, fld: str, key: str, special: tuple[str, ...]) -> str:
        known = [*self.policy.actions, *special]
        near = self.closest(key, known)
        if near is not None:
            return f"unknown action '{key}' (did you mean '{near}'?)"
        if fld == "signoff" and key == "policy_change":
            return (
                "'policy_change' is not a sign-off key: who approves a new version of the policy is "
                "`governance.changes.approve`"
            )
        shown = known if len(known) <= LISTED_NAMES else [*known[:LISTED_NAMES], f"... ({len(known)} in all)"]
        keys = ", ".join(f"'{k}'" if not k.startswith("...") else k for k in shown) or "none"
        return f"unknown action '{key}': the keys of governance.{fld} are {keys}"

    def role_problems(self, roles: list[str]) -> list[str]:
        out = []
        for r in roles:
            if r in self.roles:
                continue
            known = self.sorted_roles
            near = self.closest(r, known)
            if near is not None:
                out.append(f"unknown role '{r}' (did you mean '{near}'?)")
            elif not known:
                out.append(f"unknown role '{r}': no roles are declared; add it under `governance.roles`")
            else:
                out.append(f"unknown role '{r}' (roles: {listing(known)})")
        return out


class PolicyMeta(Strict):
    name: str
    version: str
    effective: dt.date | None = None
    owner: str | None = None
    description: str | None = None


class Statistics(Strict):
    """How evidence becomes a three-state comparison."""

    # The two-sided level of every interval: each end errs with probability at most
    # (1 - confidence) / 2, so the error that can allow an action is (1 - confidence) / 2.
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    # `clopper_pearson` (exact, the default) holds its level at every n; `wilson` is narrower
    # but errs more than nominal at small n and high thresholds (docs/design/statistics.md).
    # `confidence_sequence`: Robbins' beta-binomial mixture, valid at every sample size at once,
    # so it may be read while an eval runs (docs/design/sequential.md).
    interval: Literal["wilson", "clopper_pearson", "confidence_sequence"] = "clopper_pearson"
    # What an interval straddling a threshold means for the level. `crossed` is the
    # precautionary reading ("cannot rule out" means act as though crossed).
    inconclusive_as: Literal["crossed", "below"] = "crossed"
    # Draw each eval's samples in a seeded random order and stop once the confidence sequence
    # settles (crossed or below) every threshold that reads the eval.
    sequential: bool = False
    sequential_seed: int = Field(0, ge=0, le=2**63 - 1)  # recorded in logs as a 64-bit integer
    # A sample metadata field whose values group dependent samples (MMLU: `subject`): the
    # interval then widens by the measured design effect (docs/design/statistics.md). An
    # eval's own `cluster` overrides it.
    cluster: str | None = None

    @model_validator(mode="after")
    def _sequential_needs_a_confidence_sequence(self) -> Self:
        if self.sequential and self.interval != "confidence_sequence":
            raise ValueError(
                f"sequential: true needs interval: confidence_sequence (got {self.interval}): a "
                "fixed-n interval read at a data-dependent stopping time has no coverage guarantee"
            )
        if self.sequential and self.cluster:
            raise ValueError(
                "sequential: true cannot be combined with cluster: the confidence sequence assumes "
                "independent samples; drop one of them"
            )
        return self


class EvidenceRules(Strict):
    """When evidence is too weak to be evidence at all."""

    min_samples: int = Field(20, ge=1)
    # Generate-and-parse scoring: share of answers that could not be read before the eval is
    # `unreliable` (fail closed) instead of a low score.
    max_unparsed_fraction: float = Field(0.05, ge=0.0, le=1.0)
    # Answer-position collapse: when one option is chosen for more than this share of a
    # multiple-choice eval's items the measurement is broken (`unreliable`). null: no check.
    max_option_share: float | None = Field(0.9, gt=0.0, le=1.0)


#: The sandbagging checks a policy can require (evals/elicitation_checks.py).
CheckName = Literal["noise_injection", "fine_tune_probe", "difficulty_consistency"]


class Elicitation(Cited):
    """What effort the policy demands to draw out capability before a score counts.

    Declared so that lint can grade it and reports can show it; every field is optional
    because frameworks commit to different subsets.
    """

    description: str | None = None
    without_safety_training: bool | None = None  # test helpful-only / refusal-free variants
    fine_tune_for_misuse: bool | None = None  # pre-mitigation = worst known case
    best_scaffolds: bool | None = None
    max_post_training_compute_fraction: float | None = Field(None, gt=0, le=1)  # Anthropic v1: 0.01
    attempts_per_task: int | None = Field(None, ge=1)
    budget_per_attempt_usd: float | None = Field(None, gt=0)
    human_transcript_review: bool | None = None
    treat_as_lower_bound: bool | None = None
    sandbagging: Literal["elicit", "conservative_upper_bound"] | None = None
    # Run each eval under these profiles (built-in names or `profiles:` entries); the eval's
    # score is the best of them, with a Bonferroni correction (docs/design/elicitation.md).
    profiles: list[str] | None = None
    # Sandbagging checks each eval's pre-mitigation evidence must pass (evals/elicitation_checks.py,
    # docs/design/sandbagging.md): a flagged check leaves the eval `elicitation_gap`, a check that
    # cannot run (no weights) leaves it `missing`; neither rules a level out.
    checks: list[CheckName] | None = None


ProfileKind = Literal[
    "zero_shot", "few_shot", "chain_of_thought", "best_of_n", "system_prompt", "fine_tuned", "red_team"
]


class Profile(Cited):
    """One way of asking: an elicitation strategy, or (kind `red_team`) an attack on safeguards.

    A capability eval asks what the model *could* do, so each profile is a fresh attempt and
    the eval keeps the best. `fine_tuned` names a model the user trained for the purpose
    (recorded as such); `red_team` wraps each prompt in a template of `scalegate.evals.redteam`.
    """

    kind: ProfileKind
    description: str | None = None
    k: int | None = Field(None, ge=1, le=25)  # few_shot: solved examples before the question
    n: int | None = Field(None, ge=2, le=100)  # best_of_n: attempts, any correct counts
    system_prompt: str | None = None  # system_prompt: the text placed before the task
    model: str | None = None  # fine_tuned: a model reference (hf/<path>, bundled/..., api)
    template: str | None = None  # red_team: a template name

    @model_validator(mode="after")
    def _parameters_fit_the_kind(self) -> Self:
        needs = {"few_shot": "k", "best_of_n": "n", "system_prompt": "system_prompt"}
        needs |= {"fine_tuned": "model", "red_team": "template"}
        allowed = {v for v in needs.values()}
        want = needs.get(self.kind)
        if want is not None and getattr(self, want) is None:
            raise ValueError(f"a {self.kind} profile needs `{want}`")
        extra = [f for f in sorted(allowed) if f != want and getattr(self, f) is not None]
        if extra:
            raise ValueError(f"a {self.kind} profile takes no {', '.join(extra)}")
        return self


class Mitigation(Cited):
    """A declared wrapper around the model; post-mitigation evidence runs through it.

    Filters are judge references: `builtin:keyword_input`, `builtin:keyword`, or
    `module:function` taking the text and returning True to block it.
    """

    description: str | None = None
    system_prompt: str | None = None
    input_filter: str | None = None
    output_filter: str | None = None
    model: str | None = None  # a refusal-trained model that replaces the raw one

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if not (self.system_prompt or self.input_filter or self.output_filter or self.model):
            raise ValueError("a mitigation needs one of system_prompt, input_filter, output_filter, model")
        return self


class PostMitigation(Cited):
    """How post-mitigation evidence is gathered, and when it counts.

    With `red_team: true` the evals also run under the `red_team_profiles` (jailbreak and
    refusal-suppression templates) and post-mitigation evidence that was not gathered that way
    is refused by the gates (read as missing, so it can never lower a level).
    """

    mitigations: list[str] = Field(min_length=1)
    red_team: bool = False
    red_team_profiles: list[str] = Field(default_factory=list)
    evals: list[str] | None = None  # default: every eval


class EvalSpec(Cited):
    """One evaluation the policy relies on: an Inspect task, its arguments and the metric."""

    task: str = Field(description="Inspect task: scalegate/<name>, a registry name, or a file")
    args: dict[str, Any] = Field(default_factory=dict)
    metric: str = "accuracy"
    description: str | None = None
    # score of random guessing (0.25 for four options): the floor of capability forecasts
    chance: float = Field(0.0, ge=0.0, lt=1.0)
    elicitation: Elicitation | None = None  # overrides the policy-wide `elicitation`
    # Which profile's score stands when the eval runs under several: the worst case for safety.
    # `highest` for capability scores; `lowest` for a safeguard's score such as a refusal rate,
    # which an attacker tries to push down.
    worst_case: Literal["highest", "lowest"] = "highest"
    # sample metadata field grouping dependent samples (overrides `statistics.cluster`)
    cluster: str | None = None
    # Why repeated epochs of this eval carry information (sampling temperature > 0 is not
    # recorded, or a stochastic agent): without it, epochs > 1 at temperature 0 are refused.
    epochs_reason: str | None = None

    @field_validator("args")
    @classmethod
    def _args_are_finite(cls, value: dict[str, Any]) -> dict[str, Any]:
        _finite(value, "args")
        return value


class Threshold(Cited):
    description: str
    # the framework's own name for it: "CBRN-3", "Cyber uplift L1", "High"
    label: str | None = None
    # capability: what the model can do; outcome: whether it would enable a named threat
    # scenario (Meta); propensity: what it tends to do (MASK dishonesty); usage: observed use
    kind: Literal["capability", "outcome", "propensity", "usage"] = "capability"
    # Which model the threshold judges. `both`: the raw model in the pre-mitigation view and
    # the safeguarded one in the post-mitigation view. `post`: only the safeguarded system,
    # the "reduce performance to" cap of xAI's draft. `pre`: only the raw model.
    applies_to: Literal["both", "pre", "post"] = "both"
    # None: the threshold exists only as prose. The gate treats it as unknown (fail closed).
    when: ThresholdCondition | None = None
    alert: ThresholdCondition | None = None
    # why there is no `when`: what the framework leaves to judgement
    not_operationalized: str | None = None


DomainCategory = Literal[
    "cbrn", "bio", "chem", "nuclear", "cyber", "ai_rnd", "autonomy", "misalignment", "persuasion", "other"
]


class Domain(Cited):
    title: str
    description: str | None = None
    category: DomainCategory = "other"
    # research / ongoing_assessment: tracked without gating thresholds (OpenAI v2 research
    # categories, Anthropic v2 cyber); a domain with no thresholds must say so
    status: Literal["tracked", "research", "ongoing_assessment"] = "tracked"
    thresholds: dict[str, Threshold] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_thresholds(self) -> Self:
        if self.status == "tracked" and not self.thresholds:
            raise ValueError("a tracked domain needs thresholds (or status: research / ongoing_assessment)")
        return self


class ProtectionRequirement(Strict):
    """What must be in place before the listed actions (default: all actions): protections,
    and/or an affirmative safety case whose claims are all supported."""

    protections: list[str] = Field(default_factory=list)
    safety_case: str | None = None
    before: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _requires_something(self) -> Self:
        if not self.protections and self.safety_case is None:
            raise ValueError("`require` needs `protections: [...]`, `safety_case: NAME`, or both")
        return self


class Response(Cited):
    id: str | None = None
    description: str | None = None
    if_: ResponseCondition = Field(alias="if")
    block: list[str] = Field(default_factory=list)
    require: ProtectionRequirement | None = None
    # roles to inform before proceeding with any action while the response applies
    notify: list[str] = Field(default_factory=list)
    # what the framework says to do that a gate cannot check (lock down weights, post-mortem)
    obligations: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if not self.block and self.require is None and not self.notify and not self.obligations:
            raise ValueError(
                "a response needs `block: [actions]`, `require: {...}`, `notify`, or `obligations`"
            )
        return self


ArgumentType = Literal["inability", "control", "propensity", "understanding"]
ARGUMENT_TYPES: tuple[ArgumentType, ...] = ("inability", "control", "propensity", "understanding")


class SafetyCaseRequirement(Cited):
    """An affirmative case the policy may demand before an action (see `scalegate case check`).

    `combine` says how the case's independent top-level arguments add up: `all` of them must
    hold (each covers a different part of the risk), or `any` one suffices (each alone is
    meant to carry the conclusion), in both cases at least `min_arguments` supported ones.
    """

    description: str
    arguments: list[ArgumentType] = Field(default_factory=lambda: list(ARGUMENT_TYPES), min_length=1)
    combine: Literal["all", "any"] = "all"
    min_arguments: int = Field(1, ge=1)


class Protection(Cited):
    description: str
    kind: Literal["security", "deployment", "alignment", "process"] = "process"
    rand_sl: int | None = Field(None, ge=1, le=5)  # RAND "Securing AI Model Weights" level


class ChangeProcess(Cited):
    """How this policy may be replaced: who approves, and how long the notice runs."""

    approve: list[str] = Field(min_length=1)
    consult: list[str] = Field(default_factory=list)
    notice_days: int = Field(0, ge=0, le=MAX_NOTICE_DAYS)
    public_changelog: bool = False
    publish_before_effective: bool = False


class Governance(Cited):
    roles: dict[str, str] = Field(default_factory=dict)
    changes: ChangeProcess | None = None
    # action (or `override`: who must sign an override) -> roles that must sign off. Who
    # approves a new version of the policy is `changes.approve`.
    signoff: dict[str, list[str]] = Field(default_factory=dict)
    # action -> roles that must be informed before proceeding (Anthropic v2: Board and LTBT)
    inform_before: dict[str, list[str]] = Field(default_factory=dict)
    # roles that can reverse a decision (OpenAI: the Board / its Safety and Security Committee)
    reverse: list[str] = Field(default_factory=list)
    # ledger fields (`kind.field`) a public audit bundle replaces by their digests
    restricted_fields: list[str] = Field(default_factory=list)


class CommitmentKind(StrEnum):
    """Commitments lint and grading look for. Each names a documented best practice."""

    pause = "pause"  # halt development/deployment if safeguards cannot be met (Seoul IV)
    interim_measures = "interim_measures"  # between a crossing and the safeguards being ready
    unknown_unknowns = "unknown_unknowns"  # process for finding new risk categories
    risk_tolerance = "risk_tolerance"  # stated acceptable risk / severe-harm definition
    residual_risk = "residual_risk"  # residual-risk assessment after mitigations
    internal_deployment = "internal_deployment"  # internal use is in scope
    threat_modeling = "threat_modeling"
    forecasting = "forecasting"
    safeguard_testing = "safeguard_testing"  # adversarial testing of mitigations with a target
    public_reporting = "public_reporting"  # eval results / system cards at deployment
    government_notice = "government_notice"
    third_party_audit = "third_party_audit"
    external_evaluation = "external_evaluation"  # external evaluators / reviewers get access
    noncompliance_reporting = "noncompliance_reporting"  # anonymous channel
    anti_retaliation = "anti_retaliation"
    no_non_disparagement = "no_non_disparagement"
    periodic_review = "periodic_review"  # the policy itself is reviewed on a schedule
    safety_drills = "safety_drills"
    resourcing = "resourcing"
    distribution_partners = "distribution_partners"


class Commitment(Cited):
    text: str
    # false: the framework hedges it ("may", "aim to", "intend"); lint reports hedged language
    binding: bool = True
    audience: Literal["public", "government", "board", "internal", "third_party"] | None = None
    every_months: float | None = Field(None, gt=0)
    roles: list[str] = Field(default_factory=list)


class MarginalRisk(Cited):
    """A competitor clause: when safeguards may be lowered because another developer went
    ahead without them, and the conditions the framework attaches."""

    text: str
    conditions: list[
        Literal[
            "rigorous_confirmation",
            "public_acknowledgement",
            "remain_more_protective",
            "government_notice",
            "no_meaningful_risk_increase",
        ]
    ] = Field(default_factory=list)


class Policy(Strict):
    scalegate: Literal[1] = Field(description="policy schema version")
    policy: PolicyMeta
    levels: list[str] = Field(min_length=2)
    actions: list[str] = Field(default_factory=lambda: list(DEFAULT_ACTIONS))
    statistics: Statistics = Field(default_factory=lambda: Statistics())
    evidence: EvidenceRules = Field(default_factory=lambda: EvidenceRules())
    evals: dict[Name, EvalSpec] = Field(default_factory=dict)
    elicitation: Elicitation | None = None
    profiles: dict[Name, Profile] = Field(default_factory=dict)
    mitigations: dict[Name, Mitigation] = Field(default_factory=dict)
    post_mitigation: PostMitigation | None = None
    domains: dict[Name, Domain] = Field(min_length=1)
    protections: dict[str, Protection] = Field(default_factory=dict)
    safety_cases: dict[str, SafetyCaseRequirement] = Field(default_factory=dict)
    responses: list[Response] = Field(min_length=1)
    cadence: Cadence | None = None
    governance: Governance | None = None
    commitments: dict[CommitmentKind, Commitment] = Field(default_factory=dict)
    marginal_risk: MarginalRisk | None = None

    @field_validator("protections", mode="before")
    @classmethod
    def _protection_shorthand(cls, value: Any) -> Any:
        """`name: description` is shorthand for `name: {description: ...}`."""
        if isinstance(value, dict):
            return {k: {"description": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def protection_text(self, name: str) -> str:
        return self.protections[name].description

    def reference_problems(self) -> list[tuple[Loc, str]]:
        """Cross-references pydantic cannot see: names that must exist elsewhere in the file.

        Each problem comes with the field path it belongs to, so the loader can name its line.
        Linear in the size of the policy, however many names are wrong.
        """
        refs = _Refs(self)
        out: list[tuple[Loc, str]] = []
        if len(refs.levels) != len(self.levels):
            out.append((("levels",), "level names must be unique"))
        if len(refs.actions) != len(self.actions):
            out.append((("actions",), "action names must be unique"))
        out.extend(self._threshold_problems(refs))
        if self.cadence is not None and self.cadence.preliminary is not None:
            loc: Loc = ("cadence", "preliminary", "relative", "evals")
            claim = self.cadence.preliminary.relative
            out.extend((loc, p) for e in claim.evals for p in self._eval_problems(e, None))
        for i, resp in enumerate(self.responses):
            out.extend(self._response_problems(i, resp, refs))
        ids = [r.id for r in self.responses if r.id]
        if len(set(ids)) != len(ids):
            out.append((("responses",), "response ids must be unique"))
        if self.governance:
            out.extend(self._governance_problems(self.governance, refs))
        for kind, commitment in self.commitments.items():
            out.extend(
                (("commitments", kind.value, "roles"), p) for p in refs.role_problems(commitment.roles)
            )
        out.extend(self._elicitation_problems())
        return out

    def _threshold_problems(self, refs: _Refs) -> Iterator[tuple[Loc, str]]:
        for dname, domain in self.domains.items():
            for level, thr in domain.thresholds.items():
                loc: Loc = ("domains", dname, "thresholds", level)
                if level not in refs.levels:
                    yield loc, f"unknown level '{level}' (levels: {listing(self.levels)})"
                elif level == self.levels[0]:
                    yield loc, f"'{level}' is the baseline level and takes no threshold"
                for key, cond in (("when", thr.when), ("alert", thr.alert)):
                    if cond is not None:
                        yield from (((*loc, key), p) for p in self._comparison_problems(cond))

    def _response_problems(self, i: int, resp: Response, refs: _Refs) -> Iterator[tuple[Loc, str]]:
        rloc: Loc = ("responses", i)
        yield from (((*rloc, "if"), p) for p in self._condition_problems(resp.if_, refs))
        for action in resp.block:
            if action not in refs.actions:
                yield (*rloc, "block"), refs.unknown_action(action)
        if resp.require:
            for action in resp.require.before or []:
                if action not in refs.actions:
                    yield (*rloc, "require", "before"), refs.unknown_action(action)
            for prot in resp.require.protections:
                if prot not in self.protections:
                    yield (
                        (*rloc, "require", "protections"),
                        f"protection '{prot}' is not declared under `protections:`",
                    )
            case = resp.require.safety_case
            if case is not None and case not in self.safety_cases:
                yield (
                    (*rloc, "require", "safety_case"),
                    f"safety case '{case}' is not declared under `safety_cases:`",
                )
        yield from (((*rloc, "notify"), p) for p in refs.role_problems(resp.notify))

    def profile(self, name: str) -> Profile | None:
        """A profile by name: the policy's own, else a built-in (zero_shot, few_shot_5, ...)."""
        return self.profiles.get(name) or BUILTIN_PROFILES.get(name)

    def checks_for(self, eval_id: str) -> list[CheckName]:
        """The sandbagging checks an eval's evidence must pass: its own list, else the policy's."""
        for elicitation in (self.evals[eval_id].elicitation, self.elicitation):
            if elicitation is not None and elicitation.checks is not None:
                return list(dict.fromkeys(elicitation.checks))
        return []

    def _check_problems(self) -> list[tuple[Loc, str]]:
        return [
            (
                ("evals", e, "elicitation", "checks"),
                f"eval '{e}' reads its lowest score (worst_case: lowest): sandbagging checks "
                f"raise scores and apply to capability evals only; give it `checks: []`",
            )
            for e, spec in self.evals.items()
            if spec.worst_case == "lowest" and self.checks_for(e)
        ]

    def _elicitation_problems(self) -> list[tuple[Loc, str]]:
        out: list[tuple[Loc, str]] = []
        known = listing(sorted({*BUILTIN_PROFILES, *self.profiles}))
        places: list[tuple[Loc, Elicitation | None]] = [(("elicitation",), self.elicitation)]
        places += [(("evals", e), spec.elicitation) for e, spec in self.evals.items()]
        for loc, elicitation in places:
            for name in (elicitation.profiles or []) if elicitation else []:
                if self.profile(name) is None:
                    out.append(((*loc, "profiles"), f"unknown profile '{name}' (profiles: {known})"))
        out.extend(self._check_problems())
        post = self.post_mitigation
        if post is None:
            return out
        for name in post.mitigations:
            if name not in self.mitigations:
                out.append(
                    (
                        ("post_mitigation", "mitigations"),
                        f"mitigation '{name}' is not declared under `mitigations:`",
                    )
                )
        for name in post.red_team_profiles:
            prof = self.profile(name)
            if prof is None or prof.kind != "red_team":
                out.append(
                    (
                        ("post_mitigation", "red_team_profiles"),
                        f"'{name}' is not a red_team profile (known: {known})",
                    )
                )
        if post.red_team and not post.red_team_profiles:
            out.append(
                (("post_mitigation", "red_team"), "red_team: true needs at least one of `red_team_profiles`")
            )
        for e in post.evals or []:
            if e not in self.evals:
                out.append(
                    (
                        ("post_mitigation", "evals"),
                        f"unknown eval '{e}' (evals: {listing(sorted(self.evals))})",
                    )
                )
        return out

    def _governance_problems(self, gov: Governance, refs: _Refs) -> list[tuple[Loc, str]]:
        """Every key of `signoff` / `inform_before` is an action (or, for `signoff`, a key the
        ledger reads: `override`), and every role named anywhere is declared in `roles`. The
        ledger reads exactly these names, so a misspelt one would be a rule nobody enforces."""
        out: list[tuple[Loc, str]] = []
        for fld in ("signoff", "inform_before"):
            special = SIGNOFF_SPECIAL_KEYS if fld == "signoff" else ()
            for key, roles in getattr(gov, fld).items():
                loc: Loc = ("governance", fld, key)
                if key not in refs.actions and key not in special:
                    out.append((loc, refs.unknown_key(fld, key, special)))
                out.extend((loc, p) for p in refs.role_problems(roles))
        out.extend((("governance", "reverse"), p) for p in refs.role_problems(gov.reverse))
        if gov.changes:
            for fld in ("approve", "consult"):
                roles = getattr(gov.changes, fld)
                out.extend((("governance", "changes", fld), p) for p in refs.role_problems(roles))
        return out

    def _comparison_problems(self, cond: ThresholdCondition) -> list[str]:
        return [p for leaf, _ in leaves(cond) for e, m in leaf.reads() for p in self._eval_problems(e, m)]

    def _eval_problems(self, eval_id: str, metric: str | None) -> list[str]:
        spec = self.evals.get(eval_id)
        if spec is None:
            return [f"unknown eval '{eval_id}' (evals: {listing(sorted(self.evals))})"]
        if metric is not None and metric != spec.metric:
            return [
                f"eval '{eval_id}' reports metric '{spec.metric}', not '{metric}' "
                "(omit `metric` to use the eval's own)"
            ]
        return []

    def _condition_problems(self, cond: ResponseCondition, refs: _Refs) -> list[str]:
        out: list[str] = []
        for level in (cond.pre_mitigation_at_least, cond.post_mitigation_at_least):
            if level is not None and level not in refs.levels:
                out.append(f"unknown level '{level}' (levels: {listing(self.levels)})")
        for e in cond.relative.evals if cond.relative else []:
            out.extend(self._eval_problems(e, None))
        for d in cond.domains or []:
            if d not in self.domains:
                out.append(f"unknown domain '{d}' (domains: {listing(sorted(self.domains))})")
        for child in cond.children():
            out.extend(self._condition_problems(child, refs))
        return out

    def level_rank(self, level: str) -> int:
        return self.levels.index(level)

    def response_id(self, index: int) -> str:
        """The clause name a decision cites: the response's id, or its position."""
        rid = self.responses[index].id
        return rid if rid else f"responses[{index}]"


#: Profiles every policy can name without declaring them.
BUILTIN_PROFILES: dict[str, Profile] = {
    "zero_shot": Profile(kind="zero_shot", description="the task's own prompt"),
    "few_shot_5": Profile(kind="few_shot", k=5, description="five solved examples before the question"),
    "chain_of_thought": Profile(kind="chain_of_thought", description="the model reasons first, then answers"),
    "best_of_5": Profile(kind="best_of_n", n=5, description="five attempts at temperature 1, any correct"),
}
