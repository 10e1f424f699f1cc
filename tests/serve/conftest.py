"""The report fixtures (a real recorded ledger with planted private markers, the browser)."""

from tests.report.conftest import browser, ledger_copy, recorded  # noqa: F401
