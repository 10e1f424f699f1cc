"""Evidence -> scorecard: three-state conditions, levels that only move up on doubt, alerts."""

from __future__ import annotations

import pytest

from scalegate.evals.stats import ComparisonState as S
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.conditions import ThresholdCondition
from scalegate.scoring import POST_EQUALS_PRE, build_scorecard, evaluate_condition
from tests.builders import (
    ALERT_ONLY,
    BELOW_HALF,
    CROSSES_HALF,
    STRADDLES_HALF,
    evidence,
    failed,
    ok,
    policy_from,
)

NON_OK = [s for s in EvidenceStatus if s is not EvidenceStatus.ok]

# Evidence for eval `name` that puts `{eval: name, at_least: 0.5}` in each state.
STATE_EVIDENCE = {
    "crossed": lambda name: ok(name, CROSSES_HALF),
    "below": lambda name: ok(name, BELOW_HALF),
    "inconclusive": lambda name: ok(name, STRADDLES_HALF),
    "unknown": None,  # no record at all
}


def _evidence_for(**states: str):  # type: ignore[no-untyped-def]
    records = [STATE_EVIDENCE[state](name) for name, state in states.items() if STATE_EVIDENCE[state]]
    return evidence(*records)


def _cond(data: dict) -> ThresholdCondition:  # type: ignore[type-arg]
    return ThresholdCondition.model_validate(data)


A = {"eval": "a", "at_least": 0.5}
B = {"eval": "b", "at_least": 0.5}


# --- evaluate_condition ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [("crossed", S.crossed), ("below", S.below), ("inconclusive", S.inconclusive), ("unknown", S.unknown)],
)
def test_leaf_comparison_reads_the_interval(state: str, expected: S) -> None:
    result = evaluate_condition(_cond(A), _evidence_for(a=state))
    assert result.state is expected
    assert result.operationalized
    [comp] = result.comparisons
    assert (comp.eval_id, comp.metric, comp.op, comp.threshold) == ("a", "accuracy", "at_least", 0.5)


def test_leaf_comparison_copies_the_estimate_numbers() -> None:
    ev = evidence(ok("a", CROSSES_HALF))
    [comp] = evaluate_condition(_cond(A), ev).comparisons
    est = ev["a"].metrics["accuracy"]
    assert comp.value == 0.8
    assert (comp.low, comp.high, comp.n) == (est.low, est.high, 100)
    assert comp.evidence_status is EvidenceStatus.ok
    assert comp.describe() == "a.accuracy = 0.800 [0.711, 0.867] n=100 >= 0.5: crossed"


def test_at_most_comparison_is_crossed_when_the_whole_interval_is_under_the_ceiling() -> None:
    cond = _cond({"eval": "a", "at_most": 0.3})
    assert evaluate_condition(cond, evidence(ok("a", BELOW_HALF))).state is S.crossed  # [0.133, 0.289]
    assert evaluate_condition(cond, evidence(ok("a", CROSSES_HALF))).state is S.below
    assert evaluate_condition(cond, evidence(ok("a", 30))).state is S.inconclusive
    [comp] = evaluate_condition(cond, evidence(ok("a", BELOW_HALF))).comparisons
    assert comp.op == "at_most"
    assert "<= 0.3" in comp.describe()


@pytest.mark.parametrize("status", NON_OK)
def test_non_ok_evidence_is_unknown_even_with_numbers_attached(status: EvidenceStatus) -> None:
    result = evaluate_condition(_cond(A), evidence(failed("a", status, with_metric=True)))
    assert result.state is S.unknown
    [comp] = result.comparisons
    assert comp.evidence_status is status
    assert comp.value is None
    assert comp.describe() == f"a.accuracy >= 0.5: evidence {status.value}"


def test_absent_evidence_is_unknown_with_status_missing() -> None:
    [comp] = evaluate_condition(_cond(A), {}).comparisons
    assert comp.state is S.unknown
    assert comp.evidence_status is EvidenceStatus.missing


def test_ok_evidence_without_the_named_metric_is_unknown_and_reported_missing() -> None:
    cond = _cond({"eval": "a", "metric": "f1", "at_least": 0.5})
    [comp] = evaluate_condition(cond, evidence(ok("a", CROSSES_HALF))).comparisons
    assert comp.state is S.unknown
    assert comp.metric == "f1"
    assert comp.evidence_status is EvidenceStatus.missing


def test_condition_reads_a_named_metric() -> None:
    cond = _cond({"eval": "a", "metric": "f1", "at_least": 0.5})
    result = evaluate_condition(cond, evidence(ok("a", CROSSES_HALF, metric="f1")))
    assert result.state is S.crossed


ALL_TABLE = [
    ("crossed", "crossed", S.crossed),
    ("crossed", "below", S.below),
    ("below", "unknown", S.below),  # one below decides `all` even without the other
    ("below", "inconclusive", S.below),
    ("crossed", "inconclusive", S.inconclusive),
    ("crossed", "unknown", S.unknown),
    ("inconclusive", "unknown", S.unknown),  # unknown (no evidence) is kept apart from weak evidence
    ("inconclusive", "inconclusive", S.inconclusive),
    ("unknown", "unknown", S.unknown),
]

ANY_TABLE = [
    ("below", "below", S.below),
    ("crossed", "below", S.crossed),
    ("crossed", "unknown", S.crossed),  # one crossed decides `any` even without the other
    ("crossed", "inconclusive", S.crossed),
    ("below", "inconclusive", S.inconclusive),
    ("below", "unknown", S.unknown),
    ("inconclusive", "unknown", S.unknown),
    ("inconclusive", "inconclusive", S.inconclusive),
    ("unknown", "unknown", S.unknown),
]


@pytest.mark.parametrize(("a", "b", "expected"), ALL_TABLE)
def test_all_follows_kleene_logic(a: str, b: str, expected: S) -> None:
    ev = _evidence_for(a=a, b=b)
    assert evaluate_condition(_cond({"all": [A, B]}), ev).state is expected
    assert evaluate_condition(_cond({"all": [B, A]}), ev).state is expected  # order does not matter


@pytest.mark.parametrize(("a", "b", "expected"), ANY_TABLE)
def test_any_follows_kleene_logic(a: str, b: str, expected: S) -> None:
    ev = _evidence_for(a=a, b=b)
    assert evaluate_condition(_cond({"any": [A, B]}), ev).state is expected
    assert evaluate_condition(_cond({"any": [B, A]}), ev).state is expected


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("crossed", S.below),
        ("below", S.crossed),
        ("inconclusive", S.inconclusive),
        ("unknown", S.unknown),
    ],
)
def test_not_swaps_crossed_and_below_and_keeps_doubt(inner: str, expected: S) -> None:
    result = evaluate_condition(_cond({"not": A}), _evidence_for(a=inner))
    assert result.state is expected
    assert [c.eval_id for c in result.comparisons] == ["a"]


def test_nested_combinations_compose() -> None:
    # not(all(a, b)) with a crossed and b below: all is below, so not is crossed
    cond = _cond({"not": {"all": [A, B]}})
    assert evaluate_condition(cond, _evidence_for(a="crossed", b="below")).state is S.crossed
    # any(all(a, b), not(a)) with a crossed, b crossed: crossed
    cond2 = _cond({"any": [{"all": [A, B]}, {"not": A}]})
    assert evaluate_condition(cond2, _evidence_for(a="crossed", b="crossed")).state is S.crossed
    # ... with a crossed, b unknown: all is unknown, not(a) is below -> unknown
    assert evaluate_condition(cond2, _evidence_for(a="crossed")).state is S.unknown


def test_combination_collects_every_leaf_comparison() -> None:
    cond = _cond({"all": [A, {"any": [B, {"eval": "c", "at_most": 0.2}]}]})
    result = evaluate_condition(cond, _evidence_for(a="crossed", b="below"))
    assert [(c.eval_id, c.op) for c in result.comparisons] == [
        ("a", "at_least"),
        ("b", "at_least"),
        ("c", "at_most"),
    ]


# --- build_scorecard ----------------------------------------------------------------------------

POLICY = """
scalegate: 1
policy: {name: scoring test, version: "1"}
levels: [low, medium, high]
statistics: {inconclusive_as: %(inconclusive_as)s}
evals:
  e_med: {task: t}
  e_high: {task: t}
  e_other: {task: t}
  e_unused: {task: t}
domains:
  cyber:
    title: Cyber
    thresholds:
      medium:
        description: medium line
        when: {eval: e_med, at_least: 0.5}
        alert: {eval: e_med, at_least: 0.3}
      high:
        description: high line
        when: {eval: e_high, at_least: 0.5}
  other:
    title: Other
    thresholds:
      high:
        description: other high line
        when: {eval: e_other, at_least: 0.5}
responses:
  - if: {pre_mitigation_at_least: high}
    block: [open_weights]
"""


def _policy(inconclusive_as: str = "crossed"):  # type: ignore[no-untyped-def]
    return policy_from(POLICY % {"inconclusive_as": inconclusive_as})


def _clear(**overrides):  # type: ignore[no-untyped-def]
    """Every eval run and clearly below its thresholds, except the overrides (None = absent)."""
    records = {name: ok(name, BELOW_HALF) for name in ("e_med", "e_high", "e_other", "e_unused")}
    records.update(overrides)
    return {k: v for k, v in records.items() if v is not None}


def test_all_clear_evidence_gives_the_baseline_level() -> None:
    card = build_scorecard(_policy(), _clear())
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.level == "low"
    assert cyber.confirmed_level == "low"
    assert cyber.unknown is False
    assert cyber.alerts == []
    assert [(t.level, t.ruled_out) for t in cyber.thresholds] == [("medium", True), ("high", True)]
    assert card.pre_mitigation.domains["other"].level == "low"
    assert card.inconclusive is False


def test_crossed_threshold_sets_the_level_and_confirms_it() -> None:
    card = build_scorecard(_policy(), _clear(e_med=ok("e_med", CROSSES_HALF)))
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.level == "medium"
    assert cyber.confirmed_level == "medium"
    assert card.pre_mitigation.domains["other"].level == "low"


def test_level_is_the_highest_level_not_ruled_out_even_above_a_ruled_out_one() -> None:
    card = build_scorecard(_policy(), _clear(e_high=ok("e_high", CROSSES_HALF)))
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.level == "high"
    assert cyber.confirmed_level == "high"
    assert [t.ruled_out for t in cyber.thresholds] == [True, False]


def test_inconclusive_counts_as_crossed_by_default() -> None:
    card = build_scorecard(_policy(), _clear(e_med=ok("e_med", STRADDLES_HALF)))
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.thresholds[0].when.state is S.inconclusive
    assert cyber.level == "medium"
    assert cyber.confirmed_level == "low"  # not confirmed, only not ruled out
    assert card.inconclusive is True


def test_inconclusive_counts_as_below_when_policy_says_so() -> None:
    card = build_scorecard(_policy("below"), _clear(e_med=ok("e_med", STRADDLES_HALF)))
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.thresholds[0].when.state is S.inconclusive
    assert cyber.thresholds[0].ruled_out is True
    assert cyber.level == "low"
    assert card.inconclusive is True  # still reported, whatever the reading


def test_inconclusive_as_below_does_not_rule_out_unknown() -> None:
    card = build_scorecard(_policy("below"), _clear(e_high=None))
    assert card.pre_mitigation.domains["cyber"].level == "high"


@pytest.mark.parametrize("status", [*NON_OK, None], ids=[*(s.value for s in NON_OK), "absent"])
def test_unusable_evidence_makes_its_threshold_unknown_and_raises_the_level(
    status: EvidenceStatus | None,
) -> None:
    record = None if status is None else failed("e_high", status, with_metric=False)
    card = build_scorecard(_policy(), _clear(e_high=record))
    cyber = card.pre_mitigation.domains["cyber"]
    high = cyber.thresholds[1]
    assert high.when.state is S.unknown
    assert high.ruled_out is False
    assert cyber.level == "high"
    assert cyber.confirmed_level == "low"
    assert cyber.unknown is True
    assert card.evidence_status["e_high"] is (status or EvidenceStatus.missing)
    # other domains do not depend on e_high
    assert card.pre_mitigation.domains["other"].level == "low"
    assert card.pre_mitigation.domains["other"].unknown is False


@pytest.mark.parametrize("status", [EvidenceStatus.missing, EvidenceStatus.error, EvidenceStatus.partial])
def test_unusable_evidence_raises_the_level_only_to_the_highest_level_depending_on_it(
    status: EvidenceStatus,
) -> None:
    card = build_scorecard(_policy(), _clear(e_med=failed("e_med", status)))
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.level == "medium"  # e_high is clear, so high stays ruled out
    assert cyber.unknown is True
    assert cyber.thresholds[0].when.comparisons[0].evidence_status is status


def test_partial_evidence_with_a_crossing_estimate_is_not_read() -> None:
    # numbers from a partial run must not confirm a level either
    card = build_scorecard(_policy(), _clear(e_high=failed("e_high", "partial", with_metric=True)))
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.level == "high"
    assert cyber.confirmed_level == "low"


def test_alert_fires_when_crossed_below_the_threshold() -> None:
    card = build_scorecard(_policy(), _clear(e_med=ok("e_med", ALERT_ONLY)))
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.level == "low"
    assert cyber.alerts == ["medium"]
    assert cyber.thresholds[0].alert_fired is True
    assert cyber.thresholds[0].alert is not None
    assert cyber.thresholds[0].alert.state is S.crossed


def test_alert_does_not_fire_when_ruled_out() -> None:
    card = build_scorecard(_policy(), _clear(e_med=ok("e_med", 10)))  # [0.055, 0.174] < 0.3
    cyber = card.pre_mitigation.domains["cyber"]
    assert cyber.alerts == []
    assert cyber.thresholds[0].alert_fired is False


def test_inconclusive_alert_fires_by_default_and_not_when_read_as_below() -> None:
    # 30/100 -> [0.219, 0.396] straddles the 0.3 alert line and is below the 0.5 threshold
    ev = _clear(e_med=ok("e_med", 30))
    assert build_scorecard(_policy(), ev).pre_mitigation.domains["cyber"].alerts == ["medium"]
    assert build_scorecard(_policy("below"), ev).pre_mitigation.domains["cyber"].alerts == []


def test_alert_with_missing_evidence_fires() -> None:
    card = build_scorecard(_policy(), _clear(e_med=None))
    assert card.pre_mitigation.domains["cyber"].alerts == ["medium"]


def test_threshold_without_alert_never_fires() -> None:
    card = build_scorecard(_policy(), _clear(e_high=None))
    high = card.pre_mitigation.domains["cyber"].thresholds[1]
    assert high.alert is None
    assert high.alert_fired is False


def test_prose_only_threshold_is_unknown_and_not_operationalized() -> None:
    policy = policy_from(
        """
        scalegate: 1
        policy: {name: prose, version: "1"}
        levels: [low, medium, high]
        evals:
          e_med: {task: t}
        domains:
          bio:
            title: Bio
            thresholds:
              medium:
                description: measurable
                when: {eval: e_med, at_least: 0.5}
              high:
                description: Expert-level uplift, judged by a red team (no eval yet).
        responses:
          - if: {pre_mitigation_at_least: high}
            block: [open_weights]
        """
    )
    card = build_scorecard(policy, evidence(ok("e_med", BELOW_HALF)))
    bio = card.pre_mitigation.domains["bio"]
    high = bio.thresholds[1]
    assert high.when.state is S.unknown
    assert high.when.operationalized is False
    assert high.when.comparisons == []
    assert high.ruled_out is False
    assert bio.level == "high"
    assert bio.unknown is True
    assert bio.thresholds[0].when.operationalized is True
    # the only eval is ok, so this is not a case of missing evidence
    assert card.evidence_status == {"e_med": EvidenceStatus.ok}


def test_evals_never_run_appear_as_missing_in_evidence_status() -> None:
    ev = evidence(ok("e_med", BELOW_HALF), failed("e_high", "error"))
    card = build_scorecard(_policy(), ev)
    assert card.evidence_status == {
        "e_med": EvidenceStatus.ok,
        "e_high": EvidenceStatus.error,
        "e_other": EvidenceStatus.missing,
        "e_unused": EvidenceStatus.missing,
    }


def test_evidence_for_evals_outside_the_policy_is_ignored() -> None:
    ev = _clear()
    ev["stranger"] = ok("stranger", CROSSES_HALF)
    card = build_scorecard(_policy(), ev)
    assert "stranger" not in card.evidence_status
    assert card == build_scorecard(_policy(), _clear())


def test_post_mitigation_equals_pre_mitigation_with_a_note() -> None:
    card = build_scorecard(_policy(), _clear(e_med=ok("e_med", CROSSES_HALF), e_other=None))
    assert card.post_mitigation.domains == card.pre_mitigation.domains
    assert card.post_mitigation.note == POST_EQUALS_PRE
    assert "No post-mitigation evidence" in card.post_mitigation.note
    assert card.pre_mitigation.note is None
    assert card.post_mitigation.domains["cyber"].level == "medium"
    assert card.post_mitigation.domains["other"].level == "high"


def test_domain_with_threshold_combinations_uses_kleene_logic() -> None:
    policy = policy_from(
        """
        scalegate: 1
        policy: {name: combos, version: "1"}
        levels: [low, high]
        evals:
          a: {task: t}
          b: {task: t}
        domains:
          d:
            title: D
            thresholds:
              high:
                description: both a and b
                when: {all: [{eval: a, at_least: 0.5}, {eval: b, at_least: 0.5}]}
        responses:
          - if: {pre_mitigation_at_least: high}
            block: [open_weights]
        """
    )
    # b missing, but a is below: `all` is ruled out, so the level stays low
    card = build_scorecard(policy, evidence(ok("a", BELOW_HALF)))
    assert card.pre_mitigation.domains["d"].level == "low"
    assert card.pre_mitigation.domains["d"].unknown is False
    # a crossed, b missing: unknown -> high
    card = build_scorecard(policy, evidence(ok("a", CROSSES_HALF)))
    assert card.pre_mitigation.domains["d"].level == "high"
    assert card.pre_mitigation.domains["d"].unknown is True


def test_scorecard_is_deterministic() -> None:
    ev = _clear(e_med=ok("e_med", STRADDLES_HALF), e_high=failed("e_high", "error"))
    first = build_scorecard(_policy(), ev)
    second = build_scorecard(_policy(), dict(reversed(list(ev.items()))))
    assert first == second
    assert first.model_dump_json() == second.model_dump_json()


def test_a_condition_without_metric_reads_the_evals_declared_metric() -> None:
    from tests.builders import policy_from

    policy = policy_from(
        """
        scalegate: 1
        policy: {name: m, version: "1"}
        levels: [low, high]
        evals:
          mask: {task: inspect_evals/mask, metric: lying_rate}
        domains:
          honesty:
            title: Honesty
            thresholds:
              high: {description: lies half the time, when: {eval: mask, at_least: 0.5}}
        responses:
          - {if: {pre_mitigation_at_least: high}, block: [external_deployment]}
        """
    )
    card = build_scorecard(policy, {"mask": ok("mask", CROSSES_HALF, metric="lying_rate")})
    [thr] = card.pre_mitigation.domains["honesty"].thresholds
    assert thr.when.state is S.crossed
    assert thr.when.comparisons[0].metric == "lying_rate"


def test_a_suite_task_without_evidence_reads_as_at_least_its_pass_mark() -> None:
    """A suite task passes at successes >= its mark; with no evidence it must not print `<=`."""
    from scalegate.policy.base import EvidenceStatus
    from scalegate.scoring import Comparison, State

    c = Comparison(
        eval_id="ctf_1",
        metric="accuracy",
        op="passes",
        threshold=1,
        state=State.unknown,
        evidence_status=EvidenceStatus.missing,
    )
    assert c.describe() == "ctf_1.accuracy >= 1: evidence missing"
