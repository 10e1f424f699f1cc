"""The transparency report: what a developer publishes (Seoul Frontier AI Safety Commitments
VII-VIII; California SB 53's framework and transparency report), built from the ledger alone.

Framework and its hash, what was assessed and when, determinations, sign-offs by role,
overrides flagged, policy changes with their notice, noncompliance report counts, and the
ledger head a third party verifies the rest against. Under `--profile public` the entries are
the ledger's public view (`audit export --public`), so nothing withheld there appears here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from scalegate.ledger.records import Entry
from scalegate.report.document import Block, Document, Figure, Section, Table, Text, cell
from scalegate.report.kinds.common import (
    DECISION,
    POLICY,
    base_records,
    decision_table,
    entry_records,
    entry_ref,
    footer,
    scorecard_table,
)
from scalegate.report.plots import Event, timeline
from scalegate.report.sources import LedgerFacts, Source

Cite = Callable[[Entry], str]  # cite an entry: its record id, and the entry is listed


def build(src: Source, **_: object) -> Document:
    ledger = src.ledger
    assert ledger is not None  # a transparency report needs_ledger (kinds/__init__.py)
    meta = src.policy.policy
    cited: list[Entry] = []

    def ref(e: Entry) -> str:
        cited.append(e)
        return entry_ref(e)

    sections = [
        _framework(src, ledger, ref),
        _assessed(ledger, ref),
        Section(
            id="determinations",
            title="Determinations (latest decision)",
            blocks=[scorecard_table(src), decision_table(src)],
        ),
        _signoffs(ledger, ref),
        _accountability(ledger, ref),
        _verify(src, ledger),
    ]
    return Document(
        kind="transparency",
        profile=src.profile,
        title=f"Transparency report: {meta.name} {meta.version}",
        subtitle="What was assessed, what was decided, who signed, and how to check it",
        as_of=ledger.entries[-1].created_at if ledger.entries else src.as_of,
        sections=sections,
        records=[*base_records(src), *entry_records(cited)],
        footer=footer(src),
    )


def _framework(src: Source, ledger: LedgerFacts, ref: Cite) -> Section:
    meta = src.policy.policy
    rows = [
        [cell("framework"), cell(f"{meta.name} {meta.version}", POLICY)],
        [cell("sha256"), cell(src.policy_sha256, POLICY)],
        [cell("effective"), cell(str(meta.effective or "-"), POLICY)],
        [cell("owner"), cell(meta.owner or "-", POLICY)],
    ]
    changes = []
    for e in ledger.of_kind("policy_proposed", "policy_approval", "policy_adopted"):
        p = e.payload
        what = {
            "policy_proposed": lambda p: (
                f"proposed {p.get('name', '')} {p.get('version', '')}; notice "
                f"{p.get('notice_days', 0)} day(s), effective not before {p.get('effective_not_before', '-')}"
            ),
            "policy_approval": lambda p: f"approved by {p.get('role', '-')}",
            "policy_adopted": lambda p: (
                f"adopted {p.get('name', '')} {p.get('version', '')} (sha256 {str(p.get('sha256', ''))[:12]})"
            ),
        }[e.kind](p)
        changes.append([cell(e.created_at[:10], ref(e)), cell(e.kind.replace("_", " ")), cell(what)])
    blocks: list[Block] = [
        Table(id="framework", caption="The framework in force", columns=["", ""], rows=rows),
        Table(
            id="policy-changes",
            caption="Policy changes, with their notice",
            columns=["date", "step", "what"],
            rows=changes,
        ),
    ]
    return Section(id="framework-section", title="Framework", blocks=blocks)


def _assessed(ledger: LedgerFacts, ref: Cite) -> Section:
    rows = []
    for e in ledger.of_kind("assessment"):
        p = e.payload
        model = p.get("model")
        who = model.get("reference", "-") if isinstance(model, dict) else "withheld"
        cp = p.get("checkpoint")
        compute = cp.get("effective_compute") if isinstance(cp, dict) else None
        rows.append(
            [
                cell(e.created_at[:10], ref(e)),
                cell(who),
                cell(f"{compute:.3g}" if isinstance(compute, int | float) else "-"),
                cell(str(len(p["evidence"])) if isinstance(p.get("evidence"), dict) else "withheld"),
            ]
        )
    table = Table(
        id="assessments",
        caption="Every assessment recorded",
        columns=["date", "model", "effective compute (FLOP)", "evals"],
        rows=rows,
    )
    return Section(id="assessed", title="What was assessed, and when", blocks=[table])


def _signoffs(ledger: LedgerFacts, ref: Cite) -> Section:
    rows = []
    events = []
    for e in ledger.of_kind("decision"):
        for action, a in (e.payload.get("decision") or {}).get("actions", {}).items():
            events.append(Event(_when(e.created_at), action, str(a.get("status"))))
    for e in ledger.of_kind("signoff", "signoff_refused"):
        p = e.payload
        verb = "signed off" if e.kind == "signoff" else "REFUSED"
        rows.append(
            [
                cell(e.created_at[:10], ref(e)),
                cell(str(p.get("role", "-"))),
                cell(str(p.get("action", "-"))),
                cell(verb, ref(e), "good" if e.kind == "signoff" else "bad"),
                cell(str(p.get("decision_entry", ""))[:12]),
            ]
        )
        events.append(
            Event(
                _when(e.created_at),
                f"sign-off: {p.get('action', '-')}",
                str(p.get("role", "-")),
                str(p.get("role", "")),
            )
        )
    blocks: list[Block] = [
        Table(
            id="signoffs",
            caption="Sign-offs by role",
            columns=["date", "role", "action", "verdict", "decision"],
            rows=rows,
        )
    ]
    if events:
        blocks.append(
            Figure(
                id="timeline",
                caption="Decisions per action over time (colour: status) and sign-offs",
                svg=timeline(sorted(events, key=lambda ev: ev.when), "timeline"),
                refs=[DECISION],
            )
        )
    return Section(id="signoffs-section", title="Sign-offs", blocks=blocks)


def _accountability(ledger: LedgerFacts, ref: Cite) -> Section:
    overrides = ledger.of_kind("override")
    rows = [
        [
            cell(e.created_at[:10], ref(e)),
            cell(str(e.payload.get("action", "-"))),
            cell(", ".join(e.payload.get("required_roles", []))),
            cell(str(e.payload.get("justification", "withheld")), ref(e), "warn"),
        ]
        for e in overrides
    ]
    reports = ledger.of_kind("noncompliance_report")
    statements = ledger.of_kind("audit_statement")
    blocks: list[Block] = [
        Text(
            text=f"{len(overrides)} override(s) on record"
            + (": each is listed below." if overrides else "."),
            tone="warn" if overrides else None,
        ),
    ]
    if rows:
        blocks.append(
            Table(
                id="overrides",
                caption="Overrides: an action allowed despite the decision",
                columns=["date", "action", "signed by roles", "justification"],
                rows=rows,
            )
        )
    blocks.append(
        Table(
            id="noncompliance",
            caption="Noncompliance reports and audit statements",
            columns=["kind", "count", "latest"],
            rows=[
                [
                    cell("noncompliance reports"),
                    cell(len(reports)),
                    cell(reports[-1].created_at[:10], ref(reports[-1])) if reports else cell("-"),
                ],
                [
                    cell("audit statements"),
                    cell(len(statements)),
                    cell(statements[-1].created_at[:10], ref(statements[-1])) if statements else cell("-"),
                ],
            ],
        )
    )
    return Section(id="accountability", title="Overrides and noncompliance", blocks=blocks)


def _verify(src: Source, ledger: LedgerFacts) -> Section:
    seq, head = ledger.head
    text = (
        f"The ledger this report was generated from has {len(ledger.entries)} entries; its head is "
        f"entry {seq} with hash {head}. Anyone holding an audit bundle (`scalegate audit export "
        f"--public`) checks it with `scalegate ledger verify --bundle BUNDLE --anchor {seq}:{head}`: every "
        "hash, signature and decision is recomputed, and a rewritten or truncated history fails."
    )
    blocks: list[Block] = [Text(text=text, refs=[DECISION])]
    if src.profile == "public" and ledger.restricted:
        blocks.append(
            Text(
                text="Public profile: these ledger fields are replaced by their salted digests and do not "
                f"appear here: {', '.join(sorted(ledger.restricted))}."
            )
        )
    return Section(id="verification", title="Verify this report", blocks=blocks)


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
