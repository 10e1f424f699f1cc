"""Hostile policy files: each is refused with a `PolicyError` that names the line and says what
to do, quickly and in little memory, and never with a traceback of another kind.

The limits are documented in docs/policy-language.md ("Limits on a policy file")."""

from __future__ import annotations

import os
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from scalegate.errors import InputError, PolicyError
from scalegate.policy.loader import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_POLICY_BYTES,
    MAX_PROBLEMS,
    load_policy,
    load_yaml_model,
    parse_policy,
    preset_names,
    preset_text,
    read_yaml,
)
from scalegate.policy.schema import Policy

# A small valid policy; the line numbers named below are part of the tests (`_line` checks them).
VALID = textwrap.dedent(
    """\
    scalegate: 1
    policy: {name: hostile test, version: "1", effective: 2026-01-15}
    levels: [low, high]
    evals:
      e: {task: scalegate/mmlu_proxy}
    domains:
      d:
        title: D
        thresholds:
          high: {description: d, when: {eval: e, at_least: 0.5}}
    responses:
      - id: stop
        if: {pre_mitigation_at_least: high}
        block: [continue_training, external_deployment]
    governance:
      roles: {rso: Responsible Scaling Officer, board: Board}
      signoff: {external_deployment: [rso], override: [board]}
    """
)

# The classic "billion laughs", 342 bytes: nine levels of nine aliases each, 9^9 strings.
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def _line(text: str, number: int) -> str:
    return text.splitlines()[number - 1].strip()


def _mutate(old: str, new: str) -> str:
    assert VALID.count(old) == 1, old
    return VALID.replace(old, new)


def _fast_and_small(call: Callable[[], object], seconds: float = 1.0, megabytes: float = 200) -> None:
    """`call` runs in under `seconds` and allocates under `megabytes` at its peak (measured on a
    second run: tracing allocations slows Python several times over)."""
    start = time.perf_counter()
    call()
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < megabytes * 1e6, f"peaked at {peak / 1e6:.0f} MB"


def _refusal(text: str | bytes, source: str = "hostile.yaml") -> Callable[[], PolicyError]:
    def call() -> PolicyError:
        with pytest.raises(PolicyError) as info:
            parse_policy(text, source)
        return info.value

    return call


def _refused(text: str | bytes, seconds: float = 1.0) -> list[str]:
    _fast_and_small(_refusal(text), seconds)
    info = _refusal(text)()
    assert info.source == "hostile.yaml"
    # every problem names its line, but for the size (of the whole file) and the count of the rest
    lined = ("line ", "the file is ", "... and ")
    assert info.problems and all(p.startswith(lined) for p in info.problems)
    return info.problems


def _only(text: str | bytes) -> str:
    problems = _refused(text)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_base_policy_is_valid() -> None:
    policy = parse_policy(VALID).policy
    assert str(policy.policy.effective) == "2026-01-15"


# --- alias bombs --------------------------------------------------------------------------------


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_bound() -> None:
    assert len(BILLION_LAUGHS) < 400
    problem = _only(BILLION_LAUGHS)
    assert problem.startswith("line 5: the document expands to more than 20,000 values (at alias *d)")
    assert "alias bomb" in problem


def test_billion_laughs_inside_a_real_policy_is_refused() -> None:
    text = VALID + "x_laughs:\n" + textwrap.indent(BILLION_LAUGHS, "  ")
    assert "expands to more than" in _only(text)


def test_wide_alias_fanout_is_refused() -> None:
    # one anchor, used many times: the expanded size counts every use
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [" + ", ".join(["*a"] * (MAX_NODES // 10 + 1)) + "]\n"
    assert "expands to more than" in _only(text)


def test_aliases_within_the_bound_are_plain_reuse() -> None:
    text = _mutate(
        "    block: [continue_training, external_deployment]\n",
        "    block: &stopped [continue_training, external_deployment]\n"
        "  - id: again\n"
        "    if: {alert: true}\n"
        "    block: *stopped\n",
    )
    policy = parse_policy(text).policy
    assert policy.responses[1].block == ["continue_training", "external_deployment"]


def test_an_error_under_an_alias_names_the_line_of_the_alias() -> None:
    text = _mutate(
        "  high: {description: d, when: {eval: e, at_least: 0.5}}\n",
        "  high: {description: d, when: &w {eval: e, at_least: 0.5}, alert: *w}\n"
        "      medium: {description: d, when: *w}\n",
    )
    assert _line(text, 11) == "medium: {description: d, when: *w}"
    problem = _only(text)
    # the line is the alias's own: the walk does not follow the alias back to the anchor
    assert problem.startswith("line 11: field domains.d.thresholds.medium: unknown level 'medium'")


def test_recursive_alias_is_refused() -> None:
    problem = _only("a: &a [1, *a]\n")
    assert problem == "line 1: field a[1]: alias *a is inside the value it names (a recursive structure)"


def test_undefined_alias_is_refused() -> None:
    assert (
        _only("a: *nowhere\n")
        == "line 1: field a: alias *nowhere names no anchor (&nowhere) defined before it"
    )


def test_duplicate_anchor_is_refused() -> None:
    problem = _only("a: &x 1\nb: &x 2\n")
    assert problem == "line 2: anchor &x is defined twice: give the second one another name"


def test_alias_nesting_counts_towards_the_depth_bound() -> None:
    # each anchor nests the previous one a level deeper: depth builds up through aliases
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, MAX_DEPTH + 1)]
    problem = _only("\n".join(lines) + "\n")
    assert f"nests the document more than {MAX_DEPTH} levels deep" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("? *a\n: 1\n", "alias (*a) used as a key"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "merge keys (`<<: *anchor`) are not supported"),
    ],
    ids=["alias-key", "merge-key"],
)
def test_aliases_and_merges_as_keys_are_refused(text: str, expected: str) -> None:
    assert expected in _only(text)


# --- size -----------------------------------------------------------------------------------------


def test_a_50_mb_text_is_refused_before_yaml_sees_it() -> None:
    problem = _only("a: b\n" * 10_000_000)
    assert problem.startswith("the file is 50,000,000 bytes; a policy may be at most 1,048,576 bytes")


def test_size_counts_utf8_bytes_not_characters() -> None:
    text = "# " + "é" * (MAX_POLICY_BYTES // 2) + "\n" + VALID  # fewer characters than bytes
    assert len(text) < MAX_POLICY_BYTES < len(text.encode("utf-8"))
    assert "a policy may be at most" in _only(text)


def test_bytes_over_the_limit_are_refused() -> None:
    assert "a policy may be at most" in _only(b"#" * (MAX_POLICY_BYTES + 1))


def test_a_policy_just_under_the_limit_loads() -> None:
    padding = "# " + "x" * 98 + "\n"
    text = VALID + padding * ((MAX_POLICY_BYTES - len(VALID)) // len(padding))
    assert len(text.encode("utf-8")) <= MAX_POLICY_BYTES
    parse_policy(text)


def test_load_policy_refuses_a_huge_file_by_its_size_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:  # sparse: 50 MB on paper, nothing on disk
        f.truncate(50_000_000)

    def call() -> PolicyError:
        with pytest.raises(PolicyError) as info:
            load_policy(path)
        return info.value

    _fast_and_small(call, 1.0, 5)
    assert call().source == str(path)
    assert call().problems == [
        "the file is 50,000,000 bytes; a policy may be at most 1,048,576 bytes "
        "(the largest bundled preset is 27 KB): is this the right file?"
    ]


def test_load_yaml_model_has_the_same_limits(tmp_path: Path) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    with pytest.raises(InputError, match="expands to more than"):
        load_yaml_model(path, Policy, "safety case")


# --- depth ----------------------------------------------------------------------------------------


def test_deep_flow_nesting_is_refused() -> None:
    problem = _only("a: " + "[" * 200 + "]" * 200 + "\n")
    assert problem.startswith("line 1: field a[0][0][0]...(")
    assert problem.endswith(f"nested more than {MAX_DEPTH} levels deep: flatten it")


def test_deep_block_nesting_is_refused_on_its_line() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "x: 1\n"
    problem = _only(text)
    assert problem.startswith(f"line {MAX_DEPTH + 1}: field k0.k1.k2.k3...(")
    assert "nested more than 64 levels deep" in problem


def test_a_megabyte_of_open_brackets_is_refused_quickly() -> None:
    assert "levels deep" in _only("[" * (MAX_POLICY_BYTES - 1))


def test_nesting_at_the_bound_is_not_a_yaml_problem() -> None:
    text = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"  # 64 with the top mapping
    problems = _refused(text)
    assert not any("levels deep" in p for p in problems)
    assert "line 1: field a: unknown field (check the spelling; see `scalegate policy schema`)" in problems


# --- tags -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!python/object/apply:os.system ['echo pwned']", "!!python/object/apply:os.system"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        (
            "!!python/object:scalegate.policy.schema.Policy {}",
            "!!python/object:scalegate.policy.schema.Policy",
        ),
        ("!custom 1", "!custom"),
        ("!<tag:example.com,2026:thing> x", "tag:example.com,2026:thing"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!!omap [a: 1]", "!!omap"),
        ("!!pairs [a: 1]", "!!pairs"),
        ("!!seq {a: 1}", "!!seq"),
    ],
)
def test_tags_beyond_the_plain_ones_are_refused(value: str, shown: str) -> None:
    text = _mutate("effective: 2026-01-15}", f"effective: 2026-01-15, owner: {value}}}")
    problem = _only(text)
    assert problem == (
        f"line 2: field policy.owner: YAML tag {shown} is not allowed: a policy holds plain text, "
        "numbers, true/false, dates, lists and mappings; remove the tag"
    )


def test_standard_scalar_tags_are_allowed() -> None:
    text = _mutate('version: "1"', "version: !!str 1")
    assert parse_policy(text).policy.policy.version == "1"


# --- characters and encodings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "name"),
    [
        ("\x00", "U+0000 (NUL)"),
        ("\x07", "U+0007 (BEL)"),
        ("\x1b", "U+001B (ESC)"),
        ("\x7f", "U+007F (DEL)"),
        ("\x9b", "U+009B (a control character)"),
        ("\ud800", "U+D800 (a lone surrogate)"),
        ("\ufffe", "U+FFFE (a control character)"),
    ],
)
def test_control_characters_are_refused_with_line_and_column(char: str, name: str) -> None:
    text = _mutate("title: D", f"title: D{char}")
    assert _line(VALID, 8) == "title: D"
    assert _only(text) == (
        f"line 8, column 13: character {name} is not allowed in a YAML file: remove it "
        "(a binary file, or text pasted with control characters?)"
    )


def test_bad_utf8_names_the_line_and_the_byte() -> None:
    raw = VALID.encode("utf-8").replace(b"title: D", b"title: D\xff")
    offset = raw.index(b"\xff")
    assert _only(raw) == f"line 8: not valid UTF-8 (byte 0xff at offset {offset}): save the file as UTF-8"


def test_utf16_file_is_refused_as_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "utf16.yaml"
    path.write_bytes(VALID.encode("utf-16"))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    [problem] = info.value.problems
    assert problem.startswith("line 1: not valid UTF-8 (byte 0xff at offset 0)")


def test_utf8_bytes_and_a_bom_load_like_the_text() -> None:
    assert parse_policy(VALID.encode("utf-8")).sha256 == parse_policy(VALID).sha256
    with_bom = "\ufeff" + VALID
    assert parse_policy(with_bom.encode("utf-8")).policy == parse_policy(VALID).policy


# --- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "? [a, b]\n: 1\n",
            "line 1: field (top level): a list used as a key (`? ...`): keys are plain names",
        ),
        ("{[a]: 1}\n", "line 1: field (top level): a list used as a key (`? ...`): keys are plain names"),
        (
            "? {a: 1}\n: 1\n",
            "line 1: field (top level): a mapping used as a key (`? ...`): keys are plain names",
        ),
    ],
    ids=["block-list-key", "flow-list-key", "mapping-key"],
)
def test_complex_keys_are_refused(text: str, expected: str) -> None:
    assert _only(text) == expected


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        (
            "\n  d:\n",
            "\n  1:\n",
            7,
            "field domains: key `1` is read as an integer; keys are text: quote it ('1')",
        ),
        (
            "      high: {",
            "      2: {",
            10,
            "field domains.d.thresholds: key `2` is read as an integer; keys are text: quote it ('2')",
        ),
        (
            "external_deployment: [rso]",
            "on: [rso]",
            17,
            "field governance.signoff: key `on` is read as true/false (YAML 1.1 also reads yes, no, "
            "on, off, y, n that way); keys are text: quote it ('on')",
        ),
        (
            "  e: {task",
            "  1.5: {task",
            5,
            "field evals: key `1.5` is read as a number; keys are text: quote it ('1.5')",
        ),
        (
            "  e: {task",
            "  2026-01-01: {task",
            5,
            "field evals: key `2026-01-01` is read as a date; keys are text: quote it ('2026-01-01')",
        ),
        (
            "  e: {task",
            "  ~: {task",
            5,
            "field evals: key `~` is read as null (empty, `~` or `null`); keys are text: quote it ('~')",
        ),
    ],
    ids=["int-domain", "int-level", "bool-action", "float-eval", "date-eval", "null-eval"],
)
def test_keys_that_are_not_text_are_refused_not_a_type_error(
    old: str, new: str, line: int, expected: str
) -> None:
    problems = _refused(_mutate(old, new))
    assert f"line {line}: {expected}" in problems, problems


def test_quoted_number_keys_are_names() -> None:
    text = _mutate("levels: [low, high]", 'levels: [low, "2"]').replace("      high: {", '      "2": {')
    text = text.replace("pre_mitigation_at_least: high", 'pre_mitigation_at_least: "2"')
    assert list(parse_policy(text).policy.domains["d"].thresholds) == ["2"]


# --- scalars --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-02-30", "day is out of range for month"),
        ("2026-13-01", "month must be in 1..12"),
        ("2025-02-29", "day is out of range for month"),
    ],
)
def test_invalid_dates_name_the_field_and_line(value: str, reason: str) -> None:
    problem = _only(_mutate("effective: 2026-01-15", f"effective: {value}"))
    assert problem == (
        f"line 2: field policy.effective: `{value}` is not a valid date ({reason}): "
        "write a date that exists, as YYYY-MM-DD"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("!!timestamp soon", "`soon` is not a valid date (not of the form YYYY-MM-DD)"),
        ("!!bool maybe", "`maybe` cannot be read as true/false: write true or false"),
        ("!!int twelve", "`twelve` cannot be read as an integer; quote it if it is text"),
        ("!!float much", "`much` cannot be read as a number"),
        ("=", "a bare `=` has a special meaning in YAML: quote it ('=')"),
        ("<<", "a bare `<<` has a special meaning in YAML: quote it ('<<')"),
        ("0x" + "f" * 300, "is too large (at most about 1e308)"),
        ("9" * 5000, "is too large (at most about 1e308)"),
    ],
    ids=["timestamp", "bool", "int", "float", "equals", "merge", "huge-hex", "huge-decimal"],
)
def test_unreadable_scalars_are_problems_not_exceptions(value: str, expected: str) -> None:
    problem = _only(_mutate("effective: 2026-01-15}", f"effective: 2026-01-15, owner: {value}}}"))
    assert problem.startswith("line 2: field policy.owner: ")
    assert expected in problem


def test_a_second_document_is_refused() -> None:
    assert _only(VALID + "---\nscalegate: 1\n") == (
        "line 18: a second YAML document (`---`): a policy file holds one document"
    )


def test_problem_lists_are_capped() -> None:
    text = VALID + "".join(f"k{i}: 1\nk{i}: 2\n" for i in range(200))
    problems = _refused(text)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == "... and 150 more problems (fix the ones above first)"


def test_long_inputs_are_quoted_short_in_messages() -> None:
    problem = _only(_mutate("at_least: 0.5", "at_least: " + "x" * 10_000))
    assert len(problem) < 300
    assert "(got 'xxxxxxxx" in problem and "...)" in problem


def test_preset_names_are_names_not_paths() -> None:
    for name in ("../reference", "reference\x00", "a" * 5000, "/etc/passwd"):
        with pytest.raises(PolicyError, match=r"no preset named|not a usable"):
            load_policy(name) if not name.startswith("/") else preset_text(name)


@pytest.mark.skipif(os.name != "posix", reason="a FIFO")
def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(PolicyError, match="file not found"):
        load_policy(fifo)


@pytest.mark.parametrize("name", preset_names())
def test_the_reader_builds_what_yaml_safe_load_builds(name: str) -> None:
    # mapping files and the ledger re-read accepted texts with PyYAML: both must agree
    text = preset_text(name)
    assert read_yaml(text).data == yaml.safe_load(text)


def test_a_crlf_file_hashes_as_text_mode_reading_always_did(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(VALID.replace("\n", "\r\n").encode("utf-8"))
    loaded = load_policy(path)
    assert loaded.text == path.read_text(encoding="utf-8") == VALID
    assert loaded.sha256 == parse_policy(VALID).sha256


def test_too_many_values_without_aliases_is_refused() -> None:
    text = VALID + "x_many: [" + ", ".join(["1"] * MAX_NODES) + "]\n"
    problem = _only(text)
    assert problem.startswith("line 18: the document holds more than 20,000 values")
    assert "is this the right file?" in problem


def _at_the_limits(**extra: object) -> str:
    """A policy near MAX_NODES: a thousand levels, each with a threshold, and a thousand responses."""
    levels = [f"l{i}" for i in range(1000)]
    same = "Meaningful uplift to novice attackers over textbooks"  # every tier word for word alike
    data = {
        "scalegate": 1,
        "policy": {"name": "big", "version": "1"},
        "levels": levels,
        "evals": {"e": {"task": "t"}},
        "domains": {
            "d": {
                "title": "D",
                "category": "cyber",
                "thresholds": {
                    lv: {"description": same, "when": {"eval": "e", "at_least": 0.5}} for lv in levels[1:]
                },
            }
        },
        "responses": [
            {"if": {"pre_mitigation_at_least": levels[1 + i % 999]}, "block": ["open_weights"]}
            for i in range(1000)
        ],
        **extra,
    }
    return yaml.safe_dump(data, sort_keys=False)


def test_lint_of_a_policy_at_the_limits_stays_fast() -> None:
    from scalegate.review.lint import lint_policy

    policy = parse_policy(_at_the_limits()).policy
    start = time.perf_counter()
    findings = lint_policy(policy)
    # a guard against a super-linear blowup on hostile input (that would take minutes), not a
    # speed target: it takes about 0.2 s here, and a 1 s bound failed once on a loaded machine
    assert time.perf_counter() - start < 10.0
    twins = next(f for f in findings if f.rule == "L01")
    assert "and 993 more" in twins.message and len(twins.message) < 400


def test_many_wrong_names_are_reported_in_linear_time_and_short_messages() -> None:
    data = yaml.safe_load(VALID)
    data["actions"] = [f"a{i}" for i in range(3000)]  # every response and sign-off names none of them
    data["governance"]["roles"] = {f"r{i}": "a role" for i in range(3000)}
    data["governance"]["reverse"] = [f"q{i}" for i in range(3000)]
    problems = _refused(yaml.safe_dump(data))
    assert len(problems) == MAX_PROBLEMS + 1
    assert all(len(p) < 400 for p in problems)
    assert "... (3000 in all)]" in next(p for p in problems if "unknown role 'q0'" in p)


@pytest.mark.parametrize(
    "name", ["../../escape", "/etc/passwd", "..", ".hidden", "a/b", "a b", "x" * 101, ""]
)
@pytest.mark.parametrize("where", ["evals", "domains", "profiles", "mitigations"])
def test_names_that_become_file_names_cannot_leave_their_folder(name: str, where: str) -> None:
    """Eval, domain, profile and mitigation names name files (evidence/<eval>.json,
    logs/<eval>/, plots): a hostile policy must not write outside the results folder."""
    data = yaml.safe_load(preset_text("reference"))
    first = next(iter(data[where])) if data.get(where) else None
    body = data[where][first] if first else {"description": "x", "args": {"temperature": 0.0}}
    data[where] = {name: body}
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(data, sort_keys=False))
    assert any("cannot be a name here" in p for p in caught.value.problems), caught.value.problems
