"""What every assessor shares: the two policies, the name maps between them and the list of
changes found so far, in one small object rather than one class that does everything."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from scalegate.policy.schema import Policy
from scalegate.review.diff.change import Change, ChangeKind
from scalegate.review.diff.matching import domain_map, eval_map, level_map, protection_map

CITATION = ("source", "tag")


@dataclass
class Context:
    old: Policy
    new: Policy
    levels: dict[str, str]  # old level -> new level
    evals: dict[str, str]  # old eval name -> new eval name
    protections: dict[str, str]
    domains: dict[str, str]
    out: list[Change] = field(default_factory=list)

    @classmethod
    def of(cls, old: Policy, new: Policy) -> Context:
        return cls(
            old,
            new,
            levels=level_map(old.levels, new.levels),
            evals=eval_map(old, new),
            protections=protection_map(old, new),
            domains=domain_map(old, new),
        )

    def add(self, kind: ChangeKind, clause: str, what: str, why: str | None = None) -> None:
        self.out.append(Change(kind, clause, f"{what} ({kind}: {why})" if why else f"{what} ({kind})"))

    def citation(self, clause: str, a: Any, b: Any) -> None:
        """Where a clause is quoted from moves no decision."""
        for f in CITATION:
            if getattr(a, f) != getattr(b, f):
                self.add("neutral", f"{clause}.{f}", f"citation {f} of {clause} changed")

    def rest(self, clause: str, a: BaseModel, b: BaseModel, handled: Iterable[str]) -> None:
        """Fields added to the schema after this module: reported as unclear, never silently."""
        known = set(handled) | set(CITATION)
        for fld in type(a).model_fields:
            if fld not in known and getattr(a, fld, None) != getattr(b, fld, None):
                self.add("unclear", f"{clause}.{fld}", f"{clause}.{fld} changed", "not assessed")
