"""One exception hierarchy; the CLI maps each class to a documented exit code."""

from __future__ import annotations


class ScalegateError(Exception):
    """Base of every error scalegate raises on purpose. Exit code 1 unless a subclass says."""

    exit_code = 1


class InputError(ScalegateError):
    """The user gave something scalegate cannot use (file, flag, model reference). Exit 2."""

    exit_code = 2


class PolicyError(InputError):
    """A policy file failed to load or validate; `problems` holds one line per issue."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid policy\n" + "\n".join(f"  {p}" for p in problems))


class AssetError(ScalegateError):
    """A pinned asset could not be fetched, verified or unpacked."""


class NotVerified(ScalegateError):
    """A record did not verify (a tampered ledger, an assessment whose policy text is not the
    one it names): nothing is built on it. Exit 4, as `ledger verify`."""

    exit_code = 4
