"""What each dashboard page shows, as plain data computed from one read of the ledger.

A `Snapshot` is the ledger read once at a head: verified (every problem kept, by entry, to
show rather than to refuse), replayed into its state (who signed what, the newest decision per
model), and shown under the viewer's role (public: the ledger's own redaction). Pages are
functions of a snapshot; the app caches one snapshot per (head, role), so a page view costs
one head query until the ledger moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scalegate.ledger.records import Entry
from scalegate.ledger.state import LedgerState, replay
from scalegate.ledger.verify import Problem, verify_entries
from scalegate.ledger.workflow import standing
from scalegate.report.sources import LedgerFacts, ledger_view
from scalegate.serve.access import Role

PAGE_SIZE = 50


@dataclass(frozen=True)
class Snapshot:
    head: tuple[int, str]
    problems: list[Problem]
    state: LedgerState
    facts: LedgerFacts  # entries as the role shows them
    withheld: frozenset[str]
    by_id: dict[str, Entry] = field(default_factory=dict)  # shown entries by id

    @property
    def intact(self) -> bool:
        return not self.problems


def snapshot(ledger: Any, role: Role) -> Snapshot:
    head = ledger.head()
    rows = list(ledger.raw_rows())
    problems = verify_entries(rows, head=head)
    entries = list(ledger.iter_entries())
    facts, withheld = ledger_view(ledger.url, head, entries, role)
    return Snapshot(head, problems, replay(entries), facts, withheld, {e.entry_id: e for e in facts.entries})


def _model_label(snap: Snapshot, decision: Entry) -> str:
    assessment = snap.by_id.get(str(decision.payload.get("assessment_entry")))
    model = assessment.payload.get("model") if assessment else None
    return str(model.get("reference")) if isinstance(model, dict) else "(model withheld)"


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


def ledger_page(snap: Snapshot, page: int, kind: str | None) -> dict[str, Any]:
    """Newest first, `PAGE_SIZE` a page, optionally one kind; each entry with its problems."""
    chosen = [e for e in reversed(snap.facts.entries) if kind is None or e.kind == kind]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    bad: dict[int | None, list[str]] = {}
    for p in snap.problems:
        bad.setdefault(p.seq, []).append(p.message)
    rows = chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    kinds = sorted({e.kind for e in snap.facts.entries})
    return {"rows": rows, "page": page, "pages": pages, "kind": kind, "kinds": kinds, "bad": bad}
