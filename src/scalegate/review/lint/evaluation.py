"""Rules on the METR evaluation component: whether the evals, their cadence, elicitation and early
warnings can find a crossing in time, and how a result that cannot rule a level out is read.
"""

from __future__ import annotations

from collections.abc import Iterator

from scalegate.policy import conditions
from scalegate.policy.conditions import Op, ResponseCondition
from scalegate.policy.schema import CommitmentKind, Policy
from scalegate.review.lint.reads import (
    _alert_facts,
    _binding,
    _gated_actions,
    _level_facts,
    _strong,
    _thresholds,
)
from scalegate.review.lint.registry import Hit, _rule


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


def _precautionary(fact: ResponseCondition) -> bool:
    return fact.confirmed is False or "inconclusive" in (fact.evidence or [])


@_rule(
    "L39",
    "RELATIVE_MARGIN_UNACHIEVABLE",
    "warning",
    checks="A relative claim (in a threshold, a response or `cadence.preliminary`) names an eval whose "
    "`args.limit` is fewer questions than its margin needs: the paired questions for 80% power at the "
    "policy's one-sided level, both accuracies 0.5 and per-question correlation 0.5 "
    "(`scalegate relative-n`); a margin of 0 can never be shown.",
    why="A margin the evals cannot show leaves the claim unsupported for every model: the relief it "
    "offers exists on paper only, and the pressure is then to widen the margin after the results.",
    source="Miller 2024, 'Adding Error Bars to Evals'; EU GPAI Code of Practice, Appendix 2.2 "
    "('within a negligible margin of error')",
    fix="Widen the margin, give the eval more questions, or drop the claim; `scalegate relative-n "
    "--margin M` shows what a margin needs.",
)
def _relative_margin(policy: Policy) -> Iterator[Hit]:
    alpha = (1 - policy.statistics.confidence) / 2
    for clause, claim in _relative_claims(policy):
        from scalegate.evals.paired import planned_pairs  # only for a policy that has claims

        try:
            need = planned_pairs(0.5, 0.5, 0.5, claim.margin, alpha, 0.8)
        except ValueError:
            yield Hit(
                clause, f"relative margin {claim.margin:g} can never be shown: no difference is below it"
            )
            continue
        for eval_id in claim.evals:
            spec = policy.evals.get(eval_id)
            limit = spec.args.get("limit") if spec is not None else None
            if isinstance(limit, int) and not isinstance(limit, bool) and limit < need:
                yield Hit(
                    clause,
                    f"relative margin {claim.margin:g} needs about {need:,} paired questions; "
                    f"{eval_id} has at most {limit:,}",
                )


def _relative_claims(policy: Policy) -> Iterator[tuple[str, conditions.RelativeClaim]]:
    for *_, thr, clause in _thresholds(policy):
        for cond in (thr.when, thr.alert):
            yield from ((clause, c) for c in conditions.relative_claims(cond))
    for i, r in enumerate(policy.responses):
        yield from ((f"responses[{i}]", c) for c in conditions.relative_claims(r.if_))
    if policy.cadence is not None and policy.cadence.preliminary is not None:
        yield "cadence.preliminary", policy.cadence.preliminary.relative
