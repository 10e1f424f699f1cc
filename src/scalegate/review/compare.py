"""Side by side: several scaling policies compared clause by clause (DOMAIN.md §8).

Frameworks are hard to compare from their PDFs because each names the same idea differently;
once encoded, the same fields can be read off every policy. Each cell is short (a reader scans
a row across policies) and `—` always means "the policy does not say".
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import get_args

from rich.table import Table
from rich.text import Text

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
# Sections


def compare_policies(
    policies: Sequence[tuple[str, Policy]],
    grades: Mapping[str, Mapping[str, str]] | None = None,
) -> PolicyComparison:
    """Compare named policies section by section.

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

    def row(label: str, cell: Callable[[Policy], str]) -> Row:
        return Row(label, tuple(cell(p) for p in ps))

    sections: list[Section] = []

    def section(title: str, rows: Iterable[Row]) -> None:
        sections.append(Section(title, tuple(rows)))

    section(
        "Policy",
        [
            row("Name", lambda p: p.policy.name),
            row(
                "Version",
                lambda p: p.policy.version + (f" ({p.policy.effective})" if p.policy.effective else ""),
            ),
            row("Levels", lambda p: " < ".join(p.levels)),
            row(
                "Actions gated",
                lambda p: (
                    f"{len(p.actions)}"
                    + (
                        ""
                        if not (extra := [a for a in p.actions if a not in DEFAULT_ACTIONS])
                        else f" (+ {', '.join(extra)})"
                    )
                ),
            ),
        ],
    )

    present = {domain_category(n, d) for p in ps for n, d in p.domains.items()}
    section(
        "Domains",
        [
            row(_CATEGORY_LABELS.get(cat, cat), partial(_domain_cell, category=cat))
            for cat in CATEGORIES
            if cat in present
        ],
    )

    def share(p: Policy, pick: Callable[[ThresholdCondition | None, ThresholdCondition | None], bool]) -> str:
        ths = _thresholds(p)
        return f"{sum(pick(w, a) for _, _, w, a in ths)}/{len(ths)}" if ths else ABSENT

    section(
        "Thresholds",
        [
            row("Count", lambda p: str(len(_thresholds(p)))),
            row("Operationalized", lambda p: share(p, lambda w, a: w is not None)),
            row("With alert", lambda p: share(p, lambda w, a: a is not None)),
            row(
                "Applies to",
                lambda p: _counts(
                    Counter(t.applies_to for d in p.domains.values() for t in d.thresholds.values())
                ),
            ),
            row(
                "Kinds",
                lambda p: _counts(Counter(t.kind for d in p.domains.values() for t in d.thresholds.values())),
            ),
            row(
                "Task suites",
                lambda p: _count(sum(1 for _, _, w, _ in _thresholds(p) if w and w.suite)),
            ),
        ],
    )

    section(
        "Triggers",
        [
            row("Compute / time", _compute_time),
            row(
                "Post-training",
                lambda p: (
                    f"{_num(p.cadence.post_training_months)} mo"
                    if p.cadence and p.cadence.post_training_months
                    else ABSENT
                ),
            ),
            row("Events", lambda p: _join(p.cadence.events) if p.cadence else ABSENT),
            row("During training", lambda p: _yn(p.cadence.during_training) if p.cadence else ABSENT),
            row("Forecast shortens", lambda p: _yn(p.cadence.shorten_on_forecast) if p.cadence else ABSENT),
        ],
    )

    section(
        "Buffers",
        [
            row("Safety buffer", _buffer),
            row("Alerts", lambda p: share(p, lambda w, a: a is not None)),
            row(
                "Alert responses",
                lambda p: _count(sum(_has_fact(r.if_, "alert") for r in p.responses)),
            ),
            row(
                "Alerts pause training",
                lambda p: _yn(p.cadence.alerts_pause_training) if p.cadence else ABSENT,
            ),
        ],
    )

    fields = [f for f in Elicitation.model_fields if f not in ("source", "tag")]
    section(
        "Elicitation",
        [
            *(
                row(_ELICITATION_LABELS.get(f, f.replace("_", " ")), partial(_elicitation_value, field=f))
                for f in fields
            ),
            row(
                "Per-eval overrides",
                lambda p: _count(sum(e.elicitation is not None for e in p.evals.values())),
            ),
        ],
    )

    actions = _ordered_union([DEFAULT_ACTIONS, *(p.actions for p in ps)])
    section(
        "Decision rules",
        [
            row("Cannot rule out", lambda p: f"as {p.statistics.inconclusive_as}"),
            row("Fail closed", _fail_closed),
            *(
                row(
                    "Pause (blocks continue_training)" if a == "continue_training" else f"Blocks {a}",
                    partial(_action_blocked, action=a),
                )
                for a in actions
            ),
            row("Safety cases required", _safety_cases),
            row("Notify", lambda p: _join(sorted({role for r in p.responses for role in r.notify}))),
            row("Obligations", lambda p: _count(sum(len(r.obligations) for r in p.responses))),
        ],
    )

    section(
        "Protections",
        [
            row("Declared", lambda p: _count(len(p.protections))),
            row("Weight security (RAND)", _security_levels),
            *(
                row(kind.capitalize(), partial(_protection_kind_cell, kind=kind))
                for kind in ("security", "deployment", "alignment", "process")
            ),
        ],
    )

    signoff_keys = _ordered_union(p.governance.signoff for p in ps if p.governance)
    inform_keys = _ordered_union(p.governance.inform_before for p in ps if p.governance)
    section(
        "Governance",
        [
            row("Roles", lambda p: _join(p.governance.roles) if p.governance else ABSENT),
            *(
                row(
                    f"Sign-off: {k}",
                    partial(_governance_roles, field="signoff", key=k),
                )
                for k in signoff_keys
            ),
            *(
                row(
                    f"Inform before: {k}",
                    partial(_governance_roles, field="inform_before", key=k),
                )
                for k in inform_keys
            ),
            row("Can reverse", lambda p: _roles(p.governance.reverse) if p.governance else ABSENT),
            row(
                "Change: approve",
                lambda p: (
                    _roles(p.governance.changes.approve) if p.governance and p.governance.changes else ABSENT
                ),
            ),
            row(
                "Change: consult",
                lambda p: (
                    _roles(p.governance.changes.consult) if p.governance and p.governance.changes else ABSENT
                ),
            ),
            row(
                "Change: notice",
                lambda p: (
                    f"{p.governance.changes.notice_days}d"
                    if p.governance and p.governance.changes
                    else ABSENT
                ),
            ),
            row(
                "Public changelog",
                lambda p: (
                    _yn(p.governance.changes.public_changelog)
                    if p.governance and p.governance.changes
                    else ABSENT
                ),
            ),
            row(
                "Publish before effective",
                lambda p: (
                    _yn(p.governance.changes.publish_before_effective)
                    if p.governance and p.governance.changes
                    else ABSENT
                ),
            ),
        ],
    )

    section(
        "Commitments",
        [row(k.value, partial(_commitment, kind=k)) for k in CommitmentKind],
    )

    section(
        "Marginal risk",
        [
            row(
                "Clause",
                lambda p: (
                    f"yes ({len(p.marginal_risk.conditions)}/{len(MARGINAL_CONDITIONS)} conditions)"
                    if p.marginal_risk
                    else ABSENT
                ),
            ),
            *(
                row(
                    c.replace("_", " ").capitalize(),
                    partial(_marginal_condition, condition=c),
                )
                for c in MARGINAL_CONDITIONS
            ),
        ],
    )

    if grades:
        components = _ordered_union(g.keys() for g in grades.values())
        section(
            "Grades",
            [Row(c, tuple(grades.get(n, {}).get(c, ABSENT) for n in names)) for c in components],
        )

    return PolicyComparison(names=names, sections=tuple(sections))


# ---------------------------------------------------------------------------------------------
# Renderers


def to_rich_table(cmp: PolicyComparison) -> Table:
    """One table, a titled band per section (cells are Text, so `[` in a label is not markup)."""
    t = Table(title="Policy comparison", title_justify="left", show_lines=False)
    t.add_column("")
    for name in cmp.names:
        t.add_column(Text(name), overflow="fold")
    for s in cmp.sections:
        t.add_row(Text(s.title, style="bold cyan"), *("" for _ in cmp.names))
        for r in s.rows:
            t.add_row(Text(r.label), *(Text(c, style="dim" if c == ABSENT else "") for c in r.cells))
        t.add_section()
    return t


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def to_markdown(cmp: PolicyComparison) -> str:
    """A GitHub table: section bands in bold, pipes in cells escaped."""
    lines = [
        "| " + " | ".join(["", *(_md_cell(n) for n in cmp.names)]) + " |",
        "|" + "---|" * (len(cmp.names) + 1),
    ]
    for s in cmp.sections:
        lines.append("| " + " | ".join([f"**{_md_cell(s.title)}**", *("" for _ in cmp.names)]) + " |")
        for r in s.rows:
            lines.append("| " + " | ".join([_md_cell(r.label), *(_md_cell(c) for c in r.cells)]) + " |")
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #333; color: #fff; position: sticky; top: 0; }
tr.section th { background: #e8eef7; font-size: 15px; }
th[scope=row] { font-weight: normal; background: #fafafa; white-space: nowrap; }
td.absent { color: #999; text-align: center; }
""".strip()


def to_html(cmp: PolicyComparison, title: str = "Policy comparison") -> str:
    """A self-contained page (inline CSS, no scripts); every text escaped."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>\n{_CSS}\n</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<table>",
        "<thead><tr><th></th>" + "".join(f"<th>{e(n)}</th>" for n in cmp.names) + "</tr></thead>",
        "<tbody>",
    ]
    span = len(cmp.names) + 1
    for s in cmp.sections:
        out.append(f'<tr class="section"><th colspan="{span}">{e(s.title)}</th></tr>')
        for r in s.rows:
            cells = "".join(
                '<td class="absent">—</td>' if c == ABSENT else f"<td>{e(c)}</td>" for c in r.cells
            )
            out.append(f'<tr><th scope="row">{e(r.label)}</th>{cells}</tr>')
    out += ["</tbody>", "</table>", "</body></html>"]
    return "\n".join(out) + "\n"
