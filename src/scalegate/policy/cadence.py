"""When an assessment is due: the policy's `cadence` (effective compute, time, events, the
safety buffer, and the preliminary assessment that decides whether a comprehensive one is
due). Read by `compute` for the schedule and by `assess --preliminary`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scalegate.policy.base import Cited
from scalegate.policy.conditions import RelativeClaim

TriggerEvent = Literal[
    "covered_deployment",  # OpenAI v2: every frontier deployment, internal agents included
    "before_external_deployment",
    "officer_discretion",  # Anthropic v2: the RSO may require a comprehensive assessment
    "algorithmic_breakthrough",  # OpenAI beta
    "capability_jump",  # DeepMind v2/v3: exceptional or material capability increase
]


class SafetyBuffer(Cited):
    """How far below a threshold the alerts are meant to fire (Anthropic v1: 6x; DeepMind v1:
    6x or 3 months of fine-tuning)."""

    effective_compute_multiple: float | None = Field(None, gt=1.0)
    months: float | None = Field(None, gt=0)
    description: str | None = None


class Preliminary(Cited):
    """A preliminary assessment that decides whether a comprehensive one is due (Anthropic RSP
    v2.2 §3.1: one is due when the model is "notably more capable" than the last model
    comprehensively assessed). The RSP defines "notably more capable" by effective compute and
    accumulated post-training, which `every_effective_compute_multiple` and
    `post_training_months` encode; this reads it on evals instead, a scalegate extension:
    `scalegate assess --preliminary` runs only the claim's evals, and a comprehensive
    assessment is not due only when the claim holds (the model is shown no more than the
    margin above the reference on every eval). Anything else, inconclusive included, makes it
    due."""

    relative: RelativeClaim


class Cadence(Cited):
    """When an assessment is due: whichever trigger comes first."""

    every_effective_compute_multiple: float | None = Field(None, gt=1.0)
    max_days: int | None = Field(None, ge=1)
    # Anthropic RSP v2: accumulated post-training enhancements count, measured in calendar time
    post_training_months: float | None = Field(None, gt=0)
    during_training: bool = True
    # a fired alert pauses training (not only a crossed threshold)
    alerts_pause_training: bool = False
    # when a forecast projects a crossing before the next scheduled assessment, assess early
    shorten_on_forecast: bool = True
    # triggers that are events rather than compute or time (recorded; scalegate assesses when
    # asked, e.g. `scalegate assess` in the deployment pipeline)
    events: list[TriggerEvent] = Field(default_factory=list)
    buffer: SafetyBuffer | None = None
    # "notably more capable" read on evals (a marked extension): `assess --preliminary`
    preliminary: Preliminary | None = None
