"""Effective compute and the evaluation cadence: when is the next assessment due?

Published policies schedule dangerous-capability assessments at fixed steps of effective
compute (OpenAI PF beta every 2x; Anthropic RSP v1 every 4x; DeepMind FSF v1 every 6x), at
calendar intervals (every 3 months), and for Anthropic RSP v2 after six months of accumulated
post-training enhancements. Whichever trigger comes first makes the assessment due.

This module runs on every training step, so it is pure: no I/O, no torch, no pydantic at run
time. `assessment_due` states the rules directly and explains the answer; `schedule` folds the
same rules into a `Schedule` whose `is_due` is a float and a datetime compare.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # only for annotations: keeps the per-step import free of pydantic
    from scalegate.policy.cadence import Cadence

#: Kaplan et al. (2020) / Chinchilla: a dense transformer costs ~6 FLOP per parameter per
#: training token (2 forward, 4 backward).
FLOP_PER_PARAMETER_TOKEN = 6.0

#: Mean Gregorian month, for the fractional part of `post_training_months`.
DAYS_PER_MONTH = 365.2425 / 12

DueKind = Literal["first", "compute_multiple", "calendar", "post_training", "forecast"]


def _positive(name: str, value: float) -> float:
    # NaN must not pass: it compares false with everything, so a trigger on it never fires
    try:  # numpy and torch scalars too, but not text or bools
        number = math.nan if isinstance(value, str | bytes | bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def _aware(name: str, value: datetime) -> datetime:
    # a naive datetime is ambiguous by hours; deadlines must not depend on the host's zone
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def dense_training_flop(parameters: float, tokens: float) -> float:
    """Training FLOP of a dense transformer: 6 * N * D (Kaplan et al. 2020, Chinchilla)."""
    return FLOP_PER_PARAMETER_TOKEN * _positive("parameters", parameters) * _positive("tokens", tokens)


@dataclass(frozen=True)
class ComputeFigures:
    """The compute an assessment records, so the next trigger can be measured from it."""

    training_flop: float
    #: efficiency relative to the reference recipe: 2.0 means each FLOP is worth two
    algorithmic_multiplier: float = 1.0
    #: start of the post-training enhancement period (Anthropic RSP v2 counts it in months)
    post_training_started: datetime | None = None

    def __post_init__(self) -> None:
        _positive("training_flop", self.training_flop)
        _positive("algorithmic_multiplier", self.algorithmic_multiplier)
        if self.post_training_started is not None:
            _aware("post_training_started", self.post_training_started)

    @property
    def effective_compute(self) -> float:
        """Raw FLOP scaled by algorithmic efficiency: what the policies' multiples measure."""
        return self.training_flop * self.algorithmic_multiplier


@dataclass(frozen=True)
class LastAssessment:
    """The most recent assessment: the point every compute and calendar trigger counts from."""

    effective_compute: float
    at: datetime

    def __post_init__(self) -> None:
        _positive("effective_compute", self.effective_compute)
        _aware("at", self.at)


@dataclass(frozen=True)
class Due:
    """Why an assessment is due, naming the rule so the record can cite it."""

    kind: DueKind
    detail: str


@dataclass(frozen=True)
class Schedule:
    """The cadence folded into thresholds, so the per-step check is a float compare.

    `next_compute` is 0.0 when no assessment exists yet (the first is due at any compute).
    """

    next_compute: float | None
    deadline: datetime | None
    post_training_deadline: datetime | None

    def is_due(self, effective_compute: float, now: datetime) -> bool:
        """The hot path: True when any trigger has fired. Agrees with `assessment_due`.

        A NaN compute counts as due (fail closed): `not x < y` is true for NaN.
        """
        _aware("now", now)
        return (
            (self.next_compute is not None and not effective_compute < self.next_compute)
            or (self.deadline is not None and now >= self.deadline)
            or (self.post_training_deadline is not None and now >= self.post_training_deadline)
        )


def _sci(x: float) -> str:
    """4.1e24, 1.0e24, 4.05e24: short enough for a sentence, exact enough to check by eye."""
    mantissa, exponent = f"{x:.2e}".split("e")
    mantissa = mantissa.rstrip("0")
    return f"{mantissa}0e{int(exponent)}" if mantissa.endswith(".") else f"{mantissa}e{int(exponent)}"


def _add_months(start: datetime, months: float) -> datetime | None:
    """Calendar months (Jan 31 + 1 month = end of Feb: early, never late), then the fraction.

    None when the date is past what datetime can hold: the trigger never fires in practice.
    """
    whole = math.floor(months)
    years, month0 = divmod(start.month - 1 + whole, 12)
    year, month = start.year + years, month0 + 1
    try:
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + timedelta(
            days=(months - whole) * DAYS_PER_MONTH
        )
    except (ValueError, OverflowError):
        return None


def _add_days(start: datetime, days: float) -> datetime | None:
    try:
        return start + timedelta(days=days)
    except OverflowError:
        return None


#: A forecast pulls the next assessment in by at most half the regular interval (log compute),
#: so forecast-driven assessments at most double the assessment rate.
MIN_FORECAST_STEP = 0.5
#: The interval a forecast is measured against when the cadence has no compute multiple.
DEFAULT_FORECAST_MULTIPLE = 2.0


def _compute_trigger(cadence: Cadence, last: LastAssessment) -> float | None:
    multiple = cadence.every_effective_compute_multiple
    return None if multiple is None else last.effective_compute * multiple


def _forecast_trigger(
    cadence: Cadence, last: LastAssessment, regular: float | None, forecast_crossing: float | None
) -> float | None:
    """The projected crossing, when it should pull the compute trigger earlier.

    A crossing at or below the last assessment's compute is ignored: that assessment already
    measured the model there, and honouring it would keep an assessment due forever. A crossing
    just above it moves the trigger no closer than `MIN_FORECAST_STEP` of the regular interval
    (in log compute): a forecast's lower bound sits just ahead of the latest point after every
    assessment, and following it literally would assess at every few steps.
    """
    if forecast_crossing is None or not cadence.shorten_on_forecast:
        return None
    if forecast_crossing <= last.effective_compute:
        return None
    if regular is not None and forecast_crossing >= regular:
        return None
    multiple = cadence.every_effective_compute_multiple or DEFAULT_FORECAST_MULTIPLE
    floor = float(last.effective_compute * multiple**MIN_FORECAST_STEP)
    if regular is not None:
        floor = min(floor, regular)
    return max(forecast_crossing, floor)


def _deadline(cadence: Cadence, last: LastAssessment) -> datetime | None:
    return None if cadence.max_days is None else _add_days(last.at, cadence.max_days)


def _post_training_since(last: LastAssessment, post_training_started: datetime | None) -> datetime | None:
    """Enhancements accumulate from the later of the period's start and the last assessment:
    an assessment during post-training resets the count (Anthropic RSP v2)."""
    return None if post_training_started is None else max(post_training_started, last.at)


def _post_training_deadline(
    cadence: Cadence, last: LastAssessment, post_training_started: datetime | None
) -> datetime | None:
    since = _post_training_since(last, post_training_started)
    if cadence.post_training_months is None or since is None:
        return None
    return _add_months(since, cadence.post_training_months)


def _check_inputs(post_training_started: datetime | None, forecast_crossing: float | None) -> None:
    if post_training_started is not None:
        _aware("post_training_started", post_training_started)
    if forecast_crossing is not None:
        _positive("forecast_crossing", forecast_crossing)


def schedule(
    cadence: Cadence | None,
    last: LastAssessment | None,
    post_training_started: datetime | None = None,
    forecast_crossing: float | None = None,
) -> Schedule:
    """Precompute the triggers once per assessment (or forecast), not once per step.

    With `cadence.shorten_on_forecast`, a projected crossing below the compute trigger becomes
    the trigger, so the model is assessed before the crossing. It also applies when the cadence
    has no compute multiple: a forecast crossing is worth an assessment either way.
    """
    _check_inputs(post_training_started, forecast_crossing)
    if last is None:
        return Schedule(next_compute=0.0, deadline=None, post_training_deadline=None)
    if cadence is None:
        return Schedule(next_compute=None, deadline=None, post_training_deadline=None)
    regular = _compute_trigger(cadence, last)
    forecast = _forecast_trigger(cadence, last, regular, forecast_crossing)
    return Schedule(
        next_compute=forecast if forecast is not None else regular,
        deadline=_deadline(cadence, last),
        post_training_deadline=_post_training_deadline(cadence, last, post_training_started),
    )


def assessment_due(
    cadence: Cadence | None,
    last: LastAssessment | None,
    effective_compute: float,
    now: datetime,
    post_training_started: datetime | None = None,
    forecast_crossing: float | None = None,
) -> Due | None:
    """Whether an assessment is due now, and by which rule; None when it is not.

    No previous assessment: the first is due. No cadence: only the first. When several rules
    fire, the compute rules are named before the calendar ones.
    """
    _aware("now", now)
    if not (math.isfinite(effective_compute) and effective_compute >= 0):
        raise ValueError(f"effective_compute must be a finite number >= 0, got {effective_compute!r}")
    _check_inputs(post_training_started, forecast_crossing)
    if last is None:
        return Due("first", "no previous assessment: the first is due")
    if cadence is None:
        return None

    regular = _compute_trigger(cadence, last)
    if regular is not None and effective_compute >= regular:
        multiple = cadence.every_effective_compute_multiple
        return Due(
            "compute_multiple",
            f"effective compute {_sci(effective_compute)} >= {multiple:g}x the last assessment "
            f"({_sci(last.effective_compute)})",
        )
    forecast = _forecast_trigger(cadence, last, regular, forecast_crossing)
    if forecast is not None and effective_compute >= forecast:
        ahead = "" if regular is None else f", ahead of the compute trigger ({_sci(regular)})"
        return Due(
            "forecast",
            f"effective compute {_sci(effective_compute)} >= the forecast threshold crossing "
            f"({_sci(forecast)}){ahead}",
        )
    deadline = _deadline(cadence, last)
    if deadline is not None and now >= deadline:
        return Due(
            "calendar",
            f"{cadence.max_days} days since the last assessment ({last.at.isoformat()}): "
            f"due {deadline.isoformat()}",
        )
    since = _post_training_since(last, post_training_started)
    pt_deadline = _post_training_deadline(cadence, last, post_training_started)
    if since is not None and pt_deadline is not None and now >= pt_deadline:
        return Due(
            "post_training",
            f"{cadence.post_training_months:g} months of post-training enhancements since "
            f"{since.isoformat()}: due {pt_deadline.isoformat()}",
        )
    return None


def estimate_from_args(parameters: float, tokens: float, multiplier: float = 1.0) -> dict[str, float]:
    """The figures `scalegate compute` prints and an assessment records, from the CLI's inputs."""
    figures = ComputeFigures(dense_training_flop(parameters, tokens), multiplier)
    return {
        "parameters": float(parameters),
        "tokens": float(tokens),
        "training_flop": figures.training_flop,
        "algorithmic_multiplier": figures.algorithmic_multiplier,
        "effective_compute": figures.effective_compute,
    }
