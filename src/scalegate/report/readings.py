"""How a scorecard and a decision read in words, for every format: the terminal styles these
strings, the reports put them in cells. One wording, so a report and the terminal never say
different things about the same record."""

from __future__ import annotations

from scalegate.gates import ActionBasis, ActionDecision, ActionStatus
from scalegate.scoring import DomainScore, ThresholdResult

#: The tone a state reads in (report/document.Tone): colour in HTML and PDF, words elsewhere.
STATE_TONE = {"crossed": "bad", "inconclusive": "warn", "below": "good", "unknown": "unknown"}
ACTION_TONE = {"allowed": "good", "blocked": "bad", "needs_signoff": "warn"}


def level_reading(d: DomainScore) -> tuple[str, str | None]:
    """The level, unless nothing on this side could set one: a domain with no threshold for
    this view reads as such, never as its lowest level (unknown is not safe)."""
    if not d.thresholds:
        return "no threshold applies", "muted"
    if d.unknown:
        return f"{d.level} (unknown evidence)", "unknown"
    return d.level, None


def threshold_reading(thr: ThresholdResult) -> str:
    label = "prose only" if not thr.when.operationalized else thr.when.state.value
    return label + (" (cannot rule out)" if thr.status == "cannot_rule_out" else "")


def because(name: str, ad: ActionDecision, grounds: dict[str, ActionBasis]) -> list[tuple[str, str]]:
    """Why an action has its status: (clause or kind of note, text) lines."""
    why: list[tuple[str, str]] = []
    if ad.status is ActionStatus.needs_signoff:
        why.append(("sign-off", f"allowed once signed off by: {', '.join(ad.signoff_roles)}"))
    if ad.notify_roles and ad.status is not ActionStatus.blocked:
        why.append(("inform", f"inform first: {', '.join(ad.notify_roles)}"))
    why += [(r.clause, r.summary) for r in ad.reasons]
    if not ad.reasons and name in grounds:
        why.append(("basis", grounds[name].describe(ad.status)))
    return why or [("", "no response applies")]
