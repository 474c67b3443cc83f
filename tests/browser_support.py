"""The one browser of a test session (Playwright driving Debian's chromium), shared by every browser
test module through conftest.py: a session fixture imported into two test modules would be two
fixtures, and Playwright's sync API cannot start a second one inside the first's event loop."""

from __future__ import annotations

import os

import pytest

CHROMIUM = os.environ.get("WAN_CHROMIUM", "/usr/bin/chromium")
# Debian's chromium, headless; no network of its own (updates, sync, QUIC probes).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
WAIT_MS = 30_000  # the longest any single wait may take on a loaded machine before the test fails
HOW_TO_ENABLE = ("install Debian's chromium (`apt-get install chromium`) or point WAN_CHROMIUM at a "
                 "Chromium binary; .ci/run installs it in CI")


def _missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the browser tests cannot run in CI: {missing}; {HOW_TO_ENABLE}")
        pytest.skip(f"browser tests skipped: {missing}; to run them, {HOW_TO_ENABLE}")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
