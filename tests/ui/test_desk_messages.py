"""A case manager records how to reach a client and their consent to messages on the
desk, in headless Chromium: a bad email address refused in the section with nothing
recorded; an email and consent recorded; the client's messages listed with what became of
each; consent withdrawn. Looked at, at 1440 and 390 px, with axe-core."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from casework.core.db import session_scope
from casework.core.settings import get_settings
from casework.models import messages
from casework.models.codes import ContactPreference, Program
from casework.models.orm import ContactConsent
from casework.models.programs import programs
from tests import factories
from tests.ui.conftest import MARKS
from tests.ui.desk import DESK, look, signed_in_page

pytestmark = MARKS
PASSWORD = "a long desk password 4 tests"


def test_a_case_manager_records_consent_to_messages_and_sees_them(  # type: ignore[no-untyped-def]
    browser, stack: str
) -> None:
    client = factories.client_in().model_copy(
        update={"contact_preference": ContactPreference.EMAIL}
    )
    with session_scope() as session:
        case = factories.new_case(session, client=client)
        number, client_id, case_id = case.case_number, case.client_id, case.id
        factories.walk_to(session, case, factories.Stage.MONITORING, datetime.now(UTC))
    page = signed_in_page(browser, "cm.tester", PASSWORD)
    page.goto(f"{DESK}/cases/{number}")
    section = page.locator("#messages")
    section.get_by_text("No consent to messages recorded.").wait_for()
    assert "No messages go to this client" in section.inner_text()

    section.get_by_label(re.compile("^Email address")).fill("not-an-address")
    section.get_by_label("The client consents to messages by").select_option(label="Email")
    section.get_by_role("button", name="Record").click()
    section = page.locator("#messages")
    section.get_by_text("'not-an-address' is not an email address").wait_for()
    assert section.get_by_label(re.compile("^Email address")).input_value() == "not-an-address"
    with session_scope() as session:  # nothing recorded: not the consent either
        assert (
            session.scalars(
                select(ContactConsent).where(ContactConsent.client_id == client_id)
            ).all()
            == []
        )
    look(page, "case-messages-refused")

    section.get_by_label(re.compile("^Email address")).fill("client@example.org")
    section.get_by_role("button", name="Record").click()
    page.get_by_text(re.compile(r"Email recorded; consent to email messages from \d{4}")).wait_for()
    section = page.locator("#messages")
    assert "Reminders and check-ins go by email" in section.inner_text()

    settings = get_settings()
    interval = programs()[Program.HOUSING].contact_interval_days
    with session_scope() as session:  # the check-in falls due: a sweep would keep it
        [kept] = messages.plan(
            session,
            datetime.now(UTC) + timedelta(days=interval - 1),
            programs(),
            settings.zone,
            settings.quiet[1],
            case_id=case_id,
        ).kept
        message = kept.number
    page.reload()
    section = page.locator("#messages")
    row = section.get_by_role("row", name=re.compile(str(message)))
    assert "Check-in" in row.inner_text()
    assert "Pending" in row.inner_text()
    look(page, "case-messages")
    section.get_by_role("button", name="Withdraw consent to email").click()
    page.get_by_text("Consent to email messages withdrawn.").wait_for()
    assert "withdrawn" in page.locator("#messages").inner_text()
    page.close()
