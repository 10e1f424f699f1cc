"""A structural diff of two policies, and a watchdog's reading of it.

`diff_policies` is recorded with every policy adoption in the ledger, so a weakened threshold
cannot slip in unannounced (the Watchtower problem: changes noted only in a PDF).

`assess_changes` says which way each change points (DOMAIN.md §11 L15). One rule throughout:
a change is *weaker* when a gate triggers later or never, fewer protections or conditions are
required, oversight or transparency shrinks; *stronger* for the opposite; *neutral* when it
cannot move a decision (wording, citations, a rename that could be matched); *unclear* when
the direction cannot be read from the file (a different evaluation, a redefined protection,
something removed while something unmatched was added).

Which way each field points is one table, `directions.DIRECTIONS`, read by `walk.py`; what
needs more than a direction (levels, renames, threshold conditions, responses) has its own
module, all sharing `context.Context`.
"""

from scalegate.review.diff.assess import assess_changes
from scalegate.review.diff.change import KIND_ORDER, Change, ChangeKind
from scalegate.review.diff.output import changes_summary, ordered
from scalegate.review.diff.structural import diff_policies

__all__ = [
    "KIND_ORDER",
    "Change",
    "ChangeKind",
    "assess_changes",
    "changes_summary",
    "diff_policies",
    "ordered",
]
