"""The one reader of condition trees: one polarity rule, one notion of a comparison.

Every review and every gate-side walker reads conditions through `policy.conditions`; these
tests pin the rule they share, and the drifts it removed (a reader that treated a double
negation as a single one, a forecast that never saw `not: {at_most}` as a rising line).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scalegate.gatekeeper import threshold_lines
from scalegate.policy import conditions
from scalegate.policy.conditions import Bound, Op, ResponseCondition, ThresholdCondition
from scalegate.review import compare, lint
from tests.builders import policy_from


def _rc(data: dict) -> ResponseCondition:
    return ResponseCondition.model_validate(data)


def _tc(data: dict) -> ThresholdCondition:
    return ThresholdCondition.model_validate(data)


def test_not_flips_polarity_and_two_flip_it_back() -> None:
    once = _rc({"not": {"pre_mitigation_at_least": "high"}})
    twice = _rc({"not": {"not": {"pre_mitigation_at_least": "high"}}})
    assert [pos for _f, pos in conditions.facts(once)] == [False]
    assert [pos for _f, pos in conditions.facts(twice)] == [True]
    assert list(conditions.level_facts(once)) == []
    assert [(v, f.pre_mitigation_at_least) for v, f in conditions.level_facts(twice)] == [("pre", "high")]


def test_lint_and_compare_read_a_double_negation_alike() -> None:
    """Issue 14: `compare.level_facts` read `not: {not: X}` as negated, lint as X."""
    twice = _rc({"not": {"not": {"pre_mitigation_at_least": "high"}}})
    assert compare.level_facts(twice) == [("pre", "high")]
    assert [f.pre_mitigation_at_least for f in lint._level_facts(twice)] == ["high"]
    once = _rc({"not": {"post_mitigation_at_least": "high"}})
    assert compare.level_facts(once) == [] == list(lint._level_facts(once))


def test_bounds_carry_polarity_and_suites_are_not_bounds() -> None:
    cond = _tc(
        {
            "any": [
                {"eval": "a", "at_least": 0.5},
                {"not": {"eval": "b", "at_most": 0.2}},
                {"suite": {"evals": ["s"], "attempts": 10, "at_least_fraction": 0.5}},
            ]
        }
    )
    assert list(conditions.bounds(cond)) == [
        (Bound("a", None, Op.at_least, 0.5), True),
        (Bound("b", None, Op.at_most, 0.2), False),
    ]
    assert cond.evals() == {"a", "b", "s"}
    assert [leaf.suite is not None for leaf, _ in conditions.leaves(cond)] == [False, False, True]


def test_a_bound_round_trips_through_its_condition() -> None:
    b = Bound("x", "accuracy", Op.at_most, 0.25)
    assert b.condition().bound() == b
    assert b.text() == "x <= 0.25"
    assert b.text(unicode=True) == "x \u2264 0.25"


def test_forecast_lines_are_the_ones_rising_capability_crosses() -> None:
    """`not: {at_most: v}` is crossed by rising scores; `not: {at_least: v}` is not."""
    policy = policy_from(
        """
        scalegate: 1
        policy: {name: lines, version: "1"}
        levels: [low, high]
        evals:
          a: {task: t}
          b: {task: t}
        domains:
          cyber:
            title: Cyber
            thresholds:
              high:
                description: h
                when:
                  any:
                    - {eval: a, at_least: 0.6}
                    - {not: {eval: b, at_most: 0.4}}
                    - {not: {eval: a, at_least: 0.9}}
        responses:
          - if: {pre_mitigation_at_least: high}
            block: [open_weights]
        """
    )
    label = "cyber high threshold"
    assert sorted(threshold_lines(policy)) == [("a", 0.6, label), ("b", 0.4, label)]


_LEAF = st.sampled_from(
    [
        {"pre_mitigation_at_least": "high"},
        {"post_mitigation_at_least": "high"},
        {"alert": True},
        {"evidence": ["missing"]},
    ]
)
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=8,
)


def _depth_parity(data: dict, positive: bool = True) -> list[bool]:
    """The polarity of every leaf, computed independently: count the `not`s above it."""
    if "not" in data:
        return _depth_parity(data["not"], not positive)
    if "all" in data or "any" in data:
        return [p for child in data.get("all") or data["any"] for p in _depth_parity(child, positive)]
    return [positive]


@given(_TREE)
def test_fact_polarity_is_the_parity_of_nots_above_it(data: dict) -> None:
    cond = _rc(data)
    assert [pos for _f, pos in conditions.facts(cond)] == _depth_parity(data)
    assert len(list(conditions.nodes(cond))) >= len(_depth_parity(data))
