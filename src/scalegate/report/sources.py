"""What a report is built from, checked before anything is written.

Two sources: an assessment folder (`assessment.json` and the `policy.yaml` it names by hash)
or a ledger (a decision entry, its assessment, the policy text adopted, and every entry around
them). Both verify first: the folder's decision is recomputed from its evidence under its
policy, and a ledger is verified end to end, so a report never dresses up a record that would
fail `ledger verify` (exit 4).

The public profile is applied here, once, with the ledger's own redaction
(`ledger.audit.public_restrictions`): the kinds never see a withheld field, so no template can
print one by mistake. `withheld_values` lists what was withheld so the writer can check the
finished bytes contain none of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scalegate.assessment import Assessment, ModelRef
from scalegate.errors import InputError, NotVerified
from scalegate.evals.evidence import EvalEvidence
from scalegate.gates import Decision
from scalegate.ledger.records import Entry
from scalegate.plan import Checkpoint
from scalegate.policy.loader import parse_policy
from scalegate.policy.schema import Policy
from scalegate.report.document import Profile
from scalegate.safety_case import CaseResult
from scalegate.scoring import Scorecard


@dataclass(frozen=True)
class LedgerFacts:
    """The ledger as the profile shows it: every entry (public: redacted), verified, and its head."""

    url: str
    head: tuple[int, str]
    entries: list[Entry]
    restricted: set[str]
    profile: Profile

    def of_kind(self, *kinds: str) -> list[Entry]:
        return [e for e in self.entries if e.kind in kinds]

    def citing(self, decision_id: str, *kinds: str) -> list[Entry]:
        return [e for e in self.of_kind(*kinds) if e.payload.get("decision_entry") == decision_id]


@dataclass(frozen=True)
class Source:
    """One assessment and its decision, as the profile shows them."""

    profile: Profile
    policy: Policy
    policy_text: str
    policy_sha256: str
    assessment: dict[str, Any]  # the recorded assessment, less any withheld field
    decision: Decision
    scorecard: Scorecard
    assessment_id: str | None = None  # ledger entry id
    decision_id: str | None = None
    ledger: LedgerFacts | None = None
    withheld: dict[str, str] = field(default_factory=dict)  # assessment field -> why
    #: where the Inspect logs named by the evidence may be read (never under the public profile)
    logs_readable: bool = False
    #: the assessment folder reported from (its logs are read there), None for a ledger
    folder: Path | None = None
    #: every string a public view withheld, for the writer's final leak check
    withheld_values: frozenset[str] = frozenset()

    @property
    def evidence(self) -> dict[str, EvalEvidence] | None:
        return _evidence(self.assessment.get("evidence"))

    @property
    def post_evidence(self) -> dict[str, EvalEvidence] | None:
        return _evidence(self.assessment.get("post_evidence"))

    @property
    def model(self) -> ModelRef | None:
        m = self.assessment.get("model")
        return ModelRef.model_validate(m) if isinstance(m, dict) else None

    @property
    def checkpoint(self) -> Checkpoint | None:
        c = self.assessment.get("checkpoint")
        return Checkpoint.model_validate(c) if isinstance(c, dict) else None

    @property
    def safety_cases(self) -> dict[str, CaseResult]:
        cases = self.assessment.get("safety_cases") or {}
        return {k: CaseResult.model_validate(v) for k, v in cases.items()}

    @property
    def as_of(self) -> str:
        return str(self.assessment.get("completed_at") or "")

    def why_withheld(self, name: str) -> str | None:
        return self.withheld.get(name)


def _evidence(raw: Any) -> dict[str, EvalEvidence] | None:
    if not isinstance(raw, dict):
        return None
    return {k: EvalEvidence.model_validate(v) for k, v in raw.items()}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):  # values, not keys: keys are field names and shown names
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _withheld_values(withheld: list[Any], shown: list[Any]) -> frozenset[str]:
    """The withheld strings that would be a leak if found: specific enough (not 'ok'), and
    not also in what the profile shows (an eval id in the withheld evidence is also in the
    scorecard)."""
    corpus = "\n".join(_strings(shown))
    return frozenset(s for s in _strings(withheld) if len(s) >= 8 and s not in corpus)


# --- an assessment folder ----------------------------------------------------------------------


def from_folder(folder: Path, profile: Profile) -> Source:
    from scalegate.assessment import recompute
    from scalegate.ledger.audit import hidden_fields, public_restrictions

    path = folder / "assessment.json"
    if not path.is_file():
        raise InputError(
            f"--assessment {folder}: no assessment.json there; pass the folder `scalegate assess -o` wrote"
        )
    try:
        recorded = Assessment.model_validate_json(path.read_bytes())
    except (ValidationError, ValueError) as exc:
        raise InputError(f"{path}: not a scalegate assessment ({str(exc).splitlines()[0]})") from exc
    policy_path = folder / "policy.yaml"
    if not policy_path.is_file():
        raise InputError(f"{folder}: no policy.yaml beside assessment.json (assess writes one)")
    text = policy_path.read_text(encoding="utf-8")
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if sha != recorded.policy.sha256:
        raise NotVerified(
            f"{policy_path} is not the policy the assessment was decided under "
            f"(sha256 {sha[:12]}, the assessment names {recorded.policy.sha256[:12]})"
        )
    loaded = parse_policy(text, source=str(policy_path))
    policy = loaded.policy
    scorecard, decision = recompute(loaded, recorded)
    if (scorecard, decision) != (recorded.scorecard, recorded.decision):
        raise NotVerified(
            f"{path}: the recorded decision is not what its evidence and policy decide "
            "(edited after the run?); rerun `scalegate assess`"
        )
    data = recorded.model_dump(mode="json")
    data.pop("decision")
    withheld: dict[str, str] = {}
    values: list[Any] = []
    if profile == "public":
        restricted = public_restrictions(
            set(policy.governance.restricted_fields if policy.governance else ())
        )
        for name in sorted(hidden_fields(restricted, "assessment")):
            if name in data:
                values.append(data.pop(name))
                withheld[name] = "a restricted field (governance.restricted_fields)"
        values.append(str(folder))
    shown = [data, text]
    return Source(
        profile=profile,
        policy=policy,
        policy_text=text,
        policy_sha256=sha,
        assessment=data,
        decision=recorded.decision,
        scorecard=recorded.scorecard,
        withheld=withheld,
        folder=folder,
        logs_readable=profile == "internal",
        withheld_values=_withheld_values(values, shown),
    )


# --- a ledger --------------------------------------------------------------------------------


def read_ledger(url: str, profile: Profile) -> tuple[LedgerFacts, frozenset[str]]:
    """The ledger, verified (a problem: NotVerified), as the profile shows it."""
    from scalegate.ledger.audit import LedgerNotVerified
    from scalegate.ledger.store import Ledger
    from scalegate.ledger.verify import verify_entries

    ledger = Ledger(url, read_only=True)
    head = ledger.head()
    problems = verify_entries(list(ledger.raw_rows()), head=head)
    if problems:
        raise LedgerNotVerified(problems)
    return ledger_view(ledger.url, head, list(ledger.iter_entries()), profile)


def ledger_view(
    url: str, head: tuple[int, str], entries: list[Entry], profile: Profile
) -> tuple[LedgerFacts, frozenset[str]]:
    """Entries as the profile shows them (public: the ledger's own redaction), and the
    strings that view withholds. The caller has verified the entries."""
    from scalegate.ledger.audit import public_restrictions, restricted_in, shown_entry

    restricted = public_restrictions(restricted_in(entries)) if profile == "public" else set()
    shown, values = [], []
    for e in entries:
        view = shown_entry(e, restricted)
        values += [e.payload[k] for k in e.payload if k not in view.payload]
        shown.append(view)
    facts = LedgerFacts(url=url, head=head, entries=shown, restricted=restricted, profile=profile)
    return facts, _withheld_values(values, [e.payload for e in shown])


def pick_decision(facts: LedgerFacts, decision_id: str | None) -> Entry:
    """The decision named (an id or unique prefix), or the newest decision in the ledger."""
    decisions = facts.of_kind("decision")
    if not decisions:
        raise InputError(f"{facts.url}: the ledger records no decision yet (`scalegate assess --db` does)")
    if decision_id is None:
        return decisions[-1]
    found = [e for e in decisions if e.entry_id.startswith(decision_id)]
    if len(found) != 1:
        kinds = {e.kind for e in facts.entries if e.entry_id.startswith(decision_id)}
        what = f"a {sorted(kinds)[0]}, not a decision" if kinds else "no such decision"
        raise InputError(f"--decision {decision_id}: " + ("ambiguous prefix" if len(found) > 1 else what))
    return found[0]


def from_ledger(facts: LedgerFacts, withheld_values: frozenset[str], decision_id: str | None) -> Source:
    """The decision named (an id or unique prefix), or the newest decision in the ledger."""
    decision = pick_decision(facts, decision_id)
    a_id = decision.payload.get("assessment_entry")
    assessment = next((e for e in facts.entries if e.entry_id == a_id), None)
    if assessment is None:  # verify would have named it; kept as a guard
        raise NotVerified(f"decision {decision.entry_id[:12]} cites no assessment in the ledger")
    sha = str(decision.payload.get("policy_sha256"))
    text = next(
        (str(e.payload["text"]) for e in facts.of_kind("policy_adopted") if e.payload.get("sha256") == sha),
        None,
    )
    if text is None:
        raise NotVerified(f"decision {decision.entry_id[:12]} names policy {sha[:12]}, never adopted")
    data = dict(assessment.payload)
    data.pop("recorded_by", None)
    needed = [f"assessment.{k}" for k in ("scorecard",) if k not in data]
    needed += [f"decision.{k}" for k in ("decision",) if k not in decision.payload]
    if needed:
        raise InputError(
            f"the {facts.profile} view withholds {', '.join(needed)} (governance.restricted_fields), "
            "and no report can be made without it"
        )
    withheld = {k: "a restricted field (governance.restricted_fields)" for k in assessment.redacted}
    withheld.pop("recorded_by", None)
    return Source(
        profile=facts.profile,
        policy=parse_policy(text, source=f"ledger policy {sha[:12]}").policy,
        policy_text=text,
        policy_sha256=sha,
        assessment=data,
        decision=Decision.model_validate(decision.payload["decision"]),
        scorecard=Scorecard.model_validate(data["scorecard"]),
        assessment_id=assessment.entry_id,
        decision_id=decision.entry_id,
        ledger=facts,
        withheld=withheld,
        logs_readable=facts.profile == "internal",
        withheld_values=withheld_values,
    )


def check_no_leak(source: Source, rendered: str) -> None:
    """Refuse a public report that contains any withheld value: the profile is applied at the
    source, and this is the second lock on the door."""
    if source.profile != "public":
        return
    found = sorted(v for v in source.withheld_values if v in rendered)
    if found:
        raise NotVerified(
            f"the public report would contain {len(found)} withheld value(s) "
            f"(e.g. {json.dumps(found[0][:40])}); nothing written"
        )
