"""What several kinds of report share: the records cited, the scorecard and decision tables,
the per-eval evidence rows and their forest plot, and the footer."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from scalegate import __version__
from scalegate.evals import stats
from scalegate.evals.evidence import EvalEvidence
from scalegate.gates import basis
from scalegate.ledger.records import Entry
from scalegate.report import examples
from scalegate.report.document import Block, Cell, Footer, Record, Table, Text, anchor, cell
from scalegate.report.plots import Interval, forest
from scalegate.report.readings import ACTION_TONE, STATE_TONE, because, level_reading
from scalegate.report.sources import Source
from scalegate.scoring import Comparison, DomainScore

POLICY = "rec-policy"
ASSESSMENT = "rec-assessment"
DECISION = "rec-decision"


def evidence_ref(eval_id: str, post: bool = False) -> str:
    return anchor("ev", "post" if post else "pre", eval_id)


def ref_for(src: Source, eval_id: str, post: bool = False) -> str:
    """The eval's evidence record where the profile shows it, else the assessment's."""
    evs = src.post_evidence if post else src.evidence
    return evidence_ref(eval_id, post) if evs is not None and eval_id in evs else ASSESSMENT


def clause_ref(*path: str) -> str:
    return anchor("cl", *path)


def footer(src: Source) -> Footer:
    meta = src.policy.policy
    head = f"{src.ledger.head[0]}:{src.ledger.head[1]}" if src.ledger else None
    return Footer(
        policy=f"{meta.name} {meta.version}",
        policy_sha256=src.policy_sha256,
        assessment=src.assessment_id or "assessment.json",
        decision=src.decision_id,
        ledger_head=head,
        scalegate_version=__version__,
    )


def base_records(src: Source) -> list[Record]:
    meta = src.policy.policy
    model = src.model
    a_fields = {
        "completed": src.as_of,
        "model": model.reference if model else f"withheld ({src.why_withheld('model')})",
    }
    if model and model.weights_sha256:
        a_fields["weights sha256"] = model.weights_sha256
    a_fields.update({f"{k} (withheld)": why for k, why in src.withheld.items() if k != "model"})
    return [
        Record(
            id=POLICY,
            kind="policy_clause",
            title=f"policy {meta.name} {meta.version}",
            fields={"sha256": src.policy_sha256, "effective": str(meta.effective or "-")},
        ),
        Record(
            id=ASSESSMENT,
            kind="ledger_entry" if src.assessment_id else "assessment",
            title=f"assessment {src.assessment_id}" if src.assessment_id else "assessment (assessment.json)",
            fields=a_fields,
        ),
        Record(
            id=DECISION,
            kind="ledger_entry" if src.decision_id else "assessment",
            title=f"decision {src.decision_id}" if src.decision_id else "decision (assessment.json)",
            fields={"policy sha256": src.policy_sha256},
        ),
    ]


def evidence_records(src: Source) -> list[Record]:
    out = []
    for post, evs in ((False, src.evidence), (True, src.post_evidence)):
        for eval_id, ev in (evs or {}).items():
            fields = {"status": ev.status.value, "n scored": str(ev.n_scored)}
            est = next(iter(ev.metrics.values()), None)
            if est is not None:
                fields["successes"] = f"{est.successes:g} of {est.n}"
                fields["interval"] = f"[{est.low:.4f}, {est.high:.4f}] {est.method} {est.confidence:.0%}"
            if ev.provenance:
                p = ev.provenance
                fields.update({"task": p.task, "inspect eval id": p.inspect_eval_id or "-"})
                if p.dataset_sha256:
                    fields["dataset sha256"] = p.dataset_sha256
                if p.source:
                    fields["imported from"] = f"{p.source.format} sha256 {p.source.sha256}"
                if p.scale_out:
                    fields["scaled out"] = scale_out_text(p.scale_out)
            if src.logs_readable and ev.log_path:
                fields["log"] = ev.log_path
            side = "post-mitigation" if post else "pre-mitigation"
            out.append(
                Record(
                    id=evidence_ref(eval_id, post),
                    kind="evidence",
                    title=f"{eval_id} ({side})",
                    fields=fields,
                )
            )
    return out


def scorecard_table(src: Source) -> Table:
    """Domain, level pre and post, alerts, determination in the framework's own labels."""
    post = src.scorecard.post_mitigation.domains
    rows = []
    for name, d in src.scorecard.pre_mitigation.domains.items():
        pre_text, pre_tone = level_reading(d)
        post_text, post_tone = level_reading(post[name])
        rows.append(
            [
                cell(f"{name} ({d.title})"),
                cell(pre_text, ASSESSMENT, pre_tone),  # type: ignore[arg-type]
                cell(post_text, ASSESSMENT, post_tone),  # type: ignore[arg-type]
                cell(", ".join(d.alerts) or "none", ASSESSMENT, "warn" if d.alerts else "good"),
                cell(determination(post[name]), ASSESSMENT),
            ]
        )
    return Table(
        id="scorecard",
        caption="Scorecard: the highest level each domain's evidence could not rule out",
        columns=["domain", "level (pre-mitigation)", "level (post-mitigation)", "alerts", "determination"],
        rows=rows,
    )


def determination(d: DomainScore) -> str:
    """In the framework's own labels: the highest threshold crossed or not ruled out."""
    if not d.thresholds:
        return "no threshold applies"
    standing = [t for t in d.thresholds if t.status != "ruled_out"]
    if not standing:
        return "every threshold ruled out: " + ", ".join(t.name for t in d.thresholds)
    top = standing[-1]
    verb = "crossed" if top.status == "crossed" else "cannot rule out"
    return f"{verb}: {top.name}" + (" (prose only)" if not top.when.operationalized else "")


def decision_table(src: Source) -> Table:
    grounds = basis(src.policy, src.scorecard)
    rows = []
    for name, ad in src.decision.actions.items():
        why = "; ".join(
            f"{clause}: {text}" if clause not in ("", "basis") else text
            for clause, text in because(name, ad, grounds)
        )
        rows.append([cell(name), cell(ad.status.value, DECISION, ACTION_TONE[ad.status.value]), cell(why)])  # type: ignore[arg-type]
    return Table(
        id="decision",
        caption="Decision: each action, its status, and the policy clauses that set it",
        columns=["action", "status", "because"],
        rows=rows,
    )


def interval_cell(ev: EvalEvidence | None, ref: str) -> list[Cell]:
    """n, score and interval cells of one piece of evidence (`-` where there is none)."""
    est = next(iter(ev.metrics.values()), None) if ev else None
    if ev is None or est is None:
        return [cell("-", ref), cell("-", ref), cell("-", ref)]
    return [
        cell(est.n, ref),
        cell(f"{est.value:.3f}", ref),
        cell(f"[{est.low:.3f}, {est.high:.3f}] ({est.confidence:.0%})", ref),
    ]


def comparisons(d: DomainScore) -> Iterable[tuple[str, Comparison]]:
    """(level name, comparison) for every threshold and alert line of a domain."""
    for t in d.thresholds:
        for c in t.when.comparisons:
            yield t.name, c
        for c in t.alert.comparisons if t.alert else []:
            yield f"{t.name} alert", c


def forest_of(
    src: Source, domain: str, d: DomainScore, figure_id: str, post: bool = False
) -> tuple[str, list[str]]:
    rows, refs = [], []
    for level, c in comparisons(d):
        if c.op not in ("at_least", "at_most"):  # a suite's count, a relative claim's difference
            continue
        rows.append(
            Interval(f"{c.eval_id} vs {level}", c.value, c.low, c.high, c.threshold, c.op, c.state.value)
        )
        refs.append(ref_for(src, c.eval_id, post))
    return forest(rows, figure_id, title=f"{domain}: intervals against threshold lines"), sorted(set(refs))


def ruling(c: Comparison, n: int, confidence: float, method: stats.IntervalMethod) -> str:
    """What result at this n would have ruled the threshold in or out: for an `at_least` line
    the fewest successes whose interval lies wholly at or above it, and the most whose
    interval lies wholly below it (mirrored for `at_most`). The interval moves monotonically
    with the successes, so each boundary is found by bisection (a few dozen intervals at any n)."""
    if c.op not in ("at_least", "at_most") or n <= 0:
        return "-"

    def state(k: int) -> str:
        est = stats.estimate_proportion(k, n, confidence, method)
        if c.op == "at_most":
            return stats.compare(est.low, est.high, at_most=c.threshold).value
        return stats.compare(est.low, est.high, at_least=c.threshold).value

    ks = range(n + 1)
    up = c.op != "at_most"  # crossing needs more successes (at_least) or fewer (at_most)
    # the first k at which the state is no longer `below` (at_least) / is `below` (at_most), etc.
    if up:
        first_in = bisect_left(ks, True, key=lambda k: state(k) == "crossed")
        last_out = bisect_left(ks, True, key=lambda k: state(k) != "below") - 1
        rule_in = f"in at ≥ {first_in}/{n}" if first_in <= n else f"never in at n={n}"
        rule_out = f"out at ≤ {last_out}/{n}" if last_out >= 0 else f"never out at n={n}"
    else:
        last_in = bisect_left(ks, True, key=lambda k: state(k) != "crossed") - 1
        first_out = bisect_left(ks, True, key=lambda k: state(k) == "below")
        rule_in = f"in at ≤ {last_in}/{n}" if last_in >= 0 else f"never in at n={n}"
        rule_out = f"out at ≥ {first_out}/{n}" if first_out <= n else f"never out at n={n}"
    return f"{rule_in}; {rule_out}"


def evidence_tone(ev: EvalEvidence | None) -> str | None:
    if ev is None:
        return "bad"
    return None if ev.usable else "bad"


def state_tone(state: str) -> str | None:
    return STATE_TONE.get(state)


def example_blocks(src: Source, eval_ids: list[str], count: int, scope: str) -> list[Block]:
    """Example items per eval from its Inspect log, or a line saying why they are withheld."""
    if count <= 0:
        return []
    evidence = src.evidence or {}
    out: list[Block] = []
    for eval_id in eval_ids:
        ev = evidence.get(eval_id)
        if ev is None:
            continue
        log = examples.log_file(ev, src.folder)
        why = examples.withheld_because(src.policy.evals.get(eval_id), ev, src.profile == "public", log)
        if why:
            out.append(Text(text=f"Example items of {eval_id}: {why}.", refs=[ref_for(src, eval_id)]))
            continue
        assert log is not None  # withheld_because names a missing log
        try:
            drawn = examples.draw(ev, log, count)
        except Exception as exc:  # Inspect's reader on a user's file: any failure is "unreadable"
            why = f"its Inspect log could not be read ({type(exc).__name__}: {str(exc)[:200]})"
            out.append(
                Text(text=f"Example items of {eval_id}: {why}.", tone="warn", refs=[ref_for(src, eval_id)])
            )
            continue
        out.append(
            Table(
                id=anchor("examples", scope, eval_id),
                caption=f"{eval_id}: {len(drawn)} example item(s), drawn at random (seeded) from its log",
                columns=["sample", "prompt", "target", "answer", "score"],
                rows=[
                    [cell(f"{x.sample_id} (epoch {x.epoch})", evidence_ref(eval_id))]
                    + [cell(v) for v in (x.prompt, x.target, x.answer, x.score)]
                    for x in drawn
                ],
            )
        )
    return out


def entry_ref(e: Entry) -> str:
    return f"le-{e.seq}"


def entry_records(entries: Iterable[Entry]) -> list[Record]:
    """One record per ledger entry cited: what a reader looks up with `ledger show`."""
    out = {}
    for e in entries:
        fields = {"entry id": e.entry_id, "created": e.created_at, "entry hash": e.entry_hash}
        if e.redacted:
            fields["withheld fields"] = ", ".join(sorted(e.redacted))
        out[e.seq] = Record(
            id=entry_ref(e), kind="ledger_entry", title=f"entry {e.seq}: {e.kind}", fields=fields
        )
    return [out[k] for k in sorted(out)]


def scale_out_text(meta: dict[str, Any]) -> str:
    """Where a merged run's shards ran: shards, nodes, and attempts beyond the first."""
    units = meta.get("units") or []
    nodes = sorted({str(u.get("node")) for u in units if isinstance(u, dict) and u.get("node")})
    tries = meta.get("attempts") or {}
    retried = sum(max(0, len(v) - 1) for v in tries.values() if isinstance(v, list))
    return f"{len(units)} shard(s) on {', '.join(nodes) or 'unrecorded nodes'}; {retried} retried attempt(s)"
