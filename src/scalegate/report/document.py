"""A report as data: sections of text, tables, figures and checklists, and the records they cite.

Every kind of report (`report/kinds/`) builds one `Document`; every format (`report/formats.py`)
renders any `Document`. So a kind never formats and a format never knows what a capability
report is: Markdown, HTML and PDF cannot disagree on a number, and `--format json` is the
document itself.

Every number a reader might act on sits in a `Cell` (or a block) carrying `ref`: the id of a
`Record` (an evidence record, a ledger entry, a policy clause) listed at the end of the
document, so each figure links to what it came from and a test can check every link resolves.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

DOCUMENT_SCHEMA = "scalegate.report/1"

Tone = Literal["good", "bad", "warn", "unknown", "muted"]
Profile = Literal["internal", "public"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cell(_Frozen):
    text: str
    ref: str | None = None  # a Record id this value came from
    tone: Tone | None = None


class Table(_Frozen):
    type: Literal["table"] = "table"
    id: str
    caption: str
    columns: list[str]
    rows: list[list[Cell]]


class Text(_Frozen):
    type: Literal["text"] = "text"
    text: str
    refs: list[str] = Field(default_factory=list)
    tone: Tone | None = None


class Figure(_Frozen):
    """A static plot: the SVG is rendering, so the JSON format leaves it out; `refs` are the
    records its marks were drawn from."""

    type: Literal["figure"] = "figure"
    id: str
    caption: str
    svg: str = Field(exclude=True)
    refs: list[str] = Field(default_factory=list)


ItemState = Literal["provided", "withheld", "not_applicable", "missing"]


class CheckItem(_Frozen):
    """One checklist item (CoP Measure 7.x, STREAM, ...) and where the report answers it."""

    id: str
    source: str
    text: str
    required: bool
    state: ItemState
    reason: str = ""  # why withheld / not applicable / missing
    where: str | None = None  # the section (or record) that answers it


class Checklist(_Frozen):
    type: Literal["checklist"] = "checklist"
    id: str
    title: str
    items: list[CheckItem]


Block = Annotated[Table | Text | Figure | Checklist, Field(discriminator="type")]


class Section(_Frozen):
    id: str
    title: str
    blocks: list[Block] = Field(default_factory=list)


class Record(_Frozen):
    """What a number links to: one evidence record, ledger entry or policy clause."""

    id: str
    kind: Literal["evidence", "ledger_entry", "policy_clause", "assessment"]
    title: str
    fields: dict[str, str] = Field(default_factory=dict)


class Footer(_Frozen):
    """What the report was generated from; nothing here is the time of generation."""

    policy: str
    policy_sha256: str
    assessment: str | None = None  # ledger entry id, or the assessment folder's record
    decision: str | None = None
    ledger_head: str | None = None  # "SEQ:HASH" when generated from a ledger
    scalegate_version: str


class Document(_Frozen):
    schema_: str = Field(DOCUMENT_SCHEMA, alias="schema")
    kind: str
    profile: Profile
    title: str
    subtitle: str
    #: the date the report speaks for (the assessment's or the ledger head's), never "now"
    as_of: str
    sections: list[Section]
    records: list[Record]
    footer: Footer

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @model_validator(mode="after")
    def _every_ref_resolves(self) -> Self:
        """A number that links nowhere is a bug in the kind that built it: caught here."""
        ids = [r.id for r in self.records]
        dangling = self.refs() - set(ids)
        if dangling:
            raise ValueError(f"references to records not listed: {sorted(dangling)}")
        targets = (
            {*ids, "records"}  # the list of records the formats end with
            | {s.id for s in self.sections}
            | {b.id for b in self.blocks() if not isinstance(b, Text)}
        )
        nowhere = (
            {i.where for b in self.blocks() if isinstance(b, Checklist) for i in b.items} - targets - {None}
        )
        if nowhere:
            raise ValueError(f"checklist items point to no part of the report: {sorted(map(str, nowhere))}")
        if len(ids) != len(set(ids)):
            raise ValueError("record ids repeat")
        return self

    def blocks(self) -> list[Block]:
        return [b for s in self.sections for b in s.blocks]

    def refs(self) -> set[str]:
        """Every record id a cell, text or figure points to (each must be in `records`)."""
        out: set[str] = set()
        for b in self.blocks():
            if isinstance(b, Table):
                out |= {c.ref for row in b.rows for c in row if c.ref}
            elif isinstance(b, Text | Figure):
                out |= set(b.refs)
        return out


_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def anchor(*parts: str) -> str:
    """A stable HTML id from names (evals, domains, entry ids): same names, same id."""
    return "-".join(_ID.sub("_", p) for p in parts)


def cell(text: object, ref: str | None = None, tone: Tone | None = None) -> Cell:
    return Cell(text="" if text is None else str(text), ref=ref, tone=tone)
