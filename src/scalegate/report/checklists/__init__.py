"""Reporting checklists as data (CoP Commitment 7, STREAM v1), answered by each kind of report.

An item names the fact that answers it (`answer:`); the kind computes an `Answer` per fact
from the evidence and the ledger. An item with no answer is `missing` with no reason, which
`scalegate report --check` reports with exit 3: a checklist item nobody wired up is a bug, not
a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from scalegate.report.document import CheckItem, Checklist, ItemState


@dataclass(frozen=True)
class Answer:
    state: ItemState
    reason: str = ""
    where: str | None = None  # a section or block id of the report


@dataclass(frozen=True)
class Item:
    id: str
    answer: str
    required: bool
    text: str


@cache
def load(name: str) -> tuple[str, tuple[Item, ...]]:
    raw = yaml.safe_load(
        resources.files("scalegate.report").joinpath("checklists", f"{name}.yaml").read_text(encoding="utf-8")
    )
    items = tuple(
        Item(str(i["id"]), str(i["answer"]), bool(i["required"]), str(i["text"])) for i in raw["items"]
    )
    return str(raw["title"]), items


def checklist(name: str, answers: dict[str, Answer], block_id: str, source: str) -> Checklist:
    title, items = load(name)
    out = []
    for item in items:
        a = answers.get(item.answer, Answer("missing"))
        out.append(
            CheckItem(
                id=item.id,
                source=source,
                text=item.text,
                required=item.required,
                state=a.state,
                reason=a.reason,
                where=a.where,
            )
        )
    return Checklist(id=block_id, title=title, items=out)


def provided(where: str) -> Answer:
    return Answer("provided", where=where)


def narrative(what: str) -> Answer:
    """An item only the developer can write: scalegate holds no record of it."""
    return Answer("missing", f"narrative the developer supplies ({what}); scalegate records no such fact")
