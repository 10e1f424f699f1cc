"""`assess_changes`: each kind of policy change, made alone, is read in the right direction.

Every case mutates one clause of BASE (a small policy that has every kind of clause) and
checks the one change reported: its direction and the clause it names.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from rich.console import Console

from scalegate.policy.schema import Policy
from scalegate.report.policy_review import changes_markdown, changes_table
from scalegate.review.diff import (
    Change,
    assess_changes,
    changes_summary,
    diff_policies,
)
from tests.builders import policy_from, reference_policy

BASE = """
scalegate: 1
policy: {name: base, version: "1"}
levels: [low, high, critical]
actions: [continue_training, internal_deployment, external_deployment, open_weights]
statistics: {confidence: 0.95, interval: wilson, inconclusive_as: crossed}
evidence: {min_samples: 20, max_unparsed_fraction: 0.05}
elicitation: {fine_tune_for_misuse: true, attempts_per_task: 10}
evals:
  bio_eval: {task: scalegate/mmlu_proxy, args: {subjects: [virology]}}
  cyber_a: {task: scalegate/mmlu_proxy, args: {subjects: [computer security]}}
  cyber_b: {task: scalegate/mmlu_proxy, args: {subjects: [college computer science]}}
  honesty_eval: {task: scalegate/mmlu_proxy, args: {subjects: [moral scenarios]}}
  t1: {task: scalegate/mmlu_proxy, args: {subjects: [astronomy]}}
  t2: {task: scalegate/mmlu_proxy, args: {subjects: [nutrition]}}
  spare: {task: scalegate/mmlu_proxy, args: {subjects: [marketing]}}
domains:
  bio:
    title: Biological
    category: bio
    thresholds:
      high:
        description: Uplift to novices.
        when: {eval: bio_eval, at_least: 0.70}
        alert: {eval: bio_eval, at_least: 0.60}
      critical:
        description: Uplift to experts.
        not_operationalized: left to expert judgement
  cyber:
    title: Cyber
    category: cyber
    thresholds:
      high:
        description: Either skill suffices.
        when: {any: [{eval: cyber_a, at_least: 0.5}, {eval: cyber_b, at_least: 0.5}]}
  honesty:
    title: Honesty
    category: misalignment
    thresholds:
      high:
        description: Honest at most half the time (crossed at or below the cap).
        kind: propensity
        when: {eval: honesty_eval, at_most: 0.50}
      critical:
        description: Not honest even 30% of the time.
        kind: propensity
        when: {not: {eval: honesty_eval, at_least: 0.30}}
  autonomy:
    title: Autonomy
    category: autonomy
    thresholds:
      critical:
        description: Half the tasks pass in 10 attempts.
        when: {suite: {evals: [t1, t2], attempts: 10, pass_at: 1, at_least_fraction: 0.5}}
  persuasion:
    title: Persuasion
    category: persuasion
    status: research
protections:
  sl3: {description: RAND SL3 weight security, kind: security, rand_sl: 3}
  sl4: {description: RAND SL4 weight security, kind: security, rand_sl: 4}
  insider_controls: {description: Two-person rule for weight access, kind: security}
  response_plan: A plan for the safeguards a crossing needs
safety_cases:
  control_case: {description: Control evaluations show monitoring catches sabotage.}
responses:
  - id: fail-closed
    if: {evidence: [missing, error]}
    block: [continue_training, internal_deployment, external_deployment, open_weights]
  - id: deploy-gate-high
    if: {post_mitigation_at_least: high}
    block: [external_deployment, open_weights]
  - id: pause-at-critical
    if: {post_mitigation_at_least: critical}
    block: [continue_training, internal_deployment, external_deployment, open_weights]
  - id: security-high
    if: {pre_mitigation_at_least: high}
    require:
      protections: [sl3, insider_controls]
      before: [continue_training, internal_deployment, external_deployment]
  - id: case-critical
    if: {pre_mitigation_at_least: critical}
    require: {safety_case: control_case, before: [internal_deployment]}
    notify: [board]
    obligations: [Write a post-mortem]
  - id: alert-plan
    if: {alert: true}
    require: {protections: [response_plan], before: [external_deployment]}
cadence:
  every_effective_compute_multiple: 4
  max_days: 90
  events: [before_external_deployment]
  buffer: {effective_compute_multiple: 6}
governance:
  roles: {rso: Responsible Scaling Officer, ceo: Chief Executive, board: Board of Directors}
  changes: {approve: [board], consult: [rso], notice_days: 30, public_changelog: true,
            publish_before_effective: true}
  signoff: {external_deployment: [rso, ceo], open_weights: [rso, ceo, board]}
  inform_before: {external_deployment: [board]}
  reverse: [board]
commitments:
  pause: {text: We will pause if safeguards cannot be met.}
  government_notice: {text: We will notify the government of a crossing.}
  external_evaluation: {text: We may give external evaluators access., binding: false}
marginal_risk:
  text: We may lower safeguards if a competitor releases a comparable model without them.
  conditions: [rigorous_confirmation, public_acknowledgement]
"""


@functools.cache
def base() -> Policy:
    return policy_from(BASE)


@functools.cache
def _tree() -> dict[str, Any]:
    return yaml.safe_load(BASE)  # type: ignore[no-any-return]


def mutated(edit: Callable[[dict[str, Any]], Any]) -> Policy:
    """BASE with one edit applied to its YAML tree, validated as the loader validates it
    (model, then cross-references) without a YAML round trip per case."""
    tree = copy.deepcopy(_tree())
    edit(tree)
    policy = Policy.model_validate(tree)
    assert policy.reference_problems() == []
    return policy


def resp(tree: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in tree["responses"] if r.get("id") == rid)


def thr(tree: dict[str, Any], domain: str, level: str) -> dict[str, Any]:
    return tree["domains"][domain]["thresholds"][level]  # type: ignore[no-any-return]


def rename_eval(tree: dict[str, Any], old: str, new: str) -> None:
    tree["evals"][new] = tree["evals"].pop(old)
    for key in ("when", "alert"):
        thr(tree, "bio", "high")[key]["eval"] = new


def only(old: Policy, new: Policy) -> Change:
    changes = assess_changes(old, new)
    assert len(changes) == 1, changes
    return changes[0]


# (case id, edit of BASE, expected kind, expected clause, words the summary must contain)
CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str | None, str, str]] = [
    # thresholds
    (
        "threshold-raised",
        lambda t: thr(t, "bio", "high")["when"].update(at_least=0.80),
        "weaker",
        "domains.bio.thresholds.high.when",
        "threshold bio.high raised from 0.70 to 0.80 (weaker: crossed later)",
    ),
    (
        "threshold-lowered",
        lambda t: thr(t, "bio", "high")["when"].update(at_least=0.65),
        "stronger",
        "domains.bio.thresholds.high.when",
        "lowered from 0.70 to 0.65 (stronger: crossed earlier)",
    ),
    # at_most is crossed at or below the number: raising it crosses sooner
    (
        "at-most-raised",
        lambda t: thr(t, "honesty", "high")["when"].update(at_most=0.60),
        "stronger",
        "domains.honesty.thresholds.high.when",
        "at_most raised from 0.50 to 0.60",
    ),
    (
        "at-most-lowered",
        lambda t: thr(t, "honesty", "high")["when"].update(at_most=0.40),
        "weaker",
        "domains.honesty.thresholds.high.when",
        "crossed later",
    ),
    # under `not` the direction flips: not(score >= 0.4) holds for more scores than not(>= 0.3)
    (
        "negated-raised",
        lambda t: thr(t, "honesty", "critical")["when"]["not"].update(at_least=0.40),
        "stronger",
        "domains.honesty.thresholds.critical.when",
        "raised from 0.30 to 0.40",
    ),
    (
        "any-part-removed",
        lambda t: thr(t, "cyber", "high").update(when={"any": [{"eval": "cyber_a", "at_least": 0.5}]}),
        "weaker",
        "domains.cyber.thresholds.high.when",
        "part cyber_b ≥ 0.50 removed",
    ),
    (
        "any-to-all",
        lambda t: thr(t, "cyber", "high")["when"].update(all=thr(t, "cyber", "high")["when"].pop("any")),
        "weaker",
        "domains.cyber.thresholds.high.when",
        "combination any -> all",
    ),
    (
        "suite-share-raised",
        lambda t: thr(t, "autonomy", "critical")["when"]["suite"].update(at_least_fraction=1.0),
        "weaker",
        "domains.autonomy.thresholds.critical.when",
        "suite share of tasks",
    ),
    (
        "suite-more-attempts",
        lambda t: thr(t, "autonomy", "critical")["when"]["suite"].update(attempts=20),
        "stronger",
        "domains.autonomy.thresholds.critical.when",
        "suite attempts 10 -> 20",
    ),
    (
        "reads-other-eval",
        lambda t: thr(t, "bio", "high")["when"].update(eval="spare"),
        "unclear",
        "domains.bio.thresholds.high.when",
        "now reads spare instead of bio_eval",
    ),
    (
        "alert-removed",
        lambda t: thr(t, "bio", "high").pop("alert"),
        "weaker",
        "domains.bio.thresholds.high.alert",
        "alert removed from bio.high (weaker: buffer removed)",
    ),
    (
        "alert-raised",
        lambda t: thr(t, "bio", "high")["alert"].update(at_least=0.65),
        "weaker",
        "domains.bio.thresholds.high.alert",
        "fires later",
    ),
    (
        "alert-added",
        lambda t: thr(t, "cyber", "high").update(alert={"eval": "cyber_a", "at_least": 0.4}),
        "stronger",
        "domains.cyber.thresholds.high.alert",
        "alert added to cyber.high",
    ),
    (
        "became-prose",
        lambda t: thr(t, "bio", "high").pop("when"),
        "weaker",
        "domains.bio.thresholds.high.when",
        "threshold bio.high became prose-only (weaker: no longer operationalized)",
    ),
    (
        "became-operationalized",
        lambda t: thr(t, "bio", "critical").update(when={"eval": "bio_eval", "at_least": 0.9}),
        "stronger",
        "domains.bio.thresholds.critical.when",
        "became operationalized",
    ),
    (
        "threshold-removed",
        lambda t: t["domains"]["bio"]["thresholds"].pop("critical"),
        "weaker",
        "domains.bio.thresholds.critical",
        "threshold bio.critical removed",
    ),
    (
        "threshold-added",
        lambda t: t["domains"]["cyber"]["thresholds"].update(
            critical={"description": "x", "when": {"eval": "cyber_a", "at_least": 0.9}}
        ),
        "stronger",
        "domains.cyber.thresholds.critical",
        "threshold cyber.critical added",
    ),
    # a domain's level is the highest not ruled out: the same result marking a higher level
    # fires every response from the lower level up, and more
    (
        "threshold-moved-up",
        lambda t: t["domains"]["cyber"].update(thresholds={"critical": thr(t, "cyber", "high")}),
        "stronger",
        "domains.cyber.thresholds.critical",
        "threshold cyber.high moved to level critical",
    ),
    (
        "eval-elicitation-override",
        lambda t: t["evals"]["bio_eval"].update(elicitation={"attempts_per_task": 10}),
        "weaker",
        "evals.bio_eval.elicitation.fine_tune_for_misuse",
        "fine_tune_for_misuse dropped (evals.bio_eval)",
    ),
    (
        "applies-to-post-only",
        lambda t: thr(t, "bio", "high").update(applies_to="post"),
        "weaker",
        "domains.bio.thresholds.high.applies_to",
        "applies to both -> post",
    ),
    (
        "threshold-kind",
        lambda t: thr(t, "bio", "high").update(kind="outcome"),
        "unclear",
        "domains.bio.thresholds.high.kind",
        "kind capability -> outcome",
    ),
    (
        "operationalized-description",
        lambda t: thr(t, "bio", "high").update(description="Reworded."),
        "neutral",
        "domains.bio.thresholds.high.description",
        "description of bio.high changed",
    ),
    (
        "prose-description",
        lambda t: thr(t, "bio", "critical").update(description="Reworded."),
        "unclear",
        "domains.bio.thresholds.critical.description",
        "its text is its only definition",
    ),
    # domains
    (
        "domain-dropped",
        lambda t: t["domains"].pop("persuasion"),
        "weaker",
        "domains.persuasion",
        "domain persuasion dropped (weaker)",
    ),
    (
        "domain-added",
        lambda t: t["domains"].update(
            nuclear={"title": "Nuclear", "category": "nuclear", "status": "research"}
        ),
        "stronger",
        "domains.nuclear",
        "domain nuclear added",
    ),
    (
        "domain-renamed",
        lambda t: t["domains"].update(influence=t["domains"].pop("persuasion")),
        "neutral",
        "domains.influence",
        "domain persuasion renamed to influence",
    ),
    (
        "domain-to-research",
        lambda t: t["domains"]["cyber"].update(status="research"),
        "weaker",
        "domains.cyber.status",
        "tracked -> research (weaker: no longer gated)",
    ),
    # decision rules
    (
        "response-removed",
        lambda t: t["responses"].remove(resp(t, "pause-at-critical")),
        "weaker",
        "responses.pause-at-critical",
        "response pause-at-critical removed (weaker",
    ),
    (
        "block-removed",
        lambda t: resp(t, "deploy-gate-high")["block"].remove("external_deployment"),
        "weaker",
        "responses.deploy-gate-high.block",
        "action external_deployment no longer blocked at high (weaker)",
    ),
    (
        "block-removed-but-covered",
        lambda t: resp(t, "pause-at-critical")["block"].remove("external_deployment"),
        "neutral",
        "responses.pause-at-critical.block",
        "still blocked by deploy-gate-high",
    ),
    (
        "block-added",
        lambda t: resp(t, "deploy-gate-high")["block"].append("internal_deployment"),
        "stronger",
        "responses.deploy-gate-high.block",
        "action internal_deployment now blocked at high",
    ),
    (
        "redundant-response-added",
        lambda t: t["responses"].append(
            {"id": "extra", "if": {"post_mitigation_at_least": "critical"}, "block": ["open_weights"]}
        ),
        "neutral",
        "responses.extra",
        "the policy already did this",
    ),
    (
        "response-applies-later",
        lambda t: resp(t, "deploy-gate-high")["if"].update(post_mitigation_at_least="critical"),
        "weaker",
        "responses.deploy-gate-high.if",
        "now applies at critical instead of at high (weaker: applies later)",
    ),
    (
        "response-applies-earlier",
        lambda t: resp(t, "pause-at-critical")["if"].update(post_mitigation_at_least="high"),
        "stronger",
        "responses.pause-at-critical.if",
        "applies earlier",
    ),
    (
        "response-other-side",
        lambda t: resp(t, "deploy-gate-high").update({"if": {"pre_mitigation_at_least": "high"}}),
        "unclear",
        "responses.deploy-gate-high.if",
        "cannot compare",
    ),
    (
        "response-narrowed-to-domain",
        lambda t: resp(t, "deploy-gate-high")["if"].update(domains=["bio"]),
        "weaker",
        "responses.deploy-gate-high.if",
        "in bio",
    ),
    (
        "fail-closed-fewer-statuses",
        lambda t: resp(t, "fail-closed")["if"].update(evidence=["missing"]),
        "weaker",
        "responses.fail-closed.if",
        "applies in fewer cases",
    ),
    # protections
    (
        "protection-sl3-to-sl4",
        lambda t: resp(t, "security-high")["require"].update(protections=["sl4", "insider_controls"]),
        "stronger",
        "responses.security-high.require.protections",
        "protection sl3 -> sl4 required at high pre-mitigation (stronger",
    ),
    (
        "protection-rand-level-lowered",
        lambda t: t["protections"]["sl3"].update(rand_sl=2),
        "weaker",
        "protections.sl3.rand_sl",
        "RAND SL 3 -> 2",
    ),
    (
        "protection-dropped",
        lambda t: resp(t, "security-high")["require"].update(protections=["sl3"]),
        "weaker",
        "responses.security-high.require.protections",
        "protection insider_controls no longer required at high pre-mitigation",
    ),
    (
        "protection-before-narrowed",
        lambda t: resp(t, "security-high")["require"]["before"].remove("internal_deployment"),
        "weaker",
        "responses.security-high.require.before",
        "no longer apply before internal_deployment",
    ),
    (
        "safety-case-dropped",
        lambda t: resp(t, "case-critical")["require"].update(safety_case=None, protections=["response_plan"]),
        None,  # two changes: checked in its own test
        "",
        "",
    ),
    (
        "notify-dropped",
        lambda t: resp(t, "case-critical").update(notify=[]),
        "weaker",
        "responses.case-critical.notify",
        "role board no longer notified at critical pre-mitigation",
    ),
    (
        "obligation-dropped",
        lambda t: resp(t, "case-critical").update(obligations=[]),
        "weaker",
        "responses.case-critical.obligations",
        "obligation of case-critical dropped",
    ),
    (
        "protection-redefined",
        lambda t: t["protections"].update(response_plan="Any plan at all"),
        "unclear",
        "protections.response_plan.description",
        "protection response_plan redefined",
    ),
    # triggers and buffers
    (
        "cadence-multiple",
        lambda t: t["cadence"].update(every_effective_compute_multiple=6),
        "weaker",
        "cadence.every_effective_compute_multiple",
        "cadence every 4x -> 6x (weaker",
    ),
    (
        "max-days",
        lambda t: t["cadence"].update(max_days=180),
        "weaker",
        "cadence.max_days",
        "max_days 90 -> 180 (weaker",
    ),
    (
        "max-days-removed",
        lambda t: t["cadence"].pop("max_days"),
        "weaker",
        "cadence.max_days",
        "max_days 90 -> none",
    ),
    (
        "max-days-shorter",
        lambda t: t["cadence"].update(max_days=30),
        "stronger",
        "cadence.max_days",
        "max_days 90 -> 30",
    ),
    (
        "event-removed",
        lambda t: t["cadence"].update(events=[]),
        "weaker",
        "cadence.events",
        "trigger event before_external_deployment removed",
    ),
    (
        "event-added",
        lambda t: t["cadence"]["events"].append("capability_jump"),
        "stronger",
        "cadence.events",
        "trigger event capability_jump added",
    ),
    (
        "buffer-removed",
        lambda t: t["cadence"].pop("buffer"),
        "weaker",
        "cadence.buffer",
        "safety buffer removed",
    ),
    (
        "buffer-wider",
        lambda t: t["cadence"]["buffer"].update(effective_compute_multiple=8),
        "stronger",
        "cadence.buffer.effective_compute_multiple",
        "buffer 6x -> 8x",
    ),
    (
        "cadence-removed",
        lambda t: t.pop("cadence"),
        "weaker",
        "cadence",
        "cadence removed",
    ),
    # elicitation and statistics
    (
        "elicitation-dropped",
        lambda t: t["elicitation"].pop("fine_tune_for_misuse"),
        "weaker",
        "elicitation.fine_tune_for_misuse",
        "elicitation requirement fine_tune_for_misuse dropped (weaker",
    ),
    (
        "elicitation-added",
        lambda t: t["elicitation"].update(best_scaffolds=True),
        "stronger",
        "elicitation.best_scaffolds",
        "elicitation requirement best_scaffolds added",
    ),
    (
        "profiles-added",
        lambda t: t["elicitation"].update(profiles=["zero_shot", "few_shot_5", "best_of_5"]),
        "stronger",
        "elicitation.profiles",
        "elicitation profile(s) added: best_of_5, few_shot_5",
    ),
    (
        "fewer-attempts",
        lambda t: t["elicitation"].update(attempts_per_task=5),
        "weaker",
        "elicitation.attempts_per_task",
        "attempts_per_task 10 -> 5",
    ),
    (
        "inconclusive-below",
        lambda t: t["statistics"].update(inconclusive_as="below"),
        "weaker",
        "statistics.inconclusive_as",
        "precautionary reading dropped",
    ),
    (
        "higher-confidence",
        lambda t: t["statistics"].update(confidence=0.99),
        "stronger",
        "statistics.confidence",
        "more unresolved results read as crossed",
    ),
    (
        "exact-interval",
        lambda t: t["statistics"].update(interval="clopper_pearson"),
        "stronger",
        "statistics.interval",
        "interval wilson -> clopper_pearson",
    ),
    (
        "fewer-samples",
        lambda t: t["evidence"].update(min_samples=10),
        "weaker",
        "evidence.min_samples",
        "min_samples 20 -> 10",
    ),
    (
        "more-unparsed",
        lambda t: t["evidence"].update(max_unparsed_fraction=0.2),
        "weaker",
        "evidence.max_unparsed_fraction",
        "more unreadable answers tolerated",
    ),
    (
        "eval-redefined",
        lambda t: t["evals"]["bio_eval"]["args"].update(subjects=["anatomy"]),
        "unclear",
        "evals.bio_eval.args",
        "a different measurement",
    ),
    (
        "eval-renamed",
        lambda t: rename_eval(t, "bio_eval", "bio"),
        "neutral",
        "evals.bio",
        "evaluation bio_eval renamed to bio",
    ),
    (
        "level-renamed",
        lambda t: t.update(levels=["none", "high", "critical"]),
        "neutral",
        "levels",
        "renamed low -> none",
    ),
    # governance
    (
        "notice-days",
        lambda t: t["governance"]["changes"].update(notice_days=0),
        "weaker",
        "governance.changes.notice_days",
        "notice_days 30 -> 0 (weaker",
    ),
    (
        "signoff-role-removed",
        lambda t: t["governance"]["signoff"]["open_weights"].remove("board"),
        "weaker",
        "governance.signoff.open_weights",
        "signoff role board removed from open_weights (weaker",
    ),
    (
        "signoff-role-added",
        lambda t: t["governance"]["signoff"]["external_deployment"].append("board"),
        "stronger",
        "governance.signoff.external_deployment",
        "signoff role board added to external_deployment",
    ),
    (
        "inform-before-removed",
        lambda t: t["governance"].update(inform_before={}),
        "weaker",
        "governance.inform_before.external_deployment",
        "inform_before role board removed from external_deployment",
    ),
    (
        "reverse-removed",
        lambda t: t["governance"].update(reverse=[]),
        "weaker",
        "governance.reverse",
        "reverse role board removed",
    ),
    (
        "approver-removed",
        lambda t: t["governance"]["changes"].update(approve=["rso"], consult=[]),
        None,  # two changes: checked in its own test
        "",
        "",
    ),
    (
        "consult-added",
        lambda t: t["governance"]["changes"]["consult"].append("ceo"),
        "stronger",
        "governance.changes.consult",
        "consulted role ceo added",
    ),
    (
        "changelog-dropped",
        lambda t: t["governance"]["changes"].update(public_changelog=False),
        "weaker",
        "governance.changes.public_changelog",
        "public_changelog true -> false",
    ),
    (
        "publish-before-dropped",
        lambda t: t["governance"]["changes"].update(publish_before_effective=False),
        "weaker",
        "governance.changes.publish_before_effective",
        "may take effect unpublished",
    ),
    (
        "change-process-removed",
        lambda t: t["governance"].pop("changes"),
        "weaker",
        "governance.changes",
        "change process removed",
    ),
    (
        "field-restricted",
        lambda t: t["governance"].update(restricted_fields=["assessment.evidence"]),
        "weaker",
        "governance.restricted_fields",
        "withheld from public bundles",
    ),
    (
        "role-redefined",
        lambda t: t["governance"]["roles"].update(board="An advisory panel"),
        "unclear",
        "governance.roles.board",
        "role board redefined",
    ),
    # commitments
    (
        "commitment-hedged",
        lambda t: t["commitments"]["government_notice"].update(binding=False),
        "weaker",
        "commitments.government_notice.binding",
        "commitment government_notice hedged: binding -> may (weaker)",
    ),
    (
        "commitment-firmed",
        lambda t: t["commitments"]["external_evaluation"].update(binding=True),
        "stronger",
        "commitments.external_evaluation.binding",
        "may -> binding",
    ),
    (
        "commitment-dropped",
        lambda t: t["commitments"].pop("pause"),
        "weaker",
        "commitments.pause",
        "commitment pause dropped",
    ),
    (
        "commitment-added",
        lambda t: t["commitments"].update(third_party_audit={"text": "We will commission audits."}),
        "stronger",
        "commitments.third_party_audit",
        "commitment third_party_audit added",
    ),
    # marginal risk
    (
        "marginal-condition-removed",
        lambda t: t["marginal_risk"]["conditions"].remove("public_acknowledgement"),
        "weaker",
        "marginal_risk.conditions",
        "marginal-risk condition public_acknowledgement removed",
    ),
    (
        "marginal-condition-added",
        lambda t: t["marginal_risk"]["conditions"].append("government_notice"),
        "stronger",
        "marginal_risk.conditions",
        "condition government_notice added",
    ),
    (
        "marginal-clause-removed",
        lambda t: t.pop("marginal_risk"),
        "stronger",
        "marginal_risk",
        "marginal-risk clause removed (stronger",
    ),
    # wording only
    (
        "version",
        lambda t: t["policy"].update(version="2"),
        "neutral",
        "policy.version",
        "policy version 1 -> 2",
    ),
    (
        "citation",
        lambda t: t["cadence"].update(source="Framework §4", tag="V"),
        None,  # two neutral changes: checked in its own test
        "",
        "",
    ),
]


@pytest.mark.parametrize(
    ("edit", "kind", "clause", "words"),
    [pytest.param(e, k, c, w, id=i) for i, e, k, c, w in CASES if k is not None],
)
def test_one_change_one_direction(
    edit: Callable[[dict[str, Any]], Any], kind: str, clause: str, words: str
) -> None:
    change = only(base(), mutated(edit))
    assert (change.kind, change.clause) == (kind, clause), change
    assert words in change.summary, change.summary


def test_identical_policies_have_no_changes() -> None:
    assert assess_changes(base(), base()) == []
    ref = reference_policy()
    assert assess_changes(ref, ref) == []
    assert changes_summary([]) == "no changes"


def test_reverting_a_change_reverses_its_direction() -> None:
    """Each directed case read backwards (new -> old) points the other way."""
    flip = {"weaker": "stronger", "stronger": "weaker"}
    for case_id, edit, kind, _clause, _ in CASES:
        if kind not in flip:
            continue
        if case_id in {"response-removed"}:
            continue  # re-adding a response is "added", checked below
        back = assess_changes(mutated(edit), base())
        assert [c.kind for c in back] == [flip[kind]], (case_id, back)


def test_response_added_back_is_stronger() -> None:
    change = only(mutated(lambda t: t["responses"].remove(resp(t, "pause-at-critical"))), base())
    assert (change.kind, change.clause) == ("stronger", "responses.pause-at-critical")


def test_safety_case_requirement_dropped_is_weaker() -> None:
    edit = CASES[[c[0] for c in CASES].index("safety-case-dropped")][1]
    changes = assess_changes(base(), mutated(edit))
    kinds = {c.clause: c.kind for c in changes}
    assert kinds["responses.case-critical.require.safety_case"] == "weaker"
    assert kinds["responses.case-critical.require.protections"] == "stronger"


def test_approver_swap_reports_each_role() -> None:
    edit = CASES[[c[0] for c in CASES].index("approver-removed")][1]
    changes = assess_changes(base(), mutated(edit))
    summaries = {c.summary: c.kind for c in changes if c.clause == "governance.changes.approve"}
    assert summaries == {
        "approver board removed from policy changes (weaker: fewer approvals for a change)": "weaker",
        "approver rso added to policy changes (stronger: more approvals for a change)": "stronger",
    }
    assert {c.kind for c in changes if c.clause == "governance.changes.consult"} == {"weaker"}


def test_citations_are_neutral() -> None:
    edit = CASES[[c[0] for c in CASES].index("citation")][1]
    changes = assess_changes(base(), mutated(edit))
    assert {(c.kind, c.clause) for c in changes} == {
        ("neutral", "cadence.source"),
        ("neutral", "cadence.tag"),
    }


def test_marginal_risk_clause_added_is_weaker() -> None:
    change = only(mutated(lambda t: t.pop("marginal_risk")), base())
    assert (change.kind, change.clause) == ("weaker", "marginal_risk")
    assert change.summary.startswith("marginal-risk clause added (weaker")


def test_unmatched_rename_is_unclear() -> None:
    """A domain dropped while others of its category appear may have been renamed."""

    def edit(t: dict[str, Any]) -> None:
        t["domains"].pop("persuasion")
        for name in ("manipulation", "deception"):
            t["domains"][name] = {"title": name.title(), "category": "persuasion", "status": "research"}

    changes = assess_changes(base(), mutated(edit))
    assert {(c.kind, c.clause) for c in changes} == {
        ("unclear", "domains.persuasion"),
        ("unclear", "domains.manipulation"),
        ("unclear", "domains.deception"),
    }
    assert "may be renamed to manipulation, deception" in changes[0].summary


def test_unnamed_responses_are_named_by_position() -> None:
    text = BASE.replace("  - id: alert-plan\n    if: {alert: true}", "  - if: {alert: true}")
    changes = assess_changes(
        policy_from(text), policy_from(text.replace("[response_plan]", "[response_plan, sl3]"))
    )
    assert [(c.kind, c.clause) for c in changes] == [("stronger", "responses[5].require.protections")]


def test_renderers_lead_with_weaker_changes() -> None:
    new = mutated(
        lambda t: (t["cadence"].update(max_days=30), t["governance"]["changes"].update(notice_days=0))
    )
    changes = assess_changes(base(), new)
    assert changes_summary(changes) == "1 weaker, 1 stronger, 0 unclear, 0 neutral"
    md = changes_markdown(changes)
    lines = md.strip().splitlines()
    assert lines[0] == "**1 weaker, 1 stronger, 0 unclear, 0 neutral**"
    rows = [line for line in lines if line.startswith("|")]
    assert len({len(re.findall(r"(?<!\\)\|", r)) for r in rows}) == 1
    assert rows[2].startswith("| weaker |") and rows[3].startswith("| stronger |")
    console = Console(record=True, width=200)
    console.print(changes_table(changes))
    out = console.export_text()
    assert "notice_days 30 -> 0" in out and "1 weaker, 1 stronger" in out


def test_structural_diff_keeps_its_format() -> None:
    """The ledger records diff_policies lines; their format is part of the ledger."""
    new = mutated(lambda t: thr(t, "bio", "high")["when"].update(at_least=0.80))
    assert diff_policies(base(), new) == ["changed domains.bio.thresholds.high.when.at_least: 0.7 -> 0.8"]
    assert diff_policies(base(), base()) == []


def _with_post(red_team: bool, profiles: list[str]) -> Policy:
    def edit(t: dict[str, Any]) -> None:
        t["profiles"] = {"suppress": {"kind": "red_team", "template": "refusal_suppression"}}
        t["mitigations"] = {"prompt": {"system_prompt": "builtin:safety"}}
        t["post_mitigation"] = {
            "mitigations": ["prompt"],
            "red_team": red_team,
            "red_team_profiles": profiles,
        }

    return mutated(edit)


def test_dropping_red_team_requirements_is_weaker() -> None:
    strict, lax = _with_post(True, ["suppress"]), _with_post(False, ["suppress"])
    change = only(strict, lax)
    assert (change.kind, change.clause) == ("weaker", "post_mitigation.red_team")
    assert only(lax, strict).kind == "stronger"
    fewer = only(_with_post(False, ["suppress"]), _with_post(False, []))
    assert (fewer.kind, fewer.clause) == ("weaker", "post_mitigation.red_team_profiles")
    assert "suppress" in fewer.summary
