"""The capability report: what the model can do, domain by domain, and what that decides.

Shaped after the labs' own release documents (a scorecard first, with the rule that decides;
then per domain the threshold definitions quoted and cited, each eval's n, score, interval,
line and state, elicitation, what was missing and why, example items, and what result would
have ruled the capability in or out), and after STREAM v1's reporting criteria.
"""

from __future__ import annotations

from scalegate.evals.evidence import EvalEvidence
from scalegate.policy.schema import Domain, Threshold
from scalegate.report.checklists import Answer, checklist, narrative, provided
from scalegate.report.document import (
    Block,
    Document,
    Figure,
    Record,
    Section,
    Table,
    Text,
    Tone,
    anchor,
    cell,
)
from scalegate.report.kinds.common import (
    ASSESSMENT,
    DECISION,
    POLICY,
    base_records,
    clause_ref,
    comparisons,
    decision_table,
    evidence_records,
    example_blocks,
    footer,
    forest_of,
    interval_cell,
    ref_for,
    ruling,
    scorecard_table,
    state_tone,
)
from scalegate.report.sources import Source
from scalegate.scoring import POST_EQUALS_PRE, RELATIVE_OP, DomainScore


def build(src: Source, examples: int = 3, **_: object) -> Document:
    example_count = examples
    meta = src.policy.policy
    model = src.model
    who = model.reference if model else "the model (identity withheld)"
    summary = [
        scorecard_table(src),
        Text(text=_rule(src), refs=[POLICY, DECISION]),
        decision_table(src),
    ]
    if src.scorecard.post_mitigation.note == POST_EQUALS_PRE:
        summary.append(Text(text=POST_EQUALS_PRE, tone="warn", refs=[ASSESSMENT]))
    if src.scorecard.inconclusive:
        summary.append(
            Text(
                text="Some comparisons are inconclusive: the interval straddles the line, so the "
                f"policy reads them as {src.policy.statistics.inconclusive_as}.",
                tone="warn",
                refs=[ASSESSMENT],
            )
        )
    sections = [Section(id="summary", title="Scorecard and decision", blocks=summary)]
    clause_records: list[Record] = []
    for name, domain in src.policy.domains.items():
        blocks, records = _domain(src, name, domain, example_count)
        sections.append(Section(id=anchor("domain", name), title=f"{name}: {domain.title}", blocks=blocks))
        clause_records += records
    sections.append(_elicitation(src))
    sections.append(
        Section(
            id="checklist",
            title="Reporting checklist",
            blocks=[checklist("capability", stream_answers(src, example_count), "stream", "STREAM v1")],
        )
    )
    records = [*base_records(src), *clause_records, *evidence_records(src)]
    return Document(
        kind="capability",
        profile=src.profile,
        title=f"Capability report: {who}",
        subtitle=f"Under {meta.name} {meta.version}",
        as_of=src.as_of,
        sections=sections,
        records=records,
        footer=footer(src),
    )


def _rule(src: Source) -> str:
    s = src.policy.statistics
    return (
        f"How to read it: each threshold is compared with a {s.confidence:.0%} "
        f"{s.interval.replace('_', '-')} interval; a level is ruled out only when the interval lies "
        "wholly on the safe side of every line that defines it; an interval that straddles a line reads "
        f"as {s.inconclusive_as}; missing, errored or unreliable evidence leaves the level unknown, which "
        "the gates read as not ruled out (fail closed)."
    )


def _domain(src: Source, name: str, domain: Domain, example_count: int) -> tuple[list[Block], list[Record]]:
    pre = src.scorecard.pre_mitigation.domains[name]
    post = src.scorecard.post_mitigation.domains[name]
    blocks: list[Block] = []
    if domain.description:
        blocks.append(Text(text=domain.description))
    blocks.append(_thresholds(name, domain, pre, post))
    records = [
        Record(
            id=clause_ref(name, level),
            kind="policy_clause",
            title=f"domains.{name}.thresholds.{level}",
            fields={"source": t.source or "-", "description": t.description},
        )
        for level, t in domain.thresholds.items()
    ]
    blocks.append(_evals(src, name, pre))
    if any(c.op in ("at_least", "at_most") for _, c in comparisons(pre)):
        svg, refs = forest_of(src, name, pre, anchor("forest", name))
        blocks.append(
            Figure(
                id=anchor("forest", name),
                caption=f"{name}: each eval's interval against its lines",
                svg=svg,
                refs=refs,
            )
        )
    blocks += example_blocks(
        src, list(dict.fromkeys(c.eval_id for _, c in comparisons(pre))), example_count, name
    )
    return blocks, records


def _thresholds(name: str, domain: Domain, pre: DomainScore, post: DomainScore) -> Table:
    results = {t.level: t for t in pre.thresholds}
    post_results = {t.level: t for t in post.thresholds}
    rows = []
    for level, t in domain.thresholds.items():
        r = results.get(level) or post_results.get(level)
        state = "prose only" if t.when is None else (r.status.replace("_", " ") if r else "-")
        tone = "unknown" if t.when is None else ("bad" if r and r.status != "ruled_out" else "good")
        rows.append(
            [
                cell(t.label or level, clause_ref(name, level)),
                cell(t.description),
                cell(t.source or "-"),
                cell(_scope(t)),
                cell(state, clause_ref(name, level), tone),  # type: ignore[arg-type]
            ]
        )
    return Table(
        id=anchor("thresholds", name),
        caption=f"{name}: thresholds as the policy defines them",
        columns=["level", "definition", "source", "scope", "standing"],
        rows=rows,
    )


def _scope(t: Threshold) -> str:
    prose = f"; not operationalized: {t.not_operationalized}" if t.not_operationalized else ""
    return f"applies to {t.applies_to}{prose}"


def _evals(src: Source, name: str, pre: DomainScore) -> Table:
    evidence = src.evidence
    stats_ = src.policy.statistics
    chance = {k: e.chance for k, e in src.policy.evals.items()}
    rows = []
    for level, c in comparisons(pre):
        ev = evidence.get(c.eval_id) if evidence is not None else None
        ref = ref_for(src, c.eval_id)
        sym = "≤" if c.op == "at_most" else "≥"
        n = c.n or (next(iter(ev.metrics.values())).n if ev and ev.metrics else 0)
        relative = c.op == RELATIVE_OP  # a difference from a reference, not a score
        rows.append(
            [
                cell(f"{c.eval_id} minus reference" if relative else c.eval_id, ref),
                cell(level),
                *(interval_cell(ev, ref) if ev is not None and not relative else _from_comparison(c, ref)),
                cell(f"margin {c.threshold:g} ({c.note})" if relative else f"{sym} {c.threshold:g}", ref),
                cell(c.state.value, ref, state_tone(c.state.value)),  # type: ignore[arg-type]
                cell(_profiles(ev)),
                cell(
                    _samples(ev, c.evidence_status.value, chance.get(c.eval_id, 0.0)),
                    ref,
                    None if c.evidence_status.value == "ok" else "bad",
                ),
                cell(ruling(c, n, stats_.confidence, stats_.interval) if n else "-"),
            ]
        )
    return Table(
        id=anchor("evals", name),
        caption=f"{name}: evidence against each line (pre-mitigation)",
        columns=[
            "eval",
            "line of",
            "n",
            "score",
            "interval",
            "line",
            "state",
            "elicitation",
            "samples",
            "would rule",
        ],
        rows=rows,
    )


def _from_comparison(c: object, ref: str) -> list:  # type: ignore[type-arg]
    from scalegate.scoring import Comparison

    assert isinstance(c, Comparison)
    if c.value is None or c.low is None or c.high is None:
        return [cell("-", ref), cell("-", ref), cell("-", ref)]
    signed = "+" if c.op == RELATIVE_OP else ""
    return [
        cell(c.n, ref),
        cell(f"{c.value:{signed}.3f}", ref),
        cell(f"[{c.low:{signed}.3f}, {c.high:{signed}.3f}]", ref),
    ]


def _profiles(ev: EvalEvidence | None) -> str:
    if ev is None:
        return "-"
    if not ev.profiles:
        return "single profile"
    best = f"; best: {ev.best_profile}" if ev.best_profile else ""
    corr = f"; {ev.correction}" if ev.correction else ""
    return ", ".join(ev.profiles) + best + corr


#: An interval whose lower end reaches this is near the ceiling: the eval can show little more.
SATURATED = 0.9


def signal_note(ev: EvalEvidence, chance: float) -> str | None:
    """Saturation and no-signal notes: what the score cannot tell a reader."""
    est = next(iter(ev.metrics.values()), None)
    if est is None:
        return None
    if est.low >= SATURATED:
        return f"saturated: the interval's low end is {est.low:.2f}; the eval can show little further gain"
    if chance > 0 and est.low <= chance:
        return f"no signal: the interval reaches chance ({chance:g}); this score does not show the capability"
    return None


def _samples(ev: EvalEvidence | None, status: str, chance: float = 0.0) -> str:
    if ev is None:
        return f"evidence {status}"
    parts = [f"{ev.n_scored} scored of {ev.n_planned if ev.n_planned is not None else '?'} planned"]
    note = signal_note(ev, chance)
    if note:
        parts.append(note)
    if ev.n_errors:
        parts.append(f"{ev.n_errors} errors")
    if ev.n_unparsed:
        parts.append(f"{ev.n_unparsed} unparsed")
    if status != "ok":
        parts.append(f"evidence {status}" + (f": {ev.message}" if ev.message else ""))
    if ev.note:
        parts.append(ev.note)
    return "; ".join(parts)


def _elicitation(src: Source) -> Section:
    e = src.policy.elicitation
    blocks: list[Block] = []
    if e is None:
        blocks.append(Text(text="The policy declares no elicitation rules.", tone="warn", refs=[POLICY]))
    else:
        fields = [(k, v) for k, v in e.model_dump(exclude_none=True).items() if k not in ("tag",)]
        blocks.append(
            Table(
                id="elicitation-rules",
                caption="Elicitation the policy demands",
                columns=["rule", "value"],
                rows=[[cell(k.replace("_", " "), POLICY), cell(v)] for k, v in fields],
            )
        )
    if src.policy.profiles:
        blocks.append(
            Table(
                id="profiles",
                caption="Elicitation profiles declared",
                columns=["profile", "kind", "source"],
                rows=[
                    [cell(n, POLICY), cell(p.kind), cell(p.source or "-")]
                    for n, p in src.policy.profiles.items()
                ],
            )
        )
    checks = _checks(src)
    if checks is not None:
        blocks.append(checks)
    return Section(id="elicitation", title="Elicitation", blocks=blocks)


_CHECK_TONE: dict[str, Tone] = {"passed": "good", "flagged": "bad", "not_applicable": "warn"}


def _checks(src: Source) -> Table | None:
    """Each sandbagging check as the gate read it (from its counts, at the policy's
    confidence): a flag or a check that could not run is why an eval's evidence is unusable."""
    rows = []
    for eval_id, ev in sorted((src.evidence or {}).items()):
        ref = ref_for(src, eval_id)
        for r in ev.checks:
            rows.append(
                [
                    cell(eval_id, ref),
                    cell(r.check.replace("_", " ")),
                    cell(r.status.replace("_", " "), ref, _CHECK_TONE[r.status]),
                    cell("-" if r.figure is None else f"{r.figure:+.3f}"),
                    cell("-" if r.interval is None else f"[{r.low:.3f}, {r.high:.3f}]"),
                    cell("-" if r.margin is None else f"{r.margin:.2f}"),
                    cell("-" if r.recovered is None else f"{r.recovered:.3f}"),
                    cell(r.reason or "-"),
                ]
            )
    if not rows:
        return None
    return Table(
        id="sandbagging-checks",
        caption="Sandbagging checks, re-read from their counts (a flag or a check that could not "
        "run leaves the eval unusable: docs/design/sandbagging.md)",
        columns=["eval", "check", "status", "gain", "interval", "margin", "recovered", "reason"],
        rows=rows,
    )


def stream_answers(src: Source, example_count: int) -> dict[str, Answer]:
    """Where this report answers each STREAM criterion, or why it cannot."""
    first_domain = anchor("domain", next(iter(src.policy.domains)))
    evidence = src.evidence
    methods = {m for ev in (evidence or {}).values() for m in ev.scoring_methods}
    model_graded = any("judge" in m or "model" in m for m in methods)
    examples_state: Answer
    if example_count <= 0:
        examples_state = Answer("withheld", "--examples 0")
    elif src.profile == "public":
        examples_state = Answer("withheld", "items stay private under the public profile (contamination)")
    elif evidence is None:
        examples_state = Answer("withheld", "the evidence is a restricted field")
    else:
        examples_state = provided(first_domain)
    chance = [k for k, e in src.policy.evals.items() if e.chance]
    return {
        "capability_described": provided(first_domain),
        "rule_in_out": provided(first_domain),
        "example_item": examples_state,
        "item_count": provided(first_domain),
        "scoring_method": provided("records")
        if evidence is not None
        else Answer("withheld", "evidence withheld"),
        "grading_quality": narrative("how the benchmark's answer key was built and checked"),
        "grader": Answer(
            "not_applicable" if not model_graded else "missing",
            "scored by rule (log-likelihood or exact match), no human or model grader"
            if not model_graded
            else "a model grader was used: name it and its validation in the eval's description",
        ),
        "model_versions": provided("records")
        if src.model
        else Answer("withheld", "the model is a restricted field"),
        "safeguards_state": provided("summary"),
        "elicitation": provided("elicitation")
        if src.policy.elicitation or src.policy.profiles
        else Answer("missing", "the policy declares no elicitation rules or profiles"),
        "uncertainty": provided(first_domain),
        "baselines": Answer(
            "provided" if chance else "missing",
            "no human baseline is recorded; chance levels are the reference point"
            if chance
            else "no human baseline and no chance level declared (evals.*.chance)",
            "records" if chance else None,
        ),
        "conclusion": provided("summary"),
    }
