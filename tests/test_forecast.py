"""Capability forecasts: the fitted curve, its fallback, and whether the crossing interval covers."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from scalegate.forecast import Crossing, Point, fit_curve, plot, project_crossing

DOUBLING = math.log10(2)


def logistic(x: float, a: float, b: float, floor: float, ceiling: float = 1.0) -> float:
    return floor + (ceiling - floor) / (1 + math.exp(-a * (x - b)))


def exact_points(xs: list[float], a: float, b: float, floor: float, n: int = 1_000_000) -> list[Point]:
    """Counts as close to the curve as integers allow: noise-free data."""
    return [Point(10**x, round(n * logistic(x, a, b, floor)), n) for x in xs]


def test_fit_recovers_known_parameters_on_noise_free_data() -> None:
    xs = [22 + DOUBLING * i for i in range(6)]
    fit = fit_curve(exact_points(xs, a=2.0, b=23.0, floor=0.25), floor=0.25)
    assert fit.kind == "logistic"
    a, b = fit.params
    assert a == pytest.approx(2.0, rel=1e-3)
    assert b == pytest.approx(23.0, abs=1e-3)
    assert fit.predict(1e23) == pytest.approx(0.625, abs=1e-4)


def test_fit_recovers_a_curve_with_a_ceiling_below_one() -> None:
    xs = [22 + DOUBLING * i for i in range(6)]
    points = [Point(10**x, round(1e6 * logistic(x, 3.0, 22.8, 0.1, 0.9)), 10**6) for x in xs]
    fit = fit_curve(points, floor=0.1, ceiling=0.9)
    assert fit.params == pytest.approx((3.0, 22.8), rel=1e-3)


def test_prediction_is_monotone_in_compute() -> None:
    rng = np.random.default_rng(7)
    xs = [22 + DOUBLING * i for i in range(6)]
    for points in (
        [Point(10**x, int(rng.binomial(200, logistic(x, 1.5, 23.2, 0.25))), 200) for x in xs],
        [Point(10**x, s, 200) for x, s in zip(xs, [90, 60, 70, 55, 52, 50], strict=True)],  # falling data
        [Point(1e22, 80, 200), Point(4e22, 60, 200)],  # fallback, falling data
    ):
        fit = fit_curve(points, floor=0.25)
        preds = [fit.predict(10**x) for x in np.linspace(20, 27, 200)]
        assert all(later >= earlier for earlier, later in pairwise(preds))
        assert all(0.25 <= p <= 1.0 for p in preds)


@pytest.mark.parametrize("count", [2, 3])
def test_fallback_is_used_with_two_or_three_points(count: int) -> None:
    xs = [22 + DOUBLING * i for i in range(count)]
    fit = fit_curve(exact_points(xs, a=2.0, b=22.5, floor=0.25, n=200), floor=0.25)
    assert fit.kind == "logit_linear"
    slope, _ = fit.params
    assert slope == pytest.approx(2.0, rel=0.1)  # same curve family: the slope is the logistic's
    assert fit.compute_at(0.625) == pytest.approx(10**22.5, rel=0.2)


def test_fallback_is_used_when_the_logistic_is_degenerate() -> None:
    # At chance everywhere: the likelihood runs off to a flat curve, no midpoint to speak of.
    points = [Point(1e22 * 2**i, 50, 200) for i in range(6)]
    fit = fit_curve(points, floor=0.25)
    assert fit.kind == "logit_linear"
    assert fit.params[0] == 0.0
    assert fit.compute_at(0.5) is None


def test_four_good_points_get_the_logistic() -> None:
    xs = [22 + DOUBLING * i for i in range(4)]
    assert fit_curve(exact_points(xs, a=2.0, b=22.5, floor=0.25, n=200), floor=0.25).kind == "logistic"


def test_already_crossed_when_the_last_point_is_clearly_above() -> None:
    points = [Point(1e22, 80, 200), Point(2e22, 110, 200), Point(4e22, 150, 200), Point(8e22, 185, 200)]
    crossing = project_crossing(points, 0.8, floor=0.25, n_boot=100)
    assert crossing.already_crossed
    assert "already crossed" in crossing.note
    assert crossing.median is not None and crossing.median <= 8e22  # the curve crossed inside the data


def test_a_point_straddling_the_threshold_is_not_already_crossed() -> None:
    points = [Point(1e22, 80, 200), Point(2e22, 110, 200), Point(4e22, 140, 200), Point(8e22, 165, 200)]
    assert not project_crossing(points, 0.8, floor=0.25, n_boot=100).already_crossed  # 0.825, low 0.78


def test_no_crossing_is_projected_for_a_flat_curve_at_chance() -> None:
    points = [Point(1e22 * 2**i, 50, 200) for i in range(6)]
    crossing = project_crossing(points, 0.5, floor=0.25, n_boot=100)
    assert crossing.median is None
    assert crossing.high is None
    assert not crossing.already_crossed
    assert "beyond" in crossing.note


def test_nothing_is_projected_beyond_the_horizon() -> None:
    # Rising slowly: at 0.4 decades per ~0.05 of accuracy, 0.95 is far past 10x the last point.
    points = [Point(1e22 * 2**i, s, 400) for i, s in enumerate([100, 104, 108, 112, 116, 120])]
    crossing = project_crossing(points, 0.95, floor=0.25, n_boot=100, horizon=10)
    assert crossing.median is None and crossing.low is None and crossing.high is None
    assert "not projected to cross within 10x" in crossing.note


def test_thresholds_outside_floor_and_ceiling_are_answered_without_fitting() -> None:
    points = [Point(1e22, 60, 200), Point(2e22, 70, 200)]
    assert project_crossing(points, 0.2, floor=0.25).already_crossed
    above = project_crossing(points, 0.95, floor=0.25, ceiling=0.9)
    assert above.median is None and not above.already_crossed and "ceiling" in above.note


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="two or more distinct"):
        fit_curve([Point(1e22, 10, 20), Point(1e22, 12, 20)], floor=0.25)
    with pytest.raises(ValueError, match="successes"):
        Point(1e22, 30, 20)
    with pytest.raises(ValueError, match="floor"):
        fit_curve([Point(1e22, 10, 20), Point(2e22, 12, 20)], floor=0.5, ceiling=0.4)


def test_projection_is_reproducible_for_a_seed() -> None:
    points = [Point(1e22 * 2**i, s, 200) for i, s in enumerate([60, 70, 85, 100, 125, 150])]
    first = project_crossing(points, 0.8, floor=0.25, seed=3)
    assert project_crossing(points, 0.8, floor=0.25, seed=3) == first
    assert first.low is not None and first.median is not None and first.high is not None
    assert first.low < first.median < first.high


# Acceptance: coverage of the interval on curves whose crossing is known.
# (floor, slope per decade, threshold, points, doublings from the last point to the crossing)
SHAPES = [
    (0.25, 2.0, 0.8, 6, 1),  # four-choice MCQ, data from near chance to 0.7
    (0.0, 1.5, 0.6, 6, 1),  # free-response, shallow
    (0.5, 3.0, 0.9, 5, 1),  # binary task, steep
    (0.25, 1.5, 0.9, 6, 1),  # high threshold, data already well up the curve
    (0.0, 3.0, 0.2, 5, 1),  # low threshold on a hard task, data near zero
    (0.25, 1.0, 0.5, 6, 2),  # slow rise, two doublings to go
]
TRIALS_PER_SHAPE = 25
TRUE_CROSSING = 24.0  # log10 FLOP


def test_interval_covers_the_true_crossing_at_its_nominal_level() -> None:
    """The true crossing lies inside the 90% interval in >= 90% of 150 seeded trials.

    Tolerance: none on the rate (>= 0.90 exactly). Containment allows 0.005 decades (about 1%
    of compute) for the grid on which the interval is solved. n_boot=200 instead of 300 for
    speed: the bootstrap test is a Monte Carlo test, so fewer draws widen the interval, they
    cannot make it optimistic. The interval is close to calibrated, not conservative: its
    long-run coverage is about 0.91 (see scalegate.forecast), so on fresh seeds this check
    would pass about two times in three. The seeds below are fixed, were chosen before the
    result was seen, and give 135 of 150: a change that loses one trial fails here.
    """
    hits = trials = 0
    for shape, (floor, slope, threshold, count, gap) in enumerate(SHAPES):
        q = (threshold - floor) / (1 - floor)
        midpoint = TRUE_CROSSING - math.log(q / (1 - q)) / slope
        xs = [TRUE_CROSSING - DOUBLING * (gap + i) for i in reversed(range(count))]
        for trial in range(TRIALS_PER_SHAPE):
            rng = np.random.default_rng([shape, trial])
            points = [
                Point(10**x, int(rng.binomial(200, logistic(x, slope, midpoint, floor))), 200) for x in xs
            ]
            crossing = project_crossing(points, threshold, floor=floor, n_boot=200, seed=trial)
            hits += _covers(crossing, TRUE_CROSSING, tolerance=0.005)
            trials += 1
    assert trials >= 100
    assert hits / trials >= 0.90, f"coverage {hits}/{trials}"


def _covers(crossing: Crossing, truth: float, tolerance: float) -> bool:
    low = math.inf if crossing.low is None else math.log10(crossing.low)  # None: beyond the horizon
    high = math.inf if crossing.high is None else math.log10(crossing.high)
    return low - tolerance <= truth <= high + tolerance


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    xs = [22 + DOUBLING * i for i in range(6)]
    series = {
        "model A": [Point(10**x, int(rng.binomial(200, logistic(x, 2.0, 23.3, 0.25))), 200) for x in xs],
        "model B": [Point(10**x, int(rng.binomial(200, logistic(x, 1.2, 24.0, 0.25))), 200) for x in xs[:3]],
        "one point": [Point(1e22, 60, 200)],
    }
    out = plot(series, {"threshold": 0.8, "alert": 0.6}, tmp_path / "forecast.png", floor=0.25, title="t")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000
