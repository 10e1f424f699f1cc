"""The Safety and Security Model Report of the EU General-Purpose AI Code of Practice
(Commitment 7): Measures 7.1-7.5 in order, each filled from the record or marked as what the
developer must still write, then the update and notification rules of 7.6 and 7.7 with dates
computed from the record, and the checklist (checklists/model-report.yaml).

Dates: the six-monthly update runs from the assessment's completion; the notification deadline
("within five business days of a confirmed update") runs from the last sign-off the decision
required, since a confirmed report is one that received its required approvals. Business days
are Monday to Friday; public holidays are not known here and the report says so.
"""

from __future__ import annotations

import datetime as dt

from scalegate.ledger.records import Entry
from scalegate.policy.conditions import ThresholdCondition, leaves
from scalegate.report.checklists import Answer, checklist, narrative, provided
from scalegate.report.document import Block, Document, Section, Table, Text, cell
from scalegate.report.examples import safeguard
from scalegate.report.kinds.common import (
    ASSESSMENT,
    DECISION,
    POLICY,
    base_records,
    decision_table,
    entry_records,
    entry_ref,
    evidence_records,
    example_blocks,
    footer,
    interval_cell,
    ref_for,
    scorecard_table,
)
from scalegate.report.sources import Source

#: CoP 7.3(1)(f): at least five random samples of inputs and outputs per evaluation.
MIN_SAMPLES = 5


def build(src: Source, examples: int = MIN_SAMPLES, **_: object) -> Document:
    meta = src.policy.policy
    model = src.model
    count = max(examples, MIN_SAMPLES)
    signoffs = _signoffs(src)
    statements = src.ledger.of_kind("audit_statement") if src.ledger else []
    sections = [
        _model(src),
        _reasons(src, signoffs),
        _risk(src, count),
        _mitigations(src),
        _external(statements),
        Section(
            id="landscape",
            title="7.5 Material changes to the systemic risk landscape",
            blocks=[
                Text(text="To be written by the developer: scalegate records no such facts.", tone="warn")
            ],
        ),
        _timing(src, signoffs),
    ]
    answers = _answers(src, signoffs)
    sections.append(
        Section(
            id="checklist",
            title="Checklist: Commitment 7",
            blocks=[
                checklist("model-report", answers, "cop-7", "EU GPAI CoP, Safety & Security, Commitment 7")
            ],
        )
    )
    return Document(
        kind="model-report",
        profile=src.profile,
        title=f"Safety and Security Model Report: {model.reference if model else 'model withheld'}",
        subtitle=f"EU GPAI Code of Practice, Commitment 7; under {meta.name} {meta.version}",
        as_of=src.as_of,
        sections=sections,
        records=[*base_records(src), *evidence_records(src), *entry_records([*signoffs, *statements])],
        footer=footer(src),
    )


def _signoffs(src: Source) -> list[Entry]:
    if src.ledger is None or src.decision_id is None:
        return []
    return src.ledger.citing(src.decision_id, "signoff", "signoff_refused", "override")


def _model(src: Source) -> Section:
    model, cp = src.model, src.checkpoint
    rows = [
        [cell("model"), cell(model.reference if model else "withheld", ASSESSMENT)],
        [cell("weights sha256"), cell((model.weights_sha256 or "-") if model else "withheld", ASSESSMENT)],
        [cell("checkpoint"), cell((cp.label or cp.model) if cp else "withheld", ASSESSMENT)],
        [
            cell("effective compute (FLOP)"),
            cell(f"{cp.effective_compute:.3g}" if cp and cp.effective_compute else "-", ASSESSMENT),
        ],
    ]
    prompts = [(n, m.system_prompt) for n, m in src.policy.mitigations.items() if m.system_prompt]
    blocks: list[Block] = [
        Table(id="model-identity", caption="7.1(3) The model assessed", columns=["", ""], rows=rows)
    ]
    if prompts:
        blocks.append(
            Table(
                id="system-prompts",
                caption="7.1(4)(d) System prompts (from the declared mitigations)",
                columns=["mitigation", "system prompt"],
                rows=[[cell(n, POLICY), cell(p)] for n, p in prompts],
            )
        )
    blocks.append(
        Text(
            text="7.1(1), 7.1(2) and 7.1(4)(a-c) (architecture, training, intended use, model specification) "
            "are written by the developer; scalegate records none of them.",
            tone="warn",
        )
    )
    return Section(id="model", title="7.1 Model description and behaviour", blocks=blocks)


def _reasons(src: Source, signoffs: list[Entry]) -> Section:
    lines = []
    for name, domain in src.policy.domains.items():
        for level, t in domain.thresholds.items():
            if t.alert is not None or t.when is not None:
                lines.append(
                    [
                        cell(f"{name}: {t.label or level}"),
                        cell("; ".join(f"{b}" for b in _lines(t.alert)) or "-"),
                        cell("; ".join(f"{b}" for b in _lines(t.when)) or "prose only"),
                    ]
                )
    blocks: list[Block] = [
        decision_table(src),
        Table(
            id="margins",
            caption="7.2(1)-(2) Safety margins (alert lines), and the lines whose crossing undoes the case",
            columns=["threshold", "alert (safety margin)", "threshold line"],
            rows=lines,
        ),
    ]
    if signoffs:
        blocks.append(
            Table(
                id="decision-process",
                caption="7.2(3) How the decision was made: sign-offs recorded in the ledger",
                columns=["date", "kind", "role / action"],
                rows=[
                    [
                        cell(e.created_at[:10], entry_ref(e)),
                        cell(e.kind.replace("_", " ")),
                        cell(f"{_who(e)} / {e.payload.get('action', '-')}"),
                    ]
                    for e in signoffs
                ],
            )
        )
    else:
        blocks.append(
            Text(text="7.2(3): no sign-off is recorded for this decision.", tone="warn", refs=[DECISION])
        )
    return Section(id="reasons", title="7.2 Reasons for proceeding", blocks=blocks)


def _who(e: Entry) -> str:
    return str(e.payload.get("role") or ", ".join(e.payload.get("required_roles", [])))


def _lines(cond: ThresholdCondition | None) -> list[str]:
    """Each comparison and relative claim of a condition as the policy states it (`not:` shown
    by its polarity)."""
    out = []
    for leaf, positive in leaves(cond):
        b = leaf.bound()
        text = leaf.relative.text() if leaf.relative is not None else b.text(unicode=True) if b else None
        if text is not None:
            out.append(text + ("" if positive else " (negated)"))
    return out


def _risk(src: Source, count: int) -> Section:
    blocks: list[Block] = [scorecard_table(src)]
    evidence = src.evidence
    if evidence is not None:
        blocks.append(
            Table(
                id="eval-results",
                caption="7.3(1)(e) Evaluation results (pre-mitigation)",
                columns=["eval", "task", "n", "score", "interval", "status"],
                rows=[
                    [
                        cell(k, ref_for(src, k)),
                        cell(
                            ev.provenance.task
                            if ev.provenance
                            else src.policy.evals[k].task
                            if k in src.policy.evals
                            else "-"
                        ),
                        *interval_cell(ev, ref_for(src, k)),
                        cell(ev.status.value, ref_for(src, k), None if ev.usable else "bad"),
                    ]
                    for k, ev in evidence.items()
                ],
            )
        )
        blocks += example_blocks(src, list(evidence), count, "model-report")
    else:
        blocks.append(Text(text="The evaluation evidence is withheld under this profile.", refs=[ASSESSMENT]))
    return Section(
        id="risk", title="7.3 Systemic risk identification, analysis and mitigation", blocks=blocks
    )


def _mitigations(src: Source) -> Section:
    in_place = src.decision.protections_in_place
    rows = [[cell(n, POLICY), cell(m.description or "-")] for n, m in src.policy.mitigations.items()]
    rows += [
        [cell(p, DECISION), cell(f"protection in place: {src.policy.protection_text(p)}")] for p in in_place
    ]
    blocks: list[Block] = [
        Table(
            id="mitigations-list",
            caption="7.3(2)-(3) Safety and security mitigations (declared mitigations, protections in place)",
            columns=["mitigation", "what"],
            rows=rows,
        )
    ]
    return Section(id="mitigations", title="7.3(2)-(3) Mitigations", blocks=blocks)


def _external(statements: list[Entry]) -> Section:
    if statements:
        blocks: list[Block] = [
            Table(
                id="external",
                caption="7.4 Statements recorded by external auditors",
                columns=["date", "scope"],
                rows=[
                    [cell(e.created_at[:10], entry_ref(e)), cell(str(e.payload.get("scope", "-")))]
                    for e in statements
                ],
            )
        ]
    else:
        blocks = [
            Text(
                text="7.4: no external evaluator or auditor statement is recorded in the ledger.", tone="warn"
            )
        ]
    return Section(id="external-reports", title="7.4 External reports", blocks=blocks)


def add_business_days(start: dt.date, days: int) -> dt.date:
    d = start
    while days > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            days -= 1
    return d


def _timing(src: Source, signoffs: list[Entry]) -> Section:
    done = dt.date.fromisoformat(src.as_of[:10]) if src.as_of else None
    confirmed = max(
        (dt.date.fromisoformat(e.created_at[:10]) for e in signoffs if e.kind == "signoff"), default=None
    )
    rows = []
    if done is not None:
        rows.append([cell("assessment completed"), cell(done.isoformat(), ASSESSMENT), cell("the record")])
        rows.append(
            [
                cell("7.6 six-monthly update due (a most-capable model)"),
                cell((done + dt.timedelta(days=182)).isoformat(), ASSESSMENT),
                cell("at least every six months, unless an exemption of 7.6 applies"),
            ]
        )
        cadence = src.policy.cadence
        if cadence and cadence.max_days:
            rows.append(
                [
                    cell("next assessment by the policy's cadence"),
                    cell((done + dt.timedelta(days=cadence.max_days)).isoformat(), POLICY),
                    cell(f"cadence.max_days = {cadence.max_days}"),
                ]
            )
    if confirmed is not None:
        rows.append(
            [
                cell("7.7 notify the AI Office (update)"),
                cell(add_business_days(confirmed, 5).isoformat(), DECISION),
                cell(
                    f"five business days after the last sign-off ({confirmed.isoformat()}); at most "
                    f"{add_business_days(confirmed, 15).isoformat()} with an interim report (7.2 and 7.5)"
                ),
            ]
        )
    else:
        rows.append(
            [
                cell("7.7 notify the AI Office"),
                cell("by market placement"),
                cell("no sign-off is recorded for this decision, so no confirmation date to count from"),
            ]
        )
    table = Table(
        id="timing",
        caption="7.6 updates and 7.7 notification: dates from the record",
        columns=["what", "when", "rule"],
        rows=rows,
    )
    note = Text(text="Business days are Monday to Friday; public holidays are not known here.")
    return Section(id="updates", title="7.6-7.7 Updates and notification", blocks=[table, note])


def _answers(src: Source, signoffs: list[Entry]) -> dict[str, Answer]:
    evidence = src.evidence
    guarded = {k for k, e in src.policy.evals.items() if safeguard(e)}
    if src.profile == "public":
        samples = Answer(
            "withheld", "items stay private under the public profile (the AI Office copy is internal)"
        )
    elif evidence is None:
        samples = Answer("withheld", "the evidence is a restricted field")
    elif guarded & set(evidence):
        sets = ", ".join(sorted(guarded & set(evidence)))
        samples = Answer("provided", f"except safeguard sets ({sets}): prompts never reproduced", "risk")
    else:
        samples = provided("risk")
    prompts = any(m.system_prompt for m in src.policy.mitigations.values())
    return {
        "model_description": narrative("architecture, training method and data"),
        "model_use": narrative("how the model is and will be used"),
        "model_versions": provided("model")
        if src.model
        else Answer("withheld", "the model is a restricted field"),
        "model_spec": narrative("the model specification"),
        "system_prompt": provided("model")
        if prompts
        else Answer("missing", "no mitigation declares a system prompt"),
        "justification": provided("reasons"),
        "conditions": provided("reasons"),
        "decision_process": provided("reasons")
        if signoffs
        else Answer(
            "missing",
            "no sign-off recorded for this decision"
            + ("" if src.ledger else " (an assessment folder has no ledger)"),
        ),
        "risk_identification": provided("risk"),
        "uncertainties": provided("risk"),
        "risk_modelling": narrative("systemic risk modelling (Measure 3.3)"),
        "risk_estimates": provided("risk"),
        "mitigated_vs_elicited": provided("risk")
        if src.post_evidence
        else Answer("missing", "no post-mitigation evidence was gathered (the policy's post_mitigation)"),
        "eval_results": provided("risk")
        if evidence is not None
        else Answer("withheld", "the evidence is a restricted field"),
        "elicitation": provided("risk")
        if src.policy.elicitation or src.policy.profiles
        else Answer("missing", "the policy declares no elicitation rules or profiles"),
        "baselines": Answer(
            "missing", "no human baseline is recorded; chance levels are shown where declared"
        ),
        "samples": samples,
        "evaluator_access": narrative("access given to internal and external evaluators"),
        "similarly_safe": Answer("not_applicable", "no 'similarly safe or safer' claim is made"),
        "safety_mitigations": provided("mitigations")
        if src.policy.mitigations or src.decision.protections_in_place
        else Answer("missing", "no mitigation declared and no protection in place"),
        "security": provided("mitigations")
        if src.decision.protections_in_place
        else Answer("missing", "no protection declared in place (assess --protection)"),
        "forward_look": narrative("plans for the next six months"),
        "external_reports": provided("external-reports")
        if src.ledger and src.ledger.of_kind("audit_statement")
        else Answer("missing", "no external evaluator or audit statement recorded (ledger audit-statement)"),
        "landscape": narrative("changes to the systemic risk landscape"),
        "updates": provided("updates"),
        "notification": provided("updates"),
    }
