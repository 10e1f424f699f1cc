"""The docs match the CLI (issue 13): every `scalegate ...` command line in README.md and
docs/**/*.md is checked against the command tree of `scalegate.cli.app`.

Collected: each line of a fenced shell block (language `bash`, `sh`, `shell`, `console`, or
none) and each inline code span (also one that runs over two lines) whose command is
`scalegate`: also after a `$ ` prompt, `VAR=value` prefixes or a `time`/`env` wrapper, as a
path such as `.venv/bin/scalegate`, or as `python -m scalegate`. `\\` continuations are
joined, `#` comments dropped, and a line is cut into commands at `|`, `&&`, `||`, `;` and `&`
(a `|` inside a word, as in `[--anchor SEQ:HASH|FILE]`, is synopsis notation for
alternatives, not a pipe). Redirections are dropped, square brackets around optional words
are unwrapped, and `...` after a command stands for elided words.

Checked, for each documented command (one test per doc file, line and command, so a failure
names where the doc is wrong): every subcommand exists; `scalegate <path> --help` exits 0
(run in-process with typer's CliRunner, once per distinct path); every option (`--foo`,
`--foo=bar`, `--no-foo`, `-o`) is one of that command's options, read from the command
objects of `typer.main.get_command(app)` rather than from the wrapped help text; a flag is not
given a value; and no more positional arguments are given than the command accepts.

Placeholders that name no command (`scalegate <command>`) are listed in PLACEHOLDERS and show
up as skipped tests, never silently.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from scalegate.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: Fenced blocks whose lines are shell commands (other languages are code or data).
SHELL_LANGS = frozenset({"", "bash", "sh", "shell", "console", "shell-session", "zsh"})
#: Documented text (as collected, continuations joined) that is a placeholder, not a command:
#: such a line is reported as a skipped test with the reason given here.
#: None today; an entry looks like `"scalegate <command>": "a placeholder for any subcommand"`.
PLACEHOLDERS: dict[str, str] = {}
#: Words that run the command after them (their own `-x` flags are skipped too).
WRAPPERS = frozenset({"time", "env", "exec", "nohup", "command"})
SEPARATORS = frozenset({"|", "||", "&&", ";", "&"})
OPTION = re.compile(r"^(--[A-Za-z][\w-]*|-[A-Za-z])")
#: `> file`, `2>/dev/null`, `>> log`, `< in`; a word such as `<command>` is a placeholder.
REDIRECT = re.compile(r"^(\d*>>?|<$)")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
#: The command word: `scalegate`, or a path to an installed one (`.venv/bin/scalegate`).
PROGRAM = re.compile(r"^(?:\S*/)?bin/scalegate$|^scalegate$")

ROOT_COMMAND = typer.main.get_command(app)


# --------------------------------------------------------------------------- collection


@dataclass(frozen=True)
class DocCommand:
    doc: str  # path relative to the repository root
    line: int  # 1-based line of the command's first word
    text: str  # as documented: continuations joined, comment and other commands dropped
    argv: tuple[str, ...]  # the words after `scalegate`
    via_module: bool = False  # `python -m scalegate`

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def _fences(lines: list[str]) -> list[tuple[int, int, str]]:
    """(first content line index, end index exclusive, language) of each fenced block."""
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        out.append((i + 1, j, lang))
        i = j + 1
    return out


def _words(text: str) -> list[str]:
    """Shell words of `text`, `#` comments dropped, `&&`/`;`/`&` split off (`|` only as a word)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="&;")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote in prose: fall back to plain words
        return text.split("#", 1)[0].split()


def _segments(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in words:
        if word in SEPARATORS:
            out.append([])
        else:
            out[-1].append(word)
    return [s for s in out if s]


def _scalegate_argv(segment: list[str]) -> tuple[list[str], bool] | None:
    """The words after the `scalegate` of a command (and whether it ran as `python -m`), or
    None when the command is not scalegate."""
    i = 0
    if segment and segment[0] == "$":  # console prompt
        i += 1
    while i < len(segment):
        word = segment[i]
        base = word.rsplit("/", 1)[-1]
        if ENV_ASSIGNMENT.match(word):
            i += 1
        elif base in WRAPPERS:
            i += 1
            while i < len(segment) and segment[i].startswith("-"):
                i += 1
        elif PROGRAM.match(word):
            return segment[i + 1 :], False
        elif re.fullmatch(r"python(3(\.\d+)?)?", base) and segment[i + 1 : i + 3] == ["-m", "scalegate"]:
            return segment[i + 3 :], True
        else:
            return None
    return None


def _clean(argv: list[str]) -> tuple[str, ...]:
    """Drop redirections and their targets; unwrap synopsis brackets (`[--bundle DIR]`)."""
    out: list[str] = []
    skip_next = False
    for word in argv:
        if skip_next:
            skip_next = False
            continue
        if REDIRECT.match(word):
            skip_next = REDIRECT.sub("", word) == ""  # `> file`: the target is the next word
            continue
        word = word.removeprefix("[").removesuffix("]")
        if word:
            out.append(word)
    return tuple(out)


def commands_in(text: str, doc: str, line: int) -> list[DocCommand]:
    """The scalegate commands of one documented command line."""
    out: list[DocCommand] = []
    for segment in _segments(_words(text)):
        found = _scalegate_argv(segment)
        if found is None:
            continue
        argv, via_module = found
        shown = " ".join(shlex.quote(w) if not w or re.search(r"\s", w) else w for w in segment)
        out.append(DocCommand(doc, line, shown, _clean(argv), via_module))
    return out


def _code_spans(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(0-based line, content) of each inline code span in lines[start:end]; a span may run
    over several lines of a paragraph (its line breaks read as spaces)."""
    out: list[tuple[int, str]] = []
    paragraph_start = start
    for k in range(start, end + 1):
        if k < end and lines[k].strip():
            continue
        paragraph = "\n".join(lines[paragraph_start:k])
        for m in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", paragraph, flags=re.S):
            content = m.group(2).replace("\n", " ").replace("\\|", "|").strip()
            out.append((paragraph_start + paragraph.count("\n", 0, m.start()), content))
        paragraph_start = k + 1
    return out


def extract_commands(markdown: str, doc: str) -> list[DocCommand]:
    """Every scalegate command of one markdown file, in order."""
    lines = markdown.splitlines()
    out: list[DocCommand] = []
    prose_start = 0
    for first, end, lang in [*_fences(lines), (len(lines) + 1, len(lines) + 1, "")]:
        for k, span in _code_spans(lines, prose_start, min(first - 1, len(lines))):
            out.extend(commands_in(span, doc, k + 1))
        prose_start = end + 1
        if first > len(lines) or lang not in SHELL_LANGS:
            continue
        pending, pending_line = "", first
        for k in range(first, end):
            raw = lines[k].strip()
            if not pending:
                pending_line = k
            if raw.endswith("\\") and not raw.endswith("\\\\"):
                pending += raw[:-1] + " "
                continue
            text, pending = pending + raw, ""
            out.extend(commands_in(text, doc, pending_line + 1))
    return out


def documented_commands() -> list[DocCommand]:
    out: list[DocCommand] = []
    for path in DOC_FILES:
        out.extend(extract_commands(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))))
    return out


# --------------------------------------------------------------------------- checking


@dataclass
class Checked:
    path: tuple[str, ...] = ()  # the subcommands, e.g. ("ledger", "verify")
    problems: list[str] = field(default_factory=list)


# typer builds its commands on its own copy of click (`typer._click`), so they are read by
# their attributes: a group has `get_command`, a parameter says `option` or `argument`.
def _is_group(command: Any) -> bool:
    return hasattr(command, "get_command") and hasattr(command, "list_commands")


def _context(command: Any) -> Any:
    return command.context_class(command, info_name=command.name)


def _options(command: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for param in command.get_params(_context(command)):  # includes --help
        if param.param_type_name == "option":
            for name in [*param.opts, *param.secondary_opts]:
                out[name] = param
    return out


def check_argv(argv: tuple[str, ...] | list[str], root: Any = ROOT_COMMAND) -> Checked:
    """Walk the documented words down the command tree, naming every word the CLI would refuse."""
    checked = Checked()
    command = root
    positionals = 0

    def where() -> str:
        return " ".join(["scalegate", *checked.path])

    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "..." and not _is_group(command):
            continue  # elided words; at a group, `...` stands for no subcommand (see PLACEHOLDERS)
        m = OPTION.match(word)
        if m:
            name, rest = m.group(1), word[len(m.group(1)) :]
            if name.startswith("--") and rest and not rest.startswith("="):
                name, rest = word, ""  # e.g. `--foo.bar`: report it as written
            options = _options(command)
            param = options.get(name)
            if param is None:
                known = ", ".join(sorted(o for o in options if o.startswith("--")))
                checked.problems.append(f"`{name}` is not an option of `{where()}` (its options: {known})")
            elif param.is_flag or param.count:
                if rest.startswith("="):
                    checked.problems.append(f"`{word}`: `{name}` of `{where()}` is a flag and takes no value")
            elif not rest:
                if i == len(argv) or OPTION.match(argv[i]):
                    checked.problems.append(f"`{name}` of `{where()}` takes a value (`{name} VALUE`)")
                else:
                    i += max(param.nargs, 1)  # its value(s)
            continue
        if _is_group(command):
            sub = command.get_command(_context(command), word)
            if sub is None:
                names = ", ".join(command.list_commands(_context(command)))
                checked.problems.append(
                    f"`{word}` is not a subcommand of `{where()}` (its subcommands: {names})"
                )
                return checked
            command = sub
            checked.path += (word,)
            continue
        positionals += 1
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    if not _is_group(command) and all(a.nargs >= 0 for a in arguments):
        most = sum(a.nargs for a in arguments)
        if positionals > most:
            names = ", ".join(a.human_readable_name for a in arguments) or "none"
            checked.problems.append(
                f"`{where()}` takes at most {most} argument(s) ({names}); {positionals} given"
            )
    return checked


@functools.cache
def _help(path: tuple[str, ...]) -> tuple[int, str]:
    """`scalegate PATH --help`, in-process, once per path."""
    result = CliRunner().invoke(app, [*path, "--help"])
    return result.exit_code, result.output


def problems_of(cmd: DocCommand, placeholders: dict[str, str] = PLACEHOLDERS) -> tuple[str | None, list[str]]:
    """(why the line is skipped, or None; what the CLI would refuse in it)."""
    if cmd.text in placeholders:
        return f"allow-listed placeholder: {placeholders[cmd.text]}", []
    checked = check_argv(cmd.argv)
    if cmd.via_module and importlib.util.find_spec("scalegate.__main__") is None:
        checked.problems.append("`python -m scalegate` needs scalegate/__main__.py")
    if not checked.problems:
        code, output = _help(checked.path)
        if code != 0:
            checked.problems.append(f"`scalegate {' '.join(checked.path)} --help` exited {code}:\n{output}")
    return None, checked.problems


DOC_COMMANDS = documented_commands()


def _id(cmd: DocCommand) -> str:
    return f"{cmd.doc}:{cmd.line}:{cmd.text}"


@pytest.mark.parametrize("cmd", DOC_COMMANDS, ids=_id)
def test_documented_command_matches_cli(cmd: DocCommand) -> None:
    skip, problems = problems_of(cmd)
    if skip:
        pytest.skip(skip)
    assert not problems, f"{cmd}\n  " + "\n  ".join(problems)


def test_every_doc_is_read_and_commands_are_found() -> None:
    """A collector that finds nothing would pass vacuously."""
    assert any(p.name == "README.md" for p in DOC_FILES) and len(DOC_FILES) > 5
    docs = {c.doc for c in DOC_COMMANDS}
    assert {"README.md", "docs/tutorial.md", "docs/presets.md", "docs/lint.md"} <= docs
    texts = {c.text for c in DOC_COMMANDS}
    assert "scalegate ledger verify --bundle bundle" in texts  # fenced bash
    assert "scalegate assets fetch" in texts  # inline span
    assert len(DOC_COMMANDS) >= 60
    paths = {check_argv(c.argv).path for c in DOC_COMMANDS}
    assert len(paths) >= 20


def test_placeholders_are_still_documented() -> None:
    """The allow-list names text the docs still contain (no stale entries)."""
    texts = {c.text for c in DOC_COMMANDS}
    assert set(PLACEHOLDERS) <= texts, sorted(set(PLACEHOLDERS) - texts)


def test_every_documented_path_has_help() -> None:
    """`--help` of each distinct documented command path exits 0 (one run per path)."""
    paths = {check_argv(c.argv).path for c in DOC_COMMANDS if c.text not in PLACEHOLDERS}
    failing = {p: _help(p) for p in sorted(paths) if _help(p)[0] != 0}
    assert not failing, failing


# --------------------------------------------------------------------------- the checker itself

BROKEN_DOC = """\
# A broken doc

Run `scalegate ledger frobnicate --db x.db` to frobnicate, or
`scalegate ledger verify
--no-such-option` (a span over two lines).

```bash
COLUMNS=80 scalegate policy lint FILE --details \\
    --made-up-flag 3   # a comment: scalegate assess --ignored-in-comment
.venv/bin/scalegate assess --no-ledger --json | jq '.decision --not-an-option'
cd /tmp && python -m scalegate policy compare --format=html --formatt md
scalegate assess --json=yes
scalegate ledger head EXTRA ARGS
scalegate policy frobnicate
scalegate <command>
scalegate ledger verify --db --bundle DIR
```

```yaml
scalegate: 1   # a policy, not a command
```
"""


def test_checker_reports_a_broken_doc() -> None:
    cmds = extract_commands(BROKEN_DOC, "broken.md")
    assert [(c.line, c.text) for c in cmds] == [
        (3, "scalegate ledger frobnicate --db x.db"),
        (4, "scalegate ledger verify --no-such-option"),
        (8, "COLUMNS=80 scalegate policy lint FILE --details --made-up-flag 3"),
        (10, ".venv/bin/scalegate assess --no-ledger --json"),
        (11, "python -m scalegate policy compare --format=html --formatt md"),
        (12, "scalegate assess --json=yes"),
        (13, "scalegate ledger head EXTRA ARGS"),
        (14, "scalegate policy frobnicate"),
        (15, "scalegate <command>"),
        (16, "scalegate ledger verify --db --bundle DIR"),
    ]
    by_line = {c.line: c for c in cmds}
    assert by_line[11].via_module

    def problems(line: int) -> str:
        skip, found = problems_of(by_line[line])
        assert skip is None
        return "\n".join(found)

    # a made-up subcommand and a made-up option are reported, naming the command
    assert "`frobnicate` is not a subcommand of `scalegate ledger`" in problems(3)
    assert "`frobnicate` is not a subcommand of `scalegate policy`" in problems(14)
    assert "`--no-such-option` is not an option of `scalegate ledger verify`" in problems(4)
    assert "`--made-up-flag` is not an option of `scalegate policy lint`" in problems(8)
    assert "`--formatt` is not an option of `scalegate policy compare`" in problems(11)
    assert "--format=html" not in problems(11)  # `--foo=bar` is read as `--foo`
    assert problems(10) == ""  # `--no-...` of a boolean flag; the words after `|` are jq's
    assert "`--json=yes`: `--json` of `scalegate assess` is a flag and takes no value" in problems(12)
    assert "`scalegate ledger head` takes at most 0 argument(s) (none); 2 given" in problems(13)
    assert "`--db` of `scalegate ledger verify` takes a value" in problems(16)
    # a placeholder fails unless allow-listed, and then is skipped with its reason
    assert "`<command>` is not a subcommand of `scalegate`" in problems(15)
    skip, found = problems_of(by_line[15], {"scalegate <command>": "any subcommand"})
    assert (skip, found) == ("allow-listed placeholder: any subcommand", [])
    # the parametrized test fails on such a line, naming the doc file and line
    with pytest.raises(AssertionError, match=r"broken\.md:3: scalegate ledger frobnicate"):
        test_documented_command_matches_cli(by_line[3])


def test_checker_accepts_documented_forms() -> None:
    """Synopsis brackets and `A|B` alternatives, elided words, redirection, `-o`, wrappers."""
    ok = [
        "scalegate ledger verify [--db FILE|URL] [--bundle DIR] [--anchor SEQ:HASH|FILE]",
        "scalegate policy show reference > my_policy.yaml",
        "scalegate policy compare a b --format html -o cmp.html",
        "scalegate assess ... --resume OUT",
        "scalegate --version",
        "scalegate",
    ]
    for text in ok:
        [cmd] = commands_in(text, "ok.md", 1)
        assert problems_of(cmd) == (None, []), text
    assert commands_in("pip install scalegate", "ok.md", 1) == []
    assert commands_in("inspect eval scalegate/refusal_rate", "ok.md", 1) == []
    assert commands_in("~/.cache/scalegate", "ok.md", 1) == []
    assert [c.argv for c in commands_in("/usr/bin/time -v scalegate assess", "ok.md", 1)] == [("assess",)]
    assert [c.argv for c in commands_in("$ scalegate ledger head", "ok.md", 1)] == [("ledger", "head")]
    # `...` does not stand for a subcommand
    [elided] = commands_in("scalegate ...", "ok.md", 1)
    assert "`...` is not a subcommand of `scalegate`" in problems_of(elided)[1][0]
