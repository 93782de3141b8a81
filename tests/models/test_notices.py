"""Notices of adverse action in the store: the deadlines per benefit, the benefits watch's
ladder climbing to them on the configured days (moved through time with `as_of`), what a
hearing request, a decision not to appeal and each outcome do to the benefit and the
ladder, the guard on monitoring after an upheld notice, and the report's figures. Runs on
SQLite and, when CASEWORK_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import benefits, escalations, notices, plans
from casework.models.cases import CaseError
from casework.models.codes import (
    BenefitKind,
    HearingDecision,
    NeedsDomain,
    NoticeAction,
    Stage,
    Trigger,
    Watch,
)
from casework.models.facts import facts
from casework.models.lifecycle import TransitionNotAllowed, check_transition
from casework.models.notices import DEFAULT_NOTICES_FILE, load_notice_rules
from casework.models.orm import AdverseNotice, Benefit, Case, Escalation
from casework.models.programs import ProgramError, programs
from casework.models.report import build
from casework.models.rules import Scope
from tests import factories

NOTICE_DAY = date(2026, 3, 2)
RULES = load_notice_rules(DEFAULT_NOTICES_FILE)


def on(day: date) -> datetime:
    return datetime.combine(day, time(9, 30), tzinfo=UTC)


def day(n: int) -> date:
    return NOTICE_DAY + timedelta(days=n)


def snap_case(session: Session, stage: Stage = Stage.ASSESSMENT) -> Case:
    case = factories.walk_to(
        session, factories.case_opened_at(session, on(day(-30))), stage, on(day(-30))
    )
    benefits.record_benefit(session, case, BenefitKind.SNAP, day(120), "cm.a", on(day(-30)))
    return case


def record(
    session: Session,
    case: Case,
    action: NoticeAction = NoticeAction.DISCONTINUE,
    effective: int = 14,
) -> AdverseNotice:
    return factories.notice(session, case, NOTICE_DAY, day(effective), action, rules=RULES)


def sweep(session: Session, when: date, case: Case | None = None) -> None:
    scope = Scope(on(when), case.id if case else None)
    escalations.sweep(session, Watch.BENEFITS, scope, programs())


def rungs(session: Session, case: Case) -> list[tuple[int, str, bool]]:
    """(level, recipient, still open) of the case's notice escalations, in order."""
    rows = session.scalars(
        select(Escalation)
        .where(Escalation.case_id == case.id, Escalation.rule == "adverse_notice")
        .order_by(Escalation.level)
    )
    return [(row.level, row.recipient, row.resolved_at is None) for row in rows]


@pytest.mark.parametrize(
    ("benefit", "action", "effective", "aid", "hearing"),
    [
        # Before the effective date, or within 10 days of the notice: the later.
        (BenefitKind.SNAP, NoticeAction.DISCONTINUE, 14, 13, 90),
        (BenefitKind.SNAP, NoticeAction.REDUCE, 5, 10, 90),
        (BenefitKind.MEDICAID, NoticeAction.DISCONTINUE, 10, 10, 90),
        (BenefitKind.SSI, NoticeAction.REDUCE, 10, 15, 65),
        (BenefitKind.WIC, NoticeAction.DISCONTINUE, 15, 15, 60),
        # A denial has no aid to continue; nor, here, does unemployment insurance.
        (BenefitKind.SNAP, NoticeAction.DENY, 0, None, 90),
        (BenefitKind.UNEMPLOYMENT, NoticeAction.DISCONTINUE, 10, None, 10),
        # The aid deadline never passes the hearing deadline (a voucher's 10 days).
        (BenefitKind.HOUSING_VOUCHER, NoticeAction.DISCONTINUE, 30, 10, 10),
    ],
)
def test_the_deadlines_follow_the_shipped_defaults(
    benefit: BenefitKind, action: NoticeAction, effective: int, aid: int | None, hearing: int
) -> None:
    due = notices.deadlines(RULES, benefit, action, NOTICE_DAY, day(effective))
    assert due.aid == (day(aid) if aid is not None else None)
    assert due.hearing == day(hearing)


def test_an_unanswered_notice_climbs_on_the_days_before_its_aid_deadline(
    session: Session,
) -> None:
    case = snap_case(session)
    notice = record(session, case)  # effective day 14: aid-continuing deadline day 13
    assert notice.aid_deadline == day(13)
    sweep(session, NOTICE_DAY, case)  # recording sweeps the case at once
    assert rungs(session, case) == [(1, case.case_manager, True)]
    sweep(session, day(9))  # 4 days left: still the case manager's
    assert len(rungs(session, case)) == 1
    sweep(session, day(10))  # 3 days before: the supervisor
    assert rungs(session, case)[-1] == (2, "sup.housing", True)
    sweep(session, day(11))
    assert len(rungs(session, case)) == 2
    sweep(session, day(12))  # 1 day before: the program manager
    assert rungs(session, case)[-1] == (3, "pm.housing", True)
    sweep(session, day(40))  # past the deadline, no request: it stays at the top
    assert [(level, still) for level, _, still in rungs(session, case)] == [
        (1, True),
        (2, True),
        (3, True),
    ]
    row = session.scalars(
        select(Escalation).where(Escalation.case_id == case.id, Escalation.level == 1)
    ).one()
    assert row.threshold == f"hearing requested by {day(13)} (aid-continuing deadline)"
    assert row.subject == "notice 1: snap discontinue"


def test_a_notice_recorded_close_to_its_deadline_tells_every_rung_at_once(
    session: Session,
) -> None:
    case = snap_case(session)
    record(session, case, effective=10)  # aid deadline day 10
    sweep(session, day(9), case)  # recorded late: 1 day left
    assert [level for level, _, _ in rungs(session, case)] == [1, 2, 3]


def test_the_ladder_days_are_configurable(session: Session, tmp_path: Path) -> None:
    text = DEFAULT_NOTICES_FILE.read_text()
    configured = tmp_path / "notices.toml"
    configured.write_text(
        text.replace("supervisor_days_before = 3", "supervisor_days_before = 6").replace(
            "program_manager_days_before = 1", "program_manager_days_before = 4"
        )
    )
    ladder = load_notice_rules(configured).ladder
    assert [ladder.level(left) for left in (7, 6, 5, 4, 0, -3)] == [1, 2, 2, 3, 3, 3]

    bad = tmp_path / "bad.toml"
    bad.write_text(
        text.replace("program_manager_days_before = 1", "program_manager_days_before = 9")
    )
    with pytest.raises(ProgramError, match="CASEWORK_NOTICES_FILE: .*ladder: .*more than"):
        load_notice_rules(bad)
    missing = tmp_path / "missing.toml"
    missing.write_text(text.split("[benefits.unemployment]")[0])
    with pytest.raises(ProgramError, match="benefits lacks unemployment"):
        load_notice_rules(missing)


def test_a_hearing_requested_in_time_keeps_aid_and_takes_the_notice_off_the_ladder(
    session: Session,
) -> None:
    case = snap_case(session)
    notice = record(session, case)
    sweep(session, day(11))
    notices.request_hearing(session, case, notice, day(12), None, "cm.a", on(day(12)))
    assert (notice.aid_continuing, notice.awaiting) == (True, False)
    sweep(session, day(12))
    assert rungs(session, case) == [(1, case.case_manager, False), (2, "sup.housing", False)]
    # Reversed: the benefit stays active, watched for recertification.
    notices.record_decision(
        session, case, notice, HearingDecision.REVERSED, day(40), "cm.a", on(day(40))
    )
    assert notices.held(session, case, BenefitKind.SNAP)


def test_a_late_request_is_recorded_without_aid_and_aid_cannot_be_claimed(
    session: Session,
) -> None:
    case = snap_case(session)
    notice = record(session, case)
    with pytest.raises(CaseError, match="after the aid-continuing deadline"):
        notices.request_hearing(session, case, notice, day(20), True, "cm.a", on(day(20)))
    assert notice.hearing_requested_on is None  # refused: nothing changed
    notices.request_hearing(session, case, notice, day(20), None, "cm.a", on(day(20)))
    assert notice.aid_continuing is False
    with pytest.raises(CaseError, match="already requested"):
        notices.request_hearing(session, case, notice, day(21), None, "cm.a", on(day(21)))
    other = record(session, case, action=NoticeAction.REDUCE)
    with pytest.raises(CaseError, match="after the last day to request"):
        notices.request_hearing(session, case, other, day(91), None, "cm.a", on(day(91)))


def test_an_upheld_discontinuance_ends_the_benefit_and_holds_monitoring_until_the_plan_covers_it(
    session: Session,
) -> None:
    case = snap_case(session, Stage.MONITORING)
    notice = record(session, case)
    notices.request_hearing(session, case, notice, day(3), None, "cm.a", on(day(3)))
    notices.record_decision(
        session, case, notice, HearingDecision.UPHELD, day(30), "cm.a", on(day(30))
    )
    assert not notices.held(session, case, BenefitKind.SNAP)
    # The plan factories walk_to agreed covers housing only.
    seen = facts(session, case)
    assert seen.uncovered_losses == (f"notice 1 (snap discontinue) was upheld on {day(30)}",)
    for decision in (Trigger.CONTINUE, Trigger.CLOSE):
        with pytest.raises(TransitionNotAllowed, match="revise_plan"):
            check_transition(Stage.MONITORING, factories.monitoring(decision), seen)
    for decision in (Trigger.REVISE_PLAN, Trigger.REASSESS):  # the ways to a new plan
        check_transition(Stage.MONITORING, factories.monitoring(decision), seen)

    # A plan with an open income-and-benefits goal answers it.
    plans.record_plan(
        session,
        case,
        "plan-9",
        factories.plan(NeedsDomain.HOUSING, NeedsDomain.INCOME_BENEFITS),
        on(day(31)),
    )
    assert facts(session, case).uncovered_losses == ()


def test_a_reduction_upheld_leaves_the_smaller_benefit_watched(session: Session) -> None:
    case = snap_case(session, Stage.MONITORING)
    notice = record(session, case, action=NoticeAction.REDUCE)
    notices.request_hearing(session, case, notice, day(3), None, "cm.a", on(day(3)))
    notices.record_decision(
        session, case, notice, HearingDecision.UPHELD, day(30), "cm.a", on(day(30))
    )
    assert notices.held(session, case, BenefitKind.SNAP)
    assert facts(session, case).uncovered_losses  # the income lost still needs a goal


def test_a_withdrawn_notice_reactivates_the_benefit_and_a_declined_appeal_ends_it(
    session: Session,
) -> None:
    case = snap_case(session)
    withdrawn = record(session, case)
    benefits.end_benefit(session, case, BenefitKind.SNAP, "cm.a", on(day(1)))
    notices.record_decision(
        session, case, withdrawn, HearingDecision.WITHDRAWN, day(2), "cm.a", on(day(2))
    )
    assert notices.held(session, case, BenefitKind.SNAP)
    declined = record(session, case, action=NoticeAction.REDUCE)
    sweep(session, day(2), case)
    notices.record_declined(session, case, declined, day(4), "cm.a", on(day(4)))
    assert notices.held(session, case, BenefitKind.SNAP)  # a reduction: still received
    sweep(session, day(4), case)
    assert all(not still for _, _, still in rungs(session, case))
    with pytest.raises(CaseError, match="already closed"):
        notices.request_hearing(session, case, declined, day(5), None, "cm.a", on(day(5)))


def test_a_client_who_withdraws_their_request_lets_the_action_stand(session: Session) -> None:
    case = snap_case(session)
    notice = record(session, case)
    notices.request_hearing(session, case, notice, day(3), None, "cm.a", on(day(3)))
    with pytest.raises(CaseError, match="before the hearing was requested"):
        notices.record_declined(session, case, notice, day(2), "cm.a", on(day(4)))
    notices.record_declined(session, case, notice, day(20), "cm.a", on(day(20)))
    assert notices.state(notice) == f"hearing request withdrawn by the client on {day(20)}"
    assert not notices.held(session, case, BenefitKind.SNAP)  # the discontinuance stands
    with pytest.raises(CaseError, match="already closed"):
        notices.record_decision(
            session, case, notice, HearingDecision.REVERSED, day(30), "cm.a", on(day(30))
        )


def test_what_cannot_be_recorded_is_refused_and_changes_nothing(session: Session) -> None:
    case = snap_case(session)
    plain = factories.walk_to(
        session, factories.case_opened_at(session, on(day(-30))), Stage.ASSESSMENT, on(day(-30))
    )
    with pytest.raises(CaseError, match="has no active snap benefit"):
        record(session, plain)
    record(session, plain, action=NoticeAction.DENY)  # an application: no benefit yet
    with pytest.raises(CaseError, match="before the notice date"):
        record(session, case, effective=-1)
    record(session, case)
    with pytest.raises(CaseError, match="already recorded as notice 1"):
        record(session, case)
    with pytest.raises(CaseError, match="closed on"):
        factories.notice(
            session, case, day(-100), day(-80), NoticeAction.REDUCE, rules=RULES, at=on(NOTICE_DAY)
        )
    with pytest.raises(CaseError, match="no hearing on notice 1 .* was requested"):
        notices.record_decision(
            session,
            case,
            notices.get_notice(session, case, 1),
            HearingDecision.UPHELD,
            day(2),
            "cm.a",
            on(day(2)),
        )
    with pytest.raises(CaseError, match="has no notice 5; recorded: 1"):
        notices.get_notice(session, case, 5)
    assert session.scalars(
        select(AdverseNotice.number).where(AdverseNotice.case_id == case.id)
    ).all() == [1]


def test_the_report_counts_requests_by_the_aid_deadline_and_outcomes(session: Session) -> None:
    in_time, late, waiting, declined = (snap_case(session) for _ in range(4))
    first = record(session, in_time)
    notices.request_hearing(session, in_time, first, day(5), None, "cm.a", on(day(5)))
    notices.record_decision(
        session, in_time, first, HearingDecision.REVERSED, day(30), "cm.a", on(day(30))
    )
    second = record(session, late)
    notices.request_hearing(session, late, second, day(20), None, "cm.a", on(day(20)))
    record(session, waiting)
    fourth = record(session, declined)
    notices.record_declined(session, declined, fourth, day(3), "cm.a", on(day(3)))

    figures = build(session, on(day(40)), programs())
    assert figures.notices == [
        {
            "program": "housing",
            "notices": 4,
            "no_request_yet": 1,
            "hearing_pending": 1,
            # in time, late, and the one never requested; not the client's choice to let it be
            "aid_deadline_come": 3,
            "requested_in_time": 1,
            "in_time_percent": 33.3,
        }
    ]
    assert figures.notice_outcomes == [
        {"program": "housing", "upheld": 0, "reversed": 1, "withdrawn": 0, "not_appealed": 1}
    ]
    # As of a day before the notices, there were none.
    assert build(session, on(day(-1)), programs()).notices == []
    assert session.scalars(select(Benefit.active).where(Benefit.case_id == in_time.id)).one()


def test_the_due_list_shows_the_deadline_until_a_hearing_is_requested(session: Session) -> None:
    from casework.models.due import due_list

    case = snap_case(session)
    notice = record(session, case)  # aid-continuing deadline day 13
    denial = record(session, case, action=NoticeAction.DENY)  # no aid: hearing by day 90

    def hearing_items(within: int) -> list[tuple[date, str]]:
        items = due_list(session, NOTICE_DAY, within, case.case_manager)
        return [
            (i.due_on, i.subject)
            for i in items
            if i.what == "hearing_request" and i.case_number == case.case_number
        ]

    assert hearing_items(7) == []  # not within the week yet
    assert hearing_items(90) == [
        (day(13), "notice 1: snap discontinue"),
        (day(90), "notice 2: snap deny"),
    ]
    notices.request_hearing(session, case, notice, day(1), None, "cm.a", on(day(1)))
    notices.record_declined(session, case, denial, day(1), "cm.a", on(day(1)))
    assert hearing_items(90) == []
