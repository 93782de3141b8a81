"""The Prefect UI's Resume dialog, as a case manager uses it: headless Chromium (Debian's
package) driven by Playwright, against the session's `casework up`. Skipped, with the
reason printed, where no Chromium is installed."""

from __future__ import annotations

from sqlalchemy import select

from casework.core.db import session_scope
from casework.models import audit, cases
from casework.models.codes import Stage
from casework.models.orm import Assessment
from tests import factories
from tests.polling import wait_for
from tests.prefect_surfaces import api_post
from tests.ui.conftest import MARKS, SHOTS, sign_in

pytestmark = MARKS


def _open_dialog(browser, api_url: str, flow_run_id: str, heading: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1000, "height": 3400})
    page.set_default_timeout(60_000)
    # Signed in on the dashboard first, as docs/operators.md says: a deep link opened before
    # signing in shows Prefect's 404 page ("Authentication failed"), not its login page.
    page.goto(f"{api_url.removesuffix('/api')}/runs")
    sign_in(page)
    return page, resume_dialog(page, api_url.removesuffix("/api"), flow_run_id, heading)


def resume_dialog(page, dashboard: str, flow_run_id: str, heading: str):  # type: ignore[no-untyped-def]
    """The run's page on the dashboard at `dashboard`, its Resume dialog opened."""
    page.goto(f"{dashboard}/runs/flow-run/{flow_run_id}")
    page.get_by_role("button", name="Resume").first.click()
    dialog = page.locator(".p-modal__card").first
    dialog.get_by_text(heading).first.wait_for()
    return dialog


def fill_assessment(page, dialog, case_number: str, named: str) -> None:  # type: ignore[no-untyped-def]
    """An assessment given in the dialog, "Submitted by" `named`: housing in crisis (1),
    the rest 3, the client there, family support a strength."""
    _choose(page, _field(page, dialog, "Submitted by"), named)
    scores = _field(page, dialog, "Needs: each domain").locator("input")
    assert scores.count() == 10
    for index in range(10):
        scores.nth(index).fill("1" if index == 0 else "3")
    _field(page, dialog, "Client participated").get_by_role("switch").click()
    _choose(page, _field(page, dialog, "Strengths"), "Family support")
    # A list of several choices stays open after Escape: a click elsewhere closes it.
    dialog.get_by_text(f"Assessment form for {case_number}").first.click()


def _field(page, dialog, title: str):  # type: ignore[no-untyped-def]
    label = page.locator(".schema-form-property__label", has_text=title)
    return dialog.locator(".schema-form-property").filter(has=label).last


def _choose(page, field, option: str) -> None:  # type: ignore[no-untyped-def]
    control = field.locator(".p-select-button__control").first
    control.click()
    if page.get_by_role("option", name=option).count() == 0:
        control.press("ArrowDown")  # the list opens on a key where a click only focuses
    page.get_by_role("option", name=option).first.click()
    page.keyboard.press("Escape")


def test_a_case_manager_resumes_a_waiting_case_from_its_dialog(browser, stack: str) -> None:  # type: ignore[no-untyped-def]
    case_number, _ = factories.case_waiting_at(Stage.ASSESSMENT)
    waiting = factories.where_it_waits(case_number)
    SHOTS.mkdir(exist_ok=True)
    page, dialog = _open_dialog(
        browser, stack, waiting.flow_run_id, f"Assessment form for {case_number}"
    )
    dialog.get_by_text("Homeless tonight").wait_for()  # the matrix's crisis screen, nested
    text = dialog.inner_text()
    assert "Housing program" in text
    assert "Resume Flow Run" in text  # Prefect's own frame; the form names stage and case
    assert "Homeless tonight" in text
    screen = text.split("Crisis screen")[1].split("Strengths")[0]
    assert "(Optional)" not in screen, "crisis flags always answered"

    fill_assessment(page, dialog, case_number, "cm.park")
    dialog.screenshot(path=SHOTS / "assessment-dialog.png")
    dialog.get_by_role("button", name="Submit").click()

    def moved() -> bool:
        with session_scope(read_only=True) as session:
            return cases.get_case(session, case_number).stage == Stage.PLAN.value

    wait_for("the case to move to plan", moved, timeout=120)
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        recorded = session.scalars(select(Assessment).where(Assessment.case_id == case.id)).one()
        assert recorded.assessed_by == "cm.park"
        assert recorded.strengths == ["family_support"]  # chosen by label, kept as its code
        assert recorded.scores["housing"] == 1
        # Audited as a Prefect UI form, by its roster-checked "Submitted by".
        [moved_row] = [
            e
            for e in audit.for_case(session, case)
            if e.action == "stage_moved" and e.detail["stage_key"] == waiting.stage_key
        ]
        assert (moved_row.actor, moved_row.detail["source"]) == ("cm.park", "prefect-ui")

    # The plan's dialog: the domain scored 1 must have a goal, and objectives show theirs.
    page.close()
    waiting = wait_for(
        "the run to wait for the plan",
        lambda: (w := factories.where_it_waits(case_number)).stage_key.startswith("plan") and w,
    )
    page, dialog = _open_dialog(browser, stack, waiting.flow_run_id, f"Plan form for {case_number}")
    assert (
        "needs a goal for every domain the assessment found in crisis: Housing"
        in dialog.inner_text()
    )
    dialog.get_by_role("button", name="Add item").first.click()
    _choose(
        page,
        _field(page, dialog, "Objective"),
        "Housing: secure permanent housing (lease signed and moved in)",
    )
    dialog.screenshot(path=SHOTS / "plan-dialog.png")
    page.close()


def test_a_referral_goes_to_a_provider_chosen_in_its_dialog(browser, stack: str) -> None:  # type: ignore[no-untyped-def]
    """The dialog names the directory's providers for the program, and the need behind
    the referral may be left empty (not Prefect's "str | None" picker)."""
    from datetime import date

    from casework import services
    from casework.partner import PartnerAgency
    from tests.partners import case_at_referral, provider, referrals_of

    agency = PartnerAgency("agency-token-123").start()
    try:
        key = provider(agency, "accept")  # in the directory before the case waits for it
        case_number, _ = case_at_referral()
        services.referrals.give_consent(case_number, key, date.today(), "tester")
        waiting = factories.where_it_waits(case_number)
        page, dialog = _open_dialog(
            browser, stack, waiting.flow_run_id, f"Referral form for {case_number}"
        )
        _choose(page, _field(page, dialog, "Submitted by"), "cm.park")
        dialog.get_by_role("button", name="Add item").first.click()
        _choose(page, _field(page, dialog, "Service"), "Housing search")
        provider_field = _field(page, dialog, "Provider")
        assert key in provider_field.inner_text()
        provider_field.locator("textarea, input").first.fill(key)
        assert "str" not in _field(page, dialog, "Reason").inner_text()
        dialog.screenshot(path=SHOTS / "referral-dialog.png")
        dialog.get_by_role("button", name="Submit").click()
        [referral] = wait_for(
            "the referral to be sent", lambda: referrals_of(case_number), timeout=120
        )
        assert (referral.provider, referral.service, referral.reason) == (
            key,
            "housing_search",
            None,
        )
        wait_for("the partner to receive it", lambda: agency.referrals, timeout=120)
        page.close()
    finally:
        agency.stop()


def test_a_case_managers_due_list_reads_on_the_dashboard(browser, stack: str) -> None:  # type: ignore[no-untyped-def]
    """The daily report's `due-<staff>` artifact, as a program manager opens it: a list of
    dates, case numbers, programs by their labels and what to do; no client identity."""
    from casework.flows.caseload_report import caseload_report

    with session_scope() as session:
        case = factories.new_case(session)
        case.case_manager = "cm.busy"
        number, name = case.case_number, case.client.family_name
    assert caseload_report(return_state=True).is_completed()
    body = {"artifacts": {"key": {"any_": ["due-cm-busy"]}}, "sort": "CREATED_DESC", "limit": 1}
    [artifact] = api_post(stack, "artifacts/filter", body)
    latest = str(artifact["id"])
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.set_default_timeout(60_000)
    page.goto(f"{stack.removesuffix('/api')}/artifacts")
    sign_in(page)
    # The key's page is a timeline of its versions; the newest opens as the table.
    page.goto(f"{stack.removesuffix('/api')}/artifacts/key/due-cm-busy")
    page.locator(".artifact-timeline-item-content a, a", has_text=latest[:8]).first.click()
    item = page.locator("li", has_text=number).first
    item.wait_for()
    assert "Housing · Intake form: finish intake" in item.inner_text()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "due-list.png", full_page=True)
    assert name not in page.content()
    page.close()
