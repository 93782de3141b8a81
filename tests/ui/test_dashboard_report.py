"""What a program manager reads on the Prefect dashboard, in headless Chromium at a desk's
width and a phone's: the caseload report's one page, what needs attention first (the case,
its program by label, who works it, the rule in words with what was measured against its
limit, the level, since when), notices whose deadline comes this week, then every table
in the report's own order; and a case manager's due list that says nothing is due. The
report's own content passes axe-core; no client's identity is on the page."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from casework.core.db import session_scope
from casework.flows.caseload_report import caseload_report, due_artifact_key
from casework.flows.sweeps import stalled_case_sweep
from casework.models import cases
from casework.models.codes import NoticeAction, Program
from casework.services.reports import TREND_MEASURES, tables, to_html
from casework.services.reports import caseload_report as report_now
from tests import factories
from tests.prefect_surfaces import api_post
from tests.ui.conftest import MARKS, SHOTS, sign_in
from tests.ui.desk import WIDTHS, look

pytestmark = MARKS


def _open_latest(page, stack: str, key: str) -> None:  # type: ignore[no-untyped-def]
    """An artifact's newest version, as a program manager opens it from its key's page."""
    body = {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1}
    [artifact] = api_post(stack, "artifacts/filter", body)
    page.goto(f"{stack.removesuffix('/api')}/artifacts/key/{key}")
    page.locator(
        ".artifact-timeline-item-content a, a", has_text=str(artifact["id"])[:8]
    ).first.click()


def _axe(page, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core on the report's own content (Prefect's page around it is Prefect's)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        context={"include": [["table"], ["h2"]]},
        options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    )
    return [
        f"{name} {v['id']} ({v['impact']})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_the_program_managers_page_says_what_needs_attention_first(  # type: ignore[no-untyped-def]
    browser, stack: str, tmp_path: Path
) -> None:
    number, client = factories.stalled_case(days_ago=30, program=Program.GERIATRIC)
    assert stalled_case_sweep(case_number=number, return_state=True).is_completed()
    today = date.today()
    with session_scope() as session:
        case = cases.get_case(session, number)
        notice = factories.notice(session, case, today, today, NoticeAction.DENY)
        notice.hearing_deadline = today + timedelta(days=2)
    assert caseload_report(return_state=True).is_completed()

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(f"{stack.removesuffix('/api')}/artifacts")
    sign_in(page)
    _open_latest(page, stack, "caseload-report")
    item = page.locator("li", has_text=number).first
    item.wait_for()
    assert item.inner_text().startswith(
        f"{number} (Geriatric care, {factories.STAFF}): Stage overdue, 30 days in intake "
        "(limit: 3 days in intake); level 1 (case manager) since "
    )
    due = page.locator("li", has_text="notice 1").first
    assert due.inner_text() == (
        f"{number} (Geriatric care, {factories.STAFF}): notice 1, SNAP (food assistance), "
        f"deny: 2 days left to request a hearing ({today + timedelta(days=2)})"
    )
    headings = page.locator("h2").all_inner_texts()
    expected = [table.title for table in tables(report_now(factories.now()))]
    assert [h for h in headings if h in expected] == expected  # every table, in its order
    found: list[str] = []
    SHOTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"dashboard-report-{width}.png", full_page=True)
        found += _axe(page, f"{width}px")
    assert not found, found
    for secret in (client.family_name, client.given_name, str(client.date_of_birth)):
        assert secret not in page.content()

    # The same report as the HTML page a program manager opens or prints: the same first
    # sections, the weekly trends drawn, readable at both widths.
    report = tmp_path / "report.html"
    report.write_text(to_html(report_now(factories.now())))
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(report.as_uri())
    headings = page.get_by_role("heading", level=2).all_inner_texts()
    assert headings[:3] == ["Needs attention", "Notices due within a week", "Weekly trends"]
    assert page.locator("svg.trend").count() >= len(TREND_MEASURES)
    assert page.locator("td", has_text=number).count() >= 2
    look(page, "report-html")

    # A case manager with nothing due is told so, not left without a list.
    idle = f"cm.quiet{number[-4:]}"
    from casework import services
    from casework.models.codes import StaffRole

    services.staff.add_staff(idle, StaffRole.CASE_MANAGER, [Program.HOUSING], None, "tests")
    assert caseload_report(return_state=True).is_completed()
    _open_latest(page, stack, due_artifact_key(idle))
    page.get_by_text(f"Nothing due from {idle} by ").wait_for()
    page.close()
