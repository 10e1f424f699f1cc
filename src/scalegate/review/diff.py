"""A structural diff of two policies, and a watchdog's reading of it.

`diff_policies` is recorded with every policy adoption in the ledger, so a weakened threshold
cannot slip in unannounced (the Watchtower problem: changes noted only in a PDF).

`assess_changes` says which way each change points (DOMAIN.md §11 L15). One rule throughout:
a change is *weaker* when a gate triggers later or never, fewer protections or conditions are
required, oversight or transparency shrinks; *stronger* for the opposite; *neutral* when it
cannot move a decision (wording, citations, a rename that could be matched); *unclear* when
the direction cannot be read from the file (a different evaluation, a redefined protection,
something removed while something unmatched was added).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from rich.table import Table
from rich.text import Text

from scalegate.policy.conditions import Op, ResponseCondition, ThresholdCondition
from scalegate.policy.schema import Commitment, Domain, Elicitation, Policy, Response, SafetyBuffer, Threshold
from scalegate.review.compare import domain_category, security_level

T = TypeVar("T")


def diff_policies(old: Policy, new: Policy) -> list[str]:
    """Lines like `changed domains.cyber.thresholds.high.when.at_least: 0.7 -> 0.8`."""
    out: list[str] = []
    _walk(old.model_dump(mode="json", by_alias=True), new.model_dump(mode="json", by_alias=True), "", out)
    return out


def _walk(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a:
                if b[key] is not None:
                    out.append(f"added {sub}")
            elif key not in b:
                if a[key] is not None:
                    out.append(f"removed {sub}")
            else:
                _walk(a[key], b[key], sub, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}[{i}]", out)
    elif a != b:
        if a is None:
            out.append(f"added {path}: {b!r}")
        elif b is None:
            out.append(f"removed {path} (was {a!r})")
        else:
            out.append(f"changed {path}: {a!r} -> {b!r}")


# ---------------------------------------------------------------------------------------------
# Direction

ChangeKind = Literal["stronger", "weaker", "neutral", "unclear"]
#: The order a watchdog reads them in: what got weaker first, then what cannot be judged.
KIND_ORDER: tuple[ChangeKind, ...] = ("weaker", "unclear", "stronger", "neutral")


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    clause: str  # field path in the new policy (the old one where the clause is gone)
    summary: str


def assess_changes(old: Policy, new: Policy) -> list[Change]:
    """Every change from `old` to `new` with its direction, in policy order."""
    return _Assessor(old, new).run()


def changes_summary(changes: Sequence[Change], *, neutral: bool = True) -> str:
    """`2 weaker, 1 stronger, 0 unclear, 3 neutral`: the line a reviewer reads first. It counts
    every change, also the neutral ones a view leaves out (`neutral=False` says so)."""
    if not changes:
        return "no changes"
    counts = {k: sum(c.kind == k for c in changes) for k in KIND_ORDER}
    line = ", ".join(f"{counts[k]} {k}" for k in ("weaker", "stronger", "unclear", "neutral"))
    return line + (" (not listed; --neutral lists them)" if not neutral and counts["neutral"] else "")


def _ordered(changes: Sequence[Change], neutral: bool = True) -> list[Change]:
    return sorted(
        (c for c in changes if neutral or c.kind != "neutral"), key=lambda c: KIND_ORDER.index(c.kind)
    )


_KIND_STYLE = {"weaker": "bold red", "unclear": "yellow", "stronger": "green", "neutral": "dim"}


def changes_table(changes: Sequence[Change], *, neutral: bool = True) -> Table:
    """Weaker changes first (neutral ones only with `neutral`); the summary line is the caption."""
    t = Table(title="Policy changes", title_justify="left", caption=changes_summary(changes, neutral=neutral))
    for col in ("kind", "clause", "change"):
        t.add_column(col)
    for c in _ordered(changes, neutral):
        t.add_row(Text(c.kind, style=_KIND_STYLE[c.kind]), Text(c.clause), Text(c.summary))
    return t


def changes_markdown(changes: Sequence[Change], *, neutral: bool = True) -> str:
    """A summary line and a GitHub table, weaker changes first (neutral ones only with `neutral`)."""
    lines = [f"**{changes_summary(changes, neutral=neutral)}**"]
    listed = _ordered(changes, neutral)
    if listed:
        lines += ["", "| kind | clause | change |", "|---|---|---|"]
        for c in listed:
            cells = (c.kind, f"`{c.clause}`", c.summary)
            lines.append("| " + " | ".join(x.replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Helpers


def _fmt(x: float | int | str | bool | None) -> str:
    """Thresholds with two decimals (`0.70`), everything else as short as it goes."""
    if x is None:
        return "none"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, str):
        return x
    if isinstance(x, float) and 0 < abs(x) < 1:
        return f"{x:.2f}"
    return f"{x:g}"


def _rename_map(old: Mapping[str, T], new: Mapping[str, T], key: Callable[[str, T], Any]) -> dict[str, str]:
    """Old name -> new name: the same name, or for a name that disappeared, the one new name
    whose content key matches it and nothing else (a rename is matched only when unambiguous)."""
    out = {k: k for k in old if k in new}
    gone = [k for k in old if k not in new]
    fresh = [k for k in new if k not in old]
    for k in gone:
        ka = key(k, old[k])
        if ka is None:
            continue
        hits = [n for n in fresh if key(n, new[n]) == ka]
        rivals = [g for g in gone if key(g, old[g]) == ka]
        if len(hits) == 1 and len(rivals) == 1:
            out[k] = hits[0]
    return out


def _level_map(old: Sequence[str], new: Sequence[str]) -> dict[str, str]:
    """Levels match by name; with equally many levels, a name absent on both sides is a rename
    of the level in the same position (`medium` -> `moderate`)."""
    out = {lv: lv for lv in old if lv in new}
    if len(old) == len(new):
        for a, b in zip(old, new, strict=True):
            if a != b and a not in new and b not in old:
                out[a] = b
    return out


def _list(items: Iterable[str]) -> str:
    return ", ".join(items)


@dataclass(frozen=True)
class _Fact:
    """A response condition in the new policy's names, so old and new compare directly."""

    kind: str  # level | evidence | alert | effective_compute | training_compute | all | any | not
    side: str = ""
    rank: int | None = None
    domains: frozenset[str] | None = None
    confirmed: bool | None = None
    statuses: frozenset[str] = frozenset()
    value: float | None = None
    alert: bool | None = None
    children: tuple[_Fact, ...] = ()
    text: str = field(default="", compare=False)


def _implies(a: _Fact, b: _Fact) -> bool:
    """True when `a` holding is known to make `b` hold (sound, not complete)."""
    if a == b:
        return True
    if b.kind == "all" and all(_implies(a, c) for c in b.children):
        return True
    if a.kind == "any" and all(_implies(c, b) for c in a.children):
        return True
    if b.kind == "any" and any(_implies(a, c) for c in b.children):
        return True
    if a.kind == "all" and any(_implies(c, b) for c in a.children):
        return True
    if a.kind != b.kind:
        return False
    if a.kind == "not":
        return _implies(b.children[0], a.children[0])
    narrower = b.domains is None or (a.domains is not None and a.domains <= b.domains)
    if a.kind == "level":
        return (
            a.side == b.side
            and a.rank is not None
            and b.rank is not None
            and a.rank >= b.rank
            and narrower
            and (b.confirmed is None or a.confirmed == b.confirmed)
        )
    if a.kind == "alert":
        return a.alert == b.alert and narrower
    if a.kind == "evidence":
        return a.statuses <= b.statuses
    if a.kind in ("effective_compute", "training_compute"):
        return a.value is not None and b.value is not None and a.value >= b.value
    return False


Effect = tuple[str, ...]


def _effects_text(effects: Iterable[Effect]) -> str:
    blocks = sorted({e[1] for e in effects if e[0] == "block"})
    prots = sorted({e[1].lstrip("?") for e in effects if e[0] == "protect"})
    cases = sorted({e[1] for e in effects if e[0] == "case"})
    roles = sorted({e[1] for e in effects if e[0] == "notify"})
    obligations = sum(e[0] == "obligation" for e in effects)
    parts = []
    if blocks:
        parts.append(f"blocks {_list(blocks)}")
    if prots:
        parts.append(f"requires {_list(prots)}")
    if cases:
        parts.append(f"safety case {_list(cases)}")
    if roles:
        parts.append(f"notifies {_list(roles)}")
    if obligations:
        parts.append(f"{obligations} obligation(s)")
    return "; ".join(parts)


_ELICITATION_FLAGS = (
    "without_safety_training",
    "fine_tune_for_misuse",
    "best_scaffolds",
    "human_transcript_review",
    "treat_as_lower_bound",
)
# more is more effort to draw out capability
_ELICITATION_AMOUNTS = ("max_post_training_compute_fraction", "attempts_per_task", "budget_per_attempt_usd")
_CITATION = ("source", "tag")
_CADENCE_FIELDS = (
    "every_effective_compute_multiple",
    "max_days",
    "post_training_months",
    "during_training",
    "alerts_pause_training",
    "shorten_on_forecast",
    "events",
)
_POLICY_FIELDS = (
    "scalegate",
    "policy",
    "levels",
    "actions",
    "statistics",
    "evidence",
    "evals",
    "elicitation",
    "post_mitigation",
    "domains",
    "protections",
    "safety_cases",
    "responses",
    "cadence",
    "governance",
    "commitments",
    "marginal_risk",
)
# how wide each interval method is at the same confidence: an exact interval is wider than
# Wilson, and a confidence sequence (valid at every sample size) wider still
_INTERVAL_WIDTH = {"wilson": 0, "clopper_pearson": 1, "confidence_sequence": 2}


class _Assessor:
    def __init__(self, old: Policy, new: Policy) -> None:
        self.old, self.new = old, new
        self.out: list[Change] = []
        self.levels = _level_map(old.levels, new.levels)
        self.evals = _rename_map(
            old.evals, new.evals, lambda _, e: (e.task, json.dumps(e.args, sort_keys=True), e.metric)
        )
        self.protections = _rename_map(
            old.protections, new.protections, lambda _, p: (p.description, p.kind, p.rand_sl)
        )
        self.domains = self._match_domains()
        self._norm_old = [self._norm(r.if_, old=True) for r in old.responses]
        self._norm_new = [self._norm(r.if_, old=False) for r in new.responses]
        self._eff_old = [self._effects(r, old=True) for r in old.responses]
        self._eff_new = [self._effects(r, old=False) for r in new.responses]

    def add(self, kind: ChangeKind, clause: str, what: str, why: str | None = None) -> None:
        self.out.append(Change(kind, clause, f"{what} ({kind}: {why})" if why else f"{what} ({kind})"))

    def run(self) -> list[Change]:
        self._meta()
        self._levels_and_actions()
        self._statistics()
        self._evals()
        self._elicitation("elicitation", self.old.elicitation, self.new.elicitation)
        self._post_mitigation()
        self._domains()
        self._protections()
        self._safety_cases()
        self._responses()
        self._cadence()
        self._governance()
        self._commitments()
        self._marginal_risk()
        self.rest("policy", self.old, self.new, _POLICY_FIELDS)
        if not self.out:
            # nothing assessed but the text differs: never report "no changes" for a change
            for line in diff_policies(self.old, self.new):
                path = line.split(" ", 1)[1].split(":", 1)[0].split(" ", 1)[0]
                self.add("unclear", path, line, "not assessed")
        return self.out

    # --- generic comparisons -------------------------------------------------------------

    def amount(
        self,
        clause: str,
        what: str,
        a: float | int | None,
        b: float | int | None,
        more: ChangeKind,
        why: tuple[str, str] | None = None,
        unit: str = "",
    ) -> None:
        """A number where `more` says what a higher value means. An absent value is the
        weakest end: no trigger, no buffer, no requirement."""
        if a == b:
            return
        less: ChangeKind = "weaker" if more == "stronger" else "stronger"
        if a is None or b is None:
            kind: ChangeKind = "stronger" if a is None else "weaker"
        else:
            kind = more if b > a else less
        reason = None if why is None else (why[0] if kind == "weaker" else why[1])
        fa = "none" if a is None else _fmt(a) + unit
        fb = "none" if b is None else _fmt(b) + unit
        self.add(kind, clause, f"{what} {fa} -> {fb}", reason)

    def flag(self, clause: str, what: str, a: bool | None, b: bool | None, why: tuple[str, str]) -> None:
        """A yes/no where yes is the stronger commitment (unset counts as no)."""
        if bool(a) == bool(b):
            if a != b:
                self.add("neutral", clause, f"{what} {_fmt(a)} -> {_fmt(b)}")
            return
        self.add(
            "stronger" if b else "weaker", clause, f"{what} {_fmt(a)} -> {_fmt(b)}", why[1] if b else why[0]
        )

    def roles(self, clause: str, what: str, a: Iterable[str], b: Iterable[str], why: tuple[str, str]) -> None:
        """Roles (or other names) where more is more oversight."""
        sa, sb = list(a), list(b)
        for r in sa:
            if r not in sb:
                self.add("weaker", clause, f"{what.format(r=r, verb='removed from')}", why[0])
        for r in sb:
            if r not in sa:
                self.add("stronger", clause, f"{what.format(r=r, verb='added to')}", why[1])

    def text(
        self, clause: str, what: str, a: Any, b: Any, kind: ChangeKind = "neutral", why: str | None = None
    ) -> None:
        if a != b:
            self.add(kind, clause, f"{what} changed", why)

    def rest(self, clause: str, a: BaseModel, b: BaseModel, handled: Iterable[str]) -> None:
        """Fields added to the schema after this module: reported as unclear, never silently."""
        known = set(handled) | set(_CITATION)
        for fld in type(a).model_fields:
            if fld not in known and getattr(a, fld, None) != getattr(b, fld, None):
                self.add("unclear", f"{clause}.{fld}", f"{clause}.{fld} changed", "not assessed")

    def citation(self, clause: str, a: Any, b: Any) -> None:
        for f in _CITATION:
            if getattr(a, f) != getattr(b, f):
                self.add("neutral", f"{clause}.{f}", f"citation {f} of {clause} changed")

    # --- sections ------------------------------------------------------------------------

    def _meta(self) -> None:
        a, b = self.old.policy, self.new.policy
        for f in ("name", "version", "effective", "owner", "description"):
            va, vb = getattr(a, f), getattr(b, f)
            if va != vb:
                fa, fb = (_short(_fmt(str(v) if v else None), 40) for v in (va, vb))
                self.add("neutral", f"policy.{f}", f"policy {f} {fa} -> {fb}")

    def _levels_and_actions(self) -> None:
        a, b = self.old.levels, self.new.levels
        if a != b:
            renames = {k: v for k, v in self.levels.items() if k != v}
            kept = [lv for lv in a if lv in self.levels]
            in_order = [self.levels[lv] for lv in kept] == [lv for lv in b if lv in self.levels.values()]
            if len(kept) == len(a) and in_order:
                what = f"levels {' < '.join(a)} -> {' < '.join(b)}"
                why = "renamed " + _list(f"{k} -> {v}" for k, v in renames.items()) if renames else None
                self.add("neutral", "levels", what, why)
            else:
                self.add(
                    "unclear",
                    "levels",
                    f"levels {' < '.join(a)} -> {' < '.join(b)}",
                    "levels removed or reordered; thresholds on them no longer line up",
                )
        for act in self.old.actions:
            if act not in self.new.actions:
                self.add("weaker", "actions", f"action {act} no longer gated", "nothing blocks it")
        for act in self.new.actions:
            if act not in self.old.actions:
                self.add("neutral", "actions", f"action {act} added", "gated by the responses that name it")

    def _statistics(self) -> None:
        a, b = self.old.statistics, self.new.statistics
        if a.inconclusive_as != b.inconclusive_as:
            self.add(
                "weaker" if b.inconclusive_as == "below" else "stronger",
                "statistics.inconclusive_as",
                f"cannot-rule-out reading {a.inconclusive_as} -> {b.inconclusive_as}",
                "precautionary reading dropped"
                if b.inconclusive_as == "below"
                else "an unresolved threshold counts as crossed",
            )
        # A wider interval leaves more comparisons inconclusive: stronger when those count as
        # crossed, weaker when they count as below.
        if b.inconclusive_as == "crossed":
            wider: ChangeKind = "stronger"
            why = ("fewer unresolved results read as crossed", "more unresolved results read as crossed")
        else:
            wider = "weaker"
            why = ("more unresolved results read as below", "fewer unresolved results read as below")
        narrower: ChangeKind = "weaker" if wider == "stronger" else "stronger"
        self.amount("statistics.confidence", "confidence", a.confidence, b.confidence, wider, why)
        if a.interval != b.interval:
            wa, wb = _INTERVAL_WIDTH.get(a.interval), _INTERVAL_WIDTH.get(b.interval)
            kind: ChangeKind = "unclear" if wa is None or wb is None else wider if wb > wa else narrower
            reason = None if kind == "unclear" else why[0] if kind == "weaker" else why[1]
            self.add(kind, "statistics.interval", f"interval {a.interval} -> {b.interval}", reason)
        for fld in ("sequential", "sequential_seed"):
            va, vb = getattr(a, fld, None), getattr(b, fld, None)
            if va != vb:
                self.add(
                    "neutral",
                    f"statistics.{fld}",
                    f"{fld} {_fmt(va)} -> {_fmt(vb)}",
                    "an anytime-valid interval keeps its error rate when stopped early",
                )
        self.rest(
            "statistics", a, b, ("confidence", "interval", "inconclusive_as", "sequential", "sequential_seed")
        )
        e, f = self.old.evidence, self.new.evidence
        self.amount(
            "evidence.min_samples",
            "min_samples",
            e.min_samples,
            f.min_samples,
            "stronger",
            ("less evidence suffices", "more evidence required"),
        )
        self.amount(
            "evidence.max_unparsed_fraction",
            "max_unparsed_fraction",
            e.max_unparsed_fraction,
            f.max_unparsed_fraction,
            "weaker",
            ("more unreadable answers tolerated", "fewer unreadable answers tolerated"),
        )
        self.rest("evidence", e, f, ("min_samples", "max_unparsed_fraction"))

    def _evals(self) -> None:
        for name, spec in self.old.evals.items():
            new_name = self.evals.get(name)
            if new_name is None:
                self.add(
                    "neutral",
                    f"evals.{name}",
                    f"evaluation {name} no longer declared",
                    "thresholds that read it are assessed on their own",
                )
                continue
            clause = f"evals.{new_name}"
            other = self.new.evals[new_name]
            if new_name != name:
                self.add("neutral", clause, f"evaluation {name} renamed to {new_name}")
            for f in ("task", "metric"):
                if getattr(spec, f) != getattr(other, f):
                    self.add(
                        "unclear",
                        f"{clause}.{f}",
                        f"evaluation {new_name} {f} {getattr(spec, f)} -> {getattr(other, f)}",
                        "a different measurement",
                    )
            if spec.args != other.args:
                self.add(
                    "unclear",
                    f"{clause}.args",
                    f"evaluation {new_name} arguments changed",
                    "a different measurement",
                )
            if spec.chance != other.chance:
                self.add(
                    "neutral",
                    f"{clause}.chance",
                    f"chance of {new_name} {_fmt(spec.chance)} -> {_fmt(other.chance)}",
                    "forecast floor only",
                )
            self.text(
                f"{clause}.description",
                f"description of evaluation {new_name}",
                spec.description,
                other.description,
            )
            self.citation(clause, spec, other)
            self.rest(clause, spec, other, ("task", "args", "metric", "description", "chance", "elicitation"))
            if spec.elicitation != other.elicitation:
                # an eval's elicitation replaces the policy-wide one: compare what applies
                self._elicitation(
                    f"{clause}.elicitation",
                    spec.elicitation or self.old.elicitation,
                    other.elicitation or self.new.elicitation,
                )
        for name in self.new.evals:
            if name not in self.evals.values():
                self.add("neutral", f"evals.{name}", f"evaluation {name} added")

    def _elicitation(self, clause: str, a: Elicitation | None, b: Elicitation | None) -> None:
        ea, eb = a or Elicitation(), b or Elicitation()
        where = "" if clause == "elicitation" else f" ({clause.rsplit('.', 1)[0]})"
        for f in _ELICITATION_FLAGS:
            va, vb = getattr(ea, f), getattr(eb, f)
            if bool(va) and not vb:
                self.add(
                    "weaker",
                    f"{clause}.{f}",
                    f"elicitation requirement {f} dropped{where}",
                    "less effort to draw out capability",
                )
            elif vb and not va:
                self.add(
                    "stronger",
                    f"{clause}.{f}",
                    f"elicitation requirement {f} added{where}",
                    "more effort to draw out capability",
                )
            elif va != vb:
                self.add("neutral", f"{clause}.{f}", f"elicitation {f} {_fmt(va)} -> {_fmt(vb)}{where}")
        for f in _ELICITATION_AMOUNTS:
            self.amount(
                f"{clause}.{f}",
                f"elicitation {f}{where}",
                getattr(ea, f),
                getattr(eb, f),
                "stronger",
                ("less effort to draw out capability", "more effort to draw out capability"),
            )
        if ea.sandbagging != eb.sandbagging:
            kind: ChangeKind = (
                "stronger" if ea.sandbagging is None else "weaker" if eb.sandbagging is None else "unclear"
            )
            self.add(
                kind,
                f"{clause}.sandbagging",
                f"sandbagging handling {_fmt(ea.sandbagging)} -> {_fmt(eb.sandbagging)}{where}",
            )
        self.text(f"{clause}.description", f"elicitation description{where}", ea.description, eb.description)
        self.named_set(
            f"{clause}.profiles",
            f"elicitation profile(s){where}",
            set(ea.profiles or []) - {"zero_shot"},
            set(eb.profiles or []) - {"zero_shot"},
            ("fewer ways tried to draw out capability", "more ways tried to draw out capability"),
        )
        self.citation(clause, ea, eb)
        handled = (*_ELICITATION_FLAGS, *_ELICITATION_AMOUNTS, "sandbagging", "description", "profiles")
        self.rest(clause, ea, eb, handled)

    def named_set(self, clause: str, what: str, a: set[str], b: set[str], why: tuple[str, str]) -> None:
        """Names whose presence is protective: dropping one is weaker, adding one stronger."""
        if a - b:
            self.add("weaker", clause, f"{what} dropped: {_list(sorted(a - b))}", why[0])
        if b - a:
            self.add("stronger", clause, f"{what} added: {_list(sorted(b - a))}", why[1])

    def _post_mitigation(self) -> None:
        a, b = self.old.post_mitigation, self.new.post_mitigation
        if a == b:
            return
        if a is None or b is None:
            what = "added" if a is None else "removed"
            self.add(
                "unclear",
                "post_mitigation",
                f"post-mitigation evidence clause {what}",
                "without it the safeguarded system is judged on the raw model's evidence",
            )
            return
        if a.red_team != b.red_team:
            self.add(
                "stronger" if b.red_team else "weaker",
                "post_mitigation.red_team",
                "red-teaming of post-mitigation evidence "
                + ("required" if b.red_team else "no longer required"),
                "safeguards must withstand attack"
                if b.red_team
                else "safeguards shown to friendly prompts count",
            )
        self.named_set(
            "post_mitigation.red_team_profiles",
            "red-team profile(s)",
            set(a.red_team_profiles),
            set(b.red_team_profiles),
            ("fewer attacks tried on the safeguards", "more attacks tried on the safeguards"),
        )
        self.citation("post_mitigation", a, b)
        self.rest("post_mitigation", a, b, ("red_team", "red_team_profiles"))

    # --- domains and thresholds ----------------------------------------------------------

    def _match_domains(self) -> dict[str, str]:
        def key(name: str, d: Domain) -> Any:
            return d.title.strip().lower()

        by_title = _rename_map(self.old.domains, self.new.domains, key)

        def category(name: str, d: Domain) -> Any:
            cat = domain_category(name, d)
            return None if cat == "other" else cat

        rest_old = {k: v for k, v in self.old.domains.items() if k not in by_title}
        rest_new = {k: v for k, v in self.new.domains.items() if k not in by_title.values()}
        by_cat = _rename_map(rest_old, rest_new, category)
        return by_title | by_cat

    def _domains(self) -> None:
        """A dropped domain is weaker unless an unmatched new domain could be its rename (same
        category, or either uncategorized); then it is unclear, and so is the new one."""
        gone = [d for d in self.old.domains if d not in self.domains]
        fresh = [d for d in self.new.domains if d not in self.domains.values()]
        cat_old = {d: domain_category(d, self.old.domains[d]) for d in gone}
        cat_new = {d: domain_category(d, self.new.domains[d]) for d in fresh}

        def may_be(a: str, b: str) -> bool:
            return a == b or "other" in (a, b)

        for name, new_name in self.domains.items():
            if name != new_name:
                self.add("neutral", f"domains.{new_name}", f"domain {name} renamed to {new_name}")
            self._domain(name, self.old.domains[name], new_name, self.new.domains[new_name])
        for name in gone:
            rivals = [d for d in fresh if may_be(cat_old[name], cat_new[d])]
            if rivals:
                why = f"may be renamed to {_few(rivals)}"
                self.add("unclear", f"domains.{name}", f"domain {name} dropped", why)
            else:
                self.add("weaker", f"domains.{name}", f"domain {name} dropped")
        for name in fresh:
            rivals = [d for d in gone if may_be(cat_old[d], cat_new[name])]
            if rivals:
                self.add(
                    "unclear", f"domains.{name}", f"domain {name} added", f"may be a rename of {_few(rivals)}"
                )
            else:
                self.add("stronger", f"domains.{name}", f"domain {name} added")

    def _domain(self, name: str, a: Domain, new_name: str, b: Domain) -> None:
        clause = f"domains.{new_name}"
        if a.status != b.status:
            kind: ChangeKind = (
                "weaker" if a.status == "tracked" else "stronger" if b.status == "tracked" else "neutral"
            )
            why = {"weaker": "no longer gated", "stronger": "now gated"}.get(kind)
            self.add(kind, f"{clause}.status", f"domain {new_name} {a.status} -> {b.status}", why)
        if a.category != b.category:
            self.add(
                "neutral", f"{clause}.category", f"domain {new_name} category {a.category} -> {b.category}"
            )
        self.text(f"{clause}.title", f"title of domain {new_name}", a.title, b.title)
        self.text(f"{clause}.description", f"description of domain {new_name}", a.description, b.description)
        self.citation(clause, a, b)
        self.rest(clause, a, b, ("title", "description", "category", "status", "thresholds"))

        matched = {lv: self.levels[lv] for lv in a.thresholds if self.levels.get(lv) in b.thresholds}
        gone = [lv for lv in a.thresholds if lv not in matched]
        fresh = [lv for lv in b.thresholds if lv not in matched.values()]
        # One threshold moved to another level with the same condition. A domain's level is
        # the highest one not ruled out, and responses fire "at least" a level: the same result
        # marking a higher level fires more responses.
        if (
            len(gone) == 1
            and len(fresh) == 1
            and self._same_when(a.thresholds[gone[0]], b.thresholds[fresh[0]])
        ):
            lo, ln = gone[0], fresh[0]
            rank_old = self.new.level_rank(self.levels[lo]) if lo in self.levels else None
            if rank_old is None:
                self.add("unclear", f"{clause}.thresholds.{ln}", f"threshold {new_name}.{lo} moved to {ln}")
            else:
                up = self.new.level_rank(ln) > rank_old
                self.add(
                    "stronger" if up else "weaker",
                    f"{clause}.thresholds.{ln}",
                    f"threshold {new_name}.{lo} moved to level {ln}",
                    "the same result now marks a higher level"
                    if up
                    else "the same result marks a lower level",
                )
            matched[lo] = ln
            gone, fresh = [], []
        for lo, ln in matched.items():
            self._threshold(
                f"{clause}.thresholds.{ln}", f"{new_name}.{ln}", a.thresholds[lo], b.thresholds[ln]
            )
        for lv in gone:
            self.add(
                "weaker",
                f"{clause}.thresholds.{lv}",
                f"threshold {new_name}.{lv} removed",
                "nothing marks this level",
            )
        for lv in fresh:
            self.add("stronger", f"{clause}.thresholds.{lv}", f"threshold {new_name}.{lv} added")

    def _same_when(self, a: Threshold, b: Threshold) -> bool:
        if a.when is None or b.when is None:
            return False
        return bool(self._tc_old(a.when) == self._tc_new(b.when))

    def _threshold(self, clause: str, name: str, a: Threshold, b: Threshold) -> None:
        if a.when is not None and b.when is None:
            self.add(
                "weaker", f"{clause}.when", f"threshold {name} became prose-only", "no longer operationalized"
            )
        elif a.when is None and b.when is not None:
            self.add("stronger", f"{clause}.when", f"threshold {name} became operationalized", "now measured")
        elif a.when is not None and b.when is not None:
            for kind, detail in self._cond(a.when, b.when, 1):
                why = {"weaker": "crossed later", "stronger": "crossed earlier"}.get(kind, "cannot compare")
                self.add(kind, f"{clause}.when", f"threshold {name} {detail}", why)
        if a.alert is not None and b.alert is None:
            self.add("weaker", f"{clause}.alert", f"alert removed from {name}", "buffer removed")
        elif a.alert is None and b.alert is not None:
            self.add("stronger", f"{clause}.alert", f"alert added to {name}", "early warning")
        elif a.alert is not None and b.alert is not None:
            for kind, detail in self._cond(a.alert, b.alert, 1):
                why = {"weaker": "fires later", "stronger": "fires earlier"}.get(kind, "cannot compare")
                self.add(kind, f"{clause}.alert", f"alert {name} {detail}", why)
        if a.applies_to != b.applies_to:
            kind, why = _applies_to_direction(a.applies_to, b.applies_to)
            self.add(
                kind,
                f"{clause}.applies_to",
                f"threshold {name} applies to {a.applies_to} -> {b.applies_to}",
                why,
            )
        if a.kind != b.kind:
            self.add(
                "unclear",
                f"{clause}.kind",
                f"threshold {name} kind {a.kind} -> {b.kind}",
                "measures something else",
            )
        self.text(f"{clause}.label", f"label of {name}", a.label, b.label)
        if b.when is None:
            self.text(
                f"{clause}.description",
                f"prose threshold {name}",
                a.description,
                b.description,
                "unclear",
                "its text is its only definition",
            )
        else:
            self.text(f"{clause}.description", f"description of {name}", a.description, b.description)
        self.text(
            f"{clause}.not_operationalized",
            f"not-operationalized note of {name}",
            a.not_operationalized,
            b.not_operationalized,
        )
        self.citation(clause, a, b)
        self.rest(
            clause,
            a,
            b,
            ("description", "label", "kind", "applies_to", "when", "alert", "not_operationalized"),
        )

    # threshold conditions: `pol` is +1 where the condition holding means "crossed", -1 under `not`

    def _tc(self, c: ThresholdCondition, old: bool) -> Any:
        def walk(x: Any) -> Any:
            if isinstance(x, dict):
                out = {k: walk(v) for k, v in x.items()}
                if old and isinstance(out.get("eval"), str):
                    out["eval"] = self.evals.get(out["eval"], "?" + out["eval"])
                if old and isinstance(out.get("evals"), list):
                    out["evals"] = [self.evals.get(e, "?" + e) for e in out["evals"]]
                return out
            if isinstance(x, list):
                return [walk(v) for v in x]
            return x

        return walk(c.model_dump(mode="json", by_alias=True, exclude_none=True))

    def _tc_old(self, c: ThresholdCondition) -> Any:
        return self._tc(c, old=True)

    def _tc_new(self, c: ThresholdCondition) -> Any:
        return self._tc(c, old=False)

    @staticmethod
    def _ease(easier: bool, pol: int) -> ChangeKind:
        return "stronger" if easier == (pol > 0) else "weaker"

    def _metric(self, c: ThresholdCondition, policy: Policy) -> str:
        spec = policy.evals.get(c.eval or "")
        return c.metric or (spec.metric if spec else "accuracy")

    def _cond(self, a: ThresholdCondition, b: ThresholdCondition, pol: int) -> list[tuple[ChangeKind, str]]:
        if self._tc_old(a) == self._tc_new(b):
            return []
        if a.eval is not None and b.eval is not None:
            if self.evals.get(a.eval) != b.eval:
                return [("unclear", f"now reads {b.eval} instead of {a.eval}")]
            ma, mb = self._metric(a, self.old), self._metric(b, self.new)
            if ma != mb:
                return [("unclear", f"metric {ma} -> {mb}")]
            ba, bb = a.bound(), b.bound()
            assert ba is not None and bb is not None
            if ba.op is not bb.op:
                return [("unclear", "comparison flipped between at_least and at_most")]
            x, y = ba.value, bb.value
            if x == y:
                return []
            # at_least crosses sooner when lowered; at_most (crossed at or below) when raised
            easier = y < x if ba.op is Op.at_least else y > x
            verb = "raised" if y > x else "lowered"
            prefix = "" if ba.op is Op.at_least else "at_most "
            return [(self._ease(easier, pol), f"{prefix}{verb} from {_fmt(x)} to {_fmt(y)}")]
        if a.suite is not None and b.suite is not None:
            sa, sb = a.suite, b.suite
            if {self.evals.get(e) for e in sa.evals} != set(sb.evals):
                return [("unclear", "suite tasks changed")]
            if sa.metric != sb.metric:
                return [("unclear", f"suite metric {sa.metric} -> {sb.metric}")]
            out: list[tuple[ChangeKind, str]] = []
            if sa.attempts != sb.attempts:  # more attempts: a task passes more easily
                out.append(
                    (
                        self._ease(sb.attempts > sa.attempts, pol),
                        f"suite attempts {sa.attempts} -> {sb.attempts}",
                    )
                )
            if sa.pass_at != sb.pass_at:
                out.append(
                    (self._ease(sb.pass_at < sa.pass_at, pol), f"suite pass_at {sa.pass_at} -> {sb.pass_at}")
                )
            if sa.at_least_fraction != sb.at_least_fraction:
                out.append(
                    (
                        self._ease(sb.at_least_fraction < sa.at_least_fraction, pol),
                        f"suite share of tasks {_fmt(sa.at_least_fraction)} -> {_fmt(sb.at_least_fraction)}",
                    )
                )
            return out
        if a.not_ is not None and b.not_ is not None:
            return self._cond(a.not_, b.not_, -pol)
        ca, cb = a.all or a.any, b.all or b.any
        if ca and cb:
            out = []
            if (a.all is None) != (b.all is None):
                # `any` holds whenever `all` does
                out.append(
                    (
                        self._ease(b.any is not None, pol),
                        f"combination {'all' if a.all else 'any'} -> {'all' if b.all else 'any'}",
                    )
                )
            pairs, removed, added = self._pair(ca, cb)
            for part_a, part_b in pairs:
                out.extend(self._cond(part_a, part_b, pol))
            for part in removed:  # dropping a part of `all` makes it easier, of `any` harder
                out.append((self._ease(a.all is not None, pol), f"part {_tc_text(part)} removed"))
            for part in added:
                out.append((self._ease(b.any is not None, pol), f"part {_tc_text(part)} added"))
            return out
        return [("unclear", f"condition {_tc_text(a)} -> {_tc_text(b)}")]

    def _pair(
        self, ca: list[ThresholdCondition], cb: list[ThresholdCondition]
    ) -> tuple[
        list[tuple[ThresholdCondition, ThresholdCondition]],
        list[ThresholdCondition],
        list[ThresholdCondition],
    ]:
        """Parts of an all/any: identical ones first, then ones reading the same evals."""
        left, right = list(ca), list(cb)
        pairs: list[tuple[ThresholdCondition, ThresholdCondition]] = []
        for x in list(left):
            for y in right:
                if self._tc_old(x) == self._tc_new(y):
                    pairs.append((x, y))
                    left.remove(x)
                    right.remove(y)
                    break

        def sig(c: ThresholdCondition, old: bool) -> Any:
            evals = c.evals()
            names = sorted(self.evals.get(e, "?" + e) for e in evals) if old else sorted(evals)
            form = next(f for f in ("eval", "suite", "all", "any", "not_") if getattr(c, f) is not None)
            return (form, tuple(names))

        for x in list(left):
            hits = [y for y in right if sig(y, False) == sig(x, True)]
            rivals = [z for z in left if sig(z, True) == sig(x, True)]
            if len(hits) == 1 and len(rivals) == 1:
                pairs.append((x, hits[0]))
                left.remove(x)
                right.remove(hits[0])
        return pairs, left, right

    # --- protections and safety cases ----------------------------------------------------

    def _protections(self) -> None:
        for name, a in self.old.protections.items():
            new_name = self.protections.get(name)
            if new_name is None:
                self.add(
                    "neutral",
                    f"protections.{name}",
                    f"protection {name} no longer declared",
                    "requirements are assessed in responses",
                )
                continue
            b = self.new.protections[new_name]
            clause = f"protections.{new_name}"
            if new_name != name:
                self.add("neutral", clause, f"protection {name} renamed to {new_name}")
            sa, sb = security_level(name, a), security_level(new_name, b)
            if sa != sb:
                self.amount(
                    f"{clause}.rand_sl",
                    f"protection {new_name} RAND SL",
                    sa,
                    sb,
                    "stronger",
                    ("lower security level", "higher security level"),
                )
            if a.kind != b.kind:
                self.add("unclear", f"{clause}.kind", f"protection {new_name} kind {a.kind} -> {b.kind}")
            if a.description != b.description:
                self.add(
                    "unclear",
                    f"{clause}.description",
                    f"protection {new_name} redefined",
                    "its text is the standard",
                )
            self.citation(clause, a, b)
            self.rest(clause, a, b, ("description", "kind", "rand_sl"))
        for name in self.new.protections:
            if name not in self.protections.values():
                self.add("neutral", f"protections.{name}", f"protection {name} declared")

    def _safety_cases(self) -> None:
        for name, a in self.old.safety_cases.items():
            b = self.new.safety_cases.get(name)
            clause = f"safety_cases.{name}"
            if b is None:
                self.add(
                    "neutral",
                    clause,
                    f"safety case {name} no longer declared",
                    "requirements are assessed in responses",
                )
                continue
            if a.combine != b.combine:
                self.add(
                    "weaker" if b.combine == "any" else "stronger",
                    f"{clause}.combine",
                    f"safety case {name} combine {a.combine} -> {b.combine}",
                    "one argument suffices" if b.combine == "any" else "every argument must hold",
                )
            lost = [x for x in a.arguments if x not in b.arguments]
            won = [x for x in b.arguments if x not in a.arguments]
            # with `all` every listed argument must hold; with `any` each is an alternative
            for x in lost:
                self.add(
                    "weaker" if b.combine == "all" else "stronger",
                    f"{clause}.arguments",
                    f"safety case {name} argument {x} removed",
                )
            for x in won:
                self.add(
                    "stronger" if b.combine == "all" else "weaker",
                    f"{clause}.arguments",
                    f"safety case {name} argument {x} added",
                )
            self.amount(
                f"{clause}.min_arguments",
                f"safety case {name} min_arguments",
                a.min_arguments,
                b.min_arguments,
                "stronger",
            )
            self.text(
                f"{clause}.description",
                f"safety case {name} description",
                a.description,
                b.description,
                "unclear",
                "its text is what must be argued",
            )
            self.citation(clause, a, b)
            self.rest(clause, a, b, ("description", "arguments", "combine", "min_arguments"))
        for name in self.new.safety_cases:
            if name not in self.old.safety_cases:
                self.add("neutral", f"safety_cases.{name}", f"safety case {name} declared")

    # --- responses -----------------------------------------------------------------------

    def _norm(self, c: ResponseCondition, old: bool) -> _Fact:
        def rank(level: str) -> int | None:
            if old:
                mapped = self.levels.get(level)
                return None if mapped is None else self.new.level_rank(mapped)
            return self.new.level_rank(level) if level in self.new.levels else None

        doms = None
        if c.domains is not None:
            doms = frozenset((self.domains.get(d, "?" + d) if old else d) for d in c.domains)
        text = _when(c)
        for side in ("pre", "post"):
            level = getattr(c, f"{side}_mitigation_at_least")
            if level is not None:
                return _Fact(
                    "level", side=side, rank=rank(level), domains=doms, confirmed=c.confirmed, text=text
                )
        if c.alert is not None:
            return _Fact("alert", alert=c.alert, domains=doms, text=text)
        if c.evidence is not None:
            return _Fact("evidence", statuses=frozenset(c.evidence), text=text)
        if c.effective_compute_at_least is not None:
            return _Fact("effective_compute", value=c.effective_compute_at_least, text=text)
        if c.training_compute_at_least is not None:
            return _Fact("training_compute", value=c.training_compute_at_least, text=text)
        form = "all" if c.all is not None else "any" if c.any is not None else "not"
        return _Fact(form, children=tuple(self._norm(x, old) for x in c.children()), text=text)

    def _effects(self, r: Response, old: bool) -> set[Effect]:
        policy = self.old if old else self.new
        out: set[Effect] = {("block", a) for a in r.block}
        if r.require:
            before = r.require.before or policy.actions
            for prot in r.require.protections:
                name = self.protections.get(prot, "?" + prot) if old else prot
                out |= {("protect", name, a) for a in before}
            if r.require.safety_case:
                out |= {("case", r.require.safety_case, a) for a in before}
        out |= {("notify", role) for role in r.notify}
        out |= {("obligation", text) for text in r.obligations}
        return out

    def _covered(self, cond: _Fact, effect: Effect, in_new: bool) -> str | None:
        """The response on the other side that provides `effect` whenever `cond` holds."""
        policy = self.new if in_new else self.old
        norms, effs = (self._norm_new, self._eff_new) if in_new else (self._norm_old, self._eff_old)
        for j in range(len(policy.responses)):
            if effect in effs[j] and _implies(cond, norms[j]):
                return policy.response_id(j)
        return None

    def _match_responses(self) -> list[tuple[int | None, int | None]]:
        old, new = self.old.responses, self.new.responses
        pairs: list[tuple[int | None, int | None]] = []
        new_ids = {r.id: j for j, r in enumerate(new) if r.id}
        used_old: set[int] = set()
        used_new: set[int] = set()
        for i, r in enumerate(old):
            if r.id and r.id in new_ids:
                pairs.append((i, new_ids[r.id]))
                used_old.add(i)
                used_new.add(new_ids[r.id])
        for i in range(len(old)):
            if i in used_old:
                continue
            for j in range(len(new)):
                if j not in used_new and self._norm_old[i] == self._norm_new[j]:
                    pairs.append((i, j))
                    used_old.add(i)
                    used_new.add(j)
                    break
        rest_old = [i for i in range(len(old)) if i not in used_old and not old[i].id]
        rest_new = [j for j in range(len(new)) if j not in used_new and not new[j].id]
        if rest_old and len(rest_old) == len(rest_new):
            pairs += list(zip(rest_old, rest_new, strict=True))
            used_old |= set(rest_old)
            used_new |= set(rest_new)
        pairs += [(i, None) for i in range(len(old)) if i not in used_old]
        pairs += [(None, j) for j in range(len(new)) if j not in used_new]
        return pairs

    def _responses(self) -> None:
        for i, j in self._match_responses():
            if i is not None and j is not None:
                self._response_pair(i, j)
            elif i is not None:
                rid = self.old.response_id(i)
                rclause = _response_clause(rid)
                cond = self._norm_old[i]
                lost = {e for e in self._eff_old[i] if self._covered(cond, e, in_new=True) is None}
                if lost:
                    self.add(
                        "weaker",
                        rclause,
                        f"response {rid} removed",
                        f"lost: {_effects_text(lost)}",
                    )
                else:
                    self.add(
                        "neutral",
                        rclause,
                        f"response {rid} removed",
                        "other responses still do what it did",
                    )
            elif j is not None:
                rid = self.new.response_id(j)
                rclause = _response_clause(rid)
                cond = self._norm_new[j]
                won = {e for e in self._eff_new[j] if self._covered(cond, e, in_new=False) is None}
                if won:
                    self.add("stronger", rclause, f"response {rid} added", _effects_text(won))
                else:
                    self.add("neutral", rclause, f"response {rid} added", "the policy already did this")

    def _response_pair(self, i: int, j: int) -> None:
        a, b = self.old.responses[i], self.new.responses[j]
        rid_a, rid = self.old.response_id(i), self.new.response_id(j)
        clause = _response_clause(rid)
        na, nb = self._norm_old[i], self._norm_new[j]
        if rid_a != rid:
            self.add("neutral", clause, f"response {rid_a} renamed to {rid}", "matched by its condition")
        if na != nb:
            wider, narrower = _implies(na, nb), _implies(nb, na)
            simple = na.kind == nb.kind == "level"
            if wider and narrower:
                kind: ChangeKind = "neutral"
                why = "applies in the same cases"
            elif wider:
                kind, why = "stronger", "applies earlier" if simple else "applies in more cases"
            elif narrower:
                kind, why = "weaker", "applies later" if simple else "applies in fewer cases"
            else:
                kind, why = "unclear", "cannot compare the conditions"
            self.add(kind, f"{clause}.if", f"response {rid} now applies {nb.text} instead of {na.text}", why)
        at_a, at_b = na.text, nb.text

        for act in a.block:
            if act not in b.block:
                by = self._covered(na, ("block", act), in_new=True)
                if by:
                    self.add(
                        "neutral",
                        f"{clause}.block",
                        f"action {act} no longer blocked {at_a} by {rid}",
                        f"still blocked by {by}",
                    )
                else:
                    self.add("weaker", f"{clause}.block", f"action {act} no longer blocked {at_a}")
        for act in b.block:
            if act not in a.block:
                by = self._covered(nb, ("block", act), in_new=False)
                if by:
                    self.add(
                        "neutral",
                        f"{clause}.block",
                        f"action {act} now blocked {at_b} by {rid}",
                        f"already blocked by {by}",
                    )
                else:
                    self.add("stronger", f"{clause}.block", f"action {act} now blocked {at_b}")

        ra, rb = a.require, b.require
        pa = [self.protections.get(p, "?" + p) for p in ra.protections] if ra else []
        pb = list(rb.protections) if rb else []
        lost, won = [p for p in pa if p not in pb], [p for p in pb if p not in pa]
        rclause = f"{clause}.require.protections"
        if len(lost) == 1 and len(won) == 1:
            old_name = next(
                p for p in (ra.protections if ra else []) if self.protections.get(p, "?" + p) == lost[0]
            )
            sa = (
                security_level(old_name, self.old.protections[old_name])
                if old_name in self.old.protections
                else None
            )
            sb = (
                security_level(won[0], self.new.protections[won[0]])
                if won[0] in self.new.protections
                else None
            )
            what = f"protection {old_name} -> {won[0]} required {at_b}"
            if sa is not None and sb is not None and sa != sb:
                self.add("stronger" if sb > sa else "weaker", rclause, what, f"RAND SL{sa} -> SL{sb}")
            elif sa is not None and sb is None:
                self.add(
                    "weaker", rclause, what, f"RAND SL{sa} -> a protection with no stated security level"
                )
            else:
                self.add("unclear", rclause, what, "different protections")
        else:
            before_a = set(ra.before or self.old.actions) if ra else set()
            before_b = set(rb.before or self.new.actions) if rb else set()
            for p in lost:
                covered = all(self._covered(na, ("protect", p, act), in_new=True) for act in before_a)
                self.add(
                    "neutral" if covered else "weaker",
                    rclause,
                    f"protection {p} no longer required {at_a}",
                    "still required by another response" if covered else None,
                )
            unblocked = (set(a.block) - set(b.block)) & before_b
            for p in won:
                covered = all(self._covered(nb, ("protect", p, act), in_new=False) for act in before_b)
                if unblocked and not covered:  # a block turned into "allowed once p is in place"
                    self.add(
                        "weaker",
                        rclause,
                        f"protection {p} now required {at_b} in place of blocking "
                        + ", ".join(sorted(unblocked)),
                        "a block replaced by a requirement: the action becomes possible once it is in place",
                    )
                    continue
                self.add(
                    "neutral" if covered else "stronger",
                    rclause,
                    f"protection {p} now required {at_b}",
                    "already required by another response" if covered else None,
                )
        if ra and rb:
            self.rest(f"{clause}.require", ra, rb, ("protections", "safety_case", "before"))
            before_a = set(ra.before or self.old.actions)
            before_b = set(rb.before or self.new.actions)
            for act in sorted(before_a - before_b):
                self.add(
                    "weaker", f"{clause}.require.before", f"requirements no longer apply before {act} {at_a}"
                )
            for act in sorted(before_b - before_a):
                self.add(
                    "stronger", f"{clause}.require.before", f"requirements now apply before {act} {at_b}"
                )
        ca, cb = ra.safety_case if ra else None, rb.safety_case if rb else None
        if ca != cb:
            cclause = f"{clause}.require.safety_case"
            if ca is None:
                self.add("stronger", cclause, f"safety case {cb} now required {at_b}")
            elif cb is None:
                self.add("weaker", cclause, f"safety case {ca} no longer required {at_a}")
            else:
                self.add("unclear", cclause, f"safety case {ca} -> {cb} required {at_b}", "a different case")

        for role in a.notify:
            if role not in b.notify:
                self.add(
                    "weaker", f"{clause}.notify", f"role {role} no longer notified {at_a}", "less oversight"
                )
        for role in b.notify:
            if role not in a.notify:
                self.add("stronger", f"{clause}.notify", f"role {role} now notified {at_b}", "more oversight")
        ob_lost = [o for o in a.obligations if o not in b.obligations]
        ob_won = [o for o in b.obligations if o not in a.obligations]
        if len(ob_lost) == 1 and len(ob_won) == 1:
            self.add("unclear", f"{clause}.obligations", f"obligation of {rid} reworded", "free text")
        else:
            for o in ob_lost:
                self.add("weaker", f"{clause}.obligations", f"obligation of {rid} dropped: {_short(o)}")
            for o in ob_won:
                self.add("stronger", f"{clause}.obligations", f"obligation of {rid} added: {_short(o)}")
        self.text(f"{clause}.description", f"description of response {rid}", a.description, b.description)
        self.citation(clause, a, b)
        self.rest(clause, a, b, ("id", "description", "if_", "block", "require", "notify", "obligations"))

    # --- cadence, governance, commitments, marginal risk ----------------------------------

    def _cadence(self) -> None:
        a, b = self.old.cadence, self.new.cadence
        if a is None and b is None:
            return
        if a is None:
            self.add("stronger", "cadence", "cadence added", "assessments now have triggers")
            return
        if b is None:
            self.add("weaker", "cadence", "cadence removed", "no assessment trigger")
            return
        less_often = ("assessed less often", "assessed more often")
        self.amount(
            "cadence.every_effective_compute_multiple",
            "cadence every",
            a.every_effective_compute_multiple,
            b.every_effective_compute_multiple,
            "weaker",
            less_often,
            unit="x",
        )
        self.amount("cadence.max_days", "max_days", a.max_days, b.max_days, "weaker", less_often)
        self.amount(
            "cadence.post_training_months",
            "post_training_months",
            a.post_training_months,
            b.post_training_months,
            "weaker",
            less_often,
        )
        self.flag(
            "cadence.during_training",
            "during_training",
            a.during_training,
            b.during_training,
            ("no assessment mid-training", "assessed mid-training"),
        )
        self.flag(
            "cadence.alerts_pause_training",
            "alerts_pause_training",
            a.alerts_pause_training,
            b.alerts_pause_training,
            ("an alert no longer pauses training", "an alert pauses training"),
        )
        self.flag(
            "cadence.shorten_on_forecast",
            "shorten_on_forecast",
            a.shorten_on_forecast,
            b.shorten_on_forecast,
            ("forecasts no longer bring assessments forward", "forecasts bring assessments forward"),
        )
        self.roles(
            "cadence.events",
            "trigger event {r} {verb} cadence",
            a.events,
            b.events,
            ("fewer assessment triggers", "more assessment triggers"),
        )
        self._buffer(a.buffer, b.buffer)
        self.citation("cadence", a, b)
        self.rest("cadence", a, b, (*_CADENCE_FIELDS, "buffer"))

    def _buffer(self, a: SafetyBuffer | None, b: SafetyBuffer | None) -> None:
        if a is None and b is None:
            return
        if a is None:
            self.add("stronger", "cadence.buffer", "safety buffer added")
            return
        if b is None:
            self.add("weaker", "cadence.buffer", "safety buffer removed", "no margin below thresholds")
            return
        margin = ("smaller margin below thresholds", "larger margin below thresholds")
        self.amount(
            "cadence.buffer.effective_compute_multiple",
            "buffer",
            a.effective_compute_multiple,
            b.effective_compute_multiple,
            "stronger",
            margin,
            unit="x",
        )
        self.amount("cadence.buffer.months", "buffer months", a.months, b.months, "stronger", margin)
        self.text("cadence.buffer.description", "buffer description", a.description, b.description)
        self.citation("cadence.buffer", a, b)
        self.rest("cadence.buffer", a, b, ("effective_compute_multiple", "months", "description"))

    def _governance(self) -> None:
        a, b = self.old.governance, self.new.governance
        if a is None and b is None:
            return
        if a is None:
            self.add("stronger", "governance", "governance added")
            return
        if b is None:
            self.add("weaker", "governance", "governance removed", "no decision owners or change process")
            return
        for role, text in a.roles.items():
            if role in b.roles and b.roles[role] != text:
                self.add(
                    "unclear",
                    f"governance.roles.{role}",
                    f"role {role} redefined: {_short(text, 40)!r} -> {_short(b.roles[role], 40)!r}",
                    "the same name may now be someone else",
                )
            elif role not in b.roles:
                self.add(
                    "neutral",
                    f"governance.roles.{role}",
                    f"role {role} removed",
                    "its duties are assessed where it was named",
                )
        for role in b.roles:
            if role not in a.roles:
                self.add("neutral", f"governance.roles.{role}", f"role {role} added")
        oversight = ("less oversight", "more oversight")
        for fld, noun in (("signoff", "signoff"), ("inform_before", "inform_before")):
            da: dict[str, list[str]] = getattr(a, fld)
            db: dict[str, list[str]] = getattr(b, fld)
            for key in list(da) + [k for k in db if k not in da]:
                self.roles(
                    f"governance.{fld}.{key}",
                    noun + " role {r} {verb} " + key,
                    da.get(key, []),
                    db.get(key, []),
                    oversight,
                )
        self.roles(
            "governance.reverse",
            "reverse role {r} {verb} governance",
            a.reverse,
            b.reverse,
            ("fewer can reverse a decision", "more can reverse a decision"),
        )
        for fld in b.restricted_fields:
            if fld not in a.restricted_fields:
                self.add(
                    "weaker",
                    "governance.restricted_fields",
                    f"field {fld} withheld from public bundles",
                    "less transparency",
                )
        for fld in a.restricted_fields:
            if fld not in b.restricted_fields:
                self.add(
                    "stronger",
                    "governance.restricted_fields",
                    f"field {fld} now in public bundles",
                    "more transparency",
                )
        self._change_process()
        self.citation("governance", a, b)
        self.rest(
            "governance",
            a,
            b,
            ("roles", "changes", "signoff", "inform_before", "reverse", "restricted_fields"),
        )

    def _change_process(self) -> None:
        ga, gb = self.old.governance, self.new.governance
        a = ga.changes if ga else None
        b = gb.changes if gb else None
        if a is None and b is None:
            return
        if a is None:
            self.add("stronger", "governance.changes", "change process added")
            return
        if b is None:
            self.add(
                "weaker", "governance.changes", "change process removed", "changes need no approval or notice"
            )
            return
        self.roles(
            "governance.changes.approve",
            "approver {r} {verb} policy changes",
            a.approve,
            b.approve,
            ("fewer approvals for a change", "more approvals for a change"),
        )
        self.roles(
            "governance.changes.consult",
            "consulted role {r} {verb} policy changes",
            a.consult,
            b.consult,
            ("less consultation", "more consultation"),
        )
        self.amount(
            "governance.changes.notice_days",
            "notice_days",
            a.notice_days,
            b.notice_days,
            "stronger",
            ("less notice before a change", "more notice before a change"),
        )
        self.flag(
            "governance.changes.public_changelog",
            "public_changelog",
            a.public_changelog,
            b.public_changelog,
            ("changes no longer logged publicly", "changes logged publicly"),
        )
        self.flag(
            "governance.changes.publish_before_effective",
            "publish_before_effective",
            a.publish_before_effective,
            b.publish_before_effective,
            ("changes may take effect unpublished", "changes published before they apply"),
        )
        self.citation("governance.changes", a, b)
        self.rest(
            "governance.changes",
            a,
            b,
            ("approve", "consult", "notice_days", "public_changelog", "publish_before_effective"),
        )

    def _commitments(self) -> None:
        for kind in list(self.old.commitments) + [
            k for k in self.new.commitments if k not in self.old.commitments
        ]:
            a, b = self.old.commitments.get(kind), self.new.commitments.get(kind)
            clause = f"commitments.{kind.value}"
            if b is None:
                self.add("weaker", clause, f"commitment {kind.value} dropped")
            elif a is None:
                hedge = "" if b.binding else " (hedged)"
                self.add("stronger", clause, f"commitment {kind.value} added{hedge}")
            else:
                self._commitment(clause, kind.value, a, b)

    def _commitment(self, clause: str, name: str, a: Commitment, b: Commitment) -> None:
        if a.binding and not b.binding:
            self.add("weaker", f"{clause}.binding", f"commitment {name} hedged: binding -> may")
        elif b.binding and not a.binding:
            self.add("stronger", f"{clause}.binding", f"commitment {name} firmed: may -> binding")
        if a.audience != b.audience:
            self.add(
                "unclear" if a.audience and b.audience else "neutral",
                f"{clause}.audience",
                f"commitment {name} audience {_fmt(a.audience)} -> {_fmt(b.audience)}",
            )
        self.amount(
            f"{clause}.every_months",
            f"commitment {name} every_months",
            a.every_months,
            b.every_months,
            "weaker",
            ("less often", "more often"),
        )
        self.roles(
            f"{clause}.roles",
            "role {r} {verb} commitment " + name,
            a.roles,
            b.roles,
            ("fewer accountable", "more accountable"),
        )
        self.text(f"{clause}.text", f"commitment {name} text", a.text, b.text, "unclear", "reworded")
        self.citation(clause, a, b)
        self.rest(clause, a, b, ("text", "binding", "audience", "every_months", "roles"))

    def _marginal_risk(self) -> None:
        a, b = self.old.marginal_risk, self.new.marginal_risk
        if a is None and b is None:
            return
        if a is None:
            assert b is not None
            self.add(
                "weaker",
                "marginal_risk",
                "marginal-risk clause added",
                "safeguards may be lowered if a competitor goes ahead",
            )
            return
        if b is None:
            self.add(
                "stronger", "marginal_risk", "marginal-risk clause removed", "no competitor escape hatch"
            )
            return
        for c in a.conditions:
            if c not in b.conditions:
                self.add(
                    "weaker",
                    "marginal_risk.conditions",
                    f"marginal-risk condition {c} removed",
                    "the escape hatch opens more easily",
                )
        for c in b.conditions:
            if c not in a.conditions:
                self.add(
                    "stronger",
                    "marginal_risk.conditions",
                    f"marginal-risk condition {c} added",
                    "the escape hatch opens less easily",
                )
        self.text("marginal_risk.text", "marginal-risk text", a.text, b.text, "unclear", "reworded")
        self.citation("marginal_risk", a, b)
        self.rest("marginal_risk", a, b, ("text", "conditions"))


def _applies_to_direction(a: str, b: str) -> tuple[ChangeKind, str]:
    """`both` judges the raw model (pre-mitigation view, security gates) and the safeguarded
    one (post-mitigation view, deployment gates); dropping either view drops those gates."""
    if a == "both":
        return "weaker", "judged in fewer views"
    if b == "both":
        return "stronger", "judged in both views"
    return "unclear", "judged in the other view"


def _response_clause(rid: str) -> str:
    return rid if rid.startswith("responses[") else f"responses.{rid}"


def _few(names: Sequence[str], n: int = 3) -> str:
    return _list(names) if len(names) <= n else f"{_list(names[:n])} or {len(names) - n} more"


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _tc_text(c: ThresholdCondition) -> str:
    b = c.bound()
    if b is not None:
        return f"{b.eval} {b.op.symbol} {_fmt(b.value)}"
    if c.suite is not None:
        return f"suite of {len(c.suite.evals)}"
    form = "all" if c.all is not None else "any" if c.any is not None else "not"
    return f"{form}({', '.join(_tc_text(x) for x in c.children())})"


def _when(c: ResponseCondition) -> str:
    """`at high`, `at high pre-mitigation`, `on missing/error evidence`: where a rule bites."""
    dom = f" in {_list(c.domains)}" if c.domains else ""
    if c.post_mitigation_at_least is not None:
        return f"at {c.post_mitigation_at_least}{dom}"
    if c.pre_mitigation_at_least is not None:
        return f"at {c.pre_mitigation_at_least} pre-mitigation{dom}"
    if c.alert is not None:
        return f"on an alert{dom}" if c.alert else f"without an alert{dom}"
    if c.evidence is not None:
        return f"on {'/'.join(c.evidence)} evidence"
    if c.effective_compute_at_least is not None:
        return f"from {c.effective_compute_at_least:g} effective FLOP"
    if c.training_compute_at_least is not None:
        return f"from {c.training_compute_at_least:g} training FLOP"
    form = "all" if c.all is not None else "any" if c.any is not None else "not"
    return f"when {form}({', '.join(_when(x) for x in c.children())})"
