"""The building blocks every policy model shares: strict models, citations, evidence statuses.

Kept apart from `schema` so that `conditions` (the condition trees and their one reader) and
`schema` (the policy around them) can both build on them without importing each other.
"""

from __future__ import annotations

import difflib
import math
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # allow_inf_nan=False: NaN compares false with everything, so a threshold, bound or
    # proportion that is NaN never fires and never fails; infinity is no policy's number.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def _finite(value: Any, where: str) -> None:
    """Free-form values (an eval's `args`) may nest; none of them may be NaN or infinite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}: NaN and infinity are not allowed")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, f"{where}[{i}]")


#: How well a clause's source was checked (the legend of docs/presets.md): V primary text,
#: V-2 reputable secondary source quoting it, S secondary only, U unverified.
Tag = Literal["V", "V-2", "S", "U"]


class Cited(Strict):
    """A clause that can say where it comes from, so a preset is checkable line by line."""

    source: str | None = None
    tag: Tag | None = None


class EvidenceStatus(StrEnum):
    """Why a piece of evidence can or cannot be used. Anything but `ok` is unknown to a gate."""

    ok = "ok"
    missing = "missing"  # never ran, or the task could not be found
    error = "error"  # the run failed
    cancelled = "cancelled"  # the run was interrupted
    partial = "partial"  # some samples errored or never completed
    unreliable = "unreliable"  # ran, but the answers could not be read (format check failed)
    insufficient = "insufficient"  # fewer scored samples than the policy's minimum
    stale = "stale"  # for another checkpoint, or older than the cadence allows
    # gathered for another eval spec (task, arguments, metric): evidence for a different
    # question. Evidence rules that name `missing` cover it too.
    mismatch = "mismatch"
    # a sandbagging check the policy requires flagged the model: the score may be an
    # underestimate, so no level can be ruled out on it (evals/elicitation_checks.py)
    elicitation_gap = "elicitation_gap"


#: Statuses that a response's `evidence:` condition may name. `inconclusive` is the state of a
#: threshold comparison whose interval straddles the threshold.
EvidenceRuleStatus = Literal[
    "missing",
    "error",
    "cancelled",
    "partial",
    "unreliable",
    "insufficient",
    "stale",
    "mismatch",
    "elicitation_gap",
    "inconclusive",
]


# --- names in messages -----------------------------------------------------------------------


def closest(name: str, known: list[str] | tuple[str, ...]) -> str | None:
    """The known name nearest `name` (difflib), for "did you mean" in error messages."""
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return found[0] if found else None


#: Names a message lists in full; beyond that it lists these and counts the rest.
LISTED_NAMES = 12
#: Unknown names that get a "did you mean" (difflib is quadratic; nobody reads past these).
MAX_HINTS = 50
#: Declared names beyond which no hint is searched for (no policy declares that many roles).
MAX_HINT_CANDIDATES = 200


def listing(names: list[str]) -> str:
    """`['a', 'b']`, or the first LISTED_NAMES of a long list and how many there are."""
    if len(names) <= LISTED_NAMES:
        return str(names)
    return str(names[:LISTED_NAMES])[:-1] + f", ... ({len(names)} in all)]"
