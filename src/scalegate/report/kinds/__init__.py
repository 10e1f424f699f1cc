"""The kinds of report: each module's `build(src, **options)` turns a `Source` into a
`Document` (report/document.py); the formats never know which kind they render."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from scalegate.report.document import Document
from scalegate.report.sources import Source


@dataclass(frozen=True)
class Kind:
    name: str
    help: str
    needs_ledger: bool
    module: str

    def build(self, src: Source, **options: Any) -> Document:
        """Options: `examples` (items per eval), `model` (history: which model line)."""
        built: Document = importlib.import_module(f"scalegate.report.kinds.{self.module}").build(
            src, **options
        )
        return built


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "capability", "scorecard; per domain thresholds, evidence, plots, examples", False, "capability"
        ),
        Kind(
            "safeguards", "mitigations, pre vs post, refusal rates, protections, cases", False, "safeguards"
        ),
        Kind(
            "model-report", "EU GPAI Code of Practice Commitment 7, with its checklist", False, "model_report"
        ),
        Kind(
            "transparency", "public summary: framework, decisions, sign-offs, overrides", True, "transparency"
        ),
        Kind("history", "one model line over effective compute, with forecasts", True, "history"),
    )
}
