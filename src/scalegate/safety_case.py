"""Affirmative safety cases: structured arguments a policy can demand before an action.

A case is a tree of claims. Each top-level argument declares its type (inability from
capability evals, control, propensity / alignment, understanding-based) and is supported when
every evidence link under it holds and every sub-claim is supported. Links point at scalegate
evidence (`{eval: NAME, at_most: X}`, decided with the same intervals as thresholds), at
protections in place, or at named documents pinned by hash. The policy's requirement says
which argument types count and how independent arguments combine; an unsupported case names
the claims that are missing, and the gate keeps the action blocked.

Evaluation is a pure function of the case, the evidence, the protections and the document
digests, so a recorded assessment can be re-checked by anyone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scalegate.errors import InputError
from scalegate.evals.evidence import EvalEvidence
from scalegate.policy.base import Strict
from scalegate.policy.conditions import Bound, Op
from scalegate.policy.loader import load_yaml_model
from scalegate.policy.schema import ArgumentType, Policy, SafetyCaseRequirement
from scalegate.scoring import State, evaluate_condition

#: What each argument type must rest on, at least once in its tree: an inability argument
#: without a capability eval is an opinion; a control argument without a protection in place
#: controls nothing; understanding arguments rest on analyses (documents).
TYPE_NEEDS: dict[ArgumentType, tuple[str, ...]] = {
    "inability": ("eval",),
    "control": ("protection",),
    "propensity": ("eval", "document"),
    "understanding": ("document",),
}


class Link(Strict):
    """One piece of support: an eval comparison, a protection in place, or a pinned document."""

    eval: str | None = None
    metric: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    protection: str | None = None
    document: str | None = None
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [self.eval is not None, self.protection is not None, self.document is not None]
        if sum(kinds) != 1:
            raise ValueError("a link is exactly one of {eval: ...}, {protection: ...}, {document: ...}")
        if self.eval is not None and (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"eval link '{self.eval}' needs exactly one of at_least, at_most")
        if self.document is not None and self.sha256 is None:
            raise ValueError(f"document '{self.document}' needs its sha256, so the case pins what it cites")
        return self

    @property
    def bound(self) -> Bound | None:
        """The comparison an eval link makes: the same `Bound` a threshold's leaf is."""
        if self.eval is None:
            return None
        op, value = (Op.at_least, self.at_least) if self.at_least is not None else (Op.at_most, self.at_most)
        assert value is not None  # _one_kind: an eval link has exactly one of them
        return Bound(self.eval, self.metric, op, value)

    @property
    def kind(self) -> str:
        return (
            "eval" if self.eval is not None else "protection" if self.protection is not None else "document"
        )


class Claim(Strict):
    id: str
    claim: str
    evidence: list[Link] = Field(default_factory=list)
    subclaims: list[Claim] = Field(default_factory=list)


class Argument(Claim):
    type: ArgumentType


class SafetyCase(Strict):
    case: str  # the requirement it answers (a key of the policy's `safety_cases`)
    claim: str  # the top-level conclusion
    arguments: list[Argument] = Field(min_length=1)

    def claim_ids(self) -> list[str]:
        out: list[str] = []

        def walk(c: Claim) -> None:
            out.append(c.id)
            for s in c.subclaims:
                walk(s)

        for a in self.arguments:
            walk(a)
        return out


class LinkResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    link: str
    holds: bool
    detail: str


class ClaimResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    claim: str
    supported: bool
    type: ArgumentType | None = None  # top-level arguments only
    links: list[LinkResult] = Field(default_factory=list)
    subclaims: list[ClaimResult] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


class CaseResult(BaseModel):
    """The verdict on one case, with the claims that keep it from being supported."""

    model_config = ConfigDict(frozen=True)

    requirement: str
    claim: str
    supported: bool
    arguments: list[ClaimResult]
    missing: list[str]  # human-readable: which claim fails, and why
    case: SafetyCase | None = None
    documents: dict[str, str | None] = Field(default_factory=dict)


def load_case(path: Path) -> SafetyCase:
    case = load_yaml_model(path, SafetyCase, "safety case")
    ids = case.claim_ids()
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise InputError(f"{path}: claim ids must be unique, repeated: {', '.join(dups)}")
    return case


def document_digests(case: SafetyCase, base: Path) -> dict[str, str | None]:
    """sha256 of every document the case cites, relative to the case file; None if absent."""
    out: dict[str, str | None] = {}

    def walk(c: Claim) -> None:
        for link in c.evidence:
            if link.document is not None:
                p = (base / link.document).resolve()
                out[link.document] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        for s in c.subclaims:
            walk(s)

    for a in case.arguments:
        walk(a)
    return out


def evaluate_case(
    policy: Policy,
    case: SafetyCase,
    evidence: dict[str, EvalEvidence],
    protections_in_place: set[str],
    documents: dict[str, str | None],
) -> CaseResult:
    requirement = policy.safety_cases.get(case.case)
    if requirement is None:
        known = ", ".join(sorted(policy.safety_cases)) or "none"
        raise InputError(f"the policy declares no safety case '{case.case}' (safety_cases: {known})")
    args = [_claim(a, a.type, policy, evidence, protections_in_place, documents) for a in case.arguments]
    missing = _missing(args)
    counted = [r for r in args if r.supported and r.type in requirement.arguments]
    for r in args:
        if r.type not in requirement.arguments:
            missing.append(
                f"argument {r.id} is of type '{r.type}', which '{case.case}' does not accept "
                f"({', '.join(requirement.arguments)})"
            )
    supported = _combine(requirement, args, counted)
    if not supported and not missing:  # every argument holds, but too few of the accepted types
        missing.append(
            f"'{case.case}' needs at least {requirement.min_arguments} supported argument(s) of type "
            f"{', '.join(requirement.arguments)}; {len(counted)} supported"
        )
    return CaseResult(
        requirement=case.case,
        claim=case.claim,
        supported=supported,
        arguments=args,
        missing=[] if supported else missing,
        case=case,
        documents=documents,
    )


def _combine(req: SafetyCaseRequirement, args: list[ClaimResult], counted: list[ClaimResult]) -> bool:
    if len(counted) < req.min_arguments:
        return False
    if req.combine == "all":  # each argument covers part of the risk: every one must hold
        return all(r.supported and r.type in req.arguments for r in args)
    return bool(counted)  # independent arguments: one supported suffices


def _claim(
    claim: Claim,
    arg_type: ArgumentType | None,
    policy: Policy,
    evidence: dict[str, EvalEvidence],
    protections: set[str],
    documents: dict[str, str | None],
) -> ClaimResult:
    links = [_link(link, policy, evidence, protections, documents) for link in claim.evidence]
    subs = [_claim(s, None, policy, evidence, protections, documents) for s in claim.subclaims]
    problems: list[str] = []
    if not claim.evidence and not claim.subclaims:
        problems.append("no evidence and no sub-claims (undeveloped)")
    problems += [f"{lr.link}: {lr.detail}" for lr in links if not lr.holds]
    problems += [f"sub-claim {s.id} is unsupported" for s in subs if not s.supported]
    if arg_type is not None:
        kinds = _link_kinds(claim)
        needs = TYPE_NEEDS[arg_type]
        if not kinds & set(needs):
            problems.append(f"a {arg_type} argument must rest on at least one {' or '.join(needs)} link")
    return ClaimResult(
        id=claim.id,
        claim=claim.claim,
        supported=not problems,
        type=arg_type,
        links=links,
        subclaims=subs,
        problems=problems,
    )


def _link_kinds(claim: Claim) -> set[str]:
    return {link.kind for link in claim.evidence} | {k for s in claim.subclaims for k in _link_kinds(s)}


def _link(
    link: Link,
    policy: Policy,
    evidence: dict[str, EvalEvidence],
    protections: set[str],
    documents: dict[str, str | None],
) -> LinkResult:
    bound = link.bound
    if bound is not None:
        name = f"eval {bound.text()}"
        if bound.eval not in policy.evals:
            return LinkResult(link=name, holds=False, detail=f"the policy has no eval '{bound.eval}'")
        metrics = {bound.eval: policy.evals[bound.eval].metric}
        result = evaluate_condition(bound.condition(), evidence, metrics)
        comp = result.comparisons[0]
        # the claim must be shown, not merely not refuted: only a decided comparison supports it
        return LinkResult(link=name, holds=result.state is State.crossed, detail=comp.describe())
    if link.protection is not None:
        name = f"protection {link.protection}"
        if link.protection not in policy.protections:
            return LinkResult(link=name, holds=False, detail="not declared under the policy's protections")
        held = link.protection in protections
        return LinkResult(link=name, holds=held, detail="in place" if held else "not in place")
    assert link.document is not None
    name = f"document {link.document}"
    digest = documents.get(link.document)
    if digest is None:
        return LinkResult(link=name, holds=False, detail="not found")
    if digest != link.sha256:
        return LinkResult(
            link=name, holds=False, detail=f"sha256 {digest[:12]}... differs from the case's pin"
        )
    return LinkResult(link=name, holds=True, detail=f"sha256 {digest[:12]}... matches")


def _missing(args: list[ClaimResult]) -> list[str]:
    out: list[str] = []

    def walk(r: ClaimResult) -> None:
        for p in r.problems:
            if not p.startswith("sub-claim "):
                out.append(f"claim {r.id} ('{r.claim}'): {p}")
        for s in r.subclaims:
            walk(s)

    for a in args:
        walk(a)
    return out
