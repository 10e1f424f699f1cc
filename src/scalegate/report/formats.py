"""The one registry of output formats: which formats each subject renders to, and how.

A subject is what is rendered (`assessment`, `policy-compare`, `policy-diff`, `report`); a
renderer is registered with `@renders(subject, format)` beside the code that draws it
(`terminal.py`, `policy_review.py`, `render.py`). The CLI asks this module for a format by
name and never branches on formats itself, so `--format` means the same thing, is checked
the same way and is written the same way (text to stdout or a file, binary only to a file)
in every command.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scalegate.errors import InputError


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    binary: bool
    help: str


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("terminal", ".txt", False, "tables for a terminal (rich)"),
        Format("json", ".json", False, "the value as JSON, for programs"),
        Format("markdown", ".md", False, "GitHub Markdown"),
        Format("html", ".html", False, "one self-contained page: inline CSS and SVG, no network fetch"),
        Format("pdf", ".pdf", True, "the HTML page printed by headless Chromium"),
    )
}
ALIASES = {"md": "markdown", "text": "terminal"}

R = TypeVar("R", bound=Callable[..., Any])
_RENDERERS: dict[tuple[str, str], Callable[..., Any]] = {}
#: Where each subject's renderers are registered (imported on first use, so a command that
#: renders nothing loads none of them).
_MODULES = {
    "assessment": "scalegate.report.terminal",
    "policy-compare": "scalegate.report.policy_review",
    "policy-diff": "scalegate.report.policy_review",
    "report": "scalegate.report.render",
}


def renders(subject: str, fmt: str) -> Callable[[R], R]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt}")

    def register(fn: R) -> R:
        _RENDERERS[(subject, fmt)] = fn
        return fn

    return register


def formats_of(subject: str) -> list[str]:
    importlib.import_module(_MODULES[subject])
    return [f for f in FORMATS if (subject, f) in _RENDERERS]


def resolve(subject: str, fmt: str) -> Format:
    """The format `--format` names for this subject, or an error listing the ones it has."""
    name = ALIASES.get(fmt.lower(), fmt.lower())
    choices = formats_of(subject)
    if name not in choices:
        raise InputError(f"--format {fmt}: choose {', '.join(choices[:-1])} or {choices[-1]}")
    return FORMATS[name]


def render(subject: str, fmt: str, value: Any, **options: Any) -> Any:
    """The rendered value: text, bytes (binary formats) or a rich renderable (terminal)."""
    f = resolve(subject, fmt)
    return _RENDERERS[(subject, f.name)](value, **options)


def emit(subject: str, fmt: str, value: Any, out: Path | None, **options: Any) -> Any:
    """Render and write: a binary format only to a file (never to a terminal), text to `out`
    or stdout, the terminal format through rich. Files are replaced atomically. Returns what
    was rendered."""
    f = resolve(subject, fmt)
    if f.binary and out is None:
        raise InputError(f"--format {f.name} writes a file: add -o FILE{f.suffix}")
    rendered = _RENDERERS[(subject, f.name)](value, **options)
    if f.name == "terminal":
        from rich.console import Console

        if out is None:
            Console().print(rendered)
        else:
            with out.open("w", encoding="utf-8") as fh:
                Console(file=fh, width=200).print(rendered)
        return rendered
    if out is None:
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")
        return rendered
    write_atomic(out, rendered if f.binary else rendered.encode("utf-8"))
    return rendered


def write_atomic(path: Path, data: bytes) -> None:
    """A reader never sees half a report: write beside it, then rename over."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
