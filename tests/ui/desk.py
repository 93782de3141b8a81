"""The desk in headless Chromium: signing in, and looking at a page as people see it, at a
desk's width (1440 px) and a phone's (390 px): a screenshot of each, and axe-core's check
(no serious or critical violation of WCAG 2.1 A/AA)."""

from __future__ import annotations

from typing import Any

from tests.conftest import DESK_PORT
from tests.ui.conftest import SHOTS

DESK = f"http://127.0.0.1:{DESK_PORT}"
WIDTHS = (1440, 390)
SEEN: list[str] = []  # every page looked at, for the test that all were
# The self-sufficiency matrix's domains, as the assessment form labels them.
MATRIX_DOMAINS = (
    "Housing",
    "Income and benefits",
    "Employment",
    "Physical health",
    "Mental health",
    "Substance use",
    "Family and childcare",
    "Food",
    "Safety",
    "Legal matters",
)


def look(page: Any, name: str) -> None:
    """Screenshots at both widths and axe-core at both: fails on a serious or critical
    violation, naming the rule and the elements."""
    from axe_playwright_python.sync_playwright import Axe

    SHOTS.mkdir(exist_ok=True)
    found: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"desk-{name}-{width}.png", full_page=True)
        results = Axe().run(
            page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}
        )
        for violation in results.response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"]][:3]
                found.append(f"{width}px {violation['id']} ({violation['impact']}): {targets}")
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        if overflow:
            found.append(f"{width}px: the page is wider than the screen")
    page.set_viewport_size({"width": 1440, "height": 900})
    SEEN.append(name)
    assert not found, f"{name}: " + "; ".join(found)


def sign_in(page: Any, staff_id: str, password: str) -> None:
    page.goto(f"{DESK}/")
    page.get_by_label("Staff id").fill(staff_id)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    refused = page.locator(".error-box")
    assert not refused.count(), refused.inner_text()
    assert page.get_by_text(f"Signed in as {staff_id}").count(), (
        f"{page.url}: {page.content()[:3000]}"
    )


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for()


def signed_in_page(browser: Any, staff_id: str, password: str) -> Any:
    """A new desk page at a desk's width, `staff_id` signed in with `password` (set first,
    as an admin sets it)."""
    from casework import services

    services.sign_in.set_password(staff_id, password, staff_id, temporary=False)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(90_000)
    sign_in(page, staff_id, password)
    return page
