"""Load a policy from YAML with errors that name file, line, field path and the expected form.

A policy file is untrusted input: it arrives in pull requests, mapping files and ledger rows.
`read_yaml` is the only route from its text to Python data. It walks PyYAML's event stream
itself instead of `yaml.safe_load`, so it can refuse, before anything is expanded or
validated, whatever would make loading hang, exhaust memory or fail with anything but a
`PolicyError`: an oversized file, control characters, nesting deeper than `MAX_DEPTH`, alias
expansion beyond `MAX_NODES` ("billion laughs"), any YAML tag beyond the plain ones, keys that
are not text, unreadable scalars (`2026-02-30`). The limits are documented in
docs/policy-language.md ("Limits on a policy file").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from scalegate.errors import InputError, PolicyError
from scalegate.policy.schema import NAME_PATTERN, Loc, Policy

PRESET_PACKAGE = "scalegate.policy.presets"

#: Largest policy file, in bytes of UTF-8. The largest bundled preset is 27 KB; a file 40
#: times that size is not a policy, and reading it must not cost seconds.
MAX_POLICY_BYTES = 1024 * 1024
#: Deepest nesting of lists and mappings, counted through aliases. The presets reach 8.
MAX_DEPTH = 64
#: Most values (scalars, lists, mappings, keys) a document may hold once every alias is
#: expanded. The largest preset holds under 800; an alias bomb expands to billions.
MAX_NODES = 20_000
#: Largest integer a policy may write: about the range of a float (1e308).
MAX_INT_BITS = 1024
#: Problems listed in one error; the rest are counted.
MAX_PROBLEMS = 50

_YAML = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP = f"{_YAML}str", f"{_YAML}seq", f"{_YAML}map"
#: The scalar tags a policy may use, written or implied: text, numbers, booleans, null, dates.
_SCALAR_TAGS = frozenset(f"{_YAML}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp"))
_TAG_WORDS = {
    f"{_YAML}int": "an integer",
    f"{_YAML}float": "a number",
    f"{_YAML}bool": "true/false (YAML 1.1 also reads yes, no, on, off, y, n that way)",
    f"{_YAML}null": "null (empty, `~` or `null`)",
    f"{_YAML}timestamp": "a date",
}
# What PyYAML's reader refuses, found here first so the message can name line, column and
# character: C0 controls but tab/LF/CR, DEL, C1 controls but NEL, lone surrogates, U+FFFE/F.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "backspace", 0x1B: "ESC", 0x7F: "DEL", 0xFEFF: "BOM"}
_PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy and the exact bytes it came from (the hash a decision cites)."""

    policy: Policy
    source: str
    text: str
    sha256: str


def preset_names() -> list[str]:
    files = resources.files(PRESET_PACKAGE).iterdir()
    return sorted(f.name.removesuffix(".yaml") for f in files if f.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    if _PRESET_NAME.fullmatch(name) and name in preset_names():
        return resources.files(PRESET_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    shown = name if len(name) <= 100 else name[:100] + "..."
    raise PolicyError(shown, [f"no preset named {shown!r} (presets: {', '.join(preset_names())})"])


def load_policy(ref: str | Path) -> LoadedPolicy:
    """Load a policy file, or a bundled preset by name (`reference`, or `preset:reference` as
    an assessment records its source)."""
    if isinstance(ref, str) and ref.startswith("preset:"):
        return parse_policy(preset_text(ref.removeprefix("preset:")), ref)
    try:
        path = Path(ref)
        is_path = path.suffix in {".yaml", ".yml"} or path.exists()
        is_file = is_path and path.is_file()
    except (OSError, ValueError) as exc:  # a NUL in the name, a name too long for the OS
        raise PolicyError(str(ref)[:200], [f"not a usable policy path or preset name: {exc}"]) from None
    if not is_path:
        return parse_policy(preset_text(str(ref)), f"preset:{ref}")
    if not is_file:
        raise PolicyError(str(path), ["file not found: pass a policy YAML file or a preset name"])
    try:
        text = decode_text(read_limited(path, str(path)))
    except YamlRefused as exc:
        raise PolicyError(str(path), exc.problems) from None
    # as text-mode reading always did: CRLF and CR line ends read as LF, so the policy's hash
    # (the one decisions cite) does not depend on the platform the file was saved on
    return parse_policy(text.replace("\r\n", "\n").replace("\r", "\n"), str(path))


def read_limited(path: Path, source: str) -> bytes:
    """A file's bytes, refused by its size before any of it is read (`MAX_POLICY_BYTES`)."""
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise PolicyError(source, [_too_big(size)])
        with path.open("rb") as f:
            raw = f.read(MAX_POLICY_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise PolicyError(source, [f"cannot read file: {exc}"]) from exc
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(source, [_too_big(len(raw))])
    return raw


def parse_policy(text: str | bytes, source: str = "<policy>") -> LoadedPolicy:
    """Validate a policy's text (or its UTF-8 bytes): every problem is a `PolicyError` line
    naming the line, the field and what is expected."""
    try:
        text = decode_text(text)
        doc = _read(text)
    except YamlRefused as exc:
        raise PolicyError(source, exc.problems) from None
    if doc.empty:
        raise PolicyError(source, ["line 1: the file is empty; a policy starts with `scalegate: 1`"])
    data, marks = doc.data, doc.marks
    if not isinstance(data, dict):
        raise PolicyError(source, ["line 1: a policy is a mapping that starts with `scalegate: 1`"])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _capped([_describe(err, marks) for err in exc.errors()])) from None
    problems = policy.reference_problems()
    if problems:
        raise PolicyError(source, _capped([_at(loc, msg, marks) for loc, msg in problems]))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedPolicy(policy=policy, source=source, text=text, sha256=digest)


# --- the YAML reader --------------------------------------------------------------------------


class YamlRefused(Exception):
    """`read_yaml` refused the text; `problems` are lines such as `line 3: field a.b: ...`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = _capped(problems)
        super().__init__("\n".join(self.problems))


def _too_big(size: int) -> str:
    return (
        f"the file is {size:,} bytes; a policy may be at most {MAX_POLICY_BYTES:,} bytes "
        "(the largest bundled preset is 27 KB): is this the right file?"
    )


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], f"... and {rest} more problems (fix the ones above first)"]


def decode_text(text: str | bytes) -> str:
    """The text of a policy, checked for size, UTF-8 and characters YAML does not allow."""
    if isinstance(text, bytes):
        raw = text
        if len(raw) > MAX_POLICY_BYTES:
            raise YamlRefused([_too_big(len(raw))])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise YamlRefused(
                [
                    f"line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
                    "save the file as UTF-8"
                ]
            ) from None
    if len(text) > MAX_POLICY_BYTES:  # every character is at least one byte
        raise YamlRefused([_too_big(len(text))])
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        pos, code = bad.start(), ord(bad.group())
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        other = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
        name = _CONTROL_NAMES.get(code, other)
        raise YamlRefused(
            [
                f"line {line}, column {column}: character U+{code:04X} ({name}) is not allowed in a "
                "YAML file: remove it (a binary file, or text pasted with control characters?)"
            ]
        )
    size = len(text.encode("utf-8"))
    if size > MAX_POLICY_BYTES:
        raise YamlRefused([_too_big(size)])
    return text


@dataclass
class _Frame:
    """A list or mapping being read."""

    loc: Loc
    data: Any  # list or dict
    anchor: str | None
    size: int = 1  # values in it, aliases expanded (itself included)
    height: int = 1  # nesting below and including it
    key: str | None = None  # a mapping's key waiting for its value


@dataclass(frozen=True)
class _Anchor:
    value: Any
    size: int
    height: int


@dataclass
class _Reader:
    """Builds Python data from PyYAML's event stream, with a field path -> line map."""

    loader: yaml.SafeLoader
    marks: dict[Loc, int] = field(default_factory=dict)
    stack: list[_Frame] = field(default_factory=list)
    anchors: dict[str, _Anchor] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    nodes: int = 0
    documents: int = 0
    root: Any = None
    seen_root: bool = False

    def run(self) -> YamlDocument:
        while self.loader.check_event():
            self.event(self.loader.get_event())  # type: ignore[no-untyped-call]
        if self.problems:
            raise YamlRefused(self.problems)
        return YamlDocument(self.root, self.marks, empty=not self.seen_root)

    def event(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.refuse(line, None, "a second YAML document (`---`): a policy file holds one document")
        elif isinstance(event, yaml.AliasEvent):
            self.alias(event, line)
        elif isinstance(event, yaml.ScalarEvent):
            self.scalar(event, line)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self.start(event, line)
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            frame = self.stack.pop()
            if frame.anchor is not None:
                self.anchors[frame.anchor] = _Anchor(frame.data, frame.size, frame.height)
            self.put(frame.data, frame.size, frame.height, line)

    # -- failures

    def refuse(self, line: int, loc: Loc | None, message: str) -> None:
        """Stop reading: what follows cannot be read safely or meaningfully."""
        where = f"field {_path(loc)}: " if loc is not None else ""
        self.problems.append(f"line {line}: {where}{message}")
        raise YamlRefused(self.problems)

    def note(self, line: int, loc: Loc, message: str) -> None:
        """A problem worth reporting beside others: reading goes on."""
        self.problems.append(f"line {line}: field {_path(loc)}: {message}")

    # -- where the next value goes

    def expecting_key(self) -> bool:
        return bool(self.stack) and isinstance(self.stack[-1].data, dict) and self.stack[-1].key is None

    def next_loc(self) -> Loc:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.data, list):
            return (*top.loc, len(top.data))
        assert top.key is not None
        return (*top.loc, top.key)

    def count(self, size: int, line: int, alias: str | None = None) -> None:
        self.nodes += size
        if self.nodes <= MAX_NODES:
            return
        if alias is None:
            self.refuse(
                line,
                None,
                f"the document holds more than {MAX_NODES:,} values (keys, scalars, lists, mappings); "
                "a policy holds a few thousand: is this the right file?",
            )
        self.refuse(
            line,
            None,
            f"the document expands to more than {MAX_NODES:,} values (at alias *{alias}): a policy holds "
            "a few thousand; reuse through aliases beyond that is refused (an alias bomb?)",
        )

    def put(self, value: Any, size: int, height: int, line: int) -> None:
        """Place a finished value (scalar, list, mapping or alias) in its parent."""
        if not self.stack:
            self.root, self.seen_root = value, True
            self.marks.setdefault((), line)
            return
        top = self.stack[-1]
        top.size += size
        top.height = max(top.height, height + 1)
        if isinstance(top.data, list):
            self.marks.setdefault((*top.loc, len(top.data)), line)
            top.data.append(value)
        else:
            assert top.key is not None
            top.data[top.key] = value
            top.key = None

    # -- events

    def start(self, event: yaml.CollectionStartEvent, line: int) -> None:
        is_map = isinstance(event, yaml.MappingStartEvent)
        if self.expecting_key():
            self.refuse(
                line,
                self.stack[-1].loc,
                f"a {'mapping' if is_map else 'list'} used as a key (`? ...`): keys are plain names",
            )
        loc = self.next_loc()
        self.tag_allowed(event.tag, _MAP if is_map else _SEQ, line, loc)
        if len(self.stack) + 1 > MAX_DEPTH:
            self.refuse(line, loc, f"nested more than {MAX_DEPTH} levels deep: flatten it")
        self.count(1, line)
        self.marks.setdefault(loc, line)
        self.stack.append(_Frame(loc=loc, data={} if is_map else [], anchor=self.anchor(event, line)))

    def anchor(self, event: yaml.NodeEvent, line: int) -> str | None:
        name = event.anchor
        if name is not None and (name in self.anchors or any(f.anchor == name for f in self.stack)):
            self.refuse(line, None, f"anchor &{name} is defined twice: give the second one another name")
        return name

    def alias(self, event: yaml.AliasEvent, line: int) -> None:
        name = event.anchor or ""
        loc = self.stack[-1].loc if self.stack else ()
        if self.expecting_key():
            self.refuse(line, loc, f"an alias (*{name}) used as a key: keys are plain names")
        loc = self.next_loc()
        found = self.anchors.get(name)
        if found is None:
            if any(f.anchor == name for f in self.stack):
                self.refuse(line, loc, f"alias *{name} is inside the value it names (a recursive structure)")
            self.refuse(line, loc, f"alias *{name} names no anchor (&{name}) defined before it")
        assert found is not None
        if len(self.stack) + found.height > MAX_DEPTH:
            self.refuse(line, loc, f"alias *{name} nests the document more than {MAX_DEPTH} levels deep")
        self.count(found.size, line, name)
        self.marks.setdefault(loc, line)  # the alias's own line; what it names is not walked again
        self.put(found.value, found.size, found.height, line)

    def tag_allowed(self, tag: str | None, expected: str, line: int, loc: Loc) -> None:
        if tag is None or tag == "!" or tag == expected:
            return
        shown = "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag
        self.refuse(
            line,
            loc,
            f"YAML tag {shown} is not allowed: a policy holds plain text, numbers, true/false, dates, "
            "lists and mappings; remove the tag",
        )

    def scalar(self, event: yaml.ScalarEvent, line: int) -> None:
        key = self.expecting_key()
        loc = self.stack[-1].loc if key else self.next_loc()
        tag = event.tag
        if tag is not None and tag != "!" and tag not in _SCALAR_TAGS:
            self.tag_allowed(tag, _STR, line, loc)
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        self.count(1, line)
        shown = _show(event.value)
        if tag in (f"{_YAML}merge", f"{_YAML}value"):  # a plain `<<` or `=`
            if key and event.value == "<<":
                self.refuse(line, loc, "merge keys (`<<: *anchor`) are not supported: write the fields out")
            self.note(line, loc, f"a bare {shown} has a special meaning in YAML: quote it ('{event.value}')")
            value: Any = event.value
        else:
            node = yaml.ScalarNode(tag, event.value, style=event.style)
            try:
                value = self.loader.yaml_constructors[tag](self.loader, node)
            except Exception as exc:  # PyYAML's own scalar readers: any failure is the input's
                value = event.value
                self.note(line, loc, _unreadable(tag, shown, exc))
            if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
                self.note(line, loc, f"the number {shown} is too large (at most about 1e308)")
        anchor = self.anchor(event, line)
        if anchor is not None:
            self.anchors[anchor] = _Anchor(value, 1, 0)
        if key:
            self.key(value, tag, event.value, line)
        else:
            self.put(value, 1, 0, line)

    def key(self, value: Any, tag: str, raw: str, line: int) -> None:
        top = self.stack[-1]
        if tag != _STR or not isinstance(value, str):
            what = _TAG_WORDS.get(tag, "a value that is not text")
            fix = f"quote it ('{raw}')" if raw and len(raw) <= 40 else "write a name"
            self.note(line, top.loc, f"key {_show(raw)} is read as {what}; keys are text: {fix}")
            value = raw
        if value in top.data:
            self.problems.append(
                f"line {line}: field {_path((*top.loc, value))}: "
                "duplicate key (YAML would silently keep only the last one)"
            )
        top.key = value
        self.marks[(*top.loc, value)] = line


def _show(raw: str) -> str:
    """A scalar as a message quotes it: short, one line."""
    text = raw if len(raw) <= 40 else raw[:37] + "..."
    return "`" + text.replace("\n", " ") + "`"


def _unreadable(tag: str, shown: str, exc: Exception) -> str:
    if tag == f"{_YAML}timestamp":
        reason = str(exc).splitlines()[0] if isinstance(exc, ValueError) else "not of the form YYYY-MM-DD"
        return f"{shown} is not a valid date ({reason}): write a date that exists, as YYYY-MM-DD"
    if tag == f"{_YAML}bool":
        return f"{shown} cannot be read as true/false: write true or false, or quote it if it is text"
    if "Exceeds the limit" in str(exc):  # Python's cap on decimal digits
        return f"the number {shown} is too large (at most about 1e308)"
    what = _TAG_WORDS.get(tag, tag).split(" (")[0]
    return f"{shown} cannot be read as {what}; quote it if it is text"


@dataclass(frozen=True)
class YamlDocument:
    """Plain data (mappings with text keys, lists, scalars) and the line of each field path:
    a mapping key's own line, a list item's first line. `empty`: no document at all."""

    data: Any
    marks: dict[Loc, int]
    empty: bool


def read_yaml(text: str | bytes) -> YamlDocument:
    """One YAML document read within the limits; refuses (with `YamlRefused`) everything the
    module docstring lists."""
    return _read(decode_text(text))


def _read(text: str) -> YamlDocument:
    # libyaml where PyYAML has it: the same events and marks, several times faster, so the
    # value limit is reached in well under a second
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        return _Reader(loader).run()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "line 1"
        if "maximum nesting depth" in str(exc.problem):  # libyaml's scanner stops before our reader
            raise YamlRefused([f"{where}: nested more than {MAX_DEPTH} levels deep: flatten it"]) from None
        raise YamlRefused([f"{where}: YAML syntax error: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise YamlRefused([f"line 1: not readable as YAML: {str(exc).splitlines()[0]}"]) from None
    finally:
        loader.dispose()


# --- messages -------------------------------------------------------------------------------------


def _line(loc: Loc, marks: dict[Loc, int]) -> int:
    for n in range(len(loc), -1, -1):
        key = tuple(str(p) if not isinstance(p, int) else p for p in loc[:n])
        if key in marks:
            return marks[key]
    return 1


def _path(loc: Loc) -> str:
    if len(loc) > 12:  # a path that deep is a hostile document: its ends say enough
        return f"{_path(loc[:4])}...({len(loc) - 8} more)...{_path(loc[-4:])}"
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _at(loc: Loc, message: str, marks: dict[Loc, int]) -> str:
    return f"line {_line(loc, marks)}: field {_path(loc)}: {message}"


def _input(value: Any) -> str:
    """An input as an error message quotes it: never more than a line."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(err: Any, marks: dict[Loc, int]) -> str:
    # pydantic appends union/model-validator tags to loc; keep only the data path
    loc = tuple(
        p for p in err["loc"] if isinstance(p, int) or not (str(p).startswith("function-") or p == "[key]")
    )
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == NAME_PATTERN:
        msg = (
            f"{_input(err['input'])} cannot be a name here: use letters, digits, `_`, `-` and `.`, "
            "starting with a letter or digit (it becomes part of file names)"
        )
    elif err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see `scalegate policy schema`)"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif "input" in err and err["type"] not in {"value_error", "assertion_error"}:
        msg = f"{msg} (got {_input(err['input'])})"
        bound = (err.get("ctx") or {}).get("le", (err.get("ctx") or {}).get("lt"))
        if bound == 1 and err["type"] in {"less_than_equal", "less_than"}:
            msg += "; a proportion is written from 0 to 1 (0.7, not 70)"
    return _at(loc, msg, marks)


M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M], what: str) -> M:
    """A small YAML file (safety case, mapping) as a pydantic model, with errors that name the
    file, the field and what is wrong (exit 2), never a traceback. Read with the policy's limits."""
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found")
    try:
        doc = read_yaml(read_limited(path, str(path)))
    except PolicyError as exc:
        raise InputError(f"{path}: cannot read the {what}: {'; '.join(exc.problems)}") from None
    except YamlRefused as exc:
        raise InputError(f"{path}: not valid YAML:\n  " + "\n  ".join(exc.problems)) from None
    try:
        return model.model_validate(doc.data or {})
    except ValidationError as exc:
        lines = [
            f"line {_line(e['loc'], doc.marks)}: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise InputError(f"{path}: not a valid {what}:\n  " + "\n  ".join(_capped(lines))) from None
