"""A household case on the desk, in headless Chromium: its members, each with their client
number, date of birth, relationship to the head and since when, and who left; in the
service plan the desk prints. Looked at, at 1440 and 390 px, with axe-core."""

from __future__ import annotations

import re
from datetime import date

from casework import services
from casework.models.codes import HouseholdRelationship
from tests import factories
from tests.ui.conftest import MARKS
from tests.ui.desk import DESK, look, signed_in_page

pytestmark = MARKS
PASSWORD = "a long desk password 4 tests"


def test_a_case_manager_sees_the_household_of_a_case(  # type: ignore[no-untyped-def]
    browser, stack: str
) -> None:
    number, head, (child, partner) = factories.household_case(
        HouseholdRelationship.CHILD, HouseholdRelationship.SPOUSE_PARTNER
    )
    members = services.households.view(number, "tester").stays
    services.households.leave(number, members[2].client_number, "tester", date.today())
    page = signed_in_page(browser, "cm.tester", PASSWORD)
    page.goto(f"{DESK}/cases/{number}")
    section = page.locator("#household")
    assert section.get_by_role("heading", name="Household HH-").is_visible()
    items = section.locator("li").all_inner_texts()
    assert items[0].startswith(
        f"{head.family_name}, {head.given_name} ({members[0].client_number})"
    )
    assert items[0].endswith(f"Self (head of household), since {date.today()}")
    assert items[1] == (
        f"{child.family_name}, {child.given_name} ({members[1].client_number}), born "
        f"{child.date_of_birth}: Head of household's child, since {date.today()}"
    )
    assert len(items) == 2
    assert (
        f"Left the household: {partner.family_name}, {partner.given_name}" in section.inner_text()
    )
    look(page, "case-household")
    page.close()


def test_a_case_manager_records_a_members_hmis_answers(  # type: ignore[no-untyped-def]
    browser, stack: str
) -> None:
    """Housing is HUD-funded: each current member but the client has a form of HMIS's start
    questions in the household section; a bad answer is refused there, naming it, with
    what was typed kept; a good one is recorded and shown."""
    number, _, (child,) = factories.household_case(HouseholdRelationship.CHILD)
    member = services.households.view(number, "tester").stays[1].client_number
    page = signed_in_page(browser, "cm.tester", PASSWORD)
    page.goto(f"{DESK}/cases/{number}")
    section = page.locator("#household")
    forms = section.locator("details.member-answers")
    assert forms.count() == 1  # the child's; the client answers in the intake details
    forms.first.locator("summary").click()
    assert f"({member})" in forms.first.locator("summary").inner_text()
    forms.first.get_by_label(re.compile("White$")).check()
    forms.first.get_by_label(re.compile(r"^Sex \(HMIS 3\.06\)")).select_option(label="Male")
    forms.first.get_by_label(re.compile(r"^Total monthly income")).fill("-5")
    forms.first.get_by_role("button", name=f"Record {child.given_name}'s answers").click()
    section = page.locator("#household")
    section.get_by_text("Input should be greater than or equal to 0.").wait_for()
    assert section.locator("details.member-answers[open]").count() == 1
    kept = section.locator("details.member-answers").first
    assert kept.get_by_label(re.compile(r"^Total monthly income")).input_value() == "-5"
    assert kept.get_by_label(re.compile("White$")).is_checked()
    kept.get_by_label(re.compile(r"^Total monthly income")).fill("0")
    kept.get_by_role("button", name=f"Record {child.given_name}'s answers").click()
    page.get_by_text(re.compile(f"The HMIS answers of {member} are recorded")).wait_for()
    section = page.locator("#household")
    summary = section.locator("details.member-answers summary").first
    assert summary.inner_text().endswith(": recorded")
    summary.click()
    shown = section.locator("details.member-answers dl").first.inner_text()
    assert "Sex (HMIS 3.06)\nMale" in shown
    assert "White\nyes" in shown
    look(page, "case-household-member-answers")
    page.close()
