"""Bad command lines end with exit 2 and a message naming the argument: never a traceback,
never a model run. Each row was a traceback (or silently accepted) before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

FAST = ("--no-ledger", "--eval", "cyber_knowledge", "--limit", "1")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("assess", "--effective-compute", "-5", *FAST), "--effective-compute"),
        (("assess", "--effective-compute", "nan", *FAST), "--effective-compute"),
        (("assess", "--effective-compute", "inf", *FAST), "--effective-compute"),
        (("assess", "--training-compute", "-1", *FAST), "--training-compute"),
        (("assess", "--training-compute", "0", *FAST), "--training-compute"),
        (("assess", "--out", "/proc/scalegate-cannot-write-here", *FAST), "--out"),
        (("audit", "export", "--out", "b", "--restrict", "nodot"), "--restrict"),
        (("audit", "export", "--out", "b", "--restrict", "nokind.field"), "--restrict"),
        (("ledger", "verify", "--anchor", "5:zz"), "--anchor"),
    ],
)
def test_bad_command_lines_exit_2_naming_the_argument(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    res = run_cli(*args, cwd=tmp_path, timeout=300)
    assert res.returncode == 2, res.stdout + res.stderr
    assert named in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert not (tmp_path / "scalegate-results").exists() or not any(
        (tmp_path / "scalegate-results").iterdir()
    )


def test_a_mistyped_ledger_path_is_an_error_not_an_empty_clean_ledger(tmp_path: Path) -> None:
    for args in (
        ("ledger", "verify"),
        ("ledger", "show"),
        ("ledger", "head"),
        ("audit", "export", "--out", "b"),
    ):
        res = run_cli(*args, "--db", str(tmp_path / "typo.db"), cwd=tmp_path)
        assert res.returncode == 2 and "no ledger at" in res.stderr, (args, res.stderr)
    assert not (tmp_path / "typo.db").exists()
