"""What each dashboard page shows, as plain data computed from one read of the ledger.

A `Snapshot` is one verified reading of the ledger (`serve.live`: every problem kept, by
entry, to show rather than to refuse, and the state verification replayed: who signed what,
the newest decision per model) shown under the viewer's role (public: the ledger's own
redaction). Pages are functions of a snapshot; the app keeps one snapshot per role, built
again only when the reading changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from scalegate.ledger.records import Entry
from scalegate.ledger.state import LedgerState
from scalegate.ledger.verify import Problem
from scalegate.ledger.workflow import standing
from scalegate.report.sources import LedgerFacts, ledger_view
from scalegate.serve.access import Role
from scalegate.serve.live import Verified

PAGE_SIZE = 50


@dataclass(frozen=True)
class Snapshot:
    reading: Verified  # the chain as verified: head, problems, state, and when
    facts: LedgerFacts  # entries as the role shows them
    withheld: frozenset[str]
    by_id: dict[str, Entry] = field(default_factory=dict)  # shown entries by id

    @property
    def head(self) -> tuple[int, str]:
        return self.reading.head

    @property
    def problems(self) -> list[Problem]:
        return self.reading.problems

    @property
    def state(self) -> LedgerState:
        return self.reading.state

    @property
    def intact(self) -> bool:
        return not self.problems


def snapshot(ledger: Any, reading: Verified, role: Role) -> Snapshot:
    facts, withheld = ledger_view(ledger.url, reading.head, reading.entries, role)
    return Snapshot(reading, facts, withheld, {e.entry_id: e for e in facts.entries})


def _model_label(snap: Snapshot, decision: Entry) -> str:
    assessment = snap.by_id.get(str(decision.payload.get("assessment_entry")))
    model = assessment.payload.get("model") if assessment else None
    return str(model.get("reference")) if isinstance(model, dict) else WITHHELD


WITHHELD = "(model withheld)"


def action_standing(snap: Snapshot, decision: Entry) -> dict[str, dict[str, Any]]:
    """Each action of a decision as it stands now (`ledger status`'s reading), with the roles
    whose sign-off is still missing."""
    out = standing(decision, snap.state)
    for slot in out.values():  # a blocked action waits for no one: no sign-off can allow it
        due = slot["decision"] == "needs_signoff" and not slot["overridden"]
        slot["missing"] = sorted(set(slot["needs"]) - set(slot["signed"])) if due else []
    return out


def overview(snap: Snapshot) -> dict[str, Any]:
    state = snap.state
    policy = state.in_force_entry.payload if state.in_force_entry else {}
    adopted = {e.payload.get("proposal_entry") for e in snap.facts.of_kind("policy_adopted")}
    pending = [e for e in snap.facts.of_kind("policy_proposed") if e.entry_id not in adopted]
    lines = []
    for decision_id in dict.fromkeys(state.latest.by_model.values()):
        decision = snap.by_id.get(decision_id)
        if decision is None:
            continue
        standing = action_standing(snap, decision)
        lines.append(
            {
                "model": _model_label(snap, decision),
                "decision": decision,
                "due": next_due(snap, decision),
                "actions": standing,
                "open": [(a, s["missing"]) for a, s in standing.items() if s["effective"] == "needs_signoff"],
            }
        )
    return {
        "policy": policy,
        "pending": pending,
        "lines": lines,
        "overrides": snap.facts.of_kind("override"),
        "noncompliance": len(snap.facts.of_kind("noncompliance_report")),
        "entries": len(snap.facts.entries),
    }


@dataclass(frozen=True)
class Filters:
    """Which entries the ledger page lists: of one kind, signed under one role, in a date range
        (ISO dates, inclusive), about one model (its assessments, their decisions, and the sign-offs,
    refusals, overrides and actions on those decisions)."""

    kind: str | None = None
    role: str | None = None
    model: str | None = None
    since: str | None = None
    until: str | None = None

    def keep(self, e: Entry, models: dict[str, str]) -> bool:
        day = e.created_at[:10]
        return (
            (self.kind is None or e.kind == self.kind)
            and (self.role is None or any(s.role == self.role for s in e.signatures))
            and (self.model is None or models.get(e.entry_id) == self.model)
            and (self.since is None or day >= self.since)
            and (self.until is None or day <= self.until)
        )

    def query(self, page: int) -> str:
        parts = {"page": str(page), **{k: v for k, v in vars(self).items() if v}}
        return "&".join(f"{k}={quote(v)}" for k, v in parts.items())


def entry_models(snap: Snapshot) -> dict[str, str]:
    """The model each entry is about, as the role sees it (a withheld model is about none)."""
    out: dict[str, str] = {}
    for e in snap.facts.entries:
        model = e.payload.get("model") if e.kind == "assessment" else None
        if isinstance(model, dict) and isinstance(model.get("reference"), str):
            out[e.entry_id] = model["reference"]
        for field_name in ("assessment_entry", "decision_entry"):  # decisions, then what cites them
            cited = out.get(str(e.payload.get(field_name)))
            if cited is not None:
                out[e.entry_id] = cited
    return out


def ledger_page(snap: Snapshot, page: int, filters: Filters) -> dict[str, Any]:
    """Newest first, `PAGE_SIZE` a page, filtered; each entry with its problems."""
    models = entry_models(snap)
    chosen = [e for e in reversed(snap.facts.entries) if filters.keep(e, models)]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    bad: dict[int | None, list[str]] = {}
    for p in snap.problems:
        bad.setdefault(p.seq, []).append(p.message)
    rows = chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    kinds = sorted({e.kind for e in snap.facts.entries})
    roles = sorted({s.role for e in snap.facts.entries for s in e.signatures})
    return {
        "rows": rows,
        "page": page,
        "pages": pages,
        "filters": filters,
        "kinds": kinds,
        "roles": roles,
        "models": sorted(set(models.values())),
        "bad": bad,
        "newer": filters.query(page - 1) if page > 1 else None,
        "older": filters.query(page + 1) if page < pages else None,
    }


def model_line(snap: Snapshot, reference: str) -> dict[str, Any] | None:
    """One model line: every decision on it, newest first, each action as it stands now (a
    superseded decision authorises nothing), and when the cadence next asks for an assessment.
    None when the role is shown no decision on a model of that name."""
    models = entry_models(snap)
    decisions = [e for e in reversed(snap.facts.of_kind("decision")) if models.get(e.entry_id) == reference]
    if not decisions:
        return None
    rows: list[dict[str, Any]] = []
    for d in decisions:
        assessment = snap.by_id.get(str(d.payload.get("assessment_entry")))
        cp = assessment.payload.get("checkpoint") if assessment else None
        compute = cp.get("effective_compute") if isinstance(cp, dict) else None
        rows.append(
            {
                "decision": d,
                "compute": f"{compute:.3g}" if isinstance(compute, int | float) else "-",
                "superseded": snap.state.latest.superseded_by(d.entry_id),
                "actions": action_standing(snap, d),
            }
        )
    actions = list(dict.fromkeys(a for r in rows for a in r["actions"]))
    return {"reference": reference, "rows": rows, "actions": actions, "due": next_due(snap, decisions[0])}


def policy_page(snap: Snapshot) -> dict[str, Any]:
    """The policy in force: its text, lint findings and grades, and what changed from the
    version adopted before it (stronger / weaker, as `policy diff` reads it)."""
    from scalegate.policy.loader import parse_policy
    from scalegate.review.diff import assess_changes, ordered
    from scalegate.review.grade import grade_policy
    from scalegate.review.lint import lint_policy, sorted_findings

    adopted = [e for e in snap.facts.of_kind("policy_adopted") if isinstance(e.payload.get("text"), str)]
    if not adopted:
        return {"entry": None}
    current = parse_policy(adopted[-1].payload["text"]).policy
    findings = lint_policy(current)
    changes = []
    if len(adopted) > 1:
        previous = parse_policy(adopted[-2].payload["text"]).policy
        changes = ordered(assess_changes(previous, current), False)
    return {
        "entry": adopted[-1],
        "previous": adopted[-2] if len(adopted) > 1 else None,
        "text": adopted[-1].payload["text"],
        "findings": sorted_findings(findings),
        "grades": grade_policy(current, findings),
        "changes": changes,
    }


def next_due(snap: Snapshot, decision: Entry) -> list[str]:
    """When the policy's cadence next asks for an assessment of this model: in days from the
    assessment, and in effective compute from its checkpoint."""
    import datetime as dt

    from scalegate.policy.loader import parse_policy

    text = snap.state.policy_text(str(decision.payload.get("policy_sha256")))
    assessment = snap.by_id.get(str(decision.payload.get("assessment_entry")))
    cadence = parse_policy(text).policy.cadence if text else None
    if cadence is None or assessment is None:
        return ["the policy sets no cadence"]
    out = []
    if cadence.max_days:
        done = dt.date.fromisoformat(str(assessment.payload.get("completed_at", assessment.created_at))[:10])
        out.append(f"by {done + dt.timedelta(days=cadence.max_days)} (every {cadence.max_days} days)")
    cp = assessment.payload.get("checkpoint")
    compute = cp.get("effective_compute") if isinstance(cp, dict) else None
    if cadence.every_effective_compute_multiple and isinstance(compute, int | float):
        multiple = cadence.every_effective_compute_multiple
        out.append(f"at {compute * multiple:.3g} FLOP effective compute ({multiple:g}x this checkpoint)")
    return out or ["on the policy's events only"]
