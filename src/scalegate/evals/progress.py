"""Per-sample progress from Inspect runs, through Inspect's own hook mechanism."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from inspect_ai.hooks import Hooks, SampleEnd, hooks

_callback: Callable[[], None] | None = None


@hooks(name="scalegate_progress", description="Forwards sample completions to scalegate's progress bar")
class _ProgressHooks(Hooks):
    def enabled(self) -> bool:
        return _callback is not None

    async def on_sample_end(self, data: SampleEnd) -> None:
        if _callback is not None:
            _callback()


@contextlib.contextmanager
def sample_callback(fn: Callable[[], None] | None) -> Iterator[None]:
    global _callback
    previous, _callback = _callback, fn
    try:
        yield
    finally:
        _callback = previous
