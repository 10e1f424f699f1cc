"""The assessed changes in the order a reviewer reads them, and the summary line (rendered in
`scalegate.report.policy_review`)."""

from __future__ import annotations

from collections.abc import Sequence

from scalegate.review.diff.change import KIND_ORDER, Change


def changes_summary(changes: Sequence[Change], *, neutral: bool = True) -> str:
    """`2 weaker, 1 stronger, 0 unclear, 3 neutral`: the line a reviewer reads first. It counts
    every change, also the neutral ones a view leaves out (`neutral=False` says so)."""
    if not changes:
        return "no changes"
    counts = {k: sum(c.kind == k for c in changes) for k in KIND_ORDER}
    line = ", ".join(f"{counts[k]} {k}" for k in ("weaker", "stronger", "unclear", "neutral"))
    return line + (" (not listed; --neutral lists them)" if not neutral and counts["neutral"] else "")


def ordered(changes: Sequence[Change], neutral: bool = True) -> list[Change]:
    return sorted(
        (c for c in changes if neutral or c.kind != "neutral"), key=lambda c: KIND_ORDER.index(c.kind)
    )
