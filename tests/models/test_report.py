"""The program manager's figures, checked against a caseload built here, and the HTML
report parsed back. Runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from casework.models import cases, consents, escalations, referrals
from casework.models.clients import create_client
from casework.models.codes import BenefitKind, NoticeAction, Program, ReferralStatus, Stage, Watch
from casework.models.orm import PlanGoal
from casework.models.programs import programs
from casework.models.report import build, percentile
from casework.models.rules import Scope
from casework.services.reports import to_html, to_markdown, to_text
from tests import factories

DAY0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AS_OF = DAY0 + timedelta(days=20)


def _caseload(session: Session) -> None:
    factories.case_opened_at(session, DAY0)  # stuck at intake
    factories.walk_to(session, factories.case_opened_at(session, DAY0), Stage.ASSESSMENT, DAY0)
    referred = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.REFERRAL, DAY0
    )
    factories.provider(session, "hope-housing")
    consents.give(session, referred, "*", DAY0.date(), "cm.tester", DAY0)
    factories.move(session, referred, factories.referral_to("hope-housing"), DAY0)
    [referral] = referrals.for_case(session, referred)
    referral.sent_at = DAY0
    referrals.set_status(
        session, referral, ReferralStatus.ACCEPTED, None, "partner", DAY0 + timedelta(days=2)
    )
    from casework.models import stage_events

    stage_events.record_stage(
        session,
        referred.case_number or "",
        1,
        referred.stage_key,
        None,
        "system",
        DAY0,
        answer=factories.Trigger.ACCEPTED,
    )
    closed = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.CLOSURE, DAY0
    )
    session.execute(update(PlanGoal).values(status="met"))  # every plan goal met, for the count
    factories.move(session, closed, factories.closure(), DAY0 + timedelta(days=5))
    for _ in range(26):  # one case manager over the housing program's recommended 25
        client = create_client(session, factories.client_in())
        cases.open_case(session, client, Program.HOUSING, "cm.busy", "cm.busy", AS_OF)
    escalations.sweep(session, Watch.STALLED_CASES, Scope(AS_OF), programs())


def test_report_figures_match_the_caseload(session: Session) -> None:
    _caseload(session)
    report = build(session, AS_OF, programs())
    assert {(r["stage"], r["cases"]) for r in report.by_stage} == {
        ("intake", 27),
        ("assessment", 1),
        ("monitoring", 1),
    }
    intake = next(r for r in report.days_in_stage if r["stage"] == "intake")
    assert (intake["cases"], intake["sla_days"], intake["over_sla"], intake["p90_days"]) == (
        27,
        2,
        1,
        0.0,
    )
    assessment = next(r for r in report.days_in_stage if r["stage"] == "assessment")
    assert (assessment["median_days"], assessment["over_sla"]) == (20.0, 1)
    levels = {r["level"]: r["open"] for r in report.escalations}
    assert levels[1] == 3  # intake and assessment overdue, monitoring without contact
    assert {"status": "accepted", "referrals": 1} in report.referrals
    assert report.partners == [
        {"provider": "hope-housing", "answered": 1, "median_days": 2.0, "slowest_days": 2.0}
    ]
    assert [r["level"] for r in report.escalations] == [1, 2, 3, 0]  # warnings last
    outcomes = {(r["window_days"], r["outcome"]): r["cases"] for r in report.outcomes}
    # Each counted in cases: one case closed, its goals (in every plan version) met once.
    assert outcomes[(30, "goals_met")] == 1
    assert outcomes[(30, "goal_met")] == 1
    assert outcomes[(30, "housing_secured")] == 1
    busy = next(r for r in report.caseloads if r["case_manager"] == "cm.busy")
    assert (busy["open_cases"], busy["recommended"], busy["state"]) == (26, 25, "over recommended")


class _Figures(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bars: dict[str, int] = {}
        self.cells: list[str] = []
        self.tags: set[str] = set()
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        if tag == "g" and found.get("class") == "bar":
            self.bars[found["data-stage"] or ""] = int(found["data-cases"] or 0)
        self._in_cell = tag == "td"

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data)
            self._in_cell = False


def test_the_html_report_shows_the_same_figures_with_a_chart(session: Session) -> None:
    _caseload(session)
    page = _Figures()
    page.feed(to_html(build(session, AS_OF, programs())))
    assert "svg" in page.tags
    assert "script" not in page.tags
    assert page.bars == {
        "intake": 27,
        "assessment": 1,
        "plan": 0,
        "referral": 0,
        "monitoring": 1,
        "closure": 0,
    }
    assert "cm.busy" in page.cells
    assert "over recommended" in page.cells
    assert "hope-housing" in page.cells
    assert "Housing" in page.cells  # programs and stages by their labels
    assert "housing" not in page.cells


def test_the_text_report_reads_as_prose_not_code(session: Session) -> None:
    """Readable headers, levels in order with the warnings last, days to one decimal
    everywhere, and outcomes that say what they count."""
    _caseload(session)
    text = to_text(build(session, AS_OF, programs()))
    assert "median_days" not in text
    assert "Median days" in text
    breaches = text.split("Open breaches by highest level:")[1].split("\n\n")[0]
    levels = [
        line.split("  ")[1]
        for line in breaches.splitlines()
        if line.startswith("  ")
        and (
            "(case manager)" in line
            or "(supervisor)" in line
            or "(program manager)" in line
            or "Warnings" in line
        )
    ]
    assert levels == ["1 (case manager)", "2 (supervisor)", "3 (program manager)", "Warnings"]
    days = text.split("Days in stage against the SLA:")[1].split("\n\n")[0]
    assert re.search(r"Intake\s+27\s+0\.0\s+0\.0\s+2\s+1", days), days
    assert "Closed: goals met" in text
    assert "Closed with a plan goal met" in text
    assert "goals_met" not in text


def test_what_needs_attention_comes_first_with_what_was_measured(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The program manager's first question: which cases are stalled, by how much against
    their limit, who works them, since when; and which notices' deadlines come this week."""
    _caseload(session)
    stuck = factories.walk_to(session, factories.case_opened_at(session, DAY0), Stage.PLAN, DAY0)
    late = []
    for days_left, benefit in ((2, BenefitKind.SNAP), (6, BenefitKind.WIC), (20, BenefitKind.SSI)):
        notice = factories.notice(
            session, stuck, DAY0.date(), DAY0.date(), NoticeAction.DENY, benefit, at=DAY0
        )
        notice.hearing_deadline = AS_OF.date() + timedelta(days=days_left)
        late.append(notice.number)
    session.flush()
    report = build(session, AS_OF, programs())
    assert list(report.sections())[:2] == ["needs attention", "notices due within a week"]
    housing = programs()[Program.HOUSING]
    overdue = {
        (b["rule"], b["what"]): b for b in report.needs_attention if b["rule"] == "stage_overdue"
    }
    limit = housing.sla_days[Stage.ASSESSMENT]
    assessment = overdue[
        ("stage_overdue", f"20 days in assessment (limit: {limit} days in assessment)")
    ]
    assert assessment["case_manager"] == factories.STAFF
    assert assessment["program"] == "housing"
    assert assessment["level"] >= 1
    assert assessment["since"] == AS_OF.date()
    assert [b["level"] for b in report.needs_attention] == sorted(
        (b["level"] for b in report.needs_attention), reverse=True
    )
    assert "no_contact" in {b["rule"] for b in report.needs_attention}
    due = [(n["notice"], n["days_left"], n["within_days"]) for n in report.notices_due]
    assert due == [(late[0], 2, 3), (late[1], 6, 7)]  # the one 20 days off is not due yet
    assert report.notices_due[0]["deadline_kind"] == "hearing_request"

    text = to_text(report)
    first = text.split("Needs attention:")[1].split("\n\n")[0]
    assert f"20 days in assessment (limit: {limit} days in assessment)" in first
    assert "Stage overdue" in first  # the rule in words
    notices = text.split("Notices due within a week:")[1].split("\n\n")[0]
    assert "SNAP (food assistance)" in notices
    assert "to request a hearing" in notices
    assert "3 days" in notices
    # A long list: the first on the page, every one in the table artifact.
    from casework.services import reports

    monkeypatch.setattr(reports, "LISTED_ON_THE_PAGE", 1)
    page = to_markdown(report).split("## Needs attention")[1].split("## ")[0]
    assert page.count("\n- **CASE-") == 1
    more = len(report.needs_attention) - 1
    assert f"… and {more} more: every one is in the `report-needs-attention` artifact." in page


def test_weekly_trends_count_each_week_as_it_happened(session: Session) -> None:
    """Four weeks ending with AS_OF's (Monday to Sunday): four cases opened in the week of
    DAY0, one closed in it with its housing goal met and one referral answered in time;
    26 opened and three breaches raised in the last week."""
    _caseload(session)
    report = build(session, AS_OF, programs(), weeks=4)
    weeks = [str(w["week"]) for w in report.trends]
    assert weeks == ["2026-02-23", "2026-03-02", "2026-03-09", "2026-03-16"]

    def column(key: str) -> list[int]:
        return [w[key] for w in report.trends]

    assert column("open_cases") == [0, 3, 3, 29]
    assert column("open_cases")[-1] == sum(r["cases"] for r in report.by_stage)
    assert column("new_cases") == [0, 4, 0, 26]
    assert column("closed") == [0, 1, 0, 0]
    assert column("housed") == [0, 1, 0, 0]
    assert column("referrals_answered") == [0, 1, 0, 0]
    assert column("answered_in_time") == [0, 1, 0, 0]
    assert column("breaches") == [0, 0, 0, 3]
    assert report.closures_by_week == [
        {"week": date(2026, 3, 2), "outcome": "goals_met", "cases": 1}
    ]
    # On the dashboard: a sparkline per measure, first week and this week.
    page = to_markdown(report)
    assert "| New cases | ▁▂▁█ | 0 | 26 |" in page
    assert "| Referrals answered in time (of all answered) | ▁█▁▁ | 0 of 0 | 0 of 0 |" in page
    assert "| Closed: goals met | ▁█▁▁ | 0 | 0 |" in page
    # In the HTML report: a line chart per measure, each point the week's value.
    html = to_html(report)
    opened = html.split('data-title="New cases"')[1].split("</svg>")[0]
    assert re.findall(r'data-value="(\d+)"', opened) == ["0", "4", "0", "26"]
    assert 'aria-label="New cases: 0 in the week of 2026-02-23, 26 this week"' in html


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9.0
    assert percentile([5], 0.9) == 5.0


def test_the_change_from_first_to_latest_assessment_is_reported_per_instrument(
    session: Session,
) -> None:
    """Per program, instrument and measure: the cases assessed twice, their mean first and
    latest scores, and how many improved in the measure's own direction. Counts only."""
    from casework.models.assessments import record_assessment

    at = AS_OF - timedelta(days=40)
    for first, latest in ((1, 4), (2, 2), (3, 1)):
        case = factories.new_case(session)
        record_assessment(session, case, "assessment-1", factories.assessment(housing=first), at)
        later = factories.assessment(housing=latest)
        record_assessment(session, case, "assessment-2", later, at + timedelta(days=30))
    once = factories.new_case(session)  # assessed once: no change to report
    record_assessment(session, once, "assessment-1", factories.assessment(housing=5), at)
    rows = build(session, AS_OF, programs()).assessed_change
    [housing] = [r for r in rows if r["measure"] == "domain:housing"]
    assert housing == {
        "program": "housing",
        "instrument": "self_sufficiency_matrix v1",
        "measure": "domain:housing",
        "cases": 3,
        "first_mean": 2.0,
        "latest_mean": 2.33,
        "improved": 1,
        "same": 1,
        "worsened": 1,
    }
    [vulnerable] = [r for r in rows if r["measure"] == "vulnerable_domains"]
    # Domains at 2 or lower, a count that is better as it falls: 1 -> 4 takes housing out
    # (improved), 2 -> 2 keeps it (same), 3 -> 1 puts it in (worsened).
    assert (vulnerable["improved"], vulnerable["same"], vulnerable["worsened"]) == (1, 1, 1)
    text = to_text(build(session, AS_OF, programs()))
    assert "Change from first to latest assessment:" in text
    assert "self_sufficiency_matrix v1" in text
