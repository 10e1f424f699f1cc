"""Policy lint: a compliant policy is clean, each rule fires on the one change that breaks it,
with the clause it names, and the reference preset passes every rule."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from scalegate.policy.schema import CommitmentKind, Policy
from scalegate.report.policy_review import render_findings
from scalegate.review.lint import (
    RULES,
    Finding,
    findings_json,
    has_errors,
    lint_policy,
    sorted_findings,
)
from tests.builders import policy_from, reference_policy

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lint.md"

# Passes every rule: three levels, each core domain with a tier below the top, alerts below
# every threshold, security mapped to RAND levels, a pause, governance and every commitment.
COMPLIANT = """
scalegate: 1
policy: {name: compliant, version: "1"}
levels: [low, medium, high]
statistics: {inconclusive_as: crossed}
elicitation: {treat_as_lower_bound: true, sandbagging: conservative_upper_bound, checks: [fine_tune_probe]}
evals:
  bio: {task: t/bio}
  cyber: {task: t/cyber}
  rnd: {task: t/rnd}
domains:
  bio:
    title: Biology
    category: bio
    thresholds:
      medium:
        description: Meaningful uplift to novices over textbooks
        when: {eval: bio, at_least: 0.5}
        alert: {eval: bio, at_least: 0.4}
      high:
        description: Expert-level uplift to skilled actors
        when: {eval: bio, at_least: 0.8}
        alert: {eval: bio, at_least: 0.7}
  cyber:
    title: Cyber
    category: cyber
    thresholds:
      medium:
        description: Meaningful uplift to novice attackers
        when: {eval: cyber, at_least: 0.5}
        alert: {eval: cyber, at_least: 0.4}
      high:
        description: End-to-end operations for skilled attackers
        when: {eval: cyber, at_least: 0.8}
        alert: {eval: cyber, at_least: 0.7}
  rnd:
    title: AI R&D
    category: ai_rnd
    thresholds:
      medium:
        description: Automates the work of an entry-level researcher
        when: {eval: rnd, at_least: 0.5}
        alert: {eval: rnd, at_least: 0.4}
protections:
  sl3: {description: RAND SL3 weight security, kind: security, rand_sl: 3}
  safeguards: {description: Misuse safeguards red-teamed before approval, kind: deployment}
  control: {description: Monitoring of internal agents, kind: alignment}
  plan: A response plan
responses:
  - id: no-open-weights
    if: {post_mitigation_at_least: medium}
    block: [open_weights]
  - id: deploy-safeguards
    if: {post_mitigation_at_least: medium}
    require: {protections: [safeguards], before: [external_deployment]}
  - id: security
    if: {pre_mitigation_at_least: medium}
    require: {protections: [sl3, control], before: [continue_training, internal_deployment]}
  - id: pause
    if: {post_mitigation_at_least: high}
    block: [continue_training, external_deployment]
  - id: buffer
    if: {alert: true}
    require: {protections: [plan], before: [external_deployment]}
cadence: {every_effective_compute_multiple: 4, max_days: 90}
governance:
  roles: {rso: Responsible Scaling Officer, board: Board of Directors}
  signoff: {external_deployment: [rso], open_weights: [rso, board], override: [board]}
  reverse: [board]
  changes:
    approve: [board]
    consult: [rso]
    notice_days: 30
    public_changelog: true
    publish_before_effective: true
  restricted_fields: [assessment.evidence]
commitments:
  pause: {text: Training stops when the required safeguards cannot be met.}
  interim_measures: {text: Deployed copies are withdrawn until safeguards are in place.}
  unknown_unknowns: {text: Each review looks for new risk categories.}
  risk_tolerance: {text: No meaningful uplift towards mass casualties is acceptable.}
  residual_risk: {text: Every decision records the residual risk.}
  internal_deployment: {text: Internal use is gated like external use.}
  threat_modeling: {text: Each domain has a written threat model.}
  forecasting: {text: Each assessment forecasts the next crossing.}
  safeguard_testing: {text: Safeguards are red-teamed every year., every_months: 12}
  public_reporting: {text: Results are published at deployment., audience: public}
  government_notice: {text: The government is told of every crossing., audience: government}
  third_party_audit: {text: An auditor checks the ledger yearly., audience: third_party}
  external_evaluation: {text: External evaluators test models before deployment.}
  noncompliance_reporting: {text: Anyone can report noncompliance anonymously.}
  anti_retaliation: {text: Reporters are protected.}
  no_non_disparagement: {text: No agreement bars raising safety concerns.}
  periodic_review: {text: The board reviews this policy yearly., every_months: 12}
  safety_drills: {text: The pause is drilled yearly.}
  resourcing: {text: The RSO has the staff the assessments need.}
  distribution_partners: {text: Partners are bound to the same safeguards.}
"""

Change = Callable[[dict[str, Any]], None]


def _walk(data: Any, path: str) -> tuple[Any, str | int]:
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node, int(last) if isinstance(node, list) else last


def set_(path: str, value: Any) -> Change:
    def change(data: dict[str, Any]) -> None:
        node, key = _walk(data, path)
        node[key] = value

    return change


def del_(*paths: str) -> Change:
    def change(data: dict[str, Any]) -> None:
        for path in paths:
            node, key = _walk(data, path)
            del node[key]

    return change


def both(*changes: Change) -> Change:
    def change(data: dict[str, Any]) -> None:
        for c in changes:
            c(data)

    return change


@functools.cache
def _compliant_data() -> str:
    policy_from(COMPLIANT)  # the text itself goes through the public YAML route once
    return json.dumps(yaml.safe_load(COMPLIANT))


def mutated(*changes: Change) -> Policy:
    """The compliant policy with `changes` applied. Validated as the loader does (schema, then
    cross-references) without re-reading YAML, which keeps some sixty cases fast."""
    data = json.loads(_compliant_data())
    for c in changes:
        c(data)
    policy = Policy.model_validate(data)
    assert policy.reference_problems() == []
    return policy


def rules_fired(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def test_compliant_policy_has_no_findings() -> None:
    assert lint_policy(policy_from(COMPLIANT)) == []


def test_reference_preset_passes_every_rule_but_the_sandbagging_check() -> None:
    """The reference runs on the bundled 135M model on a CPU in minutes; the probe's fine-tune
    would take hours there, so it leaves `elicitation.checks` to the operator, and lint says
    so (docs/design/sandbagging.md). With the checks added it passes every rule."""
    assert [f.rule for f in lint_policy(reference_policy())] == ["L40"]
    policy = reference_policy()
    assert policy.elicitation is not None
    checked = policy.model_copy(
        update={"elicitation": policy.elicitation.model_copy(update={"checks": ["fine_tune_probe"]})}
    )
    assert lint_policy(checked) == []


# (change, rule, clause, severity, rules that may fire beside it because of the same change)
CASES = [
    pytest.param(
        set_("domains.bio.thresholds.medium.description", "Bio capability"),
        "L01",
        "domains.bio.thresholds.medium",
        "warning",
        (),
        id="L01-short-no-actor-no-magnitude",
    ),
    pytest.param(
        set_("domains.bio.thresholds.medium.description", "Meaningful uplift over what textbooks give"),
        "L01",
        "domains.bio.thresholds.medium",
        "warning",
        (),
        id="L01-misuse-threshold-without-actor",
    ),
    pytest.param(
        set_("domains.cyber.thresholds.high.description", "Meaningful uplift to novice attackers"),
        "L01",
        "domains.cyber.thresholds.high",
        "warning",
        (),
        id="L01-two-tiers-same-words",
    ),
    pytest.param(
        del_("domains.bio.thresholds.high.when"),
        "L02",
        "domains.bio.thresholds.high",
        "warning",
        (),
        id="L02-prose-threshold",
    ),
    pytest.param(
        both(
            del_("domains.bio.thresholds.high.when"),
            set_("domains.bio.thresholds.high.not_operationalized", "left to expert judgement"),
        ),
        "L02",
        "domains.bio.thresholds.high",
        "info",
        (),
        id="L02-explained-prose-threshold",
    ),
    pytest.param(
        del_(
            "domains.bio.thresholds.medium.when",
            "domains.bio.thresholds.high.when",
            "domains.cyber.thresholds.medium.when",
            "domains.cyber.thresholds.high.when",
            "domains.rnd.thresholds.medium.when",
        ),
        "L02",
        "domains",
        "error",
        (),
        id="L02-nothing-operational",
    ),
    pytest.param(
        del_(
            "domains.bio.thresholds.medium.alert",
            "domains.bio.thresholds.high.alert",
            "domains.cyber.thresholds.medium.alert",
            "domains.cyber.thresholds.high.alert",
            "domains.rnd.thresholds.medium.alert",
            "commitments.forecasting",
        ),
        "L03",
        "domains",
        "warning",
        (),
        id="L03-no-alert-buffer-or-forecast",
    ),
    pytest.param(
        del_("domains.bio.thresholds.high.alert"),
        "L03",
        "domains.bio.thresholds.high",
        "info",
        (),
        id="L03-one-threshold-without-alert",
    ),
    pytest.param(del_("cadence"), "L04", "cadence", "warning", (), id="L04-no-cadence"),
    pytest.param(
        set_("cadence", {"events": ["before_external_deployment"]}),
        "L04",
        "cadence",
        "info",
        (),
        id="L04-events-only",
    ),
    pytest.param(del_("elicitation"), "L05", "elicitation", "warning", ("L40",), id="L05-no-elicitation"),
    pytest.param(
        set_("elicitation", {"treat_as_lower_bound": True}),
        "L05",
        "elicitation",
        "info",
        ("L40",),
        id="L05-no-sandbagging-handling",
    ),
    pytest.param(
        set_("evals.bio.elicitation", {"description": "prompting only"}),
        "L05",
        "evals.bio.elicitation",
        "warning",
        (),
        id="L05-weaker-override",
    ),
    pytest.param(
        both(
            del_("commitments.safeguard_testing"),
            set_("protections.safeguards.description", "Misuse classifiers"),
        ),
        "L06",
        "protections",
        "warning",
        (),
        id="L06-untested-safeguards",
    ),
    pytest.param(
        both(
            set_("responses.2.require.before", ["continue_training"]), del_("commitments.internal_deployment")
        ),
        "L07",
        "actions",
        "warning",
        ("L36",),
        id="L07-internal-use-ungated",
    ),
    pytest.param(
        del_("commitments.third_party_audit", "commitments.external_evaluation"),
        "L08",
        "commitments",
        "warning",
        (),
        id="L08-no-outsiders",
    ),
    pytest.param(
        del_("domains.bio.thresholds.medium"),
        "L09",
        "domains.bio",
        "warning",
        (),
        id="L09-only-top-tier",
    ),
    pytest.param(
        both(
            set_("responses.3.block", ["external_deployment"]),
            set_("responses.2.require.before", ["internal_deployment"]),
            del_("commitments.pause"),
        ),
        "L10",
        "responses",
        "error",
        ("L36",),
        id="L10-no-pause",
    ),
    pytest.param(
        both(set_("responses.3.block", ["external_deployment"]), del_("commitments.pause")),
        "L10",
        "responses",
        "warning",
        (),
        id="L10-training-only-conditioned",
    ),
    pytest.param(
        set_("responses.3.block", ["external_deployment"]),
        "L10",
        "commitments.pause",
        "info",
        (),
        id="L10-pause-on-paper-only",
    ),
    pytest.param(
        set_(
            "marginal_risk",
            {"text": "Safeguards follow the competitor's.", "conditions": ["rigorous_confirmation"]},
        ),
        "L11",
        "marginal_risk.conditions",
        "warning",
        (),
        id="L11-escape-hatch",
    ),
    pytest.param(
        del_("governance.signoff.external_deployment", "governance.signoff.open_weights"),
        "L12",
        "governance.signoff",
        "error",
        (),
        id="L12-no-release-signoff",
    ),
    pytest.param(
        del_("governance.signoff.open_weights"),
        "L12",
        "governance.signoff",
        "warning",
        (),
        id="L12-partial-release-signoff",
    ),
    pytest.param(
        del_("governance"), "L12", "governance", "error", ("L13", "L15", "L30"), id="L12-no-governance"
    ),
    pytest.param(del_("governance.reverse"), "L13", "governance", "warning", (), id="L13-no-board"),
    pytest.param(
        del_("commitments.noncompliance_reporting"),
        "L14",
        "commitments",
        "warning",
        (),
        id="L14-no-channel",
    ),
    pytest.param(
        del_("commitments.anti_retaliation"),
        "L14",
        "commitments",
        "info",
        (),
        id="L14-no-anti-retaliation",
    ),
    pytest.param(
        set_("governance.changes.public_changelog", False),
        "L15",
        "governance.changes",
        "warning",
        (),
        id="L15-no-public-changelog",
    ),
    pytest.param(
        del_("governance.changes"), "L15", "governance.changes", "warning", (), id="L15-no-change-process"
    ),
    pytest.param(
        set_("governance.changes.consult", []),
        "L15",
        "governance.changes.consult",
        "info",
        (),
        id="L15-nobody-consulted",
    ),
    pytest.param(
        del_("protections.sl3.rand_sl"), "L16", "protections.sl3", "warning", (), id="L16-no-rand-level"
    ),
    pytest.param(
        set_("protections.sl3.kind", "process"), "L16", "protections", "warning", (), id="L16-no-security"
    ),
    pytest.param(
        set_("responses.2.if", {"post_mitigation_at_least": "medium"}),
        "L16",
        "responses",
        "warning",
        (),
        id="L16-security-on-post-mitigation-only",
    ),
    pytest.param(
        set_("protections.control.kind", "process"),
        "L17",
        "domains",
        "warning",
        (),
        id="L17-no-misalignment-coverage",
    ),
    pytest.param(
        set_("domains.cyber.category", "other"), "L18", "domains", "warning", (), id="L18-no-cyber-domain"
    ),
    pytest.param(
        del_("commitments.residual_risk"), "L19", "commitments", "warning", (), id="L19-no-residual-risk"
    ),
    pytest.param(
        del_("commitments.public_reporting"), "L20", "commitments", "warning", (), id="L20-no-reporting"
    ),
    pytest.param(
        set_("commitments.public_reporting.audience", "board"),
        "L20",
        "commitments.public_reporting.audience",
        "warning",
        (),
        id="L20-reporting-not-public",
    ),
    pytest.param(
        del_("commitments.government_notice"), "L21", "commitments", "warning", (), id="L21-no-gov-notice"
    ),
    pytest.param(
        set_("statistics.inconclusive_as", "below"),
        "L22",
        "statistics.inconclusive_as",
        "warning",
        (),
        id="L22-cannot-rule-out-as-below",
    ),
    pytest.param(
        set_("commitments.pause.binding", False),
        "L23",
        "commitments.pause",
        "warning",
        (),
        id="L23-non-binding",
    ),
    pytest.param(
        set_("commitments.interim_measures.text", "We aim to withdraw deployed copies."),
        "L23",
        "commitments.interim_measures",
        "warning",
        (),
        id="L23-hedged-commitment",
    ),
    pytest.param(
        set_("responses.3.obligations", ["Weights may be deleted where possible."]),
        "L23",
        "responses[3].obligations",
        "warning",
        (),
        id="L23-hedged-obligation",
    ),
    pytest.param(
        del_("commitments.interim_measures"), "L24", "commitments", "warning", (), id="L24-no-interim"
    ),
    pytest.param(
        del_("commitments.unknown_unknowns"), "L25", "commitments", "warning", (), id="L25-no-unknowns"
    ),
    pytest.param(
        del_("commitments.periodic_review"), "L26", "commitments", "warning", (), id="L26-no-review"
    ),
    pytest.param(
        set_("commitments.periodic_review.every_months", 24),
        "L26",
        "commitments.periodic_review",
        "warning",
        (),
        id="L26-review-less-than-yearly",
    ),
    pytest.param(
        set_("domains.bio.thresholds.medium.alert", {"eval": "bio", "at_least": 0.5}),
        "L27",
        "domains.bio.thresholds.medium.alert",
        "warning",
        (),
        id="L27-alert-at-threshold",
    ),
    pytest.param(
        set_("domains.bio.thresholds.medium.alert", {"eval": "bio", "at_most": 0.4}),
        "L27",
        "domains.bio.thresholds.medium.alert",
        "warning",
        (),
        id="L27-alert-wrong-direction",
    ),
    pytest.param(del_("responses.4"), "L28", "responses", "warning", (), id="L28-alerts-trigger-nothing"),
    pytest.param(
        set_("responses.3.if", {"post_mitigation_at_least": "high", "domains": ["cyber"]}),
        "L29",
        "domains.bio.thresholds.high",
        "warning",
        (),
        id="L29-inert-threshold",
    ),
    pytest.param(
        del_("governance.signoff.override"),
        "L30",
        "governance.signoff",
        "warning",
        ("L35",),
        id="L30-free-override",
    ),
    pytest.param(del_("responses.0"), "L31", "responses", "warning", (), id="L31-open-weights-ungated"),
    pytest.param(del_("responses.1.id"), "L32", "responses[1]", "info", (), id="L32-unnamed-response"),
    pytest.param(
        set_("domains.bio.thresholds.high.tag", "U"),
        "L33",
        "domains.bio.thresholds.high",
        "info",
        (),
        id="L33-unverified-clause",
    ),
    pytest.param(
        set_("evidence", {"min_samples": 10}),
        "L34",
        "evidence.min_samples",
        "warning",
        (),
        id="L34-too-few-samples",
    ),
    pytest.param(
        set_("responses.2.require.before", ["continue_training"]),
        "L36",
        "responses",
        "warning",
        (),
        id="L36-allowed-on-no-evidence",
    ),
    pytest.param(
        set_("responses.3.if", {"post_mitigation_at_least": "high", "confirmed": True}),
        "L37",
        "responses[3] (pause)",
        "warning",
        (),
        id="L37-confirmed-only-pause",
    ),
    pytest.param(
        both(
            lambda d: d["responses"].append(
                {"id": "more-samples", "if": {"evidence": ["inconclusive"]}, "block": ["internal_deployment"]}
            ),
            set_("responses.2.require.before", ["continue_training"]),
        ),
        "L38",
        "responses[5]",
        "warning",
        (),
        id="L38-uncertainty-only-gate",
    ),
    pytest.param(
        both(
            set_("evals.bio.args", {"limit": 100}),
            set_(
                "domains.bio.thresholds.medium.when",
                {
                    "all": [
                        {"eval": "bio", "at_least": 0.5},
                        {"relative": {"to": "reference", "evals": ["bio"], "margin": 0.02}},
                    ]
                },
            ),
        ),
        "L39",
        "domains.bio.thresholds.medium",
        "warning",
        (),
        id="L39-relative-margin-needs-more-questions",
    ),
    pytest.param(
        set_("elicitation", {"treat_as_lower_bound": True, "sandbagging": "conservative_upper_bound"}),
        "L40",
        "elicitation",
        "warning",
        (),
        id="L40-open-weights-without-sandbagging-check",
    ),
    pytest.param(
        set_("governance.signoff.override", []),
        "L35",
        "governance.signoff",
        "info",
        ("L30",),
        id="L35-no-override-roles",
    ),
]


@pytest.mark.parametrize(("change", "rule", "clause", "severity", "also"), CASES)
def test_each_rule_fires_on_the_change_that_breaks_it(
    change: Change, rule: str, clause: str, severity: str, also: tuple[str, ...]
) -> None:
    findings = lint_policy(mutated(change))
    assert rules_fired(findings) == {rule, *also}, [f"{f.rule} {f.clause}: {f.message}" for f in findings]
    mine = [f for f in findings if f.rule == rule]
    assert (clause, severity) in {(f.clause, f.severity) for f in mine}
    for f in mine:
        assert f.name == RULES[rule].name and f.why == RULES[rule].why and f.source == RULES[rule].source
        assert f.message and f.fix


def test_every_rule_has_a_breaking_case() -> None:
    tested = {p.values[1] for p in CASES}
    assert tested == set(RULES)


def test_rules_are_numbered_in_order_and_documented() -> None:
    assert list(RULES) == [f"L{i:02d}" for i in range(1, len(RULES) + 1)]
    docs = DOCS.read_text(encoding="utf-8")
    for r in RULES.values():
        assert r.why and r.source and r.fix and r.checks
        assert f"{r.id} {r.name}" in docs, f"{r.id} {r.name} is not documented in docs/lint.md"
        section = docs.split(f"{r.id} {r.name}", 1)[1][:400]
        assert f"severity: {r.severity}" in section


def test_each_rule_is_documented_word_for_word() -> None:
    # docs/lint.md carries each rule's fields verbatim, so the docs cannot drift from the code
    docs = DOCS.read_text(encoding="utf-8")
    for r in RULES.values():
        section = (
            f"### {r.id} {r.name}\n\nseverity: {r.severity}\n\n- **Checks:** {r.checks}\n"
            f"- **Why:** {r.why}\n- **Source:** {r.source}\n- **Fix:** {r.fix}\n"
        )
        assert section in docs, f"docs/lint.md: the section of {r.id} differs from the rule"
        assert f"| {r.id} | {r.name} | {r.severity} |" in docs, f"docs/lint.md: no table row for {r.id}"


# --- details of single rules ---------------------------------------------------------------------


def test_missing_override_rule_explains_that_overrides_fail_closed() -> None:
    [finding] = [f for f in lint_policy(mutated(del_("governance.signoff.override"))) if f.rule == "L35"]
    assert finding.severity == "info"
    assert "has no `override` entry" in finding.message
    assert "refuse every override" in finding.message
    assert "governance.signoff.override: [board]" in finding.fix
    [empty] = [f for f in lint_policy(mutated(set_("governance.signoff.override", []))) if f.rule == "L35"]
    assert "names no roles (`override: []`)" in empty.message
    # without governance there is nothing to explain beyond L12's error
    assert "L35" not in rules_fired(lint_policy(mutated(del_("governance"))))


def test_planned_n_too_small_to_rule_a_threshold_out() -> None:
    # at_least 0.1 with confidence 0.95: a zero score rules it out only from 36 samples (0.9^35 > 0.025)
    low = (
        set_("domains.bio.thresholds.medium.when", {"eval": "bio", "at_least": 0.1}),
        set_("domains.bio.thresholds.medium.alert", {"eval": "bio", "at_least": 0.05}),
    )
    policy = mutated(*low, set_("evals.bio.args", {"limit": 30}))
    found = [f for f in lint_policy(policy) if f.rule == "L34"]
    assert any("from 36 samples" in f.message and "plans 30" in f.message for f in found), found
    ok = mutated(*low, set_("evals.bio.args", {"limit": 36}))
    assert not [f for f in lint_policy(ok) if f.rule == "L34"]


def test_threshold_actor_profile_is_asked_only_of_misuse_domains() -> None:
    policy = mutated(set_("domains.rnd.thresholds.medium.description", "Dramatic acceleration of AI R&D"))
    assert lint_policy(policy) == []


def test_a_threshold_where_the_model_acts_alone_needs_no_actor() -> None:
    policy = mutated(
        set_("domains.cyber.thresholds.high.description", "Fully automates end-to-end intrusions")
    )
    assert lint_policy(policy) == []


def test_actor_words_match_whole_words_only() -> None:
    # "factor" contains "actor" but names nobody
    policy = mutated(
        set_("domains.bio.thresholds.medium.description", "Uplift by a factor of ten over textbooks")
    )
    [finding] = lint_policy(policy)
    assert (finding.rule, finding.clause) == ("L01", "domains.bio.thresholds.medium")
    assert "names no actor profile" in finding.message


def test_word_for_word_tiers_are_named_with_their_twin() -> None:
    findings = lint_policy(
        mutated(set_("domains.cyber.thresholds.high.description", "Meaningful uplift to novice attackers"))
    )
    assert {f.clause for f in findings} == {
        "domains.cyber.thresholds.medium",
        "domains.cyber.thresholds.high",
    }
    assert "word for word the description of level(s) medium" in findings[1].message


def test_safeguard_testing_can_be_shown_by_an_adversarially_tested_protection() -> None:
    assert lint_policy(mutated(del_("commitments.safeguard_testing"))) == []


def test_may_not_is_a_prohibition_not_a_hedge() -> None:
    policy = mutated(set_("responses.3.obligations", ["Weights may not leave the secure cluster."]))
    assert lint_policy(policy) == []


def test_cannot_rule_out_handled_by_an_unconfirmed_level_response() -> None:
    extra = {
        "id": "precaution",
        "if": {"post_mitigation_at_least": "high", "confirmed": False},
        "block": ["open_weights"],
    }
    policy = mutated(set_("statistics.inconclusive_as", "below"), lambda d: d["responses"].append(extra))
    # the precaution holds back open_weights only: the actions level rules hold back are named
    [found] = lint_policy(policy)
    assert (
        found.rule == "L22"
        and "before continue_training, external_deployment, internal_deployment" in found.message
    )
    everything = {
        **extra,
        "block": ["continue_training", "internal_deployment", "external_deployment", "open_weights"],
    }
    policy = mutated(set_("statistics.inconclusive_as", "below"), lambda d: d["responses"].append(everything))
    assert lint_policy(policy) == []


def test_alerts_that_pause_training_need_no_alert_response() -> None:
    policy = mutated(del_("responses.4"), set_("cadence.alerts_pause_training", True))
    assert lint_policy(policy) == []


def test_a_misalignment_domain_covers_misalignment() -> None:
    autonomy = {
        "title": "Autonomy",
        "category": "autonomy",
        "thresholds": {
            "medium": {
                "description": "Autonomous replication without human help",
                "when": {"eval": "rnd", "at_least": 0.6},
                "alert": {"eval": "rnd", "at_least": 0.5},
            }
        },
    }
    policy = mutated(set_("protections.control.kind", "process"), set_("domains.autonomy", autonomy))
    assert lint_policy(policy) == []


def test_suite_alert_that_needs_more_tasks_than_its_threshold_is_reported() -> None:
    suite = {"evals": ["bio", "cyber"], "attempts": 10, "at_least_fraction": 0.5}
    policy = mutated(
        set_("domains.bio.thresholds.medium.when", {"suite": suite}),
        set_("domains.bio.thresholds.medium.alert", {"suite": {**suite, "at_least_fraction": 1.0}}),
    )
    [finding] = lint_policy(policy)
    assert (finding.rule, finding.clause) == ("L27", "domains.bio.thresholds.medium.alert")


def test_ignore_skips_rules_by_id_or_name() -> None:
    policy = mutated(del_("commitments.residual_risk", "commitments.government_notice"))
    assert rules_fired(lint_policy(policy)) == {"L19", "L21"}
    assert rules_fired(lint_policy(policy, ignore={"L19", "NO_GOV_NOTICE"})) == set()


def test_lint_is_deterministic() -> None:
    policy = mutated(del_("cadence", "governance.reverse", "commitments"))
    assert lint_policy(policy) == lint_policy(policy)


# --- output --------------------------------------------------------------------------------------


def test_errors_decide_the_exit_status() -> None:
    warnings_only = lint_policy(mutated(del_("commitments.government_notice")))
    assert warnings_only and not has_errors(warnings_only)
    assert has_errors(lint_policy(mutated(del_("governance"))))


def test_findings_json_is_plain_data_with_every_field() -> None:
    findings = lint_policy(mutated(del_("governance")))
    data = findings_json(findings)
    json.dumps(data)
    assert set(data[0]) == {"rule", "name", "severity", "clause", "message", "why", "source", "fix"}
    assert [Finding.model_validate(d) for d in data] == findings


def test_findings_render_most_severe_first() -> None:
    findings = lint_policy(mutated(del_("governance"), del_("responses.1.id")))
    assert [f.severity for f in sorted_findings(findings)] == [
        "error",
        "warning",
        "warning",
        "warning",
        "info",
    ]
    console = Console(record=True, width=200)
    console.print(render_findings(findings))
    text = console.export_text()
    assert text.index("NO_DECISION_OWNER") < text.index("OPAQUE_POLICY_CHANGES") < text.index("UNNAMED")
    assert "1 error, 3 warnings, 1 info" in text


def test_no_findings_render_as_a_pass() -> None:
    console = Console(record=True, width=120)
    console.print(render_findings([]))
    assert "every lint rule passes" in console.export_text()


def test_every_commitment_kind_is_in_the_compliant_policy() -> None:
    # the compliant policy is the grading's top mark; it must exercise every commitment kind
    assert set(mutated().commitments) == set(CommitmentKind)


def test_custom_action_names_are_read_by_what_they_do() -> None:
    policy = policy_from(
        """
        scalegate: 1
        policy: {name: custom actions, version: "1"}
        levels: [low, high]
        actions: [train, ship]
        evals: {e: {task: t/e}}
        domains:
          d: {title: D, thresholds: {high: {description: Uplift to novices, when: {eval: e, at_least: 0.5}}}}
        responses:
          - {id: stop, if: {post_mitigation_at_least: high}, block: [train, ship]}
        governance:
          roles: {lead: Lead}
          signoff: {ship: [lead]}
        """
    )
    fired = rules_fired(lint_policy(policy))
    assert "L10" not in fired  # `train` is a training action, and a response blocks it
    assert "L12" not in fired  # no action names deployment, so every action counts as release
    assert "L07" in fired  # nothing internal is gated


def test_relative_margin_rule_reads_every_claim_and_the_size_it_needs() -> None:
    """L39 against `relative-n`: a margin the evals can show passes; one they cannot is named
    with its figures, in a response and in the cadence too; a margin of 0 can never be shown."""
    from scalegate.evals.paired import planned_pairs

    need = planned_pairs(0.5, 0.5, 0.5, 0.1, 0.025, 0.8)
    claim = {"to": "last_comprehensive", "evals": ["cyber"], "margin": 0.1}
    enough = set_("evals.cyber.args", {"limit": need})
    short = set_("evals.cyber.args", {"limit": need - 1})
    in_response = set_("responses.0.if", {"relative": claim})
    in_cadence = set_("cadence", {"every_effective_compute_multiple": 4, "preliminary": {"relative": claim}})
    for place, clause in ((in_response, "responses[0]"), (in_cadence, "cadence.preliminary")):
        assert not [f for f in lint_policy(mutated(enough, place)) if f.rule == "L39"]
        (f,) = [f for f in lint_policy(mutated(short, place)) if f.rule == "L39"]
        assert f.clause == clause and f"needs about {need:,} paired questions" in f.message
    zero = set_(
        "cadence",
        {"every_effective_compute_multiple": 4, "preliminary": {"relative": {**claim, "margin": 0}}},
    )
    (f,) = [f for f in lint_policy(mutated(zero)) if f.rule == "L39"]
    assert "can never be shown" in f.message
