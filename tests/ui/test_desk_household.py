"""A household case on the desk, in headless Chromium: its members, each with their client
number, date of birth, relationship to the head and since when, and who left; in the
service plan the desk prints. Looked at, at 1440 and 390 px, with axe-core."""

from __future__ import annotations

from datetime import date

from casework import services
from casework.models.codes import HouseholdRelationship, Program
from tests import factories
from tests.ui.conftest import MARKS
from tests.ui.desk import DESK, look, signed_in_page

pytestmark = MARKS
PASSWORD = "a long desk password 4 tests"


def test_a_case_manager_sees_the_household_of_a_case(  # type: ignore[no-untyped-def]
    browser, stack: str
) -> None:
    head, child, partner = factories.client_in(), factories.client_in(), factories.client_in()
    position, _ = services.cases.open_case(
        head,
        Program.HOUSING,
        "cm.tester",
        "tester",
        members=[
            (HouseholdRelationship.CHILD, child),
            (HouseholdRelationship.SPOUSE_PARTNER, partner),
        ],
    )
    number = position.case_number
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
