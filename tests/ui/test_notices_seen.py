"""What people see of a notice of adverse action, in headless Chromium: the case card on
the Prefect dashboard (the notice and its deadline, no identity), the hearing-request
letter as it prints, and the program manager's HTML report with the notice figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from casework import services
from casework.models.codes import BenefitKind, NoticeAction, NoticeReason, Stage
from casework.services.documents import produce
from casework.services.reports import caseload_report, to_html
from tests import factories
from tests.polling import wait_for
from tests.prefect_surfaces import api_post
from tests.ui.conftest import MARKS, SHOTS, sign_in

pytestmark = MARKS

TODAY = date.today()


def test_a_notice_reads_on_the_case_card_in_its_letter_and_in_the_report(  # type: ignore[no-untyped-def]
    browser, stack: str, tmp_path: Path
) -> None:
    number, client = factories.case_waiting_at(Stage.MONITORING)
    services.benefits.record_benefit(
        number, BenefitKind.CHILDCARE_SUBSIDY, TODAY + timedelta(90), "tester"
    )
    result = services.benefits.record_notice(
        number,
        BenefitKind.CHILDCARE_SUBSIDY,
        NoticeAction.DISCONTINUE,
        NoticeReason.MISSING_VERIFICATION,
        TODAY,
        TODAY + timedelta(days=12),
        "tester",
    )
    assert result.warning is None
    deadline = str(result.notice.aid_deadline)

    def card() -> dict | None:  # type: ignore[type-arg]
        body = {
            "artifacts": {"key": {"any_": [number.lower()]}},
            "sort": "CREATED_DESC",
            "limit": 1,
        }
        found = api_post(stack, "artifacts/filter", body)
        return found[0] if found and "notice 1" in found[0]["data"] else None

    artifact = wait_for("the case card with the notice", card)
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.set_default_timeout(60_000)
    page.goto(f"{stack.removesuffix('/api')}/artifacts")
    sign_in(page)
    page.goto(f"{stack.removesuffix('/api')}/artifacts/key/{number.lower()}")
    page.locator("a", has_text=str(artifact["id"])[:8]).first.click()
    line = page.locator("li", has_text="notice 1").first
    line.wait_for()
    text = line.inner_text()
    assert "Childcare subsidy discontinue" in text
    assert f"no hearing requested; aid-continuing deadline {deadline}" in text
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "case-card-notice.png", full_page=True)
    assert client.family_name not in page.content()

    # The letter the client signs: their name as the form asks (family name first), the
    # notice's facts, and the dates, laid out as a page.
    letter = produce(number, "hearing-request", "html", "tester", reference="1")
    page.goto(letter.path.as_uri())
    assert page.get_by_role("heading", name="Request for a fair hearing").is_visible()
    assert page.get_by_text(f"{client.family_name}, {client.given_name}").is_visible()
    row = page.locator("tr", has_text="Last day for benefits to continue")
    assert deadline in row.inner_text()
    assert page.get_by_text("I ask that my benefits continue unchanged").is_visible()
    page.screenshot(path=SHOTS / "hearing-request.png", full_page=True)

    # The program manager's report: notices open, and the rate of requests by the deadline.
    report = tmp_path / "report.html"
    report.write_text(to_html(caseload_report(datetime.now(UTC))))
    page.goto(report.as_uri())
    heading = page.get_by_role("heading", name="Notices of adverse action")
    assert heading.is_visible()
    table = page.locator("h2:has-text('Notices of adverse action') + table")
    assert "Requested in time (%)" in table.inner_text()
    assert "No hearing requested yet" in table.inner_text()
    page.screenshot(path=SHOTS / "report-notices.png", full_page=True)
    assert client.family_name not in page.content()
    page.close()
