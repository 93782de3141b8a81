"""Headless Chromium (Debian's package) driven by Playwright, for the tests that look at
what people see: skipped, with the reason printed, where no Chromium is installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CREDENTIAL, SESSION_DIR
from tests.ui.chromium import CHROMIUM, CHROMIUM_ARGS

SHOTS = SESSION_DIR / "screenshots"

MARKS = [
    pytest.mark.prefect,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="no Chromium installed (Debian: apt-get install chromium): "
        "what people see (dialogs, cards, letters, reports) is not checked in a browser",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium with a new empty profile (Playwright makes one for each launch)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def sign_in(page) -> None:  # type: ignore[no-untyped-def]
    """Prefect's login page, as docs/operators.md tells a user to answer it: the data directory's
    prefect-credential. A new page has no stored sign-in, so the page is always asked."""
    password = page.get_by_placeholder("admin:pass")
    password.fill(CREDENTIAL)
    page.get_by_role("button", name="Login").click()
    password.wait_for(state="detached")  # the login page gave way to the dashboard
