"""Which old name is which new name (levels, evals, protections, domains), so a rename reads as
a rename and every later comparison speaks the new policy's names."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from scalegate.policy.schema import Domain, EvalSpec, Policy, Protection
from scalegate.review.compare import domain_category

T = TypeVar("T")


def rename_map(old: Mapping[str, T], new: Mapping[str, T], key: Callable[[str, T], Any]) -> dict[str, str]:
    """Old name -> new name: the same name, or for a name that disappeared, the one new name
    whose content key matches it and nothing else (a rename is matched only when unambiguous)."""
    out = {k: k for k in old if k in new}
    gone = [k for k in old if k not in new]
    fresh = [k for k in new if k not in old]
    for k in gone:
        ka = key(k, old[k])
        if ka is None:
            continue
        hits = [n for n in fresh if key(n, new[n]) == ka]
        rivals = [g for g in gone if key(g, old[g]) == ka]
        if len(hits) == 1 and len(rivals) == 1:
            out[k] = hits[0]
    return out


def level_map(old: Sequence[str], new: Sequence[str]) -> dict[str, str]:
    """Levels match by name; with equally many levels, a name absent on both sides is a rename
    of the level in the same position (`medium` -> `moderate`)."""
    out = {lv: lv for lv in old if lv in new}
    if len(old) == len(new):
        for a, b in zip(old, new, strict=True):
            if a != b and a not in new and b not in old:
                out[a] = b
    return out


def eval_map(old: Policy, new: Policy) -> dict[str, str]:
    """An eval is the same measurement when task, arguments and metric agree."""

    def key(_: str, e: EvalSpec) -> Any:
        return (e.task, json.dumps(e.args, sort_keys=True), e.metric)

    return rename_map(old.evals, new.evals, key)


def protection_map(old: Policy, new: Policy) -> dict[str, str]:
    """A protection is the same standard when its text, kind and security level agree."""

    def key(_: str, p: Protection) -> Any:
        return (p.description, p.kind, p.rand_sl)

    return rename_map(old.protections, new.protections, key)


def domain_map(old: Policy, new: Policy) -> dict[str, str]:
    """Domains match by name, then by title, then by category where only one could be it."""

    def title(name: str, d: Domain) -> Any:
        return d.title.strip().lower()

    by_title = rename_map(old.domains, new.domains, title)

    def category(name: str, d: Domain) -> Any:
        cat = domain_category(name, d)
        return None if cat == "other" else cat

    rest_old = {k: v for k, v in old.domains.items() if k not in by_title}
    rest_new = {k: v for k, v in new.domains.items() if k not in by_title.values()}
    return by_title | rename_map(rest_old, rest_new, category)
