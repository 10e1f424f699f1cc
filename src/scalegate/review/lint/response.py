"""Rules on the METR response component: what crossing a limit changes (a pause, interim measures, no
escape hatch), and whether the gate built from the responses fails closed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from scalegate.gates import ActionStatus, decide
from scalegate.policy import conditions
from scalegate.policy.conditions import ResponseCondition
from scalegate.policy.schema import CommitmentKind, Policy
from scalegate.review.lint.reads import (
    _any_fact,
    _commitment_present,
    _fact_level,
    _fact_ranks,
    _gated_actions,
    _gates,
    _ranks,
    _thresholds,
    capability_conditioned,
    training_actions,
)
from scalegate.review.lint.registry import Hit, _rule
from scalegate.scoring import build_scorecard


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


# --- gate soundness: the responses, run as the gate, fail closed ----------------------------------


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
