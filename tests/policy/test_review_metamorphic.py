"""Metamorphic tests of the policy reviews: a catalogue of weakening mutations, applied to
every preset and the reference policy. A weakening never raises a grade (overall or any
component), is never read as "stronger" by `policy diff`, and never removes a lint finding
(but for the few listed in MAY_REMOVE, findings about the very text the weakening removes).
Its inverse, the original read as a change of the weakened policy, is a strengthening:
`policy diff` never reads it as "weaker" (grades and findings are the same pairs reversed).

Each mutation takes the policy's data (a dict, as loaded from YAML) and returns a weaker copy,
or None where it does not apply to that policy (nothing to weaken there); a mutated policy
must still validate, since a review of an invalid policy means nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from scalegate.policy.loader import preset_names, preset_text
from scalegate.policy.schema import Policy
from scalegate.review.diff import assess_changes
from scalegate.review.grade import grade_policy
from scalegate.review.lint import lint_policy

Data = dict[str, Any]
Mutation = Callable[[Data], Data | None]


def _responses(d: Data) -> list[Data]:
    return list(d.get("responses") or [])


def drop_requirement(d: Data) -> Data | None:
    """A response's protection requirement removed; where it blocks nothing, the response
    then gates nothing (it keeps its obligations, which a valid response needs)."""
    for i, r in enumerate(_responses(d)):
        if r.get("require") and (r.get("block") or r.get("obligations")):
            out = copy.deepcopy(d)
            del out["responses"][i]["require"]
            return out
    return None


def drop_blocked_action(d: Data) -> Data | None:
    for i, r in enumerate(_responses(d)):
        if len(r.get("block") or []) > 0 and (len(r["block"]) > 1 or r.get("require")):
            out = copy.deepcopy(d)
            out["responses"][i]["block"] = r["block"][1:]
            return out
    return None


def _conditions(d: Data) -> list[Data]:
    found: list[Data] = []

    def walk(c: Any) -> None:
        if isinstance(c, dict):
            if "eval" in c and "at_least" in c:
                found.append(c)
            for v in c.values():
                walk(v)
        elif isinstance(c, list):
            for v in c:
                walk(v)

    for dom in (d.get("domains") or {}).values():
        for thr in (dom.get("thresholds") or {}).values():
            walk(thr.get("when"))
    return found


def raise_threshold(d: Data) -> Data | None:
    out = copy.deepcopy(d)
    for c in _conditions(out):
        if c["at_least"] <= 0.85:
            c["at_least"] = round(c["at_least"] + 0.1, 4)
            return out
    return None


def drop_alert(d: Data) -> Data | None:
    out = copy.deepcopy(d)
    for dom in (out.get("domains") or {}).values():
        for thr in (dom.get("thresholds") or {}).values():
            if "alert" in thr:
                del thr["alert"]
                return out
    return None


def drop_cadence(d: Data) -> Data | None:
    if "cadence" not in d:
        return None
    out = copy.deepcopy(d)
    del out["cadence"]
    return out


def drop_governance(d: Data) -> Data | None:
    if "governance" not in d:
        return None
    out = copy.deepcopy(d)
    del out["governance"]
    return out


def empty_governance(d: Data) -> Data | None:
    """An empty governance section in place of one that says something."""
    if not d.get("governance"):
        return None
    out = copy.deepcopy(d)
    # what a public bundle withholds stays as it was: publishing more is not a weakening
    kept = {k: v for k, v in d["governance"].items() if k == "restricted_fields"}
    out["governance"] = kept
    return out


def drop_evidence_rule(d: Data) -> Data | None:
    for i, r in enumerate(_responses(d)):
        if "evidence" in (r.get("if") or {}) and len(d["responses"]) > 1:
            out = copy.deepcopy(d)
            del out["responses"][i]
            return out
    return None


def non_binding(d: Data) -> Data | None:
    for kind, c in (d.get("commitments") or {}).items():
        if c.get("binding", True):
            out = copy.deepcopy(d)
            out["commitments"][kind]["binding"] = False
            return out
    return None


def drop_commitment(d: Data) -> Data | None:
    for kind in d.get("commitments") or {}:
        out = copy.deepcopy(d)
        del out["commitments"][kind]
        return out
    return None


def prose_threshold(d: Data) -> Data | None:
    """An operational threshold turned into prose: its eval condition removed."""
    out = copy.deepcopy(d)
    for dom in (out.get("domains") or {}).values():
        for thr in (dom.get("thresholds") or {}).values():
            if "when" in thr:
                del thr["when"]
                thr.pop("alert", None)
                thr["not_operationalized"] = "left to judgement"
                return out
    return None


UNDEFINED = {"tbd": "Protections to be determined"}  # declared, with nothing said about them


def block_to_undefined(d: Data) -> Data | None:
    """A response's block replaced by a requirement of a protection nobody has defined."""
    for i, r in enumerate(_responses(d)):
        if r.get("block") and not r.get("require"):
            out = copy.deepcopy(d)
            out.setdefault("protections", {}).update(UNDEFINED)
            resp = out["responses"][i]
            resp["require"] = {"protections": ["tbd"], "before": resp.pop("block")}
            return out
    return None


def security_to_undefined(d: Data) -> Data | None:
    """A RAND security level required somewhere replaced by the undefined protection."""
    rand = {k for k, v in (d.get("protections") or {}).items() if isinstance(v, dict) and v.get("rand_sl")}
    for i, r in enumerate(_responses(d)):
        names = (r.get("require") or {}).get("protections") or []
        hit = [n for n in names if n in rand]
        if hit:
            out = copy.deepcopy(d)
            out.setdefault("protections", {}).update(UNDEFINED)
            req = out["responses"][i]["require"]
            req["protections"] = ["tbd" if n == hit[-1] else n for n in names]
            return out
    return None


def hedge_obligation(d: Data) -> Data | None:
    for i, r in enumerate(_responses(d)):
        if r.get("obligations"):
            out = copy.deepcopy(d)
            first = out["responses"][i]["obligations"][0]
            out["responses"][i]["obligations"][0] = f"Where feasible, we aim to: {first}"
            return out
    return None


def merge_domains(d: Data) -> Data | None:
    """Two domains merged into one: the second's thresholds are gone, its references point at
    the first."""
    names = list(d.get("domains") or {})
    if len(names) < 2:
        return None
    keep, gone = names[0], names[1]
    out = copy.deepcopy(d)
    del out["domains"][gone]

    def rename(c: Any) -> None:
        if isinstance(c, dict):
            if isinstance(c.get("domains"), list):
                c["domains"] = sorted({keep if x == gone else x for x in c["domains"]})
            for v in c.values():
                rename(v)
        elif isinstance(c, list):
            for v in c:
                rename(v)

    rename(out.get("responses"))
    return out


WEAKENINGS: dict[str, Mutation] = {
    "block-to-undefined-protection": block_to_undefined,
    "security-to-undefined-protection": security_to_undefined,
    "hedge-obligation": hedge_obligation,
    "merge-domains": merge_domains,
    "drop-requirement": drop_requirement,
    "drop-blocked-action": drop_blocked_action,
    "raise-threshold": raise_threshold,
    "drop-alert": drop_alert,
    "drop-cadence": drop_cadence,
    "drop-governance": drop_governance,
    "empty-governance": empty_governance,
    "drop-evidence-rule": drop_evidence_rule,
    "non-binding": non_binding,
    "drop-commitment": drop_commitment,
    "prose-threshold": prose_threshold,
}
POLICIES = sorted(preset_names())
#: Weakenings the diff must call weaker (the others may read as unclear or neutral: prose).
READ_AS_WEAKER = {
    "drop-requirement",
    "drop-blocked-action",
    "raise-threshold",
    "drop-alert",
    "block-to-undefined-protection",
    "security-to-undefined-protection",
}


#: Findings (rule ids) a weakening may remove, and why: each is about the text it removes.
MAY_REMOVE: dict[str, dict[str, str]] = {
    "raise-threshold": {"L34": "a higher bound needs fewer samples to rule out"},
    "prose-threshold": {"L34": "no comparison is left to size samples for"},
    "drop-commitment": {"L23": "the hedged text went with the commitment (its absence is L03/L08's)"},
    "merge-domains": {"L01": "the repeated description was one of the merged domains'"},
}


def _findings(policy: Policy) -> set[str]:
    """The rules that fire as errors or warnings (info notes describe, they do not find)."""
    return {f.rule for f in lint_policy(policy) if f.severity != "info"}


def _load(name: str) -> Data:
    data = yaml.safe_load(preset_text(name))
    assert isinstance(data, dict)
    return data


def _valid(data: Data) -> Policy | None:
    try:
        return Policy.model_validate(data)
    except ValueError:
        return None


def _cases() -> list[Any]:
    return [pytest.param(p, m, id=f"{p}-{m}") for p in POLICIES for m in WEAKENINGS]


@pytest.mark.parametrize(("preset", "mutation"), _cases())
def test_a_weakening_never_raises_a_grade_nor_reads_as_stronger(preset: str, mutation: str) -> None:
    before = _load(preset)
    after = WEAKENINGS[mutation](before)
    if after is None:
        pytest.skip(f"{preset} has nothing for {mutation} to weaken")
    old, new = Policy.model_validate(before), _valid(after)
    if new is None:
        pytest.skip(f"{mutation} leaves {preset} invalid")
    g_old, g_new = grade_policy(old), grade_policy(new)
    raised = [
        f"{a.title}: {a.points} -> {b.points}"
        for a, b in zip(g_old.components, g_new.components, strict=True)
        if b.points > a.points
    ]
    assert not raised, raised
    assert g_new.overall_points <= g_old.overall_points
    changes = assess_changes(old, new)
    stronger = [f"{c.clause}: {c.summary}" for c in changes if c.kind == "stronger"]
    assert not stronger, stronger
    if mutation in READ_AS_WEAKER:  # these the diff can name for what they are
        assert any(c.kind == "weaker" for c in changes), [(c.kind, c.summary) for c in changes]
    lost = _findings(old) - _findings(new) - set(MAY_REMOVE.get(mutation, {}))
    assert not lost, f"{mutation} silenced {sorted(lost)}"
    inverse = [f"{c.clause}: {c.summary}" for c in assess_changes(new, old) if c.kind == "weaker"]
    assert not inverse, f"undoing {mutation} read as weaker: {inverse}"


@pytest.mark.parametrize("preset", POLICIES)
def test_a_hedged_commitment_never_raises_a_grade(preset: str) -> None:
    """Adding a non-binding line (a risk tolerance the framework only 'aims' for) is no
    commitment: no grade may rise for it."""
    before = _load(preset)
    g_old = grade_policy(Policy.model_validate(before))
    for kind in ("risk_tolerance", "pause", "third_party_audit", "external_evaluation", "forecasting"):
        if kind in (before.get("commitments") or {}):
            continue
        after = copy.deepcopy(before)
        after.setdefault("commitments", {})[kind] = {"text": "we aim to, where feasible", "binding": False}
        g_new = grade_policy(Policy.model_validate(after))
        raised = [
            f"{kind}: {a.title} {a.points} -> {b.points}"
            for a, b in zip(g_old.components, g_new.components, strict=True)
            if b.points > a.points
        ]
        assert not raised, raised
