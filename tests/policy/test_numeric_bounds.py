"""Every number a policy states has a decided range, and NaN or infinity validates nowhere.

A NaN threshold compares false with every score, so it never fires and never rules anything
out; `1.5` on a proportion can never be reached; `inf` as a compute cap never triggers. Each is
refused at load time with the field named, through the same route as a file (YAML text ->
`parse_policy`)."""

from __future__ import annotations

import copy
import functools
import inspect
import math
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

import scalegate.policy.base as base
import scalegate.policy.cadence as cadence
import scalegate.policy.conditions as conditions
import scalegate.policy.schema as schema
from scalegate.errors import PolicyError
from scalegate.policy.loader import parse_policy, preset_text

NAN, INF = math.nan, math.inf

#: Every float field of the schema and its decided range. A new float field fails
#: `test_every_float_field_has_a_decided_range` until its range is decided here and in
#: docs/policy-language.md ("Limits on a policy file").
FLOAT_RANGES: dict[tuple[str, str], str] = {
    ("Statistics", "confidence"): "(0.5, 1)",
    ("EvidenceRules", "max_unparsed_fraction"): "[0, 1]",
    ("EvidenceRules", "max_option_share"): "(0, 1]",
    ("Elicitation", "max_post_training_compute_fraction"): "(0, 1]",
    ("Elicitation", "budget_per_attempt_usd"): "(0, inf)",
    ("EvalSpec", "chance"): "[0, 1)",
    ("Suite", "at_least_fraction"): "(0, 1]",
    ("RelativeClaim", "margin"): "[0, 1)",
    ("ThresholdCondition", "at_least"): "[0, 1]",
    ("ThresholdCondition", "at_most"): "[0, 1]",
    ("ResponseCondition", "effective_compute_at_least"): "(0, inf)",
    ("ResponseCondition", "training_compute_at_least"): "(0, inf)",
    ("SafetyBuffer", "effective_compute_multiple"): "(1, inf)",
    ("SafetyBuffer", "months"): "(0, inf)",
    ("Cadence", "every_effective_compute_multiple"): "(1, inf)",
    ("Cadence", "post_training_months"): "(0, inf)",
    ("Commitment", "every_months"): "(0, inf)",
}


def _models() -> list[type[BaseModel]]:
    return [
        cls
        for module in (base, cadence, conditions, schema)
        for cls in vars(module).values()
        if inspect.isclass(cls) and issubclass(cls, BaseModel) and cls.__module__ == module.__name__
    ]


def _range(info: Any) -> str:
    low, high = "(-inf", "inf)"
    for m in info.metadata:
        if getattr(m, "ge", None) is not None:
            low = f"[{m.ge:g}"
        if getattr(m, "gt", None) is not None:
            low = f"({m.gt:g}"
        if getattr(m, "le", None) is not None:
            high = f"{m.le:g}]"
        if getattr(m, "lt", None) is not None:
            high = f"{m.lt:g})"
    return f"{low}, {high}"


def test_no_model_accepts_nan_or_infinity() -> None:
    for cls in _models():
        assert cls.model_config.get("allow_inf_nan") is False, cls.__name__


def test_every_float_field_has_a_decided_range() -> None:
    found = {
        (cls.__name__, name): _range(info)
        for cls in _models()
        for name, info in cls.model_fields.items()
        if "float" in str(info.annotation)
    }
    assert found == FLOAT_RANGES


# --- end to end: a YAML file with the bad number is refused, naming the field -------------------


@functools.cache
def _reference() -> str:
    return preset_text("reference")


def _with(path: str, value: Any) -> str:
    """The reference preset with `path` (dots; list indices as numbers) set to `value`."""
    data = copy.deepcopy(yaml.safe_load(_reference()))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[int(last) if isinstance(node, list) else last] = value
    return yaml.safe_dump(data, sort_keys=False)


# (path, field path named in the error) for each numeric field, with values out of range
CYBER_HIGH = "domains.cyber.thresholds.high"
SUITE = {"evals": ["cyber_knowledge", "bio_knowledge"], "attempts": 10}
BAD: list[tuple[str, Any, str]] = [
    *[("statistics.confidence", v, "statistics.confidence") for v in (NAN, INF, 1.0, 0.5, 95)],
    *[("evidence.max_unparsed_fraction", v, "evidence.max_unparsed_fraction") for v in (NAN, INF, 1.5, -0.1)],
    *[("evidence.max_option_share", v, "evidence.max_option_share") for v in (NAN, 0.0, 1.5)],
    *[("evals.cyber_knowledge.chance", v, "evals.cyber_knowledge.chance") for v in (NAN, -INF, 1.0, -0.1)],
    *[(f"{CYBER_HIGH}.when.at_least", v, f"{CYBER_HIGH}.when.at_least") for v in (NAN, INF, 1.5, -0.1, 70)],
    *[(f"{CYBER_HIGH}.alert.at_least", v, f"{CYBER_HIGH}.alert.at_least") for v in (NAN, -INF, 1.01)],
    *[
        (f"{CYBER_HIGH}.when", {"eval": "cyber_knowledge", "at_most": v}, f"{CYBER_HIGH}.when.at_most")
        for v in (NAN, INF, 1.5, -0.1)
    ],
    *[
        (
            f"{CYBER_HIGH}.when",
            {
                "any": [
                    {"eval": "cyber_knowledge", "at_least": 0.5},
                    {"not": {"eval": "bio_knowledge", "at_most": v}},
                ]
            },
            f"{CYBER_HIGH}.when.any[1].not.at_most",
        )
        for v in (NAN, 2.0)
    ],
    *[
        (
            f"{CYBER_HIGH}.when",
            {"suite": {**SUITE, "at_least_fraction": v}},
            f"{CYBER_HIGH}.when.suite.at_least_fraction",
        )
        for v in (NAN, INF, 0.0, 1.5)
    ],
    *[
        (
            f"{CYBER_HIGH}.when",
            {"relative": {"to": "reference", "evals": ["cyber_knowledge"], "margin": v}},
            f"{CYBER_HIGH}.when.relative.margin",
        )
        for v in (NAN, INF, 1.0, -0.01)
    ],
    *[
        (
            "elicitation.max_post_training_compute_fraction",
            v,
            "elicitation.max_post_training_compute_fraction",
        )
        for v in (NAN, 0.0, 1.5)
    ],
    *[
        ("elicitation.budget_per_attempt_usd", v, "elicitation.budget_per_attempt_usd")
        for v in (NAN, INF, 0.0)
    ],
    *[
        ("responses.3.if", {"effective_compute_at_least": v}, "responses[3].if.effective_compute_at_least")
        for v in (NAN, INF, 0.0, -1e26)
    ],
    *[
        ("responses.3.if", {"training_compute_at_least": v}, "responses[3].if.training_compute_at_least")
        for v in (NAN, INF)
    ],
    *[
        ("cadence.every_effective_compute_multiple", v, "cadence.every_effective_compute_multiple")
        for v in (NAN, INF, 1.0, 0.5)
    ],
    *[("cadence.post_training_months", v, "cadence.post_training_months") for v in (NAN, INF, 0.0)],
    *[
        ("cadence.buffer", {"effective_compute_multiple": v}, "cadence.buffer.effective_compute_multiple")
        for v in (NAN, INF, 1.0)
    ],
    *[("cadence.buffer", {"months": v}, "cadence.buffer.months") for v in (NAN, INF, 0.0)],
    *[
        ("commitments.periodic_review.every_months", v, "commitments.periodic_review.every_months")
        for v in (NAN, INF, 0.0)
    ],
    *[("governance.changes.notice_days", v, "governance.changes.notice_days") for v in (36_501, -1, 10**30)],
    *[("statistics.sequential_seed", v, "statistics.sequential_seed") for v in (-1, 2**63)],
    *[("evals.cyber_knowledge.args.temperature", v, "evals.cyber_knowledge.args") for v in (NAN, INF)],
    ("evals.cyber_knowledge.args.weights", [1.0, [2.0, NAN]], "evals.cyber_knowledge.args"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD, ids=[f"{p}={v!r}"[:80] for p, v, _ in BAD])
def test_out_of_range_numbers_are_refused_with_the_field_named(path: str, value: Any, field: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(_with(path, value), "bounds.yaml")
    named = [p for p in info.value.problems if f": field {field}: " in p]
    assert named, info.value.problems
    assert all(p.startswith("line ") and "line 1:" not in p for p in named), named


def test_a_proportion_written_as_a_percentage_says_how_to_write_it() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(_with(f"{CYBER_HIGH}.when.at_least", 70), "bounds.yaml")
    [problem] = info.value.problems
    assert problem.endswith(
        f"field {CYBER_HIGH}.when.at_least: Input should be less than or equal to 1 (got 70); "
        "a proportion is written from 0 to 1 (0.7, not 70)"
    )


def test_nan_names_itself() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(_with(f"{CYBER_HIGH}.when.at_least", NAN), "bounds.yaml")
    [problem] = info.value.problems
    assert problem.endswith("Input should be a finite number (got nan)")


GOOD: list[tuple[str, Any]] = [
    (f"{CYBER_HIGH}.when.at_least", 1.0),
    (f"{CYBER_HIGH}.when.at_least", 1),  # an integer is a number too
    (f"{CYBER_HIGH}.alert.at_least", 0.0),
    (f"{CYBER_HIGH}.when", {"eval": "cyber_knowledge", "at_most": 0.0}),
    ("evidence.max_unparsed_fraction", 0.0),
    ("evidence.max_unparsed_fraction", 1.0),
    ("evals.cyber_knowledge.chance", 0.0),
    ("evals.cyber_knowledge.chance", 0.999),
    ("responses.3.if", {"effective_compute_at_least": 1e26}),
    ("responses.3.if", {"training_compute_at_least": 10**27}),
    ("cadence.every_effective_compute_multiple", 1.5),
    ("governance.changes.notice_days", 36_500),
    ("statistics.sequential_seed", 2**63 - 1),
    ("evals.cyber_knowledge.args.temperature", 1e300),
]


@pytest.mark.parametrize(("path", "value"), GOOD, ids=[f"{p}={v!r}" for p, v in GOOD])
def test_numbers_at_the_edges_of_their_range_load(path: str, value: Any) -> None:
    parse_policy(_with(path, value))
