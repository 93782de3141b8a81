"""The sweeps' rules and the escalation ladder, moved through time with `as_of` (no
sleeping). Runs on SQLite and, when CASEWORK_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework.models import benefits, consents, contacts, escalations
from casework.models.codes import BenefitKind, ContactType, Stage, Trigger, WaiverRequirement, Watch
from casework.models.orm import Case, Escalation
from casework.models.programs import programs
from casework.models.rules import Scope, due_reassessments
from casework.models.schemas import ContactIn
from tests import factories

DAY0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def at(days: int) -> datetime:
    return DAY0 + timedelta(days=days)


def sweep(
    session: Session, days: int, watch: Watch = Watch.STALLED_CASES
) -> escalations.LadderResult:
    return escalations.sweep(session, watch, Scope(at(days)), programs())


def ladder(
    session: Session, case: Case, only: frozenset[str] | None = None
) -> list[tuple[str, int, bool]]:
    """(rule, level, still open) for the case's escalations (of `only` those rules), in order."""
    rows = session.scalars(
        select(Escalation).where(Escalation.case_id == case.id).order_by(Escalation.id)
    )
    return [
        (row.rule, row.level, row.resolved_at is None)
        for row in rows
        if only is None or row.rule in only
    ]


STALLING = frozenset({"stage_overdue", "no_contact"})


def test_stalled_cases_climb_the_ladder_once_per_level_and_resolve_when_they_move(
    session: Session,
) -> None:
    stuck = factories.case_opened_at(session, DAY0)  # never leaves intake (SLA 2 days)
    slow = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.ASSESSMENT, DAY0
    )
    quiet = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.MONITORING, DAY0
    )
    seen = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.MONITORING, DAY0
    )
    contacts.add_contact(
        session,
        seen,
        ContactIn(contact_type=ContactType.PHONE, text="Called."),
        "cm.tester",
        at(15),
    )
    contacts.add_contact(
        session, quiet, ContactIn(text="Left a note in the file."), "cm.tester", at(15)
    )

    sweep(session, 3)
    assert ladder(session, stuck) == [("stage_overdue", 1, True)]
    assert ladder(session, slow, STALLING) == []

    sweep(session, 10)  # housing escalates a level every 3 days while the breach stands
    assert ladder(session, stuck) == [("stage_overdue", 1, True), ("stage_overdue", 2, True)]

    sweep(session, 20)
    assert ladder(session, stuck)[-1] == ("stage_overdue", 3, True)
    assert ladder(session, slow, STALLING) == [("stage_overdue", 1, True)]  # 14-day assessment SLA
    assert ladder(session, quiet, STALLING) == [("no_contact", 1, True)]  # a note is not a contact
    assert ladder(session, seen, STALLING) == []  # phoned on day 15

    factories.move(session, slow, factories.assessment(), at(21))
    result = sweep(session, 40)
    assert ladder(session, stuck) == [("stage_overdue", level, True) for level in (1, 2, 3)]
    assert ladder(session, slow, STALLING) == [
        ("stage_overdue", 1, False),
        ("stage_overdue", 1, True),
    ]
    assert ladder(session, quiet, STALLING) == [("no_contact", 1, True), ("no_contact", 2, True)]
    assert ladder(session, seen, STALLING) == [("no_contact", 1, True)]  # 25 days since the call
    assert escalations.Rung(slow.case_number or "", "stage_overdue", 1) in result.resolved

    again = sweep(session, 40)  # a second sweep at the same moment changes nothing
    assert again.raised == []
    assert again.resolved == []
    total = session.scalar(
        select(func.count()).select_from(Escalation).where(Escalation.rule.in_(STALLING))
    )
    assert total == 3 + 2 + 2 + 1

    contacts.add_contact(
        session,
        quiet,
        ContactIn(contact_type=ContactType.HOME_VISIT, text="Visit."),
        "cm.tester",
        at(41),
    )
    sweep(session, 41)
    assert [open_ for _, _, open_ in ladder(session, quiet, STALLING)] == [False, False]


def test_recipients_follow_the_program_configuration(session: Session) -> None:
    case = factories.case_opened_at(session, DAY0)
    for days in (3, 6, 9):
        sweep(session, days)
    rows = session.scalars(
        select(Escalation).where(Escalation.case_id == case.id).order_by(Escalation.level)
    )
    assert [(row.level, row.recipient_role, row.recipient) for row in rows] == [
        (1, "case_manager", factories.STAFF),
        (2, "supervisor", "sup.housing"),
        (3, "program_manager", "pm.housing"),
    ]


def test_crisis_goes_to_the_supervisor_at_once_and_clears_with_a_calm_assessment(
    session: Session,
) -> None:
    case = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.MONITORING, DAY0
    )
    contacts.add_contact(
        session, case, ContactIn(text="Client in danger.", crisis=True), "cm.tester", at(1)
    )
    sweep(session, 1)
    assert ladder(session, case) == [("crisis", 2, True)]

    factories.move(session, case, factories.monitoring(Trigger.REASSESS), at(2))
    factories.move(session, case, factories.assessment(), at(2))
    sweep(session, 2)
    assert ladder(session, case) == [("crisis", 2, False)]


def test_overdue_goals_and_unanswered_referrals_are_found(session: Session) -> None:
    case = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.MONITORING, DAY0
    )
    factories.provider(session, response_days=10)
    waiting = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.REFERRAL, DAY0
    )
    consents.give(session, waiting, "hope-housing", DAY0.date(), "cm.tester", DAY0)
    factories.move(session, waiting, factories.referral_to("hope-housing"), DAY0)
    assert waiting.waiting_on is not None
    sweep(session, 10)
    assert ladder(session, waiting, frozenset({"referral_unanswered"})) == []
    sweep(session, 11)  # the provider has 10 days to answer
    assert ladder(session, waiting, frozenset({"referral_unanswered"})) == [
        ("referral_unanswered", 1, True)
    ]
    goal_target = factories.plan(factories.NeedsDomain.HOUSING).goals[0].target_date
    days_to_target = (goal_target - DAY0.date()).days
    sweep(session, days_to_target + 1)
    assert "goal_overdue" in {rule for rule, _, _ in ladder(session, case)}


def test_reassessment_is_due_only_after_the_programs_interval(session: Session) -> None:
    due = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.MONITORING, DAY0
    )
    later = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.MONITORING, at(30)
    )
    # A case held at plan since its assessment is due too: circumstances change there.
    held = factories.walk_to(session, factories.case_opened_at(session, DAY0), Stage.PLAN, DAY0)
    assessing = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.ASSESSMENT, DAY0
    )
    assert due_reassessments(session, Scope(at(90)), programs()) == []
    assert due_reassessments(session, Scope(at(91)), programs()) == [
        due.case_number,
        held.case_number,
    ]
    assert due_reassessments(session, Scope(at(121)), programs()) == [
        due.case_number,
        later.case_number,
        held.case_number,
    ]
    # Asked for already (its run has not woken yet): not asked again.
    held.reassess_key = held.stage_key
    session.flush()
    assert held.case_number not in due_reassessments(session, Scope(at(121)), programs())
    assert assessing.case_number not in due_reassessments(session, Scope(at(121)), programs())


def test_benefit_recertification_warns_30_14_and_7_days_ahead_then_escalates(
    session: Session,
) -> None:
    case = factories.walk_to(
        session, factories.case_opened_at(session, DAY0), Stage.MONITORING, DAY0
    )
    due = date(2026, 5, 1)
    benefits.record_benefit(session, case, BenefitKind.SNAP, due, "cm.tester", DAY0)
    days_to_due = (due - DAY0.date()).days
    for days_before in (40, 30, 20, 14, 10, 7, 1, 0, -1, -4):
        sweep(session, days_to_due - days_before, Watch.BENEFITS)
    rows = session.scalars(
        select(Escalation).where(Escalation.case_id == case.id).order_by(Escalation.id)
    )
    assert [(row.rule, row.subject, row.level) for row in rows] == [
        ("benefit_recertification_due", "snap by 2026-05-01 (30d)", 0),
        ("benefit_recertification_due", "snap by 2026-05-01 (14d)", 0),
        ("benefit_recertification_due", "snap by 2026-05-01 (7d)", 0),
        ("benefit_lapsed", "snap by 2026-05-01", 1),
        ("benefit_lapsed", "snap by 2026-05-01", 2),
    ]

    benefits.record_benefit(
        session, case, BenefitKind.SNAP, date(2026, 11, 1), "cm.tester", at(days_to_due + 4)
    )
    sweep(session, days_to_due + 4, Watch.BENEFITS)
    assert ladder(session, case)[-2:] == [
        ("benefit_lapsed", 1, False),
        ("benefit_lapsed", 2, False),
    ]


def test_waiver_expiry_is_watched_like_a_benefit(session: Session) -> None:
    case = factories.walk_to(session, factories.case_opened_at(session, DAY0), Stage.PLAN, DAY0)
    benefits.record_waiver(
        session, case, WaiverRequirement.HOMELESS, at(5).date(), "cm.tester", DAY0
    )
    sweep(session, 0, Watch.BENEFITS)
    sweep(session, 6, Watch.BENEFITS)
    assert ladder(session, case) == [("waiver_expiring", 0, False), ("waiver_expired", 1, True)]


def test_closed_cases_get_follow_ups_and_a_failed_one_proposes_reopening(
    session: Session,
) -> None:
    case = factories.walk_to(session, factories.case_opened_at(session, DAY0), Stage.CLOSURE, DAY0)
    factories.move(session, case, factories.closure(), DAY0)  # the example closure consents
    sweep(session, 29, Watch.FOLLOW_UPS)
    assert ladder(session, case) == []
    sweep(session, 30, Watch.FOLLOW_UPS)
    assert ladder(session, case) == [("follow_up_due", 1, True)]
    benefits.record_follow_up(
        session,
        case,
        30,
        reached=True,
        housing_kept=False,
        benefits_continuing=True,
        actor="cm.tester",
        at=at(31),
    )
    sweep(session, 31, Watch.FOLLOW_UPS)
    assert ladder(session, case) == [("follow_up_due", 1, False), ("follow_up_failed", 1, True)]


def test_open_breaches_are_counted_once_at_their_highest_level(session: Session) -> None:
    """A breach at level 2 keeps its level-1 rung open: the report and `escalations
    --open` count it once, at level 2 (before, 24 breaches showed as 47 escalations)."""
    from casework.models import report

    stuck = factories.case_opened_at(session, DAY0)
    sweep(session, 3)
    sweep(session, 10)
    assert ladder(session, stuck) == [("stage_overdue", 1, True), ("stage_overdue", 2, True)]
    listed = [
        (row.rule, row.level)
        for row in escalations.listing(session, open_only=True, case_number=stuck.case_number)
    ]
    assert listed == [("stage_overdue", 2)]
    assert len(escalations.listing(session, case_number=stuck.case_number)) == 2  # history
    built = report.build(session, at(10), programs())
    assert {row["level"]: row["open"] for row in built.escalations} == {1: 0, 2: 1, 3: 0, 0: 0}
