"""Cross-references that only make sense against the rest of the file."""

from __future__ import annotations

import textwrap

import pytest

from scalegate.errors import PolicyError
from scalegate.policy import parse_policy

BASE = """
scalegate: 1
policy: {name: p, version: "1"}
levels: [low, high]
evals:
  k: {task: scalegate/mmlu_proxy, args: {subjects: [virology]}}
domains:
  bio:
    title: Bio
    thresholds:
      high: {description: d, when: WHEN}
responses:
  - if: {post_mitigation_at_least: high}
    RESPONSE
"""


def _parse(when: str = "{eval: k, at_least: 0.5}", response: str = "block: [open_weights]") -> None:
    parse_policy(textwrap.dedent(BASE).lstrip().replace("WHEN", when).replace("RESPONSE", response))


def test_threshold_metric_must_be_the_evals_metric() -> None:
    with pytest.raises(PolicyError) as err:
        _parse(when="{eval: k, metric: f1, at_least: 0.5}")
    assert err.value.problems == [
        "line 10: field domains.bio.thresholds.high.when: eval 'k' reports metric 'accuracy', "
        "not 'f1' (omit `metric` to use the eval's own)"
    ]


def test_nested_comparisons_are_checked_too() -> None:
    with pytest.raises(PolicyError, match="unknown eval 'nope'"):
        _parse(when="{any: [{eval: k, at_least: 0.5}, {not: {eval: nope, at_most: 0.1}}]}")


def test_empty_require_before_is_rejected_not_read_as_every_action() -> None:
    with pytest.raises(PolicyError) as err:
        _parse(response="require: {protections: [x], before: []}")
    assert any("responses[0].require.before" in p for p in err.value.problems)
