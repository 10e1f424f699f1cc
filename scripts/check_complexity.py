"""Size and complexity limits for the core modules (`make lint`): no module over 700 lines, no
function over 80 lines or cyclomatic complexity over 20 (radon). The core is what every
decision passes through and every verifier re-runs; it has to stay readable in one sitting. The
lint rules (review/lint/) and the reports (report/) are held to the same limits, so neither can
grow back into one module.

Known exceptions are listed with the reason and the work that removes them; a new offender,
or an exception that no longer needs its entry, fails the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

from radon.complexity import cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parents[1] / "src" / "scalegate"
CORE = [
    "policy/base.py",
    "policy/conditions.py",
    "policy/schema.py",
    "policy/loader.py",
    "scoring.py",
    "gates.py",
    "recompute.py",
    "evals/stats.py",
    "evals/special.py",
    "ledger/state.py",
    "ledger/verify.py",
    "ledger/records.py",
    # the reviews (lint rules per METR component, grades, compare's sections, the diff's
    # direction table and clause modules): a new module is covered without an entry here
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "review").rglob("*.py")),
    # the reports (sources, document, kinds, formats, plots, checklists): the same, whole
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "report").rglob("*.py")),
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "serve").rglob("*.py")),
]
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80
MAX_COMPLEXITY = 20
#: (module, what) -> why it is allowed for now
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("report/terminal.py", "next_steps complexity"): "one branch per next step the terminal suggests; "
    "to become a table of (condition, step) rows like review/compare.SECTIONS",
    ("report/terminal.py", "evidence_table complexity"): "rows, profiles and missing evals in one "
    "function; to split like the reports' evidence tables (report/kinds/common.py)",
}


def problems() -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for rel in CORE:
        text = (ROOT / rel).read_text(encoding="utf-8")
        lines = text.count("\n") + 1
        if lines > MAX_MODULE_LINES:
            found.append((rel, "module lines", f"{lines} lines (limit {MAX_MODULE_LINES})"))
        for block in cc_visit(text):
            items = [block, *getattr(block, "methods", [])]
            for b in items:
                name = f"{b.classname}.{b.name}" if isinstance(b, Function) and b.classname else b.name
                length = b.endline - b.lineno + 1
                if isinstance(b, Function) and length > MAX_FUNCTION_LINES:
                    found.append((rel, f"{name} lines", f"{length} lines (limit {MAX_FUNCTION_LINES})"))
                if isinstance(b, Function) and b.complexity > MAX_COMPLEXITY:
                    found.append((rel, f"{name} complexity", f"{b.complexity} (limit {MAX_COMPLEXITY})"))
    return found


def main() -> int:
    found = problems()
    new = [p for p in found if (p[0], p[1]) not in EXCEPTIONS]
    stale = [k for k in EXCEPTIONS if k not in {(p[0], p[1]) for p in found}]
    for rel, what, detail in new:
        print(f"src/scalegate/{rel}: {what}: {detail}")
    for rel, what in stale:
        print(f"scripts/check_complexity.py: the exception for {rel} ({what}) is no longer needed; remove it")
    for rel, what, detail in found:
        if (rel, what) in EXCEPTIONS:
            print(f"(known) src/scalegate/{rel}: {what}: {detail}: {EXCEPTIONS[(rel, what)]}")
    return 1 if new or stale else 0


if __name__ == "__main__":
    sys.exit(main())
