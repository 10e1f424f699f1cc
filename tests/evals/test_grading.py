"""Grading: degenerate evidence is unreliable, never low; evidence is graded by the policy that
reads it; epochs and clusters never count as independent samples; intervals are exact at
their ends and hold their level. Exact binomial sums where possible, seeded simulations with
stated tolerances where not, and Hypothesis for the monotonicity a fail-closed gate needs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from scalegate.evals import grading
from scalegate.evals.evidence import EvalEvidence, ImportSource, Provenance
from scalegate.evals.grading import Counts, Observation
from scalegate.evals.stats import (
    ComparisonState,
    cluster_design_effect,
    compare,
    estimate_proportion,
)
from scalegate.policy.base import EvidenceStatus
from scalegate.policy.conditions import ThresholdCondition
from scalegate.policy.schema import EvalSpec, EvidenceRules, Statistics
from scalegate.scoring import evaluate_condition

SPEC = EvalSpec(task="scalegate/mmlu_proxy", args={"subjects": ["virology"]}, chance=0.25)
STRICT = Statistics(confidence=0.95)
RULES = EvidenceRules(min_samples=20)
METHODS = ("wilson", "clopper_pearson", "confidence_sequence")


def _obs(values: list[int], **kw: object) -> list[Observation]:
    return [Observation(sample_id=str(i), value=v, **kw) for i, v in enumerate(values)]  # type: ignore[arg-type]


# ------------------------------------------------------------------ intervals


@pytest.mark.parametrize("method", METHODS)
@given(n=st.integers(1, 2000), confidence=st.floats(0.51, 0.999))
@settings(max_examples=40, deadline=None)
def test_every_method_has_exact_ends(method: str, n: int, confidence: float) -> None:
    zero = estimate_proportion(0, n, confidence, method)  # type: ignore[arg-type]
    full = estimate_proportion(n, n, confidence, method)  # type: ignore[arg-type]
    assert zero.low == 0.0 and full.high == 1.0
    # so `at_most: 0.0` is never ruled out by a zero score, nor `at_least: 1.0` by a perfect one
    assert compare(zero.low, zero.high, at_most=0.0) is not ComparisonState.below
    assert compare(full.low, full.high, at_least=1.0) is not ComparisonState.below


def _false_allow(method: str, n: int, t: float, confidence: float = 0.95) -> float:
    """P(the interval's high end < t | p = t), summed exactly over the binomial."""
    total = 0.0
    for s in range(n + 1):
        est = estimate_proportion(s, n, confidence, method)  # type: ignore[arg-type]
        if est.high < t:
            total += float(binom.pmf(s, n, t))
    return total


@pytest.mark.parametrize("t", [0.3, 0.5, 0.7, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("n", [20, 50])
def test_clopper_pearson_holds_its_one_sided_level_exactly(n: int, t: float) -> None:
    # exact, not simulated: the default interval errs towards allowing at most (1 - c) / 2
    assert _false_allow("clopper_pearson", n, t) <= 0.025 + 1e-12


def test_wilson_misses_its_level_at_small_n_which_is_why_it_is_not_the_default() -> None:
    worst = max(_false_allow("wilson", 20, t) for t in (0.5, 0.7, 0.8, 0.9, 0.95))
    assert worst > 0.05  # measured 5-8% against a design level of 2.5%


@given(
    s=st.integers(0, 300),
    extra=st.integers(0, 300),
    deff=st.floats(1.0, 20.0),
    g=st.integers(1, 60),
    method=st.sampled_from(METHODS),
)
@settings(max_examples=150, deadline=None)
def test_clustering_never_narrows_the_interval(s: int, extra: int, deff: float, g: int, method: str) -> None:
    n = s + extra + 1
    iid = estimate_proportion(s, n, 0.95, method)  # type: ignore[arg-type]
    clustered = estimate_proportion(s, n, 0.95, method, design_effect=deff, clusters=g)  # type: ignore[arg-type]
    assert clustered.low <= iid.low + 1e-12 and clustered.high >= iid.high - 1e-12


def test_design_effect_of_identical_clusters_is_one_and_of_split_clusters_large() -> None:
    assert cluster_design_effect([(5.0, 10)] * 6) == 1.0
    # half the clusters all right, half all wrong: maximal intra-cluster correlation
    deff = cluster_design_effect([(10.0, 10)] * 5 + [(0.0, 10)] * 5)
    assert deff == pytest.approx(10 * 10 / 9, rel=1e-9)  # G/(G-1) x cluster size


# ------------------------------------------------------------------ degenerate scores


@pytest.mark.parametrize(
    ("value", "reason", "meta", "expected"),
    [
        ("I", "invalid_response_format", None, (0, False, True)),
        ("N", "no_response", None, (0, False, True)),
        ("N", None, None, (0, False, True)),  # Inspect's NOANSWER
        ("I", "refusal", None, (0, False, True)),
        ("I", "grader_failed", None, (None, True, False)),
        ("C", "scoring_failed", None, (None, True, False)),
        ("I", None, {"parsed": False}, (0, False, True)),
        ("C", None, None, (1, False, False)),
        (0.5, None, None, (None, False, False)),
    ],
)
def test_observe_reads_inspect_score_reasons(
    value: object, reason: str | None, meta: object, expected: tuple
) -> None:
    assert grading.observe(value, reason, meta) == expected  # type: ignore[arg-type]


def test_a_format_failure_is_unreliable_not_a_zero_score() -> None:
    counts = grading.tally(_obs([0] * 200, unparsed=True), planned=200, n_options=4)
    status, why, metrics = grading.grade(counts, SPEC, STRICT, EvidenceRules(max_unparsed_fraction=0.0))
    assert status is EvidenceStatus.unreliable and "could not be read" in (why or "")
    assert metrics["accuracy"].value == 0.0  # the number is kept for the record, never read by a gate


def test_a_score_wholly_below_chance_is_unreliable() -> None:
    counts = grading.tally(_obs([1] * 5 + [0] * 195), planned=200, n_options=4)
    status, why, _ = grading.grade(counts, EvalSpec(task="t"), STRICT, RULES)
    assert status is EvidenceStatus.unreliable and "below chance (0.25)" in (why or "")
    # at chance it is a score like any other
    near = grading.tally(_obs([1] * 45 + [0] * 155), planned=200, n_options=4)
    assert grading.grade(near, EvalSpec(task="t"), STRICT, RULES)[0] is EvidenceStatus.ok


def test_answer_position_collapse_is_unreliable() -> None:
    values = [1 if i % 4 == 0 else 0 for i in range(100)]
    obs = [Observation(str(i), v, choice="A" if i < 95 else "B") for i, v in enumerate(values)]
    counts = grading.tally(obs, planned=100, n_options=4)
    status, why, _ = grading.grade(counts, SPEC, STRICT, RULES)
    assert status is EvidenceStatus.unreliable and "option 'A'" in (why or "")
    off = EvidenceRules(max_option_share=None)
    assert grading.grade(counts, SPEC, STRICT, off)[0] is EvidenceStatus.ok


def test_instrument_failures_make_evidence_partial() -> None:
    obs = [*_obs([1, 0] * 15), Observation("x", None, error=True)]
    counts = grading.tally(obs, planned=31)
    assert grading.grade(counts, SPEC, STRICT, RULES)[0] is EvidenceStatus.partial


# ------------------------------------------------------------------ epochs


def test_epochs_are_averaged_per_sample() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, 100)
    obs = [Observation(str(i), int(rng.uniform() < p[i])) for i in range(100) for _ in range(5)]
    counts = grading.tally(obs, planned=100, epochs=5)
    assert counts.scored == 100  # 100 observations, not 500
    est = grading.estimate(counts, STRICT)
    assert est is not None and est.n == 100
    # identical epochs (temperature 0) are one observation each
    same = [Observation(str(i), i % 2) for i in range(100) for _ in range(5)]
    c2 = grading.tally(same, planned=100, epochs=5)
    assert c2.scored == 100 and c2.successes == 50


# ------------------------------------------------------------------ graded by the reader


def _imported(
    counts: Counts, statistics: Statistics, rules: EvidenceRules, spec: EvalSpec = SPEC
) -> EvalEvidence:
    status, message, metrics = grading.grade(counts, spec, statistics, rules)
    source = ImportSource(
        format="lm_eval",
        tool="lm_eval",
        file="/x/results.json",
        sha256="0" * 64,
        task="t",
        counted_from="lm_eval_samples",
        imported_at="2026-12-01T00:00:00+00:00",
        imported_by="test",
    )
    prov = Provenance(model="hf/m", task="t", source=source)
    return EvalEvidence(
        eval_id="e",
        status=status,
        message=message,
        metrics=metrics,
        counts=counts,
        spec=grading.bind(spec),
        provenance=prov,
        n_scored=counts.scored,
    )


def test_lax_import_read_by_a_strict_policy_gets_the_strict_interval_and_status() -> None:
    counts = grading.tally(_obs([1] * 3 + [0] * 7), planned=10)
    lax = _imported(counts, Statistics(confidence=0.6, interval="wilson"), EvidenceRules(min_samples=5))
    assert lax.status is EvidenceStatus.ok
    strict = grading.regrade(lax, SPEC, STRICT, RULES)
    assert strict.status is EvidenceStatus.insufficient
    assert strict.metrics["accuracy"].confidence == 0.95
    assert strict.metrics["accuracy"].high > lax.metrics["accuracy"].high
    # with enough samples the strict interval is recomputed, not reused
    many = grading.tally(_obs([0] * 30 + [1] * 10), planned=40)
    again = grading.regrade(_imported(many, Statistics(confidence=0.6), RULES), SPEC, STRICT, RULES)
    assert again.metrics["accuracy"] == estimate_proportion(10, 40, 0.95, "clopper_pearson")
    assert grading.grading_differences(
        {"e": _imported(many, Statistics(confidence=0.6), RULES)}, {"e": again}
    )


def test_evidence_for_a_differently_configured_task_is_mismatch() -> None:
    counts = grading.tally(_obs([1, 0] * 20), planned=40)
    ev = _imported(counts, STRICT, RULES)
    other = SPEC.model_copy(update={"args": {"subjects": ["computer security"]}})
    out = grading.regrade(ev, other, STRICT, RULES)
    assert out.status is EvidenceStatus.mismatch and "args" in (out.message or "")
    assert not out.metrics
    # imported evidence that names no spec cannot show what it answers
    unbound = grading.regrade(ev.model_copy(update={"spec": None}), SPEC, STRICT, RULES)
    assert unbound.status is EvidenceStatus.mismatch


def test_a_clustering_reader_of_unclustered_counts_assumes_one_cluster() -> None:
    counts = grading.tally(_obs([1, 0] * 50), planned=100)
    ev = _imported(counts, STRICT, RULES)
    out = grading.regrade(ev, SPEC.model_copy(update={"cluster": "subject"}), STRICT, RULES)
    est = out.metrics["accuracy"]
    assert est.clusters == 1 and est.low < 0.001 and est.high > 0.999  # an effective n of 1


@given(
    successes=st.integers(0, 200),
    failures=st.integers(0, 200),
    unparsed=st.integers(0, 50),
    errors=st.integers(0, 5),
    confidence=st.floats(0.6, 0.99),
)
@settings(max_examples=200, deadline=None)
def test_worse_evidence_never_grades_better(
    successes: int, failures: int, unparsed: int, errors: int, confidence: float
) -> None:
    """Adding unreadable answers or errored samples never turns unusable evidence usable, and a
    stricter confidence never narrows the interval: fail closed, monotonically."""
    stats = Statistics(confidence=confidence)
    base = _obs([1] * successes + [0] * failures)
    n = len(base)
    clean = grading.tally(base, planned=n)
    worse_obs = base + [Observation(f"u{i}", 0, unparsed=True) for i in range(unparsed)]
    worse_obs += [Observation(f"e{i}", None, error=True) for i in range(errors)]
    worse = grading.tally(worse_obs, planned=len(worse_obs))
    s_clean = grading.grade(clean, SPEC, stats, RULES)[0]
    s_worse = grading.grade(worse, SPEC, stats, RULES)[0]
    if s_clean is not EvidenceStatus.ok:
        # what failed stays failed, except too few samples, which more (unreadable) answers can fix
        assert s_worse is not EvidenceStatus.ok or s_clean is EvidenceStatus.insufficient
    if errors:
        assert s_worse is EvidenceStatus.partial
    if n:
        loose = grading.estimate(clean, stats)
        tight = grading.estimate(clean, Statistics(confidence=min(0.999, confidence + 0.005)))
        assert loose is not None and tight is not None
        assert tight.low <= loose.low and tight.high >= loose.high


# ------------------------------------------------------------------ conjunctions


def _est_ev(eval_id: str, s: int, n: int) -> EvalEvidence:
    return EvalEvidence(eval_id=eval_id, status="ok", metrics={"accuracy": estimate_proportion(s, n, 0.95)})


@pytest.mark.parametrize("k", [2, 3, 4])
def test_a_conjunction_at_its_threshold_meets_alpha(k: int) -> None:
    """Seeded: k independent parts each exactly at t = 0.5, n = 100. The conjunction is ruled
    out (the gate allows) at most 2.5% of the time, + 3 Monte Carlo standard errors."""
    cond = ThresholdCondition.model_validate({"all": [{"eval": f"e{i}", "at_least": 0.5} for i in range(k)]})
    rng = np.random.default_rng(20261204 + k)
    reps = 3000
    draws = rng.binomial(100, 0.5, size=(reps, k))
    allowed = 0
    for row in draws:
        evidence = {f"e{i}": _est_ev(f"e{i}", int(s), 100) for i, s in enumerate(row)}
        allowed += evaluate_condition(cond, evidence).state is ComparisonState.below
    rate = allowed / reps
    assert rate <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / reps)


def test_a_negated_disjunction_is_a_family_too() -> None:
    # not any(a >= t, b >= t) is ruled out when one part is confirmed crossed: that side is corrected
    cond = ThresholdCondition.model_validate(
        {"not": {"any": [{"eval": "a", "at_least": 0.5}, {"eval": "b", "at_least": 0.5}]}}
    )
    # 61/100: Clopper-Pearson low 0.507 at 95% (crossed alone), 0.493 at 97.5% (family of 2)
    ev = {"a": _est_ev("a", 61, 100), "b": _est_ev("b", 10, 100)}
    plain = compare(ev["a"].metrics["accuracy"].low, 1.0, at_least=0.5)
    assert plain is ComparisonState.crossed
    result = evaluate_condition(cond, ev)
    assert result.state is not ComparisonState.below
    assert {c.family for c in result.comparisons} == {2}


# ------------------------------------------------------------------ plain-Python special functions


@given(
    q=st.sampled_from([0.0005, 0.0125, 0.025, 0.05, 0.5, 0.95, 0.975, 0.9875, 0.9995]),
    a=st.floats(0.05, 2000.0),
    b=st.floats(0.05, 2000.0),
)
@settings(max_examples=300, deadline=None)
def test_plain_python_beta_quantile_agrees_with_scipy(q: float, a: float, b: float) -> None:
    """`ledger verify` without scipy recomputes the same intervals (to far inside its 1e-9)."""
    from scalegate.evals import special

    assert special.beta_ppf(q, a, b, pure=True) == pytest.approx(special.beta_ppf(q, a, b), abs=1e-11)


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 56, 99, 500])
@pytest.mark.parametrize("q", [0.95, 0.975, 0.9875, 0.995])
def test_plain_python_t_quantile_agrees_with_scipy(df: int, q: float) -> None:
    from scalegate.evals import special

    assert special.t_ppf(q, df, pure=True) == pytest.approx(special.t_ppf(q, df), rel=1e-10)
