"""`diff_policies`, the plain structural diff recorded with every policy adoption in the
ledger, so a weakened threshold cannot slip in unannounced; its line format is part of the
ledger and does not change."""

from __future__ import annotations

from typing import Any

from scalegate.policy.schema import Policy


def diff_policies(old: Policy, new: Policy) -> list[str]:
    """Lines like `changed domains.cyber.thresholds.high.when.at_least: 0.7 -> 0.8`."""
    out: list[str] = []
    _walk(old.model_dump(mode="json", by_alias=True), new.model_dump(mode="json", by_alias=True), "", out)
    return out


def _walk(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a:
                if b[key] is not None:
                    out.append(f"added {sub}")
            elif key not in b:
                if a[key] is not None:
                    out.append(f"removed {sub}")
            else:
                _walk(a[key], b[key], sub, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}[{i}]", out)
    elif a != b:
        if a is None:
            out.append(f"added {path}: {b!r}")
        elif b is None:
            out.append(f"removed {path} (was {a!r})")
        else:
            out.append(f"changed {path}: {a!r} -> {b!r}")
