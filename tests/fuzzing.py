"""What the fuzz targets (tests/*/test_fuzz_*.py) share: their time budget, the tally of what
happened to each input, the line each run prints (read it with `pytest -rP`, as `make fuzz`
does), and the CLI's own error handler applied to a refusal."""

from __future__ import annotations

import io
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from scalegate.errors import ScalegateError

#: Seconds of fuzzing per target: about 30 in CI (`make test`), 600 in `make fuzz`.
BUDGET_S = float(os.environ.get("SCALEGATE_FUZZ_SECONDS") or 30)


class Tally(Counter[str]):
    """How many inputs had each outcome ("refused", "loaded", ...), and the slowest call timed."""

    def __init__(self) -> None:
        super().__init__()
        self.slowest_s = 0.0
        self.slowest_what = ""

    def timed(self, what: str, seconds: float) -> None:
        if seconds > self.slowest_s:
            self.slowest_s, self.slowest_what = seconds, what

    def clear(self) -> None:
        super().clear()
        self.slowest_s, self.slowest_what = 0.0, ""


def run_campaign(name: str, batch: Callable[[], None], tally: Tally, *, corpus: str, budget_s: float) -> str:
    """Run `batch` (one Hypothesis run of a few dozen inputs) again and again until `budget_s`
    is spent (at least once), then print and return what was done: inputs, rate, outcomes,
    the slowest call and the size of the target's checked-in corpus (`corpus`: "18 files")."""
    tally.clear()
    start = time.monotonic()
    end = start + budget_s
    batches = 0
    while batches == 0 or time.monotonic() < end:
        batch()
        batches += 1
    took = time.monotonic() - start
    total = sum(tally.values())
    line = (
        f"\nfuzz {name}: {total} inputs in {took:.1f} s ({total / took:.1f}/s): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()))
        + (f"; slowest call {tally.slowest_s:.2f} s ({tally.slowest_what})" if tally.slowest_what else "")
        + f"; corpus: {corpus}"
    )
    print(line)
    return line


def cli_prints_refusal(exc: ScalegateError) -> tuple[str, str] | None:
    """Hand `exc` to `scalegate.cli.main`'s own handler, as if a command had raised it (stderr to
    a string). None when it prints the message and exits with the error's code; else what went
    wrong: (the exception type, or "exit N", or "returned"; the traceback a user would see)."""
    import scalegate.cli as cli

    def command() -> None:
        raise exc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "app", command)
        mp.setattr(cli, "err", Console(file=io.StringIO(), width=100))
        try:
            cli.main()
        except SystemExit as done:
            if done.code == exc.exit_code:
                return None
            return f"exit {done.code}", f"scalegate.cli.main exited {done.code}, not {exc.exit_code}"
        except Exception as failed:
            why = f"scalegate.cli.main, printing the refusal, raised:\n{traceback.format_exc()}"
            return type(failed).__name__, why
    return "returned", "scalegate.cli.main returned instead of exiting"


def corpus_case(path: Path, known: dict[str, tuple[str, str, str]]) -> Any:
    """A corpus input as a test parameter: a crash listed in `known` (not fixed yet:
    (where, what, why)) is a strict xfail, so the fix turns it into a failure until its entry
    goes."""
    entry = known.get(path.name)
    if entry is None:
        return pytest.param(path, id=path.name)
    where, what, why = entry
    mark = pytest.mark.xfail(strict=True, reason=f"{what} in {where}: {why}")
    return pytest.param(path, id=path.name, marks=mark)
