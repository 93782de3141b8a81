"""A case manager books, records and moves a client's appointments on the desk, in
headless Chromium: a booking without its time refused beside the field with what was
typed kept; a missed appointment recorded; another moved to a new time. Looked at, at
1440 and 390 px, with axe-core."""

from __future__ import annotations

import re

from casework.core.db import session_scope
from tests import factories
from tests.ui.conftest import MARKS
from tests.ui.desk import DESK, look, signed_in_page

pytestmark = MARKS
PASSWORD = "a long desk password 4 tests"
WITH = "Dr Alvarez, county clinic"


def test_a_case_manager_keeps_a_clients_appointments_on_the_desk(  # type: ignore[no-untyped-def]
    browser, stack: str
) -> None:
    with session_scope() as session:
        number = factories.new_case(session).case_number
    page = signed_in_page(browser, "cm.tester", PASSWORD)
    page.goto(f"{DESK}/cases/{number}")
    section = page.locator("#appointments")
    section.get_by_text("No appointment booked.").wait_for()

    # No time given: refused beside its field, what was typed kept.
    section.get_by_label(re.compile("^Kind")).select_option(label="Medical appointment")
    section.get_by_label(re.compile("^With whom")).fill(WITH)
    section.get_by_role("button", name="Book the appointment").click()
    section = page.locator("#appointments")
    section.get_by_text("Give the date and time (YYYY-MM-DD HH:MM)").wait_for()
    assert section.get_by_label(re.compile("^With whom")).input_value() == WITH
    look(page, "case-appointment-refused")

    section.get_by_label(re.compile("^When")).fill("2026-12-01T10:00")
    section.get_by_role("button", name="Book the appointment").click()
    booked = page.get_by_text(re.compile(r"APT-\d+ is booked for 2026-12-01 10:00 UTC\."))
    first = re.findall(r"APT-\d+", booked.inner_text())[0]
    section = page.locator("#appointments")
    section.get_by_role("row", name=re.compile(WITH)).get_by_role("button", name="Missed").click()
    page.get_by_text(f"{first} is recorded as missed.").wait_for()

    section = page.locator("#appointments")
    section.get_by_label(re.compile("^When")).fill("2031-06-01T09:00")
    section.get_by_label(re.compile("^Kind")).select_option(label="Court date")
    section.get_by_label(re.compile("^With whom")).fill("Family court")
    section.get_by_role("button", name="Book the appointment").click()
    booked = page.get_by_text(re.compile(r"APT-\d+ is booked for 2031-06-01 09:00 UTC\."))
    second = re.findall(r"APT-\d+", booked.inner_text())[0]
    coming = page.locator("#appointments").get_by_role("row", name=re.compile("Family court"))
    assert coming.get_by_role("button", name="Attended").count() == 0  # not yet: its time
    page.locator("#appointments").get_by_label("Move to", exact=False).last.fill("2031-06-02T09:00")
    page.get_by_role("button", name=f"Reschedule {second}").click()
    page.get_by_text(
        re.compile(
            f"{second} is recorded as rescheduled. It is now APT-\\d+, 2031-06-02 09:00 UTC."
        )
    ).wait_for()
    rows = page.locator("#appointments tbody tr")
    assert rows.count() == 3
    assert "Missed" in rows.nth(0).inner_text()
    look(page, "case-appointments")
    page.close()
