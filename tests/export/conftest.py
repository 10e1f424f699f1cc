"""The report fixtures: a real recorded ledger and the assessment folders `assess` wrote."""

from tests.report.conftest import recorded  # noqa: F401
