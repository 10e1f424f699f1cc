"""Static SVG plots for the reports: intervals against threshold lines (forest), capability
against effective compute with forecast bands, and a timeline of decisions and sign-offs.

Byte-reproducible: matplotlib's SVG ids are salted with the figure's own id (fixed, and
distinct per figure so two plots on one page never share an id), no date is written, and text
stays text (`svg.fonttype: none`), so a browser and the PDF show the page's own font and the
words can be searched. The forecast band is seeded inside `scalegate.forecast`.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

from scalegate.forecast import Point

#: Colour by comparison state, as in the terminal: crossed red, undecided amber, below green.
STATE_COLOURS = {
    "crossed": "#b3261e",
    "inconclusive": "#c77c00",
    "below": "#1e6b2e",
    "unknown": "#6a1b9a",
    # pre vs post-mitigation pairs (no threshold line)
    "pre-mitigation": "#c77c00",
    "post-mitigation": "#1f4e8c",
}
ACTION_COLOURS = {"allowed": "#1e6b2e", "needs_signoff": "#c77c00", "blocked": "#b3261e"}


@dataclass(frozen=True)
class Interval:
    """One row of a forest plot: a measured value with its interval and the line it is read
    against (`op`: at_least / at_most); value None means there is no usable evidence."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    threshold: float | None  # None: no line (a pre/post pair)
    op: str
    state: str


#: Text is text: no mathtext (a label such as "$1B and $2B" is words, never TeX to parse).
_STYLE = {"svg.fonttype": "none", "font.family": "DejaVu Sans", "text.parse_math": False}
P = ParamSpec("P")


def _styled(fn: Callable[P, str]) -> Callable[P, str]:
    """Draw under the reports' style: the figure's texts are created with it, so it holds."""

    @functools.wraps(fn)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> str:
        import matplotlib

        with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
            return fn(*args, **kwargs)

    return drawn


def to_svg(fig: Any, figure_id: str) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": f"scalegate:{figure_id}"}):  # type: ignore[dict-item]
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "scalegate"})
    text = buf.getvalue()
    return text[text.index("<svg") :].strip()


@_styled
def forest(rows: Sequence[Interval], figure_id: str, title: str = "") -> str:
    """Each row's interval and point, its threshold as a black tick, coloured by state; rows
    with no usable evidence are marked at their threshold with 'no evidence'."""
    from matplotlib.figure import Figure

    height = 0.9 + 0.36 * max(len(rows), 1)
    fig = Figure(figsize=(7.5, height), layout="constrained")
    ax = fig.add_subplot()
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        colour = STATE_COLOURS.get(r.state, "#444")
        if r.value is not None and r.low is not None and r.high is not None:
            ax.plot([r.low, r.high], [y, y], color=colour, lw=2.5, solid_capstyle="butt")
            ax.plot([r.value], [y], "o", color=colour, ms=5)
        elif r.threshold is not None:
            ax.annotate(
                "no evidence",
                (r.threshold, y),
                xytext=(6, -3),
                textcoords="offset points",
                fontsize=7,
                color=colour,
            )
        if r.threshold is not None:
            ax.plot([r.threshold], [y], marker="|", color="black", ms=14, mew=1.6)
    ax.set_yticks(range(len(rows)), [r.label for r in reversed(rows)], fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("score (interval; black tick: threshold line)", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="0.9")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    handles = [
        ax.plot([], [], color=c, lw=2.5, label=s)[0]
        for s, c in STATE_COLOURS.items()
        if any(r.state == s for r in rows)
    ]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="lower right", frameon=False)
    return to_svg(fig, figure_id)


@_styled
def history(
    series: Mapping[str, Sequence[Point]],
    lines: Mapping[str, float],
    floor: float,
    figure_id: str,
    title: str,
) -> str:
    """Capability against effective compute, with fitted curves, bands and projected crossings."""
    from scalegate.forecast import figure

    fig = figure(series, lines, floor=floor, title=title, size=(7.5, 4.2))
    return to_svg(fig, figure_id)


@dataclass(frozen=True)
class Event:
    when: dt.datetime
    row: str  # an action, or "sign-off", "override"
    status: str  # allowed / needs_signoff / blocked, or a role
    label: str = ""


@_styled
def timeline(events: Sequence[Event], figure_id: str) -> str:
    """Decisions per action over time (coloured by status), sign-offs and overrides below."""
    from matplotlib.figure import Figure

    rows = list(dict.fromkeys(e.row for e in events))
    fig = Figure(figsize=(7.5, 0.9 + 0.34 * max(len(rows), 1)), layout="constrained")
    ax = fig.add_subplot()
    for e in events:
        y = len(rows) - 1 - rows.index(e.row)
        colour = ACTION_COLOURS.get(e.status, "#1f4e8c")
        marker = "s" if e.status in ACTION_COLOURS else "D"
        ax.plot([e.when], [y], marker, color=colour, ms=7)  # type: ignore[arg-type]
        if e.label:
            ax.annotate(e.label, (e.when, y), xytext=(5, 4), textcoords="offset points", fontsize=6)
    ax.set_yticks(range(len(rows)), list(reversed(rows)), fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.tick_params(axis="x", labelsize=7)
    fig.autofmt_xdate()
    handles = [ax.plot([], [], "s", color=c, label=s.replace("_", " "))[0] for s, c in ACTION_COLOURS.items()]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return to_svg(fig, figure_id)
