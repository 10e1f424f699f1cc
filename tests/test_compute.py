"""Effective compute and the published cadences: exactly when an assessment becomes due."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from scalegate.compute import (
    ComputeFigures,
    Due,
    LastAssessment,
    Schedule,
    assessment_due,
    dense_training_flop,
    estimate_from_args,
    schedule,
)
from scalegate.policy import load_policy
from scalegate.policy.cadence import Cadence

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
LAST = LastAssessment(effective_compute=1e24, at=T0)


def _preset_cadence(name: str) -> Cadence:
    cadence = load_policy(name).policy.cadence
    assert cadence is not None, name
    return cadence


# The published cadences, from the bundled presets (DOMAIN.md section 8.1).
OPENAI_BETA = _preset_cadence("openai-pf-beta")
ANTHROPIC_V1 = _preset_cadence("anthropic-rsp-v1")
DEEPMIND_V1 = _preset_cadence("deepmind-fsf-v1")
ANTHROPIC_V2 = _preset_cadence("anthropic-rsp-v2.2")


@pytest.mark.parametrize(
    ("cadence", "multiple", "days", "months"),
    [
        (OPENAI_BETA, 2.0, None, None),  # every 2x effective compute
        (ANTHROPIC_V1, 4.0, 90, None),  # every 4x or 3 months
        (DEEPMIND_V1, 6.0, 90, None),  # every 6x or 3 months
        (ANTHROPIC_V2, 4.0, None, 6.0),  # 4x or 6 months of post-training enhancements
    ],
)
def test_the_presets_encode_the_published_cadences(
    cadence: Cadence, multiple: float, days: int | None, months: float | None
) -> None:
    assert cadence.every_effective_compute_multiple == multiple
    assert cadence.max_days == days
    assert cadence.post_training_months == months


def test_openai_v2_has_no_compute_cadence_only_covered_deployments() -> None:
    cadence = _preset_cadence("openai-pf-v2")
    assert cadence.every_effective_compute_multiple is None and cadence.max_days is None
    assert cadence.events == ["covered_deployment"]
    assert assessment_due(cadence, LAST, 1e30, T0 + timedelta(days=10_000)) is None


def kind(due: Due | None) -> str | None:
    return None if due is None else due.kind


# -- FLOP estimates -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("parameters", "tokens", "flop"),
    [
        (7e9, 2e12, 8.4e22),  # Llama-2 7B: 6 * 7e9 * 2e12
        (70e9, 1.4e12, 5.88e23),  # Chinchilla: 6 * 70e9 * 1.4e12
        (175e9, 300e9, 3.15e23),  # GPT-3: 6 * 175e9 * 300e9
        (1, 1, 6.0),
    ],
)
def test_dense_training_flop_is_six_n_d(parameters: float, tokens: float, flop: float) -> None:
    assert dense_training_flop(parameters, tokens) == pytest.approx(flop, rel=1e-12)


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, -math.inf, "7e9", None])
def test_dense_training_flop_rejects_non_positive_or_non_finite_inputs(bad: object) -> None:
    with pytest.raises(ValueError, match="parameters"):
        dense_training_flop(bad, 1e12)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tokens"):
        dense_training_flop(7e9, bad)  # type: ignore[arg-type]


def test_effective_compute_scales_training_flop_by_the_algorithmic_multiplier() -> None:
    assert ComputeFigures(8.4e22).effective_compute == 8.4e22
    assert ComputeFigures(8.4e22, algorithmic_multiplier=2.5).effective_compute == pytest.approx(2.1e23)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"training_flop": 0.0},
        {"training_flop": -1e22},
        {"training_flop": math.nan},
        {"training_flop": 1e22, "algorithmic_multiplier": 0.0},
        {"training_flop": 1e22, "algorithmic_multiplier": -2.0},
        {"training_flop": 1e22, "post_training_started": datetime(2025, 1, 1)},
    ],
)
def test_compute_figures_reject_invalid_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ComputeFigures(**kwargs)  # type: ignore[arg-type]


def test_estimate_from_args_reports_flop_and_effective_compute() -> None:
    assert estimate_from_args(7e9, 2e12, 2.0) == {
        "parameters": 7e9,
        "tokens": 2e12,
        "training_flop": pytest.approx(8.4e22),
        "algorithmic_multiplier": 2.0,
        "effective_compute": pytest.approx(1.68e23),
    }
    with pytest.raises(ValueError, match="algorithmic_multiplier"):
        estimate_from_args(7e9, 2e12, 0.0)


# -- first assessment, no cadence ------------------------------------------------------------------
def test_first_assessment_is_due_whatever_the_cadence() -> None:
    for cadence in (None, OPENAI_BETA, ANTHROPIC_V2):
        assert kind(assessment_due(cadence, None, 0.0, T0)) == "first"
        assert schedule(cadence, None).is_due(0.0, T0)


def test_without_a_cadence_only_the_first_assessment_is_due() -> None:
    assert assessment_due(None, LAST, 1e30, T0 + timedelta(days=10_000)) is None
    assert schedule(None, LAST) == Schedule(None, None, None)


# -- OpenAI Preparedness Framework beta: every 2x ---------------------------------------------------
def test_openai_beta_is_due_at_exactly_2x_and_not_at_1_99x() -> None:
    assert assessment_due(OPENAI_BETA, LAST, 1.99e24, T0) is None
    due = assessment_due(OPENAI_BETA, LAST, 2e24, T0)
    assert due == Due("compute_multiple", "effective compute 2.0e24 >= 2x the last assessment (1.0e24)")


def test_openai_beta_has_no_calendar_trigger() -> None:
    assert assessment_due(OPENAI_BETA, LAST, 1.5e24, T0 + timedelta(days=3650)) is None
    assert schedule(OPENAI_BETA, LAST) == Schedule(2e24, None, None)


# -- Anthropic RSP v1: every 4x or every 3 months ----------------------------------------------------
def test_anthropic_v1_is_due_by_compute_before_the_date() -> None:
    now = T0 + timedelta(days=30)
    due = assessment_due(ANTHROPIC_V1, LAST, 4.1e24, now)
    assert due == Due("compute_multiple", "effective compute 4.1e24 >= 4x the last assessment (1.0e24)")
    assert assessment_due(ANTHROPIC_V1, LAST, 3.9e24, now) is None


def test_anthropic_v1_is_due_by_date_before_the_compute() -> None:
    assert assessment_due(ANTHROPIC_V1, LAST, 1.5e24, T0 + timedelta(days=89, hours=23)) is None
    due = assessment_due(ANTHROPIC_V1, LAST, 1.5e24, T0 + timedelta(days=90))
    assert kind(due) == "calendar"
    assert due is not None and "90 days since the last assessment" in due.detail
    assert "2025-04-15T12:00:00+00:00" in due.detail


def test_when_compute_and_calendar_both_fire_the_compute_rule_is_named() -> None:
    assert kind(assessment_due(ANTHROPIC_V1, LAST, 5e24, T0 + timedelta(days=200))) == "compute_multiple"


# -- DeepMind FSF v1: every 6x or 3 months -----------------------------------------------------------
def test_deepmind_v1_is_due_at_6x_not_at_5x() -> None:
    assert assessment_due(DEEPMIND_V1, LAST, 5e24, T0 + timedelta(days=1)) is None
    assert kind(assessment_due(DEEPMIND_V1, LAST, 6e24, T0 + timedelta(days=1))) == "compute_multiple"


def test_deepmind_v1_is_due_after_90_days_below_6x() -> None:
    assert kind(assessment_due(DEEPMIND_V1, LAST, 5.9e24, T0 + timedelta(days=90))) == "calendar"
    assert schedule(DEEPMIND_V1, LAST) == Schedule(6e24, T0 + timedelta(days=90), None)


# -- Anthropic RSP v2: 4x or six months of post-training enhancements ---------------------------------
def test_anthropic_v2_is_due_after_six_calendar_months_of_post_training() -> None:
    started = T0 + timedelta(days=10)  # 2025-01-25
    before = datetime(2025, 7, 25, 11, 59, tzinfo=UTC)
    at = datetime(2025, 7, 25, 12, 0, tzinfo=UTC)
    assert assessment_due(ANTHROPIC_V2, LAST, 1.1e24, before, post_training_started=started) is None
    due = assessment_due(ANTHROPIC_V2, LAST, 1.1e24, at, post_training_started=started)
    assert kind(due) == "post_training"
    assert due is not None
    assert due.detail.startswith("6 months of post-training enhancements since 2025-01-25")


def test_anthropic_v2_counts_post_training_from_the_last_assessment_when_that_is_later() -> None:
    started = T0 - timedelta(days=60)
    s = schedule(ANTHROPIC_V2, LAST, post_training_started=started)
    assert s.post_training_deadline == datetime(2025, 7, 15, 12, 0, tzinfo=UTC)


def test_anthropic_v2_without_a_post_training_period_has_only_the_compute_trigger() -> None:
    assert assessment_due(ANTHROPIC_V2, LAST, 3e24, T0 + timedelta(days=1000)) is None
    assert kind(assessment_due(ANTHROPIC_V2, LAST, 4e24, T0)) == "compute_multiple"


def test_post_training_months_clamp_to_month_end_and_take_fractions_as_mean_months() -> None:
    jan31 = datetime(2024, 1, 31, tzinfo=UTC)
    last = LastAssessment(1e24, jan31)
    one = schedule(Cadence(post_training_months=1), last, post_training_started=jan31)
    assert one.post_training_deadline == datetime(2024, 2, 29, tzinfo=UTC)  # leap year
    half = schedule(Cadence(post_training_months=0.5), last, post_training_started=jan31)
    assert half.post_training_deadline == jan31 + timedelta(days=365.2425 / 24)


# -- boundaries and time zones --------------------------------------------------------------------
def test_exactly_at_the_multiple_and_exactly_at_the_deadline_are_due() -> None:
    cadence = Cadence(every_effective_compute_multiple=3.0, max_days=30)
    last = LastAssessment(3.3e23, T0)
    s = schedule(cadence, last)
    assert s.next_compute is not None and s.deadline is not None
    assert kind(assessment_due(cadence, last, s.next_compute, T0)) == "compute_multiple"
    assert kind(assessment_due(cadence, last, 1e23, s.deadline)) == "calendar"
    just_below, just_before = math.nextafter(s.next_compute, 0), s.deadline - timedelta(microseconds=1)
    assert assessment_due(cadence, last, just_below, just_before) is None


def test_deadlines_compare_across_time_zones() -> None:
    tokyo = timezone(timedelta(hours=9))
    last = LastAssessment(1e24, datetime(2025, 1, 1, 9, 0, tzinfo=tokyo))  # 00:00 UTC
    on_time, early = datetime(2025, 4, 1, 0, 0, tzinfo=UTC), datetime(2025, 3, 31, 23, 59, tzinfo=UTC)
    assert kind(assessment_due(ANTHROPIC_V1, last, 1e24, on_time)) == "calendar"
    assert assessment_due(ANTHROPIC_V1, last, 1e24, early) is None


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2025, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        LastAssessment(1e24, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        assessment_due(ANTHROPIC_V1, LAST, 1e24, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        assessment_due(ANTHROPIC_V2, LAST, 1e24, T0, post_training_started=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule(ANTHROPIC_V2, LAST, post_training_started=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule(ANTHROPIC_V1, LAST).is_due(1e24, naive)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_assessment_due_rejects_invalid_effective_compute(bad: float) -> None:
    with pytest.raises(ValueError, match="effective_compute"):
        assessment_due(ANTHROPIC_V1, LAST, bad, T0)


def test_last_assessment_needs_positive_effective_compute() -> None:
    with pytest.raises(ValueError, match="effective_compute"):
        LastAssessment(0.0, T0)


def test_the_fast_path_treats_nan_compute_as_due() -> None:
    assert schedule(OPENAI_BETA, LAST).is_due(math.nan, T0)


# -- forecasts ------------------------------------------------------------------------------------
def test_a_forecast_crossing_below_the_compute_trigger_shortens_the_schedule() -> None:
    s = schedule(ANTHROPIC_V1, LAST, forecast_crossing=2.5e24)
    assert s.next_compute == 2.5e24
    assert assessment_due(ANTHROPIC_V1, LAST, 2.4e24, T0, forecast_crossing=2.5e24) is None
    due = assessment_due(ANTHROPIC_V1, LAST, 2.5e24, T0, forecast_crossing=2.5e24)
    assert due == Due(
        "forecast",
        "effective compute 2.5e24 >= the forecast threshold crossing (2.5e24), "
        "ahead of the compute trigger (4.0e24)",
    )


def test_without_shorten_on_forecast_the_forecast_is_ignored() -> None:
    cadence = Cadence(every_effective_compute_multiple=4.0, max_days=90, shorten_on_forecast=False)
    assert schedule(cadence, LAST, forecast_crossing=2.5e24).next_compute == 4e24
    assert assessment_due(cadence, LAST, 3e24, T0, forecast_crossing=2.5e24) is None


def test_a_forecast_beyond_the_compute_trigger_changes_nothing() -> None:
    assert schedule(ANTHROPIC_V1, LAST, forecast_crossing=9e24).next_compute == 4e24
    assert kind(assessment_due(ANTHROPIC_V1, LAST, 4e24, T0, forecast_crossing=9e24)) == "compute_multiple"


def test_a_forecast_at_or_below_the_last_assessment_is_ignored() -> None:
    # the last assessment already measured the model there; honouring it would be due forever
    assert schedule(ANTHROPIC_V1, LAST, forecast_crossing=1e24).next_compute == 4e24
    assert assessment_due(ANTHROPIC_V1, LAST, 1.2e24, T0, forecast_crossing=5e23) is None


def test_a_forecast_sets_a_compute_trigger_where_the_cadence_has_none() -> None:
    cadence = Cadence(max_days=90)
    assert schedule(cadence, LAST).next_compute is None
    assert schedule(cadence, LAST, forecast_crossing=3e24).next_compute == 3e24
    due = assessment_due(cadence, LAST, 3e24, T0, forecast_crossing=3e24)
    assert due == Due("forecast", "effective compute 3.0e24 >= the forecast threshold crossing (3.0e24)")


def test_a_forecast_just_ahead_of_the_last_assessment_moves_the_trigger_at_most_half_way() -> None:
    # a forecast's lower bound sits just above the latest point after every assessment: followed
    # literally it would assess every few steps; the trigger moves at most half the interval (log)
    assert schedule(ANTHROPIC_V1, LAST, forecast_crossing=1.01e24).next_compute == pytest.approx(2e24)
    assert assessment_due(ANTHROPIC_V1, LAST, 1.9e24, T0, forecast_crossing=1.01e24) is None
    assert kind(assessment_due(ANTHROPIC_V1, LAST, 2e24, T0, forecast_crossing=1.01e24)) == "forecast"
    no_multiple = Cadence(max_days=90)
    nearest = schedule(no_multiple, LAST, forecast_crossing=1.01e24).next_compute
    assert nearest == pytest.approx(math.sqrt(2) * 1e24)


def test_repeated_forecasts_at_most_double_the_assessment_rate() -> None:
    # worst case: every forecast lands just above the last assessment
    compute, n = 1e24, 0
    while compute < 4.0**3 * 1e24:
        s = schedule(ANTHROPIC_V1, LastAssessment(compute, T0), forecast_crossing=compute * 1.001)
        compute = s.next_compute or 0
        n += 1
    assert n == 6  # three 4x intervals, two assessments each


@pytest.mark.parametrize("bad", [0.0, -1e24, math.nan])
def test_invalid_forecast_crossings_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="forecast_crossing"):
        schedule(ANTHROPIC_V1, LAST, forecast_crossing=bad)


# -- the fast path agrees with the rules -----------------------------------------------------------
def _random_case(rng: random.Random) -> dict[str, object]:
    cadence = (
        None
        if rng.random() < 0.1
        else Cadence(
            every_effective_compute_multiple=rng.choice([None, 2.0, 4.0, 6.0, 1.0 + rng.random() * 9]),
            max_days=rng.choice([None, 30, 90, rng.randint(1, 400)]),
            post_training_months=rng.choice([None, 3, 6, 0.25 + rng.random() * 12]),
            shorten_on_forecast=rng.random() < 0.5,
        )
    )
    zone = timezone(timedelta(minutes=15 * rng.randint(-48, 56)))
    at = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 5 * 365 * 86400))
    last = None if rng.random() < 0.1 else LastAssessment(10 ** rng.uniform(18, 27), at.astimezone(zone))
    base_compute = last.effective_compute if last else 1e24
    base_at = last.at if last else at
    started = rng.choice([None, base_at + timedelta(days=rng.uniform(-400, 400))])
    forecast = rng.choice([None, base_compute * rng.uniform(0.5, 12)])
    s = schedule(cadence, last, started, forecast)
    # land on the trigger values themselves a good share of the time: boundaries are where bugs live
    compute_choices = [base_compute * rng.uniform(0.0, 15)]
    time_choices = [base_at + timedelta(days=rng.uniform(-10, 600))]
    if s.next_compute is not None:
        compute_choices += [s.next_compute, math.nextafter(s.next_compute, 0)]
    for deadline in (s.deadline, s.post_training_deadline):
        if deadline is not None:
            time_choices += [deadline, deadline - timedelta(microseconds=1)]
    return {
        "cadence": cadence,
        "last": last,
        "effective_compute": rng.choice(compute_choices),
        "now": rng.choice(time_choices).astimezone(timezone(timedelta(hours=rng.randint(-12, 14)))),
        "post_training_started": started,
        "forecast_crossing": forecast,
    }


@pytest.mark.parametrize("seed", range(10))
def test_schedule_fast_path_equals_assessment_due_on_random_inputs(seed: int) -> None:
    rng = random.Random(seed)
    kinds: set[str] = set()
    for _ in range(100):
        case = _random_case(rng)
        ec, now = case["effective_compute"], case["now"]
        assert isinstance(ec, float) and isinstance(now, datetime)
        s = schedule(case["cadence"], case["last"], case["post_training_started"], case["forecast_crossing"])  # type: ignore[arg-type]
        due = assessment_due(**case)  # type: ignore[arg-type]
        assert s.is_due(ec, now) == (due is not None), case
        if due is None:
            continue
        kinds.add(due.kind)
        # the rule named is one the schedule says has fired
        if due.kind in ("first", "compute_multiple", "forecast"):
            assert s.next_compute is not None and ec >= s.next_compute, case
        elif due.kind == "calendar":
            assert s.deadline is not None and now >= s.deadline, case
        else:
            assert s.post_training_deadline is not None and now >= s.post_training_deadline, case
    assert len(kinds) >= 4, kinds  # the cases reach most rules, not only "first"
