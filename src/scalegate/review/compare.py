"""Side by side: several scaling policies compared clause by clause (DOMAIN.md §8).

Frameworks are hard to compare from their PDFs because each names the same idea differently;
once encoded, the same fields can be read off every policy. Each cell is short (a reader scans
a row across policies) and `—` always means "the policy does not say".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, get_args

from scalegate.policy import conditions
from scalegate.policy.conditions import ResponseCondition, ThresholdCondition
from scalegate.policy.schema import (
    DEFAULT_ACTIONS,
    CommitmentKind,
    Domain,
    DomainCategory,
    Elicitation,
    MarginalRisk,
    Policy,
    Protection,
    Response,
)

ABSENT = "—"

CATEGORIES: tuple[str, ...] = get_args(DomainCategory)
_conditions = MarginalRisk.model_fields["conditions"].annotation
MARGINAL_CONDITIONS: tuple[str, ...] = get_args(get_args(_conditions)[0])

_CATEGORY_LABELS = {
    "cbrn": "CBRN",
    "bio": "Biological",
    "chem": "Chemical",
    "nuclear": "Nuclear",
    "cyber": "Cyber",
    "ai_rnd": "AI R&D",
    "autonomy": "Autonomy",
    "misalignment": "Misalignment",
    "persuasion": "Persuasion",
    "other": "Other",
}
_ELICITATION_LABELS = {
    "description": "Stated approach",
    "without_safety_training": "Without safety training",
    "fine_tune_for_misuse": "Misuse fine-tuning",
    "best_scaffolds": "Best scaffolds",
    "max_post_training_compute_fraction": "Post-training headroom",
    "attempts_per_task": "Attempts per task",
    "budget_per_attempt_usd": "Budget per attempt",
    "human_transcript_review": "Transcript review",
    "treat_as_lower_bound": "Results as lower bound",
    "sandbagging": "Sandbagging",
    "profiles": "Elicitation profiles",
}

_SL = re.compile(r"(?:^|[^a-z0-9])sl[-_ ]?([1-5])(?:$|[^0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[str, ...]  # one per policy, in the comparison's order


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class PolicyComparison:
    """Named policies and the sections of rows that compare them."""

    names: tuple[str, ...]
    sections: tuple[Section, ...]

    def section(self, title: str) -> Section:
        for s in self.sections:
            if s.title == title:
                return s
        raise KeyError(title)

    def row(self, section: str, label: str) -> Row:
        for r in self.section(section).rows:
            if r.label == label:
                return r
        raise KeyError(f"{section}/{label}")


# ---------------------------------------------------------------------------------------------
# Readings shared with the diff: what a clause is, when the policy does not say it explicitly


def domain_category(name: str, domain: Domain) -> str:
    """The declared category; a domain left at `other` but named after a category (the
    reference policy's `cyber`, `bio`) counts as that category, so older files still line up."""
    if domain.category == "other" and name in CATEGORIES:
        return name
    return domain.category


def security_level(name: str, protection: Protection) -> int | None:
    """RAND security level: declared `rand_sl`, else an `SLn` in the name or description
    (presets written before `rand_sl` existed say "RAND SL3" in prose)."""
    if protection.rand_sl is not None:
        return protection.rand_sl
    for text in (name, protection.description):
        m = _SL.search(text)
        if m:
            return int(m.group(1))
    return None


def protection_kind(name: str, protection: Protection) -> str:
    """Declared kind; a `process` protection (the default) that names a RAND level is security."""
    if protection.kind == "process" and security_level(name, protection) is not None:
        return "security"
    return protection.kind


def level_facts(cond: ResponseCondition) -> list[tuple[str, str]]:
    """(view, level) of every level fact through which rising capability makes the condition
    apply (`conditions.level_facts`: not those under an odd number of `not:`)."""
    return [
        (view, str(fact.pre_mitigation_at_least if view == "pre" else fact.post_mitigation_at_least))
        for view, fact in conditions.level_facts(cond)
    ]


def _has_fact(cond: ResponseCondition, attr: str) -> bool:
    """Whether a fact of this kind can make the condition apply (not under an odd `not:`)."""
    return any(getattr(fact, attr) is not None for fact, positive in conditions.facts(cond) if positive)


# ---------------------------------------------------------------------------------------------
# Cells


def _count(n: int) -> str:
    return str(n) if n else ABSENT


def _yn(value: bool | None) -> str:
    return ABSENT if value is None else ("yes" if value else "no")


def _num(value: float) -> str:
    return f"{value:g}"


def _join(items: Iterable[str], sep: str = ", ") -> str:
    items = list(items)
    return sep.join(items) if items else ABSENT


def _counts(counter: Counter[str]) -> str:
    return _join(f"{k} {v}" for k, v in counter.most_common()) if counter else ABSENT


def _lowest(p: Policy, facts: Iterable[tuple[str, str]]) -> str:
    """The lowest level per side: `post ≥ medium`, the point at which a rule starts to bite."""
    best: dict[str, str] = {}
    for side, level in facts:
        if level in p.levels and (side not in best or p.level_rank(level) < p.level_rank(best[side])):
            best[side] = level
    return _join(f"{side} ≥ {best[side]}" for side in ("pre", "post") if side in best)


def _thresholds(p: Policy) -> list[tuple[str, str, ThresholdCondition | None, ThresholdCondition | None]]:
    return [(d, lvl, t.when, t.alert) for d, dom in p.domains.items() for lvl, t in dom.thresholds.items()]


_LABEL_MAX = 16


def _domain_cell(p: Policy, category: str) -> str:
    doms = [(n, d) for n, d in p.domains.items() if domain_category(n, d) == category]
    parts: list[str] = []
    for name, dom in doms:
        levels = sorted(dom.thresholds, key=p.level_rank)
        ths = [dom.thresholds[lvl] for lvl in levels]
        # the framework's own short name ("CBRN-3") where it has one, else the level
        names = [
            t.label if t.label and len(t.label) <= _LABEL_MAX else lvl
            for lvl, t in zip(levels, ths, strict=True)
        ]
        prose = [t.when is None for t in ths]
        if all(prose) and ths:
            text = f"{_join(names)} (prose)"
        else:
            text = _join(n + (" (prose)" if pr else "") for n, pr in zip(names, prose, strict=True))
        if dom.status != "tracked":
            status = dom.status.replace("_", " ")
            text = status if not levels else f"{text} [{status}]"
        prefix = len(doms) > 1 or name != category
        parts.append(f"{name}: {text}" if prefix else text)
    return _join(parts, "; ")


def _buffer(p: Policy) -> str:
    buf = p.cadence.buffer if p.cadence else None
    if buf is None:
        return ABSENT
    parts = []
    if buf.effective_compute_multiple is not None:
        parts.append(f"{_num(buf.effective_compute_multiple)}x")
    if buf.months is not None:
        parts.append(f"{_num(buf.months)} mo")
    return " / ".join(parts) if parts else "stated"


def _compute_time(p: Policy) -> str:
    c = p.cadence
    if c is None or (c.every_effective_compute_multiple is None and c.max_days is None):
        return ABSENT
    mult = f"{_num(c.every_effective_compute_multiple)}x" if c.every_effective_compute_multiple else ABSENT
    days = f"{c.max_days}d" if c.max_days else ABSENT
    return f"{mult} / {days}"


def _elicitation_value(p: Policy, field: str) -> str:
    e = p.elicitation
    value = getattr(e, field) if e else None
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return _yn(value)
    if field == "description":
        return "stated"
    if field == "max_post_training_compute_fraction":
        return f"{value:.0%}" if value * 100 == round(value * 100) else f"{value:.1%}"
    if field == "budget_per_attempt_usd":
        return f"${_num(value)}"
    return _num(value) if isinstance(value, float | int) else str(value)


def _action_blocked(p: Policy, action: str) -> str:
    if action not in p.actions:
        return "not gated"
    facts: list[tuple[str, str]] = []
    extra: set[str] = set()
    for r in p.responses:
        if action not in r.block:
            continue
        facts.extend(level_facts(r.if_))
        if _has_fact(r.if_, "alert"):
            extra.add("alert")
        if _has_fact(r.if_, "effective_compute_at_least") or _has_fact(r.if_, "training_compute_at_least"):
            extra.add("compute")
    text = _lowest(p, facts)
    rest = sorted(extra)
    if text == ABSENT:
        return _join(rest)
    return _join([text, *rest])


def _fail_closed(p: Policy) -> str:
    blocked: set[str] = set()
    statuses: set[str] = set()
    for r in p.responses:
        if r.if_.evidence is not None and r.block:
            blocked.update(r.block)
            statuses.update(r.if_.evidence)
    if not blocked:
        return ABSENT
    what = "all actions" if set(p.actions) <= blocked else _join(a for a in p.actions if a in blocked)
    return f"{what} ({len(statuses)} statuses)"


def _requirements(p: Policy) -> list[tuple[Response, str]]:
    """(response, protection) for every protection a response requires."""
    return [(r, prot) for r in p.responses if r.require for prot in r.require.protections]


def _protection_kind_cell(p: Policy, kind: str) -> str:
    declared = [n for n, prot in p.protections.items() if protection_kind(n, prot) == kind]
    if not declared:
        return ABSENT
    facts = [f for r, prot in _requirements(p) if prot in declared for f in level_facts(r.if_)]
    lowest = _lowest(p, facts)
    return f"{len(declared)}" + ("" if lowest == ABSENT else f", from {lowest}")


def _security_levels(p: Policy) -> str:
    """The RAND level required at each level: `medium SL2, high SL3`."""
    by_level: dict[str, int] = {}
    for r, prot in _requirements(p):
        sl = security_level(prot, p.protections[prot]) if prot in p.protections else None
        if sl is None:
            continue
        for _side, level in level_facts(r.if_):
            by_level[level] = max(sl, by_level.get(level, 0))
    if by_level:
        ordered = sorted(by_level, key=lambda lv: p.level_rank(lv) if lv in p.levels else len(p.levels))
        return _join(f"{lv} SL{by_level[lv]}" for lv in ordered)
    declared = sorted(
        {sl for n, prot in p.protections.items() if (sl := security_level(n, prot)) is not None}
    )
    return _join(f"SL{sl}" for sl in declared) + (" (not tied to levels)" if declared else "")


def _safety_cases(p: Policy) -> str:
    parts = []
    for r in p.responses:
        if r.require and r.require.safety_case:
            at = _lowest(p, level_facts(r.if_))
            parts.append(r.require.safety_case + ("" if at == ABSENT else f" at {at}"))
    return _join(parts, "; ")


def _roles(roles: Sequence[str] | None) -> str:
    return _join(roles or [], "+")


def _governance_roles(p: Policy, field: str, key: str) -> str:
    return _roles(getattr(p.governance, field).get(key)) if p.governance else ABSENT


def _marginal_condition(p: Policy, condition: str) -> str:
    return _yn(condition in p.marginal_risk.conditions) if p.marginal_risk else ABSENT


def _commitment(p: Policy, kind: CommitmentKind) -> str:
    c = p.commitments.get(kind)
    if c is None:
        return ABSENT
    return "binding" if c.binding else "hedged"


def _ordered_union(lists: Iterable[Iterable[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for items in lists:
        for item in items:
            seen.setdefault(item, None)
    return list(seen)


# ---------------------------------------------------------------------------------------------
# Sections: each a function of the policies compared, returning its rows as (label, cell).
# Most rows are fixed; some depend on what the policies hold (domain categories, actions,
# sign-off keys). The table of sections is `SECTIONS`; a new row is one line in its section.

Cell = Callable[[Policy], str]
RowSpec = tuple[str, Cell]


def _share(p: Policy, pick: Callable[[ThresholdCondition | None, ThresholdCondition | None], bool]) -> str:
    ths = _thresholds(p)
    return f"{sum(pick(w, a) for _, _, w, a in ths)}/{len(ths)}" if ths else ABSENT


def _cadence(attr: str, fmt: Callable[[Any], str] = _yn) -> Cell:
    return lambda p: fmt(getattr(p.cadence, attr)) if p.cadence else ABSENT


def _changes(fmt: Callable[[Any], str]) -> Cell:
    return lambda p: fmt(p.governance.changes) if p.governance and p.governance.changes else ABSENT


def _extra_actions(p: Policy) -> str:
    extra = [a for a in p.actions if a not in DEFAULT_ACTIONS]
    return f"{len(p.actions)}" + (f" (+ {', '.join(extra)})" if extra else "")


def _policy_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    return [
        ("Name", lambda p: p.policy.name),
        ("Version", lambda p: p.policy.version + (f" ({p.policy.effective})" if p.policy.effective else "")),
        ("Levels", lambda p: " < ".join(p.levels)),
        ("Actions gated", _extra_actions),
    ]


def _domain_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    present = {domain_category(n, d) for p in ps for n, d in p.domains.items()}
    return [
        (_CATEGORY_LABELS.get(cat, cat), partial(_domain_cell, category=cat))
        for cat in CATEGORIES
        if cat in present
    ]


def _threshold_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    def counts(attr: str) -> Cell:
        return lambda p: _counts(
            Counter(getattr(t, attr) for d in p.domains.values() for t in d.thresholds.values())
        )

    return [
        ("Count", lambda p: str(len(_thresholds(p)))),
        ("Operationalized", lambda p: _share(p, lambda w, a: w is not None)),
        ("With alert", lambda p: _share(p, lambda w, a: a is not None)),
        ("Applies to", counts("applies_to")),
        ("Kinds", counts("kind")),
        ("Task suites", lambda p: _count(sum(1 for _, _, w, _ in _thresholds(p) if w and w.suite))),
    ]


def _trigger_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    return [
        ("Compute / time", _compute_time),
        ("Post-training", _cadence("post_training_months", lambda m: f"{_num(m)} mo" if m else ABSENT)),
        ("Events", _cadence("events", _join)),
        ("During training", _cadence("during_training")),
        ("Forecast shortens", _cadence("shorten_on_forecast")),
    ]


def _buffer_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    return [
        ("Safety buffer", _buffer),
        ("Alerts", lambda p: _share(p, lambda w, a: a is not None)),
        ("Alert responses", lambda p: _count(sum(_has_fact(r.if_, "alert") for r in p.responses))),
        ("Alerts pause training", _cadence("alerts_pause_training")),
    ]


def _elicitation_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    fields = [f for f in Elicitation.model_fields if f not in ("source", "tag")]
    return [
        *(
            (_ELICITATION_LABELS.get(f, f.replace("_", " ")), partial(_elicitation_value, field=f))
            for f in fields
        ),
        ("Per-eval overrides", lambda p: _count(sum(e.elicitation is not None for e in p.evals.values()))),
    ]


def _decision_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    actions = _ordered_union([DEFAULT_ACTIONS, *(p.actions for p in ps)])
    return [
        ("Cannot rule out", lambda p: f"as {p.statistics.inconclusive_as}"),
        ("Fail closed", _fail_closed),
        *(
            (
                "Pause (blocks continue_training)" if a == "continue_training" else f"Blocks {a}",
                partial(_action_blocked, action=a),
            )
            for a in actions
        ),
        ("Safety cases required", _safety_cases),
        ("Notify", lambda p: _join(sorted({role for r in p.responses for role in r.notify}))),
        ("Obligations", lambda p: _count(sum(len(r.obligations) for r in p.responses))),
    ]


def _protection_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    return [
        ("Declared", lambda p: _count(len(p.protections))),
        ("Weight security (RAND)", _security_levels),
        *(
            (kind.capitalize(), partial(_protection_kind_cell, kind=kind))
            for kind in ("security", "deployment", "alignment", "process")
        ),
    ]


def _governance_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    signoff_keys = _ordered_union(p.governance.signoff for p in ps if p.governance)
    inform_keys = _ordered_union(p.governance.inform_before for p in ps if p.governance)
    return [
        ("Roles", lambda p: _join(p.governance.roles) if p.governance else ABSENT),
        *((f"Sign-off: {k}", partial(_governance_roles, field="signoff", key=k)) for k in signoff_keys),
        *(
            (f"Inform before: {k}", partial(_governance_roles, field="inform_before", key=k))
            for k in inform_keys
        ),
        ("Can reverse", lambda p: _roles(p.governance.reverse) if p.governance else ABSENT),
        ("Change: approve", _changes(lambda c: _roles(c.approve))),
        ("Change: consult", _changes(lambda c: _roles(c.consult))),
        ("Change: notice", _changes(lambda c: f"{c.notice_days}d")),
        ("Public changelog", _changes(lambda c: _yn(c.public_changelog))),
        ("Publish before effective", _changes(lambda c: _yn(c.publish_before_effective))),
    ]


def _commitment_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    return [(k.value, partial(_commitment, kind=k)) for k in CommitmentKind]


def _marginal_rows(ps: Sequence[Policy]) -> list[RowSpec]:
    def clause(p: Policy) -> str:
        m = p.marginal_risk
        return f"yes ({len(m.conditions)}/{len(MARGINAL_CONDITIONS)} conditions)" if m else ABSENT

    return [
        ("Clause", clause),
        *(
            (c.replace("_", " ").capitalize(), partial(_marginal_condition, condition=c))
            for c in MARGINAL_CONDITIONS
        ),
    ]


#: The comparison, top to bottom: (section title, its rows for the policies compared).
SECTIONS: tuple[tuple[str, Callable[[Sequence[Policy]], list[RowSpec]]], ...] = (
    ("Policy", _policy_rows),
    ("Domains", _domain_rows),
    ("Thresholds", _threshold_rows),
    ("Triggers", _trigger_rows),
    ("Buffers", _buffer_rows),
    ("Elicitation", _elicitation_rows),
    ("Decision rules", _decision_rows),
    ("Protections", _protection_rows),
    ("Governance", _governance_rows),
    ("Commitments", _commitment_rows),
    ("Marginal risk", _marginal_rows),
)


def compare_policies(
    policies: Sequence[tuple[str, Policy]],
    grades: Mapping[str, Mapping[str, str]] | None = None,
) -> PolicyComparison:
    """Compare named policies section by section (`SECTIONS`), then their grades.

    `grades` (policy name -> component -> grade) comes from whoever grades the policies; it is
    passed in rather than computed here so that the comparison does not depend on a rubric.
    """
    names = tuple(n for n, _ in policies)
    if not names:
        raise ValueError("compare_policies needs at least one policy")
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be distinct: {list(names)}")
    unknown = sorted(set(grades or {}) - set(names))
    if unknown:
        raise ValueError(f"grades for unknown policies {unknown} (policies: {list(names)})")
    ps = [p for _, p in policies]
    sections = [
        Section(title, tuple(Row(label, tuple(cell(p) for p in ps)) for label, cell in rows(ps)))
        for title, rows in SECTIONS
    ]
    if grades:
        components = _ordered_union(g.keys() for g in grades.values())
        rows = tuple(Row(c, tuple(grades.get(n, {}).get(c, ABSENT) for n in names)) for c in components)
        sections.append(Section("Grades", rows))
    return PolicyComparison(names=names, sections=tuple(sections))
