"""The history report: every assessment of one model line, from the ledger, over effective
compute: capability per eval with intervals and threshold lines, the forecast band to each
line (`scalegate.forecast`, seeded), and the decisions over time.

Points are read from each recorded scorecard (value and n of each comparison), not from the
evidence itself, so a public history shows the same curves while the evidence stays withheld.
"""

from __future__ import annotations

import datetime as dt

from scalegate.forecast import Point
from scalegate.ledger.records import Entry
from scalegate.policy.conditions import Op, bounds
from scalegate.report.document import Block, Document, Figure, Section, Table, Text, anchor, cell
from scalegate.report.kinds.common import (
    DECISION,
    POLICY,
    base_records,
    entry_records,
    entry_ref,
    footer,
)
from scalegate.report.plots import Event, history, timeline
from scalegate.report.readings import ACTION_TONE
from scalegate.report.sources import Source


def build(src: Source, model: str | None = None, exact: bool = False, **_: object) -> Document:
    """`model`: the line, any assessment whose model or checkpoint names it (`exact`: whose
    model reference is it, as the dashboard's model page asks)."""
    ledger = src.ledger
    assert ledger is not None  # history needs_ledger (kinds/__init__.py)
    runs = _line(ledger.of_kind("assessment"), model, exact)
    decisions = {e.payload.get("assessment_entry"): e for e in ledger.of_kind("decision")}
    sections = [
        _table(runs, decisions),
        _curves(src, runs),
        _decisions(runs, decisions),
    ]
    cited = [*runs, *(decisions[a.entry_id] for a in runs if a.entry_id in decisions)]
    meta = src.policy.policy
    return Document(
        kind="history",
        profile=src.profile,
        title=f"History: {model or 'every model line in the ledger'}",
        subtitle=f"{len(runs)} assessment(s) under {meta.name} {meta.version}",
        as_of=ledger.entries[-1].created_at if ledger.entries else src.as_of,
        sections=sections,
        records=[*base_records(src), *entry_records(cited)],
        footer=footer(src),
    )


def _reference(e: Entry) -> str | None:
    m = e.payload.get("model")
    return str(m.get("reference")) if isinstance(m, dict) and "reference" in m else None


def _names(e: Entry) -> list[str]:
    m, c = e.payload.get("model"), e.payload.get("checkpoint")
    out = [str(m.get("reference", "")) for m in [m] if isinstance(m, dict)]
    out += [str(c.get(k) or "") for k in ("model", "label") if isinstance(c, dict)]
    return out


def _line(assessments: list[Entry], model: str | None, exact: bool) -> list[Entry]:
    if model is None:
        return assessments
    if exact:
        return [e for e in assessments if _reference(e) == model]
    return [e for e in assessments if any(model in n for n in _names(e))]


def _compute(e: Entry) -> float | None:
    c = e.payload.get("checkpoint")
    v = c.get("effective_compute") if isinstance(c, dict) else None
    return float(v) if isinstance(v, int | float) and v > 0 else None


def _table(runs: list[Entry], decisions: dict[object, Entry]) -> Section:
    actions: list[str] = list(
        dict.fromkeys(
            a for d in decisions.values() for a in (d.payload.get("decision") or {}).get("actions", {})
        )
    )
    rows = []
    for e in runs:
        d = decisions.get(e.entry_id)
        acts = (d.payload.get("decision") or {}).get("actions", {}) if d else {}
        compute = _compute(e)
        rows.append(
            [
                cell(e.created_at[:16].replace("T", " "), entry_ref(e)),
                cell(f"{compute:.3g}" if compute else "-"),
                *(
                    cell(str(acts[a]["status"]), entry_ref(d), ACTION_TONE.get(str(acts[a]["status"])))  # type: ignore[arg-type]
                    if d and a in acts
                    else cell("-")
                    for a in actions
                ),
            ]
        )
    table = Table(
        id="assessments",
        caption="Each assessment and its decision per action",
        columns=["recorded (UTC)", "effective compute (FLOP)", *actions],
        rows=rows,
    )
    return Section(id="runs", title="Assessments", blocks=[table])


def _points(runs: list[Entry]) -> dict[str, list[tuple[Point, Entry]]]:
    """Per eval, one point per assessment with compute: the pre-mitigation comparison's counts."""
    out: dict[str, list[tuple[Point, Entry]]] = {}
    for e in runs:
        compute = _compute(e)
        card = e.payload.get("scorecard") or {}
        if compute is None:
            continue
        seen: set[str] = set()
        for d in (card.get("pre_mitigation") or {}).get("domains", {}).values():
            for t in d.get("thresholds", []):
                for c in (t.get("when") or {}).get("comparisons", []):
                    eval_id, value, n = c.get("eval_id"), c.get("value"), c.get("n")
                    if (
                        eval_id in seen
                        or value is None
                        or not n
                        or c.get("op") not in ("at_least", "at_most")
                    ):
                        continue
                    seen.add(eval_id)
                    out.setdefault(eval_id, []).append((Point(compute, round(value * n, 6), int(n)), e))
    return out


def _curves(src: Source, runs: list[Entry]) -> Section:
    blocks: list[Block] = []
    for eval_id, pts in sorted(_points(runs).items()):
        lines: dict[str, float] = {}
        for dname, dom in src.policy.domains.items():
            for level, t in dom.thresholds.items():
                for cond, suffix in ((t.when, ""), (t.alert, " alert")):
                    for b, positive in bounds(cond):
                        if b.eval == eval_id and b.op is Op.at_least and positive:
                            lines[f"{dname} {t.label or level}{suffix}"] = b.value
        spec = src.policy.evals.get(eval_id)
        fig_id = anchor("history", eval_id)
        svg = history(
            {eval_id: [p for p, _ in pts]},
            lines,
            spec.chance if spec else 0.0,
            fig_id,
            f"{eval_id} against effective compute",
        )
        refs = list(dict.fromkeys(entry_ref(e) for _, e in pts))
        blocks.append(
            Figure(
                id=fig_id,
                caption=f"{eval_id}: 95% intervals per assessment, the fitted curve with its 90% band, the "
                "threshold lines and, where projected, each crossing with its 90% interval",
                svg=svg,
                refs=refs,
            )
        )
    if not blocks:
        blocks.append(
            Text(
                text="No assessment of this line records its effective compute (assess --effective-compute), "
                "so capability cannot be drawn against compute.",
                tone="warn",
                refs=[POLICY],
            )
        )
    return Section(id="curves", title="Capability against effective compute", blocks=blocks)


def _decisions(runs: list[Entry], decisions: dict[object, Entry]) -> Section:
    events = []
    for e in runs:
        d = decisions.get(e.entry_id)
        for action, a in ((d.payload.get("decision") or {}).get("actions", {}) if d else {}).items():
            events.append(Event(dt.datetime.fromisoformat(d.created_at), action, str(a.get("status"))))  # type: ignore[union-attr]
    if not events:
        return Section(id="timeline-section", title="Decisions over time", blocks=[])
    fig = Figure(
        id="timeline",
        caption="Each decision per action, in time (colour: status)",
        svg=timeline(events, "timeline"),
        refs=[DECISION],
    )
    return Section(id="timeline-section", title="Decisions over time", blocks=[fig])
