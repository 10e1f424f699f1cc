"""The safeguards report: what stands between the model and misuse, and what the evidence
says about it. Mitigations and red-team profiles as declared, pre- vs post-mitigation evidence
side by side (with a plot), refusal rates with intervals, the protections the decision requires
against those in place, and each safety case with the claims that hold it up or do not."""

from __future__ import annotations

from scalegate.report.document import Block, Document, Figure, Section, Table, Text, anchor, cell
from scalegate.report.examples import safeguard
from scalegate.report.kinds.common import (
    ASSESSMENT,
    DECISION,
    POLICY,
    base_records,
    evidence_records,
    footer,
    interval_cell,
    ref_for,
)
from scalegate.report.plots import Interval, forest
from scalegate.report.sources import Source
from scalegate.safety_case import ClaimResult
from scalegate.scoring import POST_EQUALS_PRE


def build(src: Source, **_: object) -> Document:
    meta = src.policy.policy
    model = src.model
    sections = [
        _mitigations(src),
        _pre_post(src),
        _refusals(src),
        _protections(src),
        _cases(src),
    ]
    return Document(
        kind="safeguards",
        profile=src.profile,
        title=f"Safeguards report: {model.reference if model else 'the model (identity withheld)'}",
        subtitle=f"Under {meta.name} {meta.version}",
        as_of=src.as_of,
        sections=sections,
        records=[*base_records(src), *evidence_records(src)],
        footer=footer(src),
    )


def _mitigations(src: Source) -> Section:
    pol = src.policy
    blocks: list[Block] = []
    if pol.mitigations:
        rows = [
            [
                cell(name, POLICY),
                cell(m.description or "-"),
                cell(
                    ", ".join(
                        what
                        for what, on in (
                            ("system prompt", m.system_prompt),
                            ("input filter", m.input_filter),
                            ("output filter", m.output_filter),
                            (f"model {m.model}", m.model),
                        )
                        if on
                    )
                ),
                cell(m.source or "-"),
            ]
            for name, m in pol.mitigations.items()
        ]
        blocks.append(
            Table(
                id="mitigations",
                caption="Mitigations declared (post-mitigation evidence runs through them)",
                columns=["mitigation", "description", "what it does", "source"],
                rows=rows,
            )
        )
    else:
        blocks.append(Text(text="The policy declares no mitigations.", tone="warn", refs=[POLICY]))
    red = [(n, p) for n, p in pol.profiles.items() if p.kind == "red_team"]
    pm = pol.post_mitigation
    if pm is not None:
        blocks.append(
            Text(
                text=f"Post-mitigation evidence is gathered through {', '.join(pm.mitigations)}"
                + (
                    f", red-teamed with {', '.join(pm.red_team_profiles) or 'the built-in attacks'}; "
                    "evidence not gathered that way is refused by the gates."
                    if pm.red_team
                    else "; it is not red-teamed."
                ),
                refs=[POLICY],
            )
        )
    if red:
        blocks.append(
            Table(
                id="red-team-profiles",
                caption="Red-team profiles",
                columns=["profile", "source"],
                rows=[[cell(n, POLICY), cell(p.source or "-")] for n, p in red],
            )
        )
    return Section(id="mitigations-section", title="Mitigations and red teaming", blocks=blocks)


def _pre_post(src: Source) -> Section:
    pre, post = src.evidence, src.post_evidence
    blocks: list[Block] = []
    if src.scorecard.post_mitigation.note == POST_EQUALS_PRE or not post:
        blocks.append(Text(text=POST_EQUALS_PRE, tone="warn", refs=[ASSESSMENT]))
    if pre is None:
        blocks.append(Text(text="The evidence is withheld under this profile.", refs=[ASSESSMENT]))
        return Section(id="pre-post", title="Pre- vs post-mitigation evidence", blocks=blocks)
    rows, marks = [], []
    for eval_id, ev in pre.items():
        after = (post or {}).get(eval_id)
        rows.append(
            [
                cell(eval_id, ref_for(src, eval_id)),
                *interval_cell(ev, ref_for(src, eval_id)),
                *interval_cell(after, ref_for(src, eval_id, post=True)),
            ]
        )
        for side, e in (("pre", ev), ("post", after)):
            est = next(iter(e.metrics.values()), None) if e else None
            if est is not None:
                label = f"{side}-mitigation"
                marks.append(Interval(f"{eval_id} ({side})", est.value, est.low, est.high, None, "", label))
    blocks.append(
        Table(
            id="pre-post-table",
            caption="Each eval before and after the mitigations",
            columns=[
                "eval",
                "n (pre)",
                "score (pre)",
                "interval (pre)",
                "n (post)",
                "score (post)",
                "interval (post)",
            ],
            rows=rows,
        )
    )
    if marks:
        blocks.append(
            Figure(
                id="pre-post-plot",
                caption="Pre-mitigation (amber) and post-mitigation (blue) intervals per eval",
                svg=forest(marks, "pre-post-plot", "pre vs post-mitigation"),
                refs=[ASSESSMENT],
            )
        )
    return Section(id="pre-post", title="Pre- vs post-mitigation evidence", blocks=blocks)


def _refusals(src: Source) -> Section:
    """Safeguard evals: those whose worst case is the lowest score (a refusal rate)."""
    rates = [k for k, e in src.policy.evals.items() if safeguard(e)]
    rows = []
    for eval_id in rates:
        for post, evs in ((False, src.evidence), (True, src.post_evidence)):
            ev = (evs or {}).get(eval_id)
            if ev is None and post:
                continue
            ref = ref_for(src, eval_id, post)
            rows.append(
                [
                    cell(eval_id, ref),
                    cell("post-mitigation" if post else "pre-mitigation"),
                    *interval_cell(ev, ref),
                    cell(ev.status.value if ev else "withheld" if evs is None else "missing", ref),
                ]
            )
    blocks: list[Block] = (
        [
            Table(
                id="refusal-rates",
                caption="Refusal rates (the worst case is the lowest: what an attacker pushes down)",
                columns=["eval", "side", "n", "rate", "interval", "status"],
                rows=rows,
            )
        ]
        if rows
        else [
            Text(
                text="The policy names no refusal or red-team eval (evals with worst_case: lowest).",
                refs=[POLICY],
            )
        ]
    )
    return Section(id="refusals", title="Refusal rates", blocks=blocks)


def _protections(src: Source) -> Section:
    required = src.decision.required_protections
    in_place = set(src.decision.protections_in_place)
    rows = [
        [
            cell(p, POLICY),
            cell(src.policy.protection_text(p) if p in src.policy.protections else "-"),
            cell(
                "in place (declared)" if p in in_place else "MISSING",
                DECISION,
                "good" if p in in_place else "bad",
            ),
        ]
        for p in dict.fromkeys([*required, *sorted(in_place)])
    ]
    table = Table(
        id="protections",
        caption="Protections the decision requires, and those declared in place",
        columns=["protection", "what it is", "status"],
        rows=rows,
    )
    return Section(id="protections-section", title="Protections", blocks=[table])


def _cases(src: Source) -> Section:
    cases = src.safety_cases
    if not cases:
        required = list(src.policy.safety_cases)
        text = (
            f"No safety case was submitted; the policy can require: {', '.join(required)}."
            if required
            else "The policy requires no safety case and none was submitted."
        )
        return Section(id="safety-cases", title="Safety cases", blocks=[Text(text=text, refs=[POLICY])])
    blocks: list[Block] = []
    for name, result in cases.items():
        rows: list[list] = []  # type: ignore[type-arg]
        for claim in result.arguments:
            _claim_rows(claim, 0, rows)
        blocks.append(
            Table(
                id=anchor("case", name),
                caption=f"{name}: {result.claim} ({'supported' if result.supported else 'NOT supported'})",
                columns=["claim", "supported", "why not"],
                rows=rows,
            )
        )
    return Section(id="safety-cases", title="Safety cases", blocks=blocks)


def _claim_rows(claim: ClaimResult, depth: int, rows: list) -> None:  # type: ignore[type-arg]
    rows.append(
        [
            cell(("· " * depth) + f"{claim.id}: {claim.claim}", DECISION),
            cell("yes" if claim.supported else "no", DECISION, "good" if claim.supported else "bad"),
            cell("; ".join(claim.problems) or "-"),
        ]
    )
    for sub in claim.subclaims:
        _claim_rows(sub, depth + 1, rows)
