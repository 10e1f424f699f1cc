"""Fail closed, as properties over random policies and random evidence (Hypothesis).

For every policy whose response conditions are monotone (no `not:`, no `alert: false`, no
`confirmed:`; lint L37 NON_MONOTONE_RESPONSE names the others), and every action:

- worse evidence never allows more: an eval's usable evidence replaced by any unusable
  status (missing, error, partial, unreliable, ...) or dropped, or its interval widened (so
  a `below` may turn `inconclusive`; for the last, policies lint L22 names are left out: they
  read an inconclusive result as ruled out on purpose), never moves an action from blocked to allowed or
  needs_signoff, nor from needs_signoff to allowed (one unusable status in place of another
  is not "worse" here: a rule naming `error` but not `missing` is the policy's choice);
- higher scores never allow more: more successes on an eval (every generated threshold is
  `at_least`, so a higher score is more capability) never allow more, for policies where no
  action is held back on undecided evidence alone (lint L38: a decided result, either way,
  satisfies a rule that asks for more evidence).

Policies are generated from a small grammar (levels, evals, domains with `all`/`any`
threshold conditions, alert lines, pre/post views, responses over levels, alerts, evidence
statuses and compute, blocks and protection requirements, sign-off), then validated by the
real schema; evidence is built with the real interval code. Seeded (derandomized) so CI
sees the same examples; `SCALEGATE_PROPERTY_EXAMPLES` raises the count for a longer run.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scalegate.evals.evidence import EvalEvidence
from scalegate.evals.stats import estimate_proportion
from scalegate.gates import ActionStatus, decide
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.schema import DEFAULT_ACTIONS, Policy
from scalegate.review.lint import lint_policy
from scalegate.scoring import build_scorecard

LEVELS = ["low", "medium", "high", "critical"]
EVALS = ["e0", "e1", "e2"]
DOMAINS = ["d0", "d1"]
RANK = {ActionStatus.allowed: 0, ActionStatus.needs_signoff: 1, ActionStatus.blocked: 2}
EXAMPLES = int(os.environ.get("SCALEGATE_PROPERTY_EXAMPLES") or 150)
UNUSABLE = [s for s in EvidenceStatus if s is not EvidenceStatus.ok]

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

value = st.sampled_from([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
leaf = st.builds(lambda e, v: {"eval": e, "at_least": v}, st.sampled_from(EVALS), value)
threshold_cond = st.one_of(
    leaf,
    st.builds(lambda parts: {"all": parts}, st.lists(leaf, min_size=2, max_size=3)),
    st.builds(lambda parts: {"any": parts}, st.lists(leaf, min_size=2, max_size=3)),
)


@st.composite
def threshold(draw: st.DrawFn, level: str) -> dict[str, Any]:
    when = draw(threshold_cond)
    out: dict[str, Any] = {"description": f"{level} threshold", "when": when}
    if "eval" in when and draw(st.booleans()):  # an alert line below the threshold
        out["alert"] = {"eval": when["eval"], "at_least": round(max(0.05, when["at_least"] - 0.15), 2)}
    out["applies_to"] = draw(st.sampled_from(["both", "both", "pre", "post"]))
    return out


@st.composite
def domain(draw: st.DrawFn) -> dict[str, Any]:
    levels = draw(st.lists(st.sampled_from(LEVELS[1:]), min_size=1, max_size=3, unique=True))
    return {"title": "a domain", "thresholds": {lvl: draw(threshold(lvl)) for lvl in levels}}


fact = st.one_of(
    st.builds(
        lambda side, lvl, doms: {f"{side}_mitigation_at_least": lvl, **({"domains": doms} if doms else {})},
        st.sampled_from(["pre", "post"]),
        st.sampled_from(LEVELS[1:]),
        st.one_of(st.none(), st.lists(st.sampled_from(DOMAINS), min_size=1, max_size=1)),
    ),
    st.just({"alert": True}),
    st.builds(
        lambda statuses: {"evidence": statuses},
        st.lists(st.sampled_from(["missing", "error", "partial", "inconclusive"]), min_size=1, unique=True),
    ),
    st.builds(lambda flop: {"effective_compute_at_least": flop}, st.sampled_from([1e20, 1e24])),
)
response_cond = st.recursive(
    fact,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=2, max_size=3)),
    ),
    max_leaves=4,
)


@st.composite
def response(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"if": draw(response_cond)}
    actions = st.lists(st.sampled_from(list(DEFAULT_ACTIONS)), min_size=1, max_size=4, unique=True)
    if draw(st.booleans()):
        out["block"] = draw(actions)
    else:
        out["require"] = {"protections": ["p1"], "before": draw(actions)}
    return out


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    data: dict[str, Any] = {
        "scalegate": 1,
        "policy": {"name": "generated", "version": "1"},
        "levels": LEVELS,
        "statistics": {
            "confidence": draw(st.sampled_from([0.9, 0.95])),
            "interval": draw(st.sampled_from(["wilson", "clopper_pearson"])),
            "inconclusive_as": draw(st.sampled_from(["crossed", "below"])),
        },
        "evals": {e: {"task": f"t/{e}"} for e in EVALS},
        "domains": {d: draw(domain()) for d in DOMAINS},
        "protections": {"p1": "a protection"},
        "responses": draw(st.lists(response(), min_size=1, max_size=4)),
    }
    if draw(st.booleans()):
        data["governance"] = {
            "roles": {"rso": "responsible scaling officer"},
            "signoff": {"external_deployment": ["rso"]},
        }
    try:
        return Policy.model_validate(data)
    except ValueError:
        assume(False)
        raise


@st.composite
def evidence_sets(draw: st.DrawFn, policy: Policy) -> dict[str, EvalEvidence]:
    stats = policy.statistics
    out: dict[str, EvalEvidence] = {}
    for e in policy.evals:
        if draw(st.integers(0, 5)) == 0:
            out[e] = _unusable(e, draw(st.sampled_from(UNUSABLE)))
            continue
        n = draw(st.sampled_from([20, 50, 100, 400]))
        k = draw(st.integers(0, n))
        out[e] = _ok(e, k, n, stats.confidence, stats.interval)
    return out


def _ok(eval_id: str, k: int, n: int, confidence: float, method: Any) -> EvalEvidence:
    est = estimate_proportion(k, n, confidence, method)
    return EvalEvidence(
        eval_id=eval_id, status=EvidenceStatus.ok, metrics={"accuracy": est}, n_planned=n, n_scored=n
    )


def _unusable(eval_id: str, status: EvidenceStatus) -> EvalEvidence:
    return EvalEvidence(eval_id=eval_id, status=status, message=f"generated {status.value}")


def _ranks(policy: Policy, evidence: dict[str, EvalEvidence]) -> dict[str, int]:
    decision = decide(policy, build_scorecard(policy, evidence), set())
    return {a: RANK[d.status] for a, d in decision.actions.items()}


def _never_allows_more(
    policy: Policy, better: dict[str, EvalEvidence], worse: dict[str, EvalEvidence]
) -> None:
    before, after = _ranks(policy, better), _ranks(policy, worse)
    opened = {a: (before[a], after[a]) for a in before if after[a] < before[a]}
    assert not opened, (
        f"worse evidence allowed more: {opened}\npolicy: {policy.model_dump(exclude_none=True)}"
    )


def _case(
    data: st.DataObject, *, excluded_by: str | None = None, room: bool = False
) -> tuple[Policy, dict[str, EvalEvidence], str]:
    """A generated policy, evidence for its evals, and one eval with usable evidence to make
    worse (`room`: one that can still score higher). `excluded_by`: the lint rule that names the
    policies for which the property does not hold by the policy's own choice."""
    policy = data.draw(policies())
    if excluded_by is not None:
        assume(not any(f.rule == excluded_by for f in lint_policy(policy)))
    evidence = data.draw(evidence_sets(policy))
    usable = [
        e
        for e, ev in evidence.items()
        if ev.usable and (not room or ev.metrics["accuracy"].successes < ev.n_scored)
    ]
    assume(usable)
    return policy, evidence, data.draw(st.sampled_from(usable))


@given(data=st.data())
@SETTINGS
def test_unusable_evidence_never_allows_more(data: st.DataObject) -> None:
    policy, evidence, target = _case(data)
    status = data.draw(st.sampled_from(UNUSABLE))
    worse = {**evidence, target: _unusable(target, status)}
    _never_allows_more(policy, evidence, worse)
    # and no evidence at all for that eval (never ran)
    _never_allows_more(policy, evidence, {k: v for k, v in evidence.items() if k != target})


@given(data=st.data())
@SETTINGS
def test_a_wider_interval_never_allows_more(data: st.DataObject) -> None:
    # `inconclusive_as: below` with nothing handling the precautionary state reads a widened,
    # no longer confirmed crossing as ruled out: lint L22 names those policies
    policy, evidence, target = _case(data, excluded_by="L22")
    est = evidence[target].metrics["accuracy"]
    # the same successes read at a higher confidence: an interval that contains the old one
    wide = estimate_proportion(est.successes, est.n, 0.999, est.method)
    assert wide.low <= est.low + 1e-12 and wide.high >= est.high - 1e-12
    worse = {**evidence, target: evidence[target].model_copy(update={"metrics": {"accuracy": wide}})}
    _never_allows_more(policy, evidence, worse)


@given(data=st.data())
@SETTINGS
def test_higher_scores_never_allow_more(data: st.DataObject) -> None:
    # an action held back on undecided evidence only is lint's L38 (a decided result lifts it)
    policy, evidence, target = _case(data, excluded_by="L38", room=True)
    est = evidence[target].metrics["accuracy"]
    more = data.draw(st.integers(1, int(est.n - est.successes)))
    stats = policy.statistics
    higher = {
        **evidence,
        target: _ok(target, int(est.successes) + more, est.n, stats.confidence, stats.interval),
    }
    _never_allows_more(policy, evidence, higher)


def test_reading_inconclusive_as_below_is_named_by_lint() -> None:
    """Found by an unseeded run: with `inconclusive_as: below` and no response for the
    precautionary state, a wider interval turns a confirmed crossing into 'ruled out' and allows
    what it blocked. That is the policy's stated reading, and lint L22 names it."""
    data: dict[str, Any] = {
        "scalegate": 1,
        "policy": {"name": "found", "version": "1"},
        "levels": LEVELS,
        "statistics": {"confidence": 0.9, "interval": "wilson", "inconclusive_as": "below"},
        "evals": {e: {"task": f"t/{e}"} for e in EVALS},
        "domains": {
            "d0": {
                "title": "d",
                "thresholds": {"medium": {"description": "m", "when": {"eval": "e0", "at_least": 0.2}}},
            }
        },
        "protections": {"p1": "a protection"},
        "responses": [
            {
                "if": {"pre_mitigation_at_least": "medium"},
                "require": {"protections": ["p1"], "before": ["continue_training"]},
            }
        ],
    }
    policy = Policy.model_validate(data)
    assert "L22" in {f.rule for f in lint_policy(policy)}
    narrow = {e: _ok(e, 7, 20, 0.9, "wilson") for e in EVALS}  # e0 [0.202, 0.533]: crosses 0.2
    est = narrow["e0"].metrics["accuracy"]
    wide = {**narrow, "e0": narrow["e0"].model_copy(update={"metrics": {"accuracy": est.at(0.999)}})}
    assert _ranks(policy, narrow)["continue_training"] == RANK[ActionStatus.blocked]
    assert _ranks(policy, wide)["continue_training"] == RANK[ActionStatus.allowed]  # what L22 warns of


def test_the_generator_makes_policies_that_block_and_allow() -> None:
    """The properties above are not vacuous: generated policies and evidence give every status."""
    seen: set[ActionStatus] = set()

    @given(data=st.data())
    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def collect(data: st.DataObject) -> None:
        policy = data.draw(policies())
        decision = decide(policy, build_scorecard(policy, data.draw(evidence_sets(policy))), set())
        seen.update(d.status for d in decision.actions.values())

    collect()
    assert seen == set(ActionStatus)


def test_a_level_rule_above_every_threshold_does_not_cover_an_uncertainty_rule() -> None:
    """Found by CI's Hypothesis run: the uncertainty rule's action was also gated by a level rule,
    but at a level no threshold can reach, so a higher score that decided the medium threshold
    allowed it. Lint L38 now names that policy, and the property excludes it."""
    data: dict[str, Any] = {
        "scalegate": 1,
        "policy": {"name": "found", "version": "1"},
        "levels": LEVELS,
        "evals": {e: {"task": f"t/{e}"} for e in EVALS},
        "domains": {
            "d0": {
                "title": "d",
                "thresholds": {"medium": {"description": "m", "when": {"eval": "e2", "at_least": 0.2}}},
            }
        },
        "protections": {"p1": "a protection"},
        "responses": [
            {
                "if": {
                    "any": [{"pre_mitigation_at_least": "high"}, {"evidence": ["missing", "inconclusive"]}]
                },
                "require": {"protections": ["p1"], "before": ["continue_training"]},
            }
        ],
    }
    policy = Policy.model_validate(data)
    assert [f.rule for f in lint_policy(policy) if f.rule == "L38"] == ["L38"]
    stats = policy.statistics
    low = {e: _ok(e, 2, 20, stats.confidence, stats.interval) for e in EVALS}  # e2 inconclusive at 0.2
    high = {**low, "e2": _ok("e2", 10, 20, stats.confidence, stats.interval)}  # e2 crosses medium
    assert _ranks(policy, low)["continue_training"] == RANK[ActionStatus.blocked]
    assert _ranks(policy, high)["continue_training"] == RANK[ActionStatus.allowed]  # what L38 warns of
