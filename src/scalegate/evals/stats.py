"""Intervals for proportions and the three-state comparison of an interval with a threshold.

A gate reads the interval, never the point estimate: `crossed` means the lower bound (for
`at_least`) is at or above the threshold, `below` means the upper bound is under it, and
anything else is `inconclusive`. See docs/design/statistics.md.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

IntervalMethod = Literal["wilson", "clopper_pearson"]


class ComparisonState(StrEnum):
    crossed = "crossed"
    below = "below"
    inconclusive = "inconclusive"
    unknown = "unknown"  # no usable evidence at all


class Estimate(BaseModel):
    """A proportion with its sample count and two-sided interval at `confidence`."""

    model_config = ConfigDict(frozen=True)

    value: float
    successes: int
    n: int
    low: float
    high: float
    confidence: float
    method: IntervalMethod


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - confidence) / 2))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval: good coverage near 0 and 1 where the normal interval fails."""
    _check(successes, n, confidence)
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (conservative) binomial interval from beta quantiles."""
    from scipy.stats import beta

    _check(successes, n, confidence)
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return low, high


def estimate_proportion(
    successes: int, n: int, confidence: float = 0.95, method: IntervalMethod = "wilson"
) -> Estimate:
    fn = wilson_interval if method == "wilson" else clopper_pearson_interval
    low, high = fn(successes, n, confidence)
    return Estimate(
        value=successes / n,
        successes=successes,
        n=n,
        low=low,
        high=high,
        confidence=confidence,
        method=method,
    )


def compare(
    low: float, high: float, *, at_least: float | None = None, at_most: float | None = None
) -> ComparisonState:
    """Compare an interval with a threshold; exactly one of `at_least`, `at_most`."""
    if (at_least is None) == (at_most is None):
        raise ValueError("give exactly one of at_least, at_most")
    if at_least is not None:
        if low >= at_least:
            return ComparisonState.crossed
        if high < at_least:
            return ComparisonState.below
        return ComparisonState.inconclusive
    assert at_most is not None
    if high <= at_most:
        return ComparisonState.crossed
    if low > at_most:
        return ComparisonState.below
    return ComparisonState.inconclusive


def _check(successes: int, n: int, confidence: float) -> None:
    if n <= 0:
        raise ValueError("an interval needs at least one sample")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
