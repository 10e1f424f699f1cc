"""Paired differences against a margin: seeded simulations of the false `not_higher` rate at a
true difference equal to the margin (paired, unpaired, clustered, sequential), the power gain
of pairing at correlation 0.5, and properties of the intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalegate.evals.paired import (
    Relation,
    newcombe_interval,
    paired_difference,
    planned_pairs,
    planned_unpaired,
    relation,
    sequential_relation,
    tango_interval,
    unpaired_difference,
)

CONFIDENCE = 0.95
ALPHA = (1 - CONFIDENCE) / 2  # the one-sided level each bound errs at


def limit(runs: int, alpha: float = ALPHA) -> float:
    """The level plus 3 Monte Carlo standard errors."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def cells(pa: float, pb: float, rho: float) -> list[float]:
    """P(right, right), P(right, wrong), P(wrong, right), P(wrong, wrong) for accuracies pa, pb
    with per-question correlation rho."""
    sa, sb = pa * (1 - pa), pb * (1 - pb)
    p11 = pa * pb + rho * math.sqrt(sa * sb)
    out = [p11, pa - p11, pb - p11, 1 - pa - pb + p11]
    assert min(out) >= 0
    return out


@pytest.mark.parametrize(
    ("n", "pa", "pb", "rho"),
    [
        (40, 0.6, 0.55, 0.5),
        (200, 0.62, 0.6, 0.3),
        (60, 0.9, 0.85, 0.5),
        (500, 0.5, 0.47, 0.7),
        (120, 0.3, 0.3, 0.0),
    ],
)
def test_paired_false_not_higher_rate_at_the_margin(n: int, pa: float, pb: float, rho: float) -> None:
    """The true difference is exactly the margin: `not_higher` is a false claim, made at most
    at the one-sided level (plus 3 MC standard errors)."""
    rng = np.random.default_rng(20261206)
    runs = 3000
    margin = pa - pb
    counts = rng.multinomial(n, cells(pa, pb, rho), size=runs)
    wrong = sum(
        relation(*tango_interval(c[1], c[2], n, CONFIDENCE), margin) is Relation.not_higher for c in counts
    )
    assert wrong / runs <= limit(runs)


@pytest.mark.parametrize(
    ("n_a", "n_b", "pa", "pb"), [(80, 80, 0.6, 0.55), (300, 150, 0.4, 0.35), (50, 200, 0.85, 0.8)]
)
def test_unpaired_false_not_higher_rate_at_the_margin(n_a: int, n_b: int, pa: float, pb: float) -> None:
    rng = np.random.default_rng(7)
    runs = 3000
    margin = pa - pb
    sa, sb = rng.binomial(n_a, pa, runs), rng.binomial(n_b, pb, runs)
    wrong = sum(
        relation(*newcombe_interval(a, n_a, b, n_b, CONFIDENCE), margin) is Relation.not_higher
        for a, b in zip(sa, sb, strict=True)
    )
    assert wrong / runs <= limit(runs)


def _clustered(
    rng: np.random.Generator, clusters: int, size: int, pa: float, pb: float
) -> tuple[list, list, list]:
    """Questions in clusters sharing a passage: within a cluster, the model's accuracy moves
    by +-0.15 together (so its differences correlate); the mean difference stays pa - pb."""
    model, reference, labels = [], [], []
    for c in range(clusters):
        shift = 0.15 if rng.random() < 0.5 else -0.15
        for _ in range(size):
            cell = rng.choice(4, p=cells(pa + shift, pb, 0.4))
            model.append(int(cell in (0, 1)))
            reference.append(int(cell in (0, 2)))
            labels.append(f"c{c}")
    return model, reference, labels


@pytest.mark.parametrize(("clusters", "size"), [(12, 10), (40, 5)])
def test_clustered_paired_false_not_higher_rate_at_the_margin(clusters: int, size: int) -> None:
    """Clustered questions counted as independent would be overconfident; the design effect
    and the small-cluster correction keep the false claim at the level."""
    rng = np.random.default_rng(11)
    runs = 1500
    pa, pb = 0.6, 0.55
    wrong = naive = 0
    for _ in range(runs):
        model, reference, labels = _clustered(rng, clusters, size, pa, pb)
        wrong += (
            paired_difference(model, reference, CONFIDENCE, labels).relation(pa - pb) is Relation.not_higher
        )
        naive += paired_difference(model, reference, CONFIDENCE).relation(pa - pb) is Relation.not_higher
    assert wrong / runs <= limit(runs)
    assert naive / runs > wrong / runs  # ignoring the clusters claims more: the correction matters


def test_sequential_false_not_higher_rate_at_the_margin_watched_after_every_pair() -> None:
    """Read after every pair up to 400, stopping at the first decision: Ville's bound holds."""
    rng = np.random.default_rng(3)
    runs, n, alpha = 2000, 400, ALPHA
    pa, pb = 0.6, 0.55
    draws = rng.choice(4, p=cells(pa, pb, 0.5), size=(runs, n))
    diffs = np.where(draws == 1, 1, np.where(draws == 2, -1, 0))
    wrong = sum(sequential_relation(list(d), pa - pb, alpha).relation is Relation.not_higher for d in diffs)
    assert wrong / runs <= limit(runs, alpha)


def test_sequential_decides_early_when_the_model_is_well_below_the_margin() -> None:
    rng = np.random.default_rng(5)
    draws = rng.choice(4, p=cells(0.5, 0.6, 0.5), size=2000)
    diffs = list(np.where(draws == 1, 1, np.where(draws == 2, -1, 0)))
    result = sequential_relation(diffs, 0.02, ALPHA)
    assert result.relation is Relation.not_higher and result.n < 2000
    assert result.log_capital_not_higher >= math.log(1 / ALPHA)


def test_pairing_at_correlation_half_needs_at_least_30_percent_fewer_samples() -> None:
    """At rho = 0.5, p = 0.6 for both, margin 0.03: the planned paired n reaches 80% power in
    simulation, and the unpaired test at that n per model does not."""
    rng = np.random.default_rng(17)
    p, rho, margin = 0.6, 0.5, 0.03
    n_paired = planned_pairs(p, p, rho, margin, ALPHA)
    n_unpaired = planned_unpaired(p, p, margin, ALPHA)
    assert n_paired <= 0.7 * n_unpaired
    runs = 600
    counts = rng.multinomial(n_paired, cells(p, p, rho), size=runs)
    power = np.mean(
        [relation(*tango_interval(c[1], c[2], n_paired), margin) is Relation.not_higher for c in counts]
    )
    assert power >= 0.8 - 3 * math.sqrt(0.16 / runs)
    sa, sb = rng.binomial(n_paired, p, runs), rng.binomial(n_paired, p, runs)
    unpaired = np.mean(
        [
            relation(*newcombe_interval(a, n_paired, b, n_paired), margin) is Relation.not_higher
            for a, b in zip(sa, sb, strict=True)
        ]
    )
    assert unpaired < 0.65  # the same samples, unpaired, fall well short of 80%


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 400), data=st.data(), confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_tango_interval_properties(n: int, data: st.DataObject, confidence: float) -> None:
    n10 = data.draw(st.integers(0, n))
    n01 = data.draw(st.integers(0, n - n10))
    low, high = tango_interval(n10, n01, n, confidence)
    d = (n10 - n01) / n
    assert -1 <= low <= d <= high <= 1
    mirrored = tango_interval(n01, n10, n, confidence)  # swapping the models mirrors the interval
    assert mirrored == pytest.approx((-high, -low), abs=1e-9)
    wider = tango_interval(n10, n01, n, min(0.999, confidence + 0.009))
    assert wider[0] <= low + 1e-12 and wider[1] >= high - 1e-12
    if n10 < n - n01:  # one more (right, wrong) pair never lowers either bound
        up = tango_interval(n10 + 1, n01, n, confidence)
        assert up[0] >= low - 1e-9 and up[1] >= high - 1e-9


def test_clusters_never_narrow_and_one_cluster_says_little() -> None:
    rng = np.random.default_rng(2)
    model = list(rng.integers(0, 2, 80))
    reference = list(rng.integers(0, 2, 80))
    plain = paired_difference(model, reference)
    labels = [f"c{i // 8}" for i in range(80)]
    clustered = paired_difference(model, reference, clusters=labels)
    assert clustered.low <= plain.low and clustered.high >= plain.high and clustered.clusters == 10
    one = paired_difference(model, reference, clusters=["all"] * 80)
    assert one.high - one.low > 0.9  # one cluster: its spread cannot be estimated


def test_ties_and_bad_input_fail_closed() -> None:
    assert relation(-0.2, 0.02, 0.02) is Relation.inconclusive  # an upper bound at the margin shows nothing
    assert relation(0.02, 0.3, 0.02) is Relation.inconclusive
    for bad in (
        lambda: paired_difference([1, 0], [1]),
        lambda: paired_difference([2], [1]),
        lambda: paired_difference([], []),
    ):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="not below the margin"):
        planned_pairs(0.6, 0.5, 0.5, 0.05, ALPHA)
    with pytest.raises(ValueError):
        sequential_relation([1, 2], 0.0, ALPHA)
    un = unpaired_difference(60, 100, 55, 120)
    assert not un.paired and un.method == "newcombe" and un.n_reference == 120
    paired = paired_difference([1] * 60 + [0] * 40, [1] * 55 + [0] * 45)
    assert paired.high - paired.low < un.high - un.low  # the same accuracies, paired, are read tighter
    # runs over one dataset whose pairs cannot be matched: the union bound holds whatever their
    # correlation, and is wider than Newcombe's, which assumes independence
    dep = unpaired_difference(60, 100, 55, 120, dependent=True)
    assert dep.method == "wilson_union" and dep.low < un.low and dep.high > un.high
