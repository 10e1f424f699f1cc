"""Intervals for proportions and the three-state comparison of an interval with a threshold.

A gate reads the interval, never the point estimate: `crossed` means the lower bound (for
`at_least`) is at or above the threshold, `below` means the upper bound is under it, and
anything else is `inconclusive`. See docs/design/statistics.md.

`confidence_sequence` is the interval that stays valid when an eval is watched after every
sample and stopped once it is settled (docs/design/sequential.md): a fixed-n interval such as
Wilson's, read at a data-dependent stopping time, has no coverage guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from scalegate.evals import special

if TYPE_CHECKING:  # numpy loads inside the functions: `ledger verify` runs without it
    import numpy as np
    import numpy.typing as npt

IntervalMethod = Literal["wilson", "clopper_pearson", "confidence_sequence"]
#: Bisection steps for the confidence-sequence bounds: 2**-60 is below double precision.
_CS_STEPS = 60


class ComparisonState(StrEnum):
    crossed = "crossed"
    below = "below"
    inconclusive = "inconclusive"
    unknown = "unknown"  # no usable evidence at all


class Estimate(BaseModel):
    """A proportion with its sample count and two-sided interval at `confidence`."""

    model_config = ConfigDict(frozen=True)

    value: float
    successes: int | float  # whole for correct/incorrect samples; a sum of means after epochs
    n: int
    low: float
    high: float
    confidence: float
    method: IntervalMethod
    # Set when samples are clustered (docs/design/statistics.md): the variance inflation
    # measured over `clusters` groups, which shrinks the effective sample size behind the
    # interval. None: independent samples. Recorded so anyone can recompute the interval.
    design_effect: float | None = None
    clusters: int | None = None

    def at(self, confidence: float) -> Estimate:
        """The same evidence read at another confidence (a family-wise correction)."""
        return estimate_proportion(
            self.successes,
            self.n,
            confidence,
            self.method,
            design_effect=self.design_effect,
            clusters=self.clusters,
            value=self.value,
        )


def _z(confidence: float) -> float:
    return special.norm_ppf(1 - (1 - confidence) / 2)


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval: good coverage near 0 and 1 where the normal interval fails."""
    _check(successes, n, confidence)
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact ends: rounding leaves 3.5e-18 at S = 0 and 1 - 1e-16 at S = n, which would let a
    # zero score rule out `at_most: 0.0` (and a perfect one `at_least: 1.0`)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def clopper_pearson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (conservative) binomial interval from beta quantiles: each end errs with
    probability at most (1 - confidence) / 2 at every n and p. Fractional (S, n) are the
    effective counts of clustered or epoch-averaged samples (Korn & Graubard 1998)."""
    _check(successes, n, confidence)
    alpha = 1 - confidence
    low = 0.0 if successes <= 0 else special.beta_ppf(alpha / 2, successes, n - successes + 1)
    high = 1.0 if successes >= n else special.beta_ppf(1 - alpha / 2, successes + 1, n - successes)
    return low, high


def cs_log_evidence(successes: npt.ArrayLike, n: npt.ArrayLike, p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """log M_n(p): Robbins' beta-binomial mixture martingale against the mean `p`.

    M_n(p) = B(1 + S, 1 + n - S) / (p^S (1 - p)^(n - S)), the likelihood ratio of the data
    under a uniform Beta(1, 1) mixture of alternatives to its likelihood under `p`. For every
    p it is a nonnegative martingale with mean 1 when p is the true mean (Robbins 1970), so by
    Ville's inequality P(M_n(p) >= 1/alpha for some n) <= alpha.
    """
    import numpy as np
    from scipy.special import betaln

    s = np.asarray(successes, dtype=np.float64)
    t = np.asarray(n, dtype=np.float64)
    q = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        loglik = np.where(s > 0, s * np.log(q), 0.0) + np.where(t - s > 0, (t - s) * np.log1p(-q), 0.0)
    return np.asarray(betaln(1.0 + s, 1.0 + t - s) - loglik, dtype=np.float64)


def confidence_sequence_bounds(
    successes: npt.ArrayLike, n: npt.ArrayLike, confidence: float = 0.95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Vectorised confidence-sequence bounds {p : M_n(p) < 1/alpha} for arrays of (S, n).

    log M_n(p) is convex in p with its minimum (<= 0) at p = S/n, so the set is an interval
    around S/n; each end is found by bisection and the excluded side of the last bracket is
    returned, so rounding can only widen the interval. Bounds are time-uniform: with
    probability >= `confidence` the true mean lies in every one of them at once, so they may be
    read after every sample and at any (data-dependent) stopping time.
    """
    import numpy as np

    s = np.asarray(successes, dtype=np.float64)
    t = np.asarray(n, dtype=np.float64)
    s, t = np.broadcast_arrays(s, t)
    if np.any(t <= 0):
        raise ValueError("an interval needs at least one sample")
    if np.any((s < 0) | (s > t)):
        raise ValueError("successes must lie in [0, n]")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    from scipy.special import betaln

    level = math.log(1 / (1 - confidence))
    prior = betaln(1.0 + s, 1.0 + t - s)
    centre = s / t

    def excluded(q: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        loglik = s * np.log(q) + (t - s) * np.log1p(-q)
        return np.asarray(prior - loglik >= level)

    # lower end: 0 is excluded unless S = 0; the centre is always inside
    out_lo, in_lo = np.zeros_like(centre), centre.copy()
    out_hi, in_hi = np.ones_like(centre), centre.copy()
    for _ in range(_CS_STEPS):
        mid = (out_lo + in_lo) / 2
        ex = excluded(np.clip(mid, 1e-300, 1 - 1e-16))
        out_lo, in_lo = np.where(ex, mid, out_lo), np.where(ex, in_lo, mid)
        mid = (out_hi + in_hi) / 2
        ex = excluded(np.clip(mid, 1e-300, 1 - 1e-16))
        out_hi, in_hi = np.where(ex, mid, out_hi), np.where(ex, in_hi, mid)
    low = np.where(s == 0, 0.0, out_lo)
    high = np.where(s == t, 1.0, out_hi)
    return low, high


def confidence_sequence_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Robbins' beta-binomial mixture confidence sequence at sample n (uniform prior).

    Robbins (1970), "Statistical methods related to the law of the iterated logarithm"; Howard,
    Ramdas, McAuliffe & Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic confidence
    sequences", Ann. Statist. 49(2). A function of (successes, n, confidence) alone, like the
    fixed-n intervals, so anyone can recompute it from an Estimate.
    """
    _check(successes, n, confidence)
    # The bisection of `confidence_sequence_bounds` in plain floats: one pair is ~10x faster
    # than through numpy, and agrees with it to rounding (tests check every cell to n = 120).
    s, t = float(successes), float(n)
    level = math.log(1 / (1 - confidence))
    prior = special.betaln(1.0 + s, 1.0 + t - s)

    def excluded(q: float) -> bool:
        q = min(max(q, 1e-300), 1 - 1e-16)
        return prior - (s * math.log(q) + (t - s) * math.log1p(-q)) >= level

    centre = s / t
    out_lo, in_lo, out_hi, in_hi = 0.0, centre, 1.0, centre
    for _ in range(_CS_STEPS):
        mid = (out_lo + in_lo) / 2
        out_lo, in_lo = (mid, in_lo) if excluded(mid) else (out_lo, mid)
        mid = (out_hi + in_hi) / 2
        out_hi, in_hi = (mid, in_hi) if excluded(mid) else (out_hi, mid)
    return (0.0 if successes <= 0 else out_lo), (1.0 if successes >= n else out_hi)


_METHODS = {
    "wilson": wilson_interval,
    "clopper_pearson": clopper_pearson_interval,
    "confidence_sequence": confidence_sequence_interval,
}


def estimate_proportion(
    successes: float,
    n: int,
    confidence: float = 0.95,
    method: IntervalMethod = "clopper_pearson",
    *,
    design_effect: float | None = None,
    clusters: int | None = None,
    value: float | None = None,
) -> Estimate:
    """The interval of `method` at `confidence`; with a design effect, on the effective
    sample (Korn & Graubard 1998): n* = n / deff, shrunk further by (t_{n-1} / t_{G-1})^2 for
    G clusters, the small-cluster correction. Never narrower than the independent interval."""
    _check(successes, n, confidence)
    s_eff, n_eff = float(successes), float(n)
    if design_effect is not None or clusters is not None:
        factor = max(1.0, design_effect or 1.0)
        if clusters is not None and clusters >= 2 and n > 1:
            # a small-cluster correction only ever widens (G > n cannot happen in real data)
            factor *= max(1.0, (_t(confidence, min(clusters, n) - 1) / _t(confidence, n - 1)) ** 2)
        elif clusters is not None:  # one cluster: its spread cannot be estimated at all
            factor = float(n)
        n_eff = max(1.0, n / factor) if n > 1 else float(n)
        s_eff = successes / n * n_eff
    low, high = _METHODS[method](s_eff, n_eff, confidence)
    return Estimate(
        value=successes / n if value is None else value,
        successes=successes,
        n=n,
        low=low,
        high=high,
        confidence=confidence,
        method=method,
        design_effect=design_effect,
        clusters=clusters,
    )


def cluster_design_effect(groups: Sequence[tuple[float, int]]) -> float:
    """Cluster-robust variance of the mean over the binomial one, at least 1.

    `groups`: (sum of per-sample scores, samples) per cluster. The numerator is the CR1
    sandwich estimate G/(G-1) * sum_c (S_c - n_c p)^2 / n^2; the denominator p(1-p)/n. A
    score of exactly 0 or 1 has no within-data spread to measure: 1.
    """
    n = sum(k for _, k in groups)
    g = len(groups)
    if n == 0 or g < 2:
        return 1.0
    p = sum(s for s, _ in groups) / n
    if p <= 0 or p >= 1:
        return 1.0
    robust = g / (g - 1) * sum((s - k * p) ** 2 for s, k in groups) / (n * n)
    return max(1.0, robust / (p * (1 - p) / n))


def _t(confidence: float, df: int) -> float:
    return special.t_ppf(1 - (1 - confidence) / 2, df)


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


def _check(successes: float, n: float, confidence: float) -> None:
    if not n > 0:
        raise ValueError("an interval needs at least one sample")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
