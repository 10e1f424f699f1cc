"""Fuzzing the policy loader and lint: mutated presets never raise anything but `PolicyError`
(an `InputError`), and no call takes 2 s or more.

Mutations: character and byte edits (control characters, invalid UTF-8), deleted and
duplicated ranges and lines, re-indented lines, inserted YAML constructs (aliases, anchors,
tags, deep nesting, huge numbers, NaN, NUL, merge keys, complex keys, second documents), and
hostile values put into the parsed preset at a random place and dumped back to YAML.

The CI run takes about `SCALEGATE_FUZZ_SECONDS` (default 30) seconds; a longer run:

    SCALEGATE_FUZZ_SECONDS=600 .venv/bin/pytest -q tests/policy/test_fuzz_policies.py -k fuzz

A failing input is saved under tests/policy/fuzz_corpus/ (the minimal one Hypothesis shrinks
to); `test_corpus_input_is_refused_cleanly_or_loads` replays every file there for good.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context

from scalegate.errors import InputError
from scalegate.policy.lint import lint_policy
from scalegate.policy.loader import parse_policy, preset_names, preset_text

CORPUS = Path(__file__).parent / "fuzz_corpus"
BUDGET_S = float(os.environ.get("SCALEGATE_FUZZ_SECONDS") or 30)
CALL_LIMIT_S = 2.0
BATCH = 40  # examples per Hypothesis run; runs repeat until the budget is spent

LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)

#: YAML constructs inserted at random places (some at a line start, some mid-line).
SNIPPETS: list[str] = [
    LAUGHS,
    "x: &a [1, *a]\n",
    "*undefined",
    "&anchor ",
    "&anchor value",
    "*anchor",
    "<<: *anchor\n",
    "? [a, b]\n: 1\n",
    "{[a]: 1}",
    "? {a: 1}\n: 2\n",
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system ''",
    "!custom x",
    "!!binary aGk=",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!<tag:example.com,2026:x> y",
    "!!str ",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "[" * 80 + "]" * 80,
    "{a: " * 80 + "1" + "}" * 80,
    "".join("  " * i + f"k{i}:\n" for i in range(80)),
    ".nan",
    ".inf",
    "-.inf",
    "1e999",
    "-1e999",
    "0x" + "f" * 400,
    "9" * 5000,
    "1_000_000",
    "0o777",
    "0b101",
    "190:20:30",
    "2026-02-30",
    "2026-13-01",
    "2026-01-01T25:61:00Z",
    "\x00",
    "\x1b",
    "\x7f",
    "\ufeff",
    "\t",
    "\r",
    "\x85",
    "\u2028",
    "\n---\n",
    "\n...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:example.com,2000:\n",
    "=",
    "<<",
    "~",
    "yes",
    "on",
    "[]",
    "{}",
    '"' + "x" * 5000 + '"',
    "'unterminated",
    "|\n  block\n",
    ">-\n  folded\n",
    "- ",
    ": ",
    "? ",
]

#: Values put into the parsed preset at a random place.
HOSTILE_VALUES = st.one_of(
    st.sampled_from(
        [math.nan, math.inf, -math.inf, 1.5, -0.1, 70, 0, 1, 0.0, 1.0, 1e308, -1e308, 2**63, 2**200, -(2**63)]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.booleans(),
    st.none(),
    st.dates(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.text(max_size=50),
    st.sampled_from(["", "override", "overide", "board", "external_deploymnet", "policy_change", "x" * 5000]),
    st.lists(st.sampled_from([1, "a", None, math.nan, "override"]), max_size=5),
    st.dictionaries(
        st.sampled_from(["override", "a", "eval", "at_least", "when"]), st.integers(), max_size=3
    ),
)


@functools.cache
def _preset(name: str) -> str:
    return preset_text(name)


@functools.cache
def _preset_data(name: str) -> Any:
    return yaml.safe_load(_preset(name))


# --- mutations ------------------------------------------------------------------------------------


def _pos(draw: Any, text: str) -> int:
    return draw(st.integers(0, len(text)))


def _line_start(draw: Any, text: str) -> int:
    starts = [0, *(i + 1 for i, c in enumerate(text) if c == "\n")]
    return starts[draw(st.integers(0, len(starts) - 1))]


def _edit_char(draw: Any, text: str) -> str:
    i = _pos(draw, text)
    c = draw(st.one_of(st.sampled_from(list("[]{}:,&*!|>'\"%@`#-? \t\n")), st.characters()))
    return text[:i] + c + text[i + 1 :]


def _delete(draw: Any, text: str) -> str:
    i = _pos(draw, text)
    return text[:i] + text[i + draw(st.integers(1, 400)) :]


def _duplicate(draw: Any, text: str) -> str:
    i = _pos(draw, text)
    piece = text[i : i + draw(st.integers(1, 3000))]
    j = _pos(draw, text)
    return text[:j] + piece * draw(st.integers(1, 60)) + text[j:]


def _insert(draw: Any, text: str) -> str:
    snippet = draw(st.sampled_from(SNIPPETS))
    i = _line_start(draw, text) if draw(st.booleans()) else _pos(draw, text)
    indent = " " * draw(st.sampled_from([0, 2, 4, 6]))
    return text[:i] + indent + snippet + text[i:]


def _lines(draw: Any, text: str) -> str:
    lines = text.split("\n")
    i, j = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
    op = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent"]))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(j, lines[i])
    elif op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "indent":
        lines[i] = "  " + lines[i]
    else:
        lines[i] = lines[i][2:] if lines[i].startswith("  ") else lines[i]
    return "\n".join(lines)


TEXT_MUTATIONS = [_edit_char, _delete, _duplicate, _insert, _insert, _lines]


def _replace_somewhere(draw: Any, data: Any) -> Any:
    """`data` with one node (found by a random walk) replaced by a hostile value."""
    if isinstance(data, dict) and data and draw(st.integers(0, 5)):
        key = draw(st.sampled_from(sorted(data, key=str)))
        return {**data, key: _replace_somewhere(draw, data[key])}
    if isinstance(data, list) and data and draw(st.integers(0, 5)):
        i = draw(st.integers(0, len(data) - 1))
        return [*data[:i], _replace_somewhere(draw, data[i]), *data[i + 1 :]]
    if isinstance(data, dict) and draw(st.booleans()):  # a new key beside the others
        return {
            **data,
            draw(st.sampled_from(["override", "overide", "x", "at_most", "not"])): draw(HOSTILE_VALUES),
        }
    return draw(HOSTILE_VALUES)


@st.composite
def hostile_inputs(draw: Any) -> str | bytes:
    name = draw(st.sampled_from(preset_names()))
    if draw(st.integers(0, 3)) == 0:
        data = copy.deepcopy(_preset_data(name))
        for _ in range(draw(st.integers(1, 3))):
            data = _replace_somewhere(draw, data)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = _preset(name)
    for _ in range(draw(st.integers(0, 5))):
        text = draw(st.sampled_from(TEXT_MUTATIONS))(draw, text)
    if draw(st.integers(0, 4)):
        return text
    raw = text.encode("utf-8", "surrogatepass")
    i = draw(st.integers(0, len(raw)))
    return raw[:i] + draw(st.binary(min_size=1, max_size=4)) + raw[i:]


# --- the property -----------------------------------------------------------------------------------


def _save(data: str | bytes) -> Path:
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    CORPUS.mkdir(exist_ok=True)
    path = CORPUS / f"crash-{hashlib.sha256(raw).hexdigest()[:12]}.yaml"
    path.write_bytes(raw)
    return path


def check(data: str | bytes, *, save: bool = False) -> None:
    """Loading either succeeds or raises InputError; loading and linting each take < 2 s."""
    problem = ""
    start = time.perf_counter()
    try:
        policy = parse_policy(data, "fuzz.yaml").policy
    except InputError as exc:  # PolicyError is one
        policy = None
        if not str(exc).strip():
            problem = "an InputError without a message"
    except Exception:
        policy, problem = None, f"parse_policy raised:\n{traceback.format_exc()}"
    elapsed = time.perf_counter() - start
    if not problem and elapsed >= CALL_LIMIT_S:
        problem = f"parse_policy took {elapsed:.2f} s"
    if not problem and policy is not None:
        start = time.perf_counter()
        try:
            lint_policy(policy)
        except Exception:
            problem = f"lint_policy raised:\n{traceback.format_exc()}"
        if not problem and time.perf_counter() - start >= CALL_LIMIT_S:
            problem = f"lint_policy took {time.perf_counter() - start:.2f} s"
    if problem:
        where = f"\ninput saved as {_save(data)}" if save else ""
        pytest.fail(problem + where)


@given(data=hostile_inputs())
@settings(
    max_examples=BATCH,
    deadline=None,  # `check` holds each call to 2 s itself
    database=None,  # failing inputs go to the corpus instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
def _fuzz_batch(data: str | bytes) -> None:
    check(data, save=getattr(current_build_context(), "is_final", True))


def test_fuzz_parse_and_lint_of_mutated_presets() -> None:
    end = time.monotonic() + BUDGET_S
    batches = 0
    while batches == 0 or time.monotonic() < end:
        _fuzz_batch()
        batches += 1


# --- the corpus ---------------------------------------------------------------------------------------

CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.suffix in {".yaml", ".bin"})


def test_the_corpus_is_not_empty() -> None:
    assert len(CORPUS_FILES) >= 10


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_corpus_input_is_refused_cleanly_or_loads(path: Path) -> None:
    check(path.read_bytes())


def test_check_catches_what_it_is_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # the property can fail: a loader that raises something else, or is slow, is caught
    me = sys.modules[__name__]

    def broken(data: str | bytes, source: str = "") -> None:
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr(me, "parse_policy", broken)
    with pytest.raises(pytest.fail.Exception, match="parse_policy raised"):
        check("a: 1\n")

    def slow(data: str | bytes, source: str = "") -> None:
        time.sleep(0.1)
        raise InputError("slow")

    monkeypatch.setattr(me, "parse_policy", slow)
    monkeypatch.setattr(me, "CALL_LIMIT_S", 0.05)
    with pytest.raises(pytest.fail.Exception, match="took"):
        check("a: 1\n")
