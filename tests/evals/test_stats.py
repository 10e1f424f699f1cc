"""Intervals for proportions and the three-state comparison a gate reads.

Reference values are computed by hand (closed forms), not by calling the code under test:
  z(95%) = 1.959964, z^2 = 3.841459
  Wilson 5/10:   centre 0.5, half-width z*sqrt(0.025 + z^2/400)/(1 + z^2/10) = 0.263407
  Wilson 0/10:   upper = z^2/(n + z^2) = 3.841459/13.841459 = 0.277533
  Wilson 10/10:  lower = n/(n + z^2)   = 10/13.841459        = 0.722467
  Wilson 0/10 at 99% (z = 2.575829): upper = 6.634897/16.634897 = 0.398854
  Clopper-Pearson 0/10:  upper = 1 - 0.025**(1/10) = 0.308497
  Clopper-Pearson 10/10: lower = 0.025**(1/10)     = 0.691503
  Clopper-Pearson 5/10:  [0.187086, 0.812914] (bisection on the binomial CDF; standard tables)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalegate.evals.stats import (
    ComparisonState,
    Estimate,
    clopper_pearson_interval,
    compare,
    estimate_proportion,
    wilson_interval,
)

TOL = 1e-4
Z95 = 1.959963984540054


# --- Wilson -------------------------------------------------------------------------------------


def test_wilson_half_of_ten_matches_hand_computation() -> None:
    low, high = wilson_interval(5, 10, 0.95)
    assert low == pytest.approx(0.2366, abs=TOL)
    assert high == pytest.approx(0.7634, abs=TOL)


def test_wilson_zero_successes_has_zero_lower_and_closed_form_upper() -> None:
    low, high = wilson_interval(0, 10, 0.95)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(Z95**2 / (10 + Z95**2), abs=TOL)
    assert high == pytest.approx(0.27754, abs=TOL)


def test_wilson_all_successes_has_closed_form_lower_and_unit_upper() -> None:
    low, high = wilson_interval(10, 10, 0.95)
    assert low == pytest.approx(10 / (10 + Z95**2), abs=TOL)
    assert low == pytest.approx(0.72246, abs=TOL)
    assert high == pytest.approx(1.0, abs=1e-12)


def test_wilson_uses_the_requested_confidence() -> None:
    _, high99 = wilson_interval(0, 10, 0.99)
    assert high99 == pytest.approx(0.398854, abs=TOL)
    # a higher confidence gives a strictly wider interval
    low95, high95 = wilson_interval(30, 100, 0.95)
    low90, high90 = wilson_interval(30, 100, 0.90)
    assert low90 > low95 and high90 < high95


def test_wilson_is_symmetric_under_swapping_successes_and_failures() -> None:
    low, high = wilson_interval(3, 17, 0.95)
    low_mirror, high_mirror = wilson_interval(14, 17, 0.95)
    assert low == pytest.approx(1 - high_mirror, abs=1e-12)
    assert high == pytest.approx(1 - low_mirror, abs=1e-12)


def test_wilson_interval_contains_the_point_estimate_and_narrows_with_n() -> None:
    low_small, high_small = wilson_interval(3, 10)
    low_big, high_big = wilson_interval(300, 1000)
    assert low_small < 0.3 < high_small
    assert low_big < 0.3 < high_big
    assert (high_big - low_big) < (high_small - low_small)


# --- Clopper-Pearson ----------------------------------------------------------------------------


def test_clopper_pearson_zero_successes_upper_is_closed_form() -> None:
    low, high = clopper_pearson_interval(0, 10, 0.95)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 10), abs=TOL)
    assert high == pytest.approx(0.30850, abs=TOL)


def test_clopper_pearson_all_successes_lower_is_closed_form() -> None:
    low, high = clopper_pearson_interval(10, 10, 0.95)
    assert low == pytest.approx(0.025 ** (1 / 10), abs=TOL)
    assert low == pytest.approx(0.69150, abs=TOL)
    assert high == 1.0


def test_clopper_pearson_half_of_ten_matches_tables() -> None:
    low, high = clopper_pearson_interval(5, 10, 0.95)
    assert low == pytest.approx(0.18709, abs=TOL)
    assert high == pytest.approx(0.81291, abs=TOL)


def test_clopper_pearson_is_wider_than_wilson() -> None:
    for k, n in [(1, 10), (5, 10), (30, 100), (97, 100)]:
        w_low, w_high = wilson_interval(k, n)
        cp_low, cp_high = clopper_pearson_interval(k, n)
        assert cp_low <= w_low and cp_high >= w_high, (k, n)


def test_clopper_pearson_bounds_solve_the_binomial_tail_equations() -> None:
    # upper p solves P(X <= k | p) = alpha/2; lower p solves P(X >= k | p) = alpha/2
    k, n = 7, 20
    low, high = clopper_pearson_interval(k, n, 0.95)

    def cdf(j: int, p: float) -> float:
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(j + 1))

    assert cdf(k, high) == pytest.approx(0.025, abs=1e-6)
    assert 1 - cdf(k - 1, low) == pytest.approx(0.025, abs=1e-6)


# --- estimate_proportion ---------------------------------------------------------------------


def test_estimate_proportion_records_value_counts_and_method() -> None:
    est = estimate_proportion(5, 10, method="wilson")
    assert isinstance(est, Estimate)
    assert est.value == 0.5
    assert (est.successes, est.n) == (5, 10)
    assert est.method == "wilson"
    assert est.confidence == 0.95
    assert est.low == pytest.approx(0.2366, abs=TOL)
    assert est.high == pytest.approx(0.7634, abs=TOL)
    # the default is exact (Clopper-Pearson): beta quantiles 0.1871 and 0.8129
    exact = estimate_proportion(5, 10)
    assert exact.method == "clopper_pearson"
    assert (exact.low, exact.high) == (pytest.approx(0.1871, abs=TOL), pytest.approx(0.8129, abs=TOL))


def test_estimate_proportion_uses_clopper_pearson_when_asked() -> None:
    est = estimate_proportion(0, 10, 0.95, "clopper_pearson")
    assert est.method == "clopper_pearson"
    assert est.low == 0.0
    assert est.high == pytest.approx(0.30850, abs=TOL)


# --- input validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [wilson_interval, clopper_pearson_interval])
def test_zero_samples_is_refused(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="at least one sample"):
        fn(0, 0)


@pytest.mark.parametrize("fn", [wilson_interval, clopper_pearson_interval])
@pytest.mark.parametrize(("successes", "n"), [(11, 10), (-1, 10)])
def test_successes_outside_zero_to_n_are_refused(fn, successes: int, n: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"successes must lie in \[0, n\]"):
        fn(successes, n)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_confidence_outside_open_unit_interval_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence must lie in"):
        wilson_interval(5, 10, confidence)
    with pytest.raises(ValueError, match="confidence must lie in"):
        clopper_pearson_interval(5, 10, confidence)


def test_estimate_proportion_propagates_validation() -> None:
    with pytest.raises(ValueError):
        estimate_proportion(0, 0)


# --- compare: the three states ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "threshold", "expected"),
    [
        (0.6, 0.8, 0.5, ComparisonState.crossed),  # whole interval above
        (0.5, 0.8, 0.5, ComparisonState.crossed),  # boundary: low == threshold is crossed
        (0.2, 0.4, 0.5, ComparisonState.below),  # whole interval under
        (0.4, 0.6, 0.5, ComparisonState.inconclusive),  # straddles
        (0.2, 0.5, 0.5, ComparisonState.inconclusive),  # boundary: high == threshold is not below
        (0.4999, 0.6, 0.5, ComparisonState.inconclusive),
    ],
)
def test_compare_at_least(low: float, high: float, threshold: float, expected: ComparisonState) -> None:
    assert compare(low, high, at_least=threshold) is expected


@pytest.mark.parametrize(
    ("low", "high", "threshold", "expected"),
    [
        (0.01, 0.05, 0.1, ComparisonState.crossed),  # whole interval under the ceiling
        (0.01, 0.1, 0.1, ComparisonState.crossed),  # boundary: high == threshold is crossed
        (0.2, 0.4, 0.1, ComparisonState.below),  # whole interval above: ruled out
        (0.05, 0.2, 0.1, ComparisonState.inconclusive),  # straddles
        (0.1, 0.2, 0.1, ComparisonState.inconclusive),  # boundary: low == threshold is not "below"
        (0.05, 0.1001, 0.1, ComparisonState.inconclusive),
    ],
)
def test_compare_at_most(low: float, high: float, threshold: float, expected: ComparisonState) -> None:
    assert compare(low, high, at_most=threshold) is expected


def test_compare_needs_exactly_one_threshold() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        compare(0.1, 0.2)
    with pytest.raises(ValueError, match="exactly one"):
        compare(0.1, 0.2, at_least=0.5, at_most=0.5)


def test_compare_reads_the_interval_not_the_point_estimate() -> None:
    # 55/100 has point estimate 0.55 >= 0.5, but its interval reaches under 0.5
    est = estimate_proportion(55, 100)
    assert est.value >= 0.5
    assert compare(est.low, est.high, at_least=0.5) is ComparisonState.inconclusive


# --- coverage -------------------------------------------------------------------------------------


def _coverage(method, p: float, n: int, trials: int, seed: int) -> float:  # type: ignore[no-untyped-def]
    draws = np.random.default_rng(seed).binomial(n, p, size=trials)
    intervals = {k: method(k, n, 0.95) for k in range(n + 1)}
    hits = sum(intervals[int(k)][0] <= p <= intervals[int(k)][1] for k in draws)
    return hits / trials


def test_wilson_95_percent_coverage_is_near_nominal() -> None:
    # Tolerance: 4000 trials give a Monte-Carlo standard error of about 0.0035. The exact
    # coverage of Wilson at p=0.3, n=100 is 0.9372 (coverage oscillates with n and p), so the
    # band [0.93, 0.97] is about 2 SE from the truth on the low side and 9 SE on the high side;
    # the fixed seed makes the test deterministic.
    cov = _coverage(wilson_interval, 0.3, 100, 4000, seed=20261123)
    assert 0.93 <= cov <= 0.97


def test_clopper_pearson_95_percent_coverage_is_at_least_nominal() -> None:
    # Clopper-Pearson is conservative: exact coverage at p=0.3, n=100 is 0.9625, about 3.6
    # Monte-Carlo SE (0.003) above 0.95 with 4000 trials; the fixed seed makes it deterministic.
    cov = _coverage(clopper_pearson_interval, 0.3, 100, 4000, seed=20261123)
    assert cov >= 0.95
