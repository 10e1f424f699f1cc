"""The difference in accuracy between a model and a reference, and whether it stays within a
margin: the statistics behind relative determinations ("similarly safe or safer", "notably
more capable"). See docs/design/relative.md.

When both models answered the same questions, the difference is read pair by pair: frontier
models' per-question scores correlate 0.3-0.7, and the paired variance, p10 + p01 - d^2, is
smaller than the unpaired p_a(1-p_a) + p_b(1-p_b) by twice the covariance. Methods:

- `tango`: Tango's (1998) score interval for a paired difference of proportions, inverted by
  bisection with the restricted maximum-likelihood estimate in closed form. With clusters
  (questions sharing a passage), it is computed on the effective sample, n / deff, the
  design effect measured on the per-cluster differences (CR1) and widened by the small-cluster
  t correction, as `stats.estimate_proportion` does for one proportion.
- `newcombe`: Newcombe's (1998) hybrid score interval for two independent proportions (each
  side's Wilson interval, itself on its effective sample when clustered): the fallback when the
  samples do not match, recorded as unpaired and wider.
- `betting`: an anytime-valid one-sided test for sequential runs, a test supermartingale on
  the paired differences (Waudby-Smith & Ramdas 2024, "Estimating means of bounded random
  variables by betting"), read through Ville's inequality: valid however often it is looked at.

A claim reads a one-sided bound at the policy's one-sided level: `not_higher` (the model is
at most `margin` above the reference) holds only when the interval's upper bound lies below
the margin; `higher` when its lower bound lies above; anything else is `inconclusive`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from scalegate.evals import special
from scalegate.evals.stats import wilson_interval

DifferenceMethod = Literal["tango", "newcombe", "wilson_union", "betting"]
_STEPS = 64


class Relation(StrEnum):
    not_higher = "not_higher"  # shown: at most `margin` above the reference
    higher = "higher"  # shown: more than `margin` above it
    inconclusive = "inconclusive"


class Difference(BaseModel):
    """The model's accuracy minus the reference's, with its two-sided interval."""

    model_config = ConfigDict(frozen=True)

    value: float
    low: float
    high: float
    confidence: float  # two-sided; each bound errs with probability (1 - confidence) / 2
    method: DifferenceMethod
    paired: bool
    n: int  # matched pairs (paired), or the smaller side's samples (unpaired)
    n_reference: int | None = None  # unpaired: the reference's samples
    design_effect: float | None = None
    clusters: int | None = None

    def relation(self, margin: float) -> Relation:
        return relation(self.low, self.high, margin)


def relation(low: float, high: float, margin: float) -> Relation:
    """The three states of a difference interval against a margin; ties fail closed."""
    if high < margin:
        return Relation.not_higher
    if low > margin:
        return Relation.higher
    return Relation.inconclusive


def _z(confidence: float) -> float:
    return special.norm_ppf(1 - (1 - confidence) / 2)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def tango_interval(n10: float, n01: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Tango's score interval for p10 - p01 from n pairs of which n10 are (right, wrong) and
    n01 (wrong, right). Fractional counts are effective counts (a clustered sample)."""
    _check_confidence(confidence)
    if not (n > 0 and n10 >= 0 and n01 >= 0 and n10 + n01 <= n * (1 + 1e-12)):
        raise ValueError(f"paired counts must satisfy 0 <= n10 + n01 <= n, got {n10}, {n01} of {n}")
    z = _z(confidence)
    d = (n10 - n01) / n

    def score(delta: float) -> float:
        """Tango's statistic at delta: decreasing in delta, 0 at the observed difference."""
        a = 2 * n
        b = -n10 - n01 + (2 * n - n10 + n01) * delta
        c = -n01 * delta * (1 - delta)
        q = (-b + math.sqrt(max(0.0, b * b - 4 * a * c))) / (2 * a)
        var = (2 * q + delta - delta * delta) / n
        if var <= 0:
            return math.inf if d > delta else (-math.inf if d < delta else 0.0)
        return (d - delta) / math.sqrt(var)

    def bound(lo: float, hi: float, target: float) -> float:
        # the delta in [lo, hi] where score(delta) == target (score decreasing)
        for _ in range(_STEPS):
            mid = (lo + hi) / 2
            if score(mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = -1.0 if score(-1.0) <= z else bound(-1.0, d, z)
    high = 1.0 if score(1.0) >= -z else bound(d, 1.0, -z)
    return max(-1.0, min(low, d)), min(1.0, max(high, d))


def newcombe_interval(
    s_a: float, n_a: float, s_b: float, n_b: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_a - p_b from independent samples."""
    la, ua = wilson_interval(s_a, n_a, confidence)
    lb, ub = wilson_interval(s_b, n_b, confidence)
    pa, pb = s_a / n_a, s_b / n_b
    d = pa - pb
    low = d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    high = d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return max(-1.0, low), min(1.0, high)


def union_interval(
    s_a: float, n_a: float, s_b: float, n_b: float, confidence: float = 0.95
) -> tuple[float, float]:
    """An interval for p_a - p_b valid however the two samples depend on each other: each
    side's Wilson bound at half the error (a union bound), so the upper bound is u_a - l_b.
    For two runs over one dataset whose pairs cannot be matched: their correlation is unknown,
    and Newcombe's interval, which assumes independence, is too narrow when it is negative."""
    half = 1 - (1 - confidence) / 2
    la, ua = wilson_interval(s_a, n_a, half)
    lb, ub = wilson_interval(s_b, n_b, half)
    return max(-1.0, la - ub), min(1.0, ua - lb)


def _design_effect(diffs: Sequence[int], clusters: Sequence[str]) -> tuple[float, int]:
    """CR1 variance of the mean paired difference over its independent-sample variance (at
    least 1), and the number of clusters."""
    n = len(diffs)
    groups: dict[str, list[int]] = {}
    for d, c in zip(diffs, clusters, strict=True):
        groups.setdefault(c, []).append(d)
    g = len(groups)
    mean = sum(diffs) / n
    iid = (sum(d * d for d in diffs) / n - mean * mean) / n
    if g < 2 or iid <= 0:
        return (float(n) if g < 2 else 1.0), g
    robust = g / (g - 1) * sum((sum(v) - len(v) * mean) ** 2 for v in groups.values()) / (n * n)
    return max(1.0, robust / iid), g


def _cluster_factor(deff: float, g: int, n: int, confidence: float) -> float:
    """The design effect with the small-cluster correction (t_{G-1} / t_{n-1})^2: only widens."""
    factor = max(1.0, deff)
    if g >= 2 and n > 1:
        t = special.t_ppf(1 - (1 - confidence) / 2, min(g, n) - 1)
        factor *= max(1.0, (t / special.t_ppf(1 - (1 - confidence) / 2, n - 1)) ** 2)
    elif n > 1:
        factor = float(n)  # one cluster: its spread cannot be estimated at all
    return factor


def paired_difference(
    model: Sequence[int],
    reference: Sequence[int],
    confidence: float = 0.95,
    clusters: Sequence[str] | None = None,
) -> Difference:
    """The paired difference from per-question scores (1 right, 0 wrong) in matching order."""
    if len(model) != len(reference) or not model:
        raise ValueError("a paired difference needs the same, non-empty list of questions for both")
    if any(v not in (0, 1) for v in (*model, *reference)):
        raise ValueError("paired scores are 0 or 1")
    n = len(model)
    n10 = sum(1 for a, b in zip(model, reference, strict=True) if a == 1 and b == 0)
    n01 = sum(1 for a, b in zip(model, reference, strict=True) if a == 0 and b == 1)
    deff, g = None, None
    factor = 1.0
    if clusters is not None:
        if len(clusters) != n:
            raise ValueError("one cluster label per question")
        diffs = [a - b for a, b in zip(model, reference, strict=True)]
        deff, g = _design_effect(diffs, clusters)
        factor = _cluster_factor(deff, g, n, confidence)
    low, high = tango_interval(n10 / factor, n01 / factor, n / factor, confidence)
    return Difference(
        value=(n10 - n01) / n,
        low=low,
        high=high,
        confidence=confidence,
        method="tango",
        paired=True,
        n=n,
        design_effect=deff,
        clusters=g,
    )


def unpaired_difference(
    s_model: float,
    n_model: int,
    s_reference: float,
    n_reference: int,
    confidence: float = 0.95,
    deff_model: float = 1.0,
    deff_reference: float = 1.0,
    *,
    dependent: bool = False,
) -> Difference:
    """The difference from two unmatched samples, each on its effective sample: Newcombe's for
    independent samples, the union bound (`union_interval`) when they may depend on each other
    (`dependent`: drawn from one dataset)."""
    if n_model < 1 or n_reference < 1:
        raise ValueError("an unpaired difference needs samples on both sides")
    fa, fb = max(1.0, deff_model), max(1.0, deff_reference)
    interval = union_interval if dependent else newcombe_interval
    low, high = interval(s_model / fa, n_model / fa, s_reference / fb, n_reference / fb, confidence)
    return Difference(
        value=s_model / n_model - s_reference / n_reference,
        low=low,
        high=high,
        confidence=confidence,
        method="wilson_union" if dependent else "newcombe",
        paired=False,
        n=n_model,
        n_reference=n_reference,
        design_effect=max(fa, fb) if max(fa, fb) > 1 else None,
    )


class SequentialRelation(BaseModel):
    """The anytime-valid reading of a stream of paired differences against a margin."""

    model_config = ConfigDict(frozen=True)

    relation: Relation
    n: int  # pairs read (the stop, when the test decided)
    log_capital_not_higher: float  # log wealth betting that the model is not higher
    log_capital_higher: float
    alpha: float
    method: DifferenceMethod = "betting"


def sequential_relation(
    diffs: Sequence[int], margin: float, alpha: float, *, min_pairs: int = 1
) -> SequentialRelation:
    """Read paired differences (model - reference, each -1, 0 or 1) one at a time and stop
    once a one-sided test at level `alpha` rejects: `not_higher` rejects "the mean difference
    is at least `margin`", `higher` rejects "at most `margin`". Each test's wealth is a
    nonnegative supermartingale under its null (bets sized from past pairs only), so by
    Ville's inequality it reaches 1/alpha with probability at most alpha, at any stopping time.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if not -1 < margin < 1:
        raise ValueError(f"a margin on a difference of accuracies lies in (-1, 1), got {margin}")
    threshold = math.log(1 / alpha)
    log_nh = log_h = 0.0
    total = sq = 0.0
    for i, d in enumerate(diffs, start=1):
        if d not in (-1, 0, 1):
            raise ValueError(f"a paired difference is -1, 0 or 1, got {d!r}")
        # predictable bets (GRAPA-style, from pairs before this one), shrunk towards 0 early
        k = i - 1
        mean = (total + 0.0) / (k + 1)  # a prior pseudo-pair at 0
        var = max((sq + 0.25) / (k + 1) - mean * mean, 0.05)
        lam_nh = min(max((margin - mean) / (var + (margin - mean) ** 2), 0.0), 0.5 / (1 - margin))
        lam_h = min(max((mean - margin) / (var + (mean - margin) ** 2), 0.0), 0.5 / (1 + margin))
        log_nh += math.log1p(lam_nh * (margin - d))
        log_h += math.log1p(lam_h * (d - margin))
        total += d
        sq += d * d
        if i >= min_pairs and log_nh >= threshold:
            return SequentialRelation(
                relation=Relation.not_higher,
                n=i,
                log_capital_not_higher=log_nh,
                log_capital_higher=log_h,
                alpha=alpha,
            )
        if i >= min_pairs and log_h >= threshold:
            return SequentialRelation(
                relation=Relation.higher,
                n=i,
                log_capital_not_higher=log_nh,
                log_capital_higher=log_h,
                alpha=alpha,
            )
    return SequentialRelation(
        relation=Relation.inconclusive,
        n=len(diffs),
        log_capital_not_higher=log_nh,
        log_capital_higher=log_h,
        alpha=alpha,
    )


def planned_pairs(
    p_model: float, p_reference: float, rho: float, margin: float, alpha: float, power: float = 0.8
) -> int:
    """Pairs needed for the paired test to show `not_higher` with probability `power` when
    the true accuracies are these and their per-question correlation is `rho` (the normal
    approximation; docs/design/relative.md checks it by simulation)."""
    var = _paired_variance(p_model, p_reference, rho)
    return _planned(var, p_model - p_reference, margin, alpha, power)


def planned_unpaired(
    p_model: float, p_reference: float, margin: float, alpha: float, power: float = 0.8
) -> int:
    """Samples per model the unpaired test needs for the same claim."""
    var = p_model * (1 - p_model) + p_reference * (1 - p_reference)
    return _planned(var, p_model - p_reference, margin, alpha, power)


def _paired_variance(p_model: float, p_reference: float, rho: float) -> float:
    if not (0 <= p_model <= 1 and 0 <= p_reference <= 1 and -1 <= rho <= 1):
        raise ValueError("accuracies lie in [0, 1] and a correlation in [-1, 1]")
    sa, sb = p_model * (1 - p_model), p_reference * (1 - p_reference)
    return max(0.0, sa + sb - 2 * rho * math.sqrt(sa * sb))


def _planned(var: float, true_diff: float, margin: float, alpha: float, power: float) -> int:
    if not (0 < alpha < 0.5 and 0.5 <= power < 1):
        raise ValueError("alpha lies in (0, 0.5) and power in [0.5, 1)")
    gap = margin - true_diff
    if gap <= 0:
        raise ValueError(
            f"the true difference ({true_diff:+.3f}) is not below the margin ({margin:g}): "
            "no sample size shows `not_higher`"
        )
    z = special.norm_ppf(1 - alpha) + special.norm_ppf(power)
    return max(1, math.ceil(z * z * var / (gap * gap)))
