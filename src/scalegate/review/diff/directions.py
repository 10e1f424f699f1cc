"""Which way each field of a policy points: one row per field whose change has a fixed reading
(a higher number, a flag set, an item added, a clause removed), so the rule for a field is
read and changed in one place; `walk.py` applies the rows, the assessors only say when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from scalegate.review.diff.change import ChangeKind


class Rule(Enum):
    HIGHER = "higher is stronger"  # an absent number is the weakest end: no trigger, no buffer
    LOWER = "lower is stronger"  # (an absent number is still the weakest end)
    TRUE = "true is stronger"  # unset reads as false; unset <-> false is `otherwise`
    RANKED = "higher rank is stronger"  # `ranks`; equal ranks are `otherwise`, unranked unclear
    MORE = "more items is stronger"  # one change per item: the old list's losses, then the new one's gains
    FEWER = "fewer items is stronger"  # (the same order)
    MORE_SET = "more items is stronger, listed together"  # one change per direction, sorted
    PRESENT = "present is stronger"  # a clause added or removed; both present: the assessor's code
    ABSENT = "absent is stronger"
    NONE = "no direction"  # any change is `otherwise`
    UNORDERED = "no order"  # setting or clearing it is neutral, a swap is `otherwise`


@dataclass(frozen=True)
class Direction:
    """One field's reading. `section` is the model's place in a policy (`*` any name, `[]` any
    position); a section's rows are compared, and their changes reported, in table order.
    Wordings take `{a}` and `{b}` (the values), `{item}` / `{items}` (lists), `{key}` (keyed
    lists) and the names the assessor passes (`{name}`, `{where}`, ...)."""

    section: str
    field: str
    rule: Rule
    changed: str = ""  # a change; for TRUE, also the wording unless `dropped` / `added` say more
    dropped: str = ""  # an item gone, a flag cleared, a clause removed
    added: str = ""
    why: tuple[str | None, str | None] = (None, None)  # (when weaker, when stronger)
    otherwise: tuple[ChangeKind, str | None] = ("neutral", None)  # a change with no direction
    ranks: Mapping[str | None, int] | None = None
    unit: str = ""
    keyed: bool = False  # a mapping of lists: the rule applies to each key's list
    when: tuple[str, object] | None = None  # only where the new model's field has this value


D, R = Direction, Rule

# A wider interval (higher confidence, a more conservative method) leaves more comparisons
# inconclusive: stronger when those count as crossed, weaker when they count as below.
_WIDER_CROSSED = ("fewer unresolved results read as crossed", "more unresolved results read as crossed")
_WIDER_BELOW = ("more unresolved results read as below", "fewer unresolved results read as below")
# how wide each interval method is at the same confidence: an exact interval is wider than
# Wilson, and a confidence sequence (valid at every sample size) wider still
_INTERVAL_WIDTH: dict[str | None, int] = {"wilson": 0, "clopper_pearson": 1, "confidence_sequence": 2}
_ANYTIME: tuple[ChangeKind, str] = (
    "neutral",
    "an anytime-valid interval keeps its error rate when stopped early",
)
_EFFORT = ("less effort to draw out capability", "more effort to draw out capability")
_MEASUREMENT: tuple[ChangeKind, str] = ("unclear", "a different measurement")
_LESS_OFTEN = ("assessed less often", "assessed more often")
_MARGIN = ("smaller margin below thresholds", "larger margin below thresholds")
_OVERSIGHT = ("less oversight", "more oversight")
_REWORDED: tuple[ChangeKind, str] = ("unclear", "reworded")


def _effort_flag(f: str) -> Direction:
    return D(
        "elicitation",
        f,
        R.TRUE,
        f"elicitation {f} {{a}} -> {{b}}{{where}}",
        f"elicitation requirement {f} dropped{{where}}",
        f"elicitation requirement {f} added{{where}}",
        _EFFORT,
    )


def _effort_amount(f: str) -> Direction:
    return D("elicitation", f, R.HIGHER, f"elicitation {f}{{where}} {{a}} -> {{b}}", why=_EFFORT)


def _keyed_roles(f: str) -> Direction:
    added, dropped = f"{f} role {{item}} added to {{key}}", f"{f} role {{item}} removed from {{key}}"
    return D("governance", f, R.MORE, dropped=dropped, added=added, why=_OVERSIGHT, keyed=True)


DIRECTIONS: tuple[Direction, ...] = (
    # whole clauses
    D("", "cadence", R.PRESENT, dropped="cadence removed", added="cadence added",
      why=("no assessment trigger", "assessments now have triggers")),
    D("", "governance", R.PRESENT, dropped="governance removed", added="governance added",
      why=("no decision owners or change process", None)),
    D("", "marginal_risk", R.ABSENT, dropped="marginal-risk clause removed",
      added="marginal-risk clause added",
      why=("safeguards may be lowered if a competitor goes ahead", "no competitor escape hatch")),
    # statistics and evidence
    D("statistics", "inconclusive_as", R.RANKED, "cannot-rule-out reading {a} -> {b}",
      why=("precautionary reading dropped", "an unresolved threshold counts as crossed"),
      ranks={"below": 0, "crossed": 1}),
    D("statistics", "confidence", R.LOWER, "confidence {a} -> {b}", why=_WIDER_BELOW,
      when=("inconclusive_as", "below")),
    D("statistics", "confidence", R.HIGHER, "confidence {a} -> {b}", why=_WIDER_CROSSED),
    D("statistics", "interval", R.RANKED, "interval {a} -> {b}", why=_WIDER_BELOW,
      ranks={k: -v for k, v in _INTERVAL_WIDTH.items()}, when=("inconclusive_as", "below")),
    D("statistics", "interval", R.RANKED, "interval {a} -> {b}", why=_WIDER_CROSSED, ranks=_INTERVAL_WIDTH),
    D("statistics", "sequential", R.NONE, "sequential {a} -> {b}", otherwise=_ANYTIME),
    D("statistics", "sequential_seed", R.NONE, "sequential_seed {a} -> {b}", otherwise=_ANYTIME),
    D("evidence", "min_samples", R.HIGHER, "min_samples {a} -> {b}",
      why=("less evidence suffices", "more evidence required")),
    D("evidence", "max_unparsed_fraction", R.LOWER, "max_unparsed_fraction {a} -> {b}",
      why=("more unreadable answers tolerated", "fewer unreadable answers tolerated")),
    # evaluations and how hard they try
    D("evals.*", "task", R.NONE, "evaluation {name} task {a} -> {b}", otherwise=_MEASUREMENT),
    D("evals.*", "metric", R.NONE, "evaluation {name} metric {a} -> {b}", otherwise=_MEASUREMENT),
    D("evals.*", "args", R.NONE, "evaluation {name} arguments changed", otherwise=_MEASUREMENT),
    D("evals.*", "chance", R.NONE, "chance of {name} {a} -> {b}",
      otherwise=("neutral", "forecast floor only")),
    D("evals.*", "description", R.NONE, "description of evaluation {name} changed"),
    *(_effort_flag(f) for f in ("without_safety_training", "fine_tune_for_misuse", "best_scaffolds",
                                "human_transcript_review", "treat_as_lower_bound")),
    *(_effort_amount(f) for f in ("max_post_training_compute_fraction", "attempts_per_task",
                                  "budget_per_attempt_usd")),
    D("elicitation", "sandbagging", R.RANKED, "sandbagging handling {a} -> {b}{where}",
      otherwise=("unclear", None), ranks={None: 0, "elicit": 1, "conservative_upper_bound": 1}),
    D("elicitation", "description", R.NONE, "elicitation description{where} changed"),
    # the zero-shot profile draws out nothing: the assessor leaves it out of both sets
    D("elicitation", "profiles", R.MORE_SET, dropped="elicitation profile(s){where} dropped: {items}",
      added="elicitation profile(s){where} added: {items}",
      why=("fewer ways tried to draw out capability", "more ways tried to draw out capability")),
    D("post_mitigation", "red_team", R.TRUE,
      dropped="red-teaming of post-mitigation evidence no longer required",
      added="red-teaming of post-mitigation evidence required",
      why=("safeguards shown to friendly prompts count", "safeguards must withstand attack")),
    D("post_mitigation", "red_team_profiles", R.MORE_SET, dropped="red-team profile(s) dropped: {items}",
      added="red-team profile(s) added: {items}",
      why=("fewer attacks tried on the safeguards", "more attacks tried on the safeguards")),
    # domains and thresholds
    D("domains.*", "status", R.RANKED, "domain {name} {a} -> {b}", why=("no longer gated", "now gated"),
      ranks={"tracked": 1, "research": 0, "ongoing_assessment": 0}),
    D("domains.*", "category", R.NONE, "domain {name} category {a} -> {b}"),
    D("domains.*", "title", R.NONE, "title of domain {name} changed"),
    D("domains.*", "description", R.NONE, "description of domain {name} changed"),
    D("domains.*.thresholds.*", "when", R.PRESENT, dropped="threshold {name} became prose-only",
      added="threshold {name} became operationalized", why=("no longer operationalized", "now measured")),
    D("domains.*.thresholds.*", "alert", R.PRESENT, dropped="alert removed from {name}",
      added="alert added to {name}", why=("buffer removed", "early warning")),
    # `both` judges the raw model (pre-mitigation view, security gates) and the safeguarded one
    # (post-mitigation view, deployment gates); dropping either view drops those gates
    D("domains.*.thresholds.*", "applies_to", R.RANKED, "threshold {name} applies to {a} -> {b}",
      why=("judged in fewer views", "judged in both views"),
      otherwise=("unclear", "judged in the other view"), ranks={"pre": 0, "post": 0, "both": 1}),
    D("domains.*.thresholds.*", "kind", R.NONE, "threshold {name} kind {a} -> {b}",
      otherwise=("unclear", "measures something else")),
    D("domains.*.thresholds.*", "label", R.NONE, "label of {name} changed"),
    D("domains.*.thresholds.*", "description", R.NONE, "prose threshold {name} changed",
      otherwise=("unclear", "its text is its only definition"), when=("when", None)),
    D("domains.*.thresholds.*", "description", R.NONE, "description of {name} changed"),
    D("domains.*.thresholds.*", "not_operationalized", R.NONE, "not-operationalized note of {name} changed"),
    # protections and safety cases
    D("protections.*", "rand_sl", R.HIGHER, "protection {name} RAND SL {a} -> {b}",
      why=("lower security level", "higher security level")),
    D("protections.*", "kind", R.NONE, "protection {name} kind {a} -> {b}", otherwise=("unclear", None)),
    D("protections.*", "description", R.NONE, "protection {name} redefined",
      otherwise=("unclear", "its text is the standard")),
    D("safety_cases.*", "combine", R.RANKED, "safety case {name} combine {a} -> {b}",
      why=("one argument suffices", "every argument must hold"), ranks={"any": 0, "all": 1}),
    # with `all` every listed argument must hold; with `any` each is an alternative
    D("safety_cases.*", "arguments", R.FEWER, dropped="safety case {name} argument {item} removed",
      added="safety case {name} argument {item} added", when=("combine", "any")),
    D("safety_cases.*", "arguments", R.MORE, dropped="safety case {name} argument {item} removed",
      added="safety case {name} argument {item} added"),
    D("safety_cases.*", "min_arguments", R.HIGHER, "safety case {name} min_arguments {a} -> {b}"),
    D("safety_cases.*", "description", R.NONE, "safety case {name} description changed",
      otherwise=("unclear", "its text is what must be argued")),
    # responses (the rest of a response is compared by what it does: responses.py)
    D("responses[].require", "before", R.MORE, dropped="requirements no longer apply before {item} {at_a}",
      added="requirements now apply before {item} {at_b}"),
    D("responses[]", "notify", R.MORE, dropped="role {item} no longer notified {at_a}",
      added="role {item} now notified {at_b}", why=_OVERSIGHT),
    D("responses[]", "description", R.NONE, "description of response {rid} changed"),
    # cadence
    D("cadence", "every_effective_compute_multiple", R.LOWER, "cadence every {a} -> {b}", why=_LESS_OFTEN,
      unit="x"),
    D("cadence", "max_days", R.LOWER, "max_days {a} -> {b}", why=_LESS_OFTEN),
    D("cadence", "post_training_months", R.LOWER, "post_training_months {a} -> {b}", why=_LESS_OFTEN),
    D("cadence", "during_training", R.TRUE, "during_training {a} -> {b}",
      why=("no assessment mid-training", "assessed mid-training")),
    D("cadence", "alerts_pause_training", R.TRUE, "alerts_pause_training {a} -> {b}",
      why=("an alert no longer pauses training", "an alert pauses training")),
    D("cadence", "shorten_on_forecast", R.TRUE, "shorten_on_forecast {a} -> {b}",
      why=("forecasts no longer bring assessments forward", "forecasts bring assessments forward")),
    D("cadence", "events", R.MORE, dropped="trigger event {item} removed from cadence",
      added="trigger event {item} added to cadence",
      why=("fewer assessment triggers", "more assessment triggers")),
    D("cadence", "buffer", R.PRESENT, dropped="safety buffer removed", added="safety buffer added",
      why=("no margin below thresholds", None)),
    D("cadence.buffer", "effective_compute_multiple", R.HIGHER, "buffer {a} -> {b}", why=_MARGIN, unit="x"),
    D("cadence.buffer", "months", R.HIGHER, "buffer months {a} -> {b}", why=_MARGIN),
    D("cadence.buffer", "description", R.NONE, "buffer description changed"),
    D("cadence", "preliminary", R.ABSENT, dropped="preliminary assessment removed",
      added="preliminary assessment added",
      why=("a preliminary assessment may find a comprehensive one not due", None)),
    # governance
    _keyed_roles("signoff"),
    _keyed_roles("inform_before"),
    D("governance", "reverse", R.MORE, dropped="reverse role {item} removed from governance",
      added="reverse role {item} added to governance",
      why=("fewer can reverse a decision", "more can reverse a decision")),
    D("governance", "restricted_fields", R.FEWER, dropped="field {item} now in public bundles",
      added="field {item} withheld from public bundles", why=("less transparency", "more transparency")),
    D("governance", "changes", R.PRESENT, dropped="change process removed", added="change process added",
      why=("changes need no approval or notice", None)),
    D("governance.changes", "approve", R.MORE, dropped="approver {item} removed from policy changes",
      added="approver {item} added to policy changes",
      why=("fewer approvals for a change", "more approvals for a change")),
    D("governance.changes", "consult", R.MORE, dropped="consulted role {item} removed from policy changes",
      added="consulted role {item} added to policy changes", why=("less consultation", "more consultation")),
    D("governance.changes", "notice_days", R.HIGHER, "notice_days {a} -> {b}",
      why=("less notice before a change", "more notice before a change")),
    D("governance.changes", "public_changelog", R.TRUE, "public_changelog {a} -> {b}",
      why=("changes no longer logged publicly", "changes logged publicly")),
    D("governance.changes", "publish_before_effective", R.TRUE, "publish_before_effective {a} -> {b}",
      why=("changes may take effect unpublished", "changes published before they apply")),
    # commitments and the competitor escape hatch
    D("commitments.*", "binding", R.TRUE, dropped="commitment {name} hedged: binding -> may",
      added="commitment {name} firmed: may -> binding"),
    D("commitments.*", "audience", R.UNORDERED, "commitment {name} audience {a} -> {b}",
      otherwise=("unclear", None)),
    D("commitments.*", "every_months", R.LOWER, "commitment {name} every_months {a} -> {b}",
      why=("less often", "more often")),
    D("commitments.*", "roles", R.MORE, dropped="role {item} removed from commitment {name}",
      added="role {item} added to commitment {name}", why=("fewer accountable", "more accountable")),
    D("commitments.*", "text", R.NONE, "commitment {name} text changed", otherwise=_REWORDED),
    D("marginal_risk", "conditions", R.MORE, dropped="marginal-risk condition {item} removed",
      added="marginal-risk condition {item} added",
      why=("the escape hatch opens more easily", "the escape hatch opens less easily")),
    D("marginal_risk", "text", R.NONE, "marginal-risk text changed", otherwise=_REWORDED),
)  # fmt: skip


_SECTIONS: dict[str, tuple[Direction, ...]] = {
    s: tuple(d for d in DIRECTIONS if d.section == s) for s in dict.fromkeys(d.section for d in DIRECTIONS)
}


def rows(section: str) -> tuple[Direction, ...]:
    """The rows of one section, in table order."""
    return _SECTIONS[section]


def direction(section: str, field: str) -> Direction:
    """The one row for a field that has no `when` alternatives."""
    (row,) = (d for d in rows(section) if d.field == field)
    return row


def fields(section: str) -> tuple[str, ...]:
    """The fields a section's rows assess: what `Context.rest` need not report."""
    return tuple(dict.fromkeys(d.field for d in rows(section)))
