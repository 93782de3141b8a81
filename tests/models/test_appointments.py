"""Appointments: times read in the agency's zone and kept in UTC, right across the
daylight-saving changes (a skipped time refused, a doubled one asked for its offset); what
became of each recorded once, in order; the due list says what to do on the day and, once
the day has passed with nothing recorded, asks for the outcome. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.core.errors import InputError
from casework.models import appointments, cases
from casework.models.appointments import Booking, local_time, shown
from casework.models.codes import AppointmentKind, AppointmentStatus
from casework.models.due import due_list
from casework.models.orm import AuditEvent, Case
from tests import factories

NEW_YORK = ZoneInfo("America/New_York")
WITH = "Dr Alvarez, county clinic"


@pytest.mark.parametrize(
    ("typed", "utc"),
    [
        ("2026-03-06 09:00", datetime(2026, 3, 6, 14, 0, tzinfo=UTC)),  # EST, -5
        ("2026-03-09 09:00", datetime(2026, 3, 9, 13, 0, tzinfo=UTC)),  # EDT, -4
        ("2026-11-01T00:30", datetime(2026, 11, 1, 4, 30, tzinfo=UTC)),
        ("2026-11-01 01:30-04:00", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),  # the first
        ("2026-11-01 01:30-05:00", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),  # the second
        ("2026-11-02 9:05", datetime(2026, 11, 2, 14, 5, tzinfo=UTC)),
    ],
)
def test_a_local_time_is_kept_in_utc_across_the_clock_changes(typed: str, utc: datetime) -> None:
    assert local_time(typed, NEW_YORK) == utc


def test_the_same_local_hour_reads_back_the_same_either_side_of_a_change() -> None:
    before, after = (
        local_time("2026-03-06 09:00", NEW_YORK),
        local_time("2026-03-09 09:00", NEW_YORK),
    )
    assert after - before == timedelta(days=3) - timedelta(hours=1)
    assert shown(before, NEW_YORK) == "2026-03-06 09:00 EST"
    assert shown(after, NEW_YORK) == "2026-03-09 09:00 EDT"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (
            "2026-03-08 02:30",
            "--at: 2026-03-08 02:30 does not exist in America/New_York (the clocks go forward "
            "then); give a time after the change",
        ),
        (
            "2026-11-01 01:30",
            "--at: 2026-11-01 01:30 happens twice in America/New_York (the clocks go back "
            "then); add the offset: 2026-11-01 01:30-04:00 for the first, 2026-11-01 "
            "01:30-05:00 for the second",
        ),
        ("2026-11-01 01:30-07:00", "--at: 2026-11-01 01:30 is not at offset -07:00"),
        ("next tuesday", "--at: 'next tuesday' is not a date and time (YYYY-MM-DD HH:MM)"),
        ("2026-02-30 10:00", "--at: '2026-02-30 10:00' is not a date and time"),
        ("2026-02-03 25:00", "--at: '2026-02-03 25:00' is not a date and time"),
    ],
    ids=["skipped", "doubled", "wrong_offset", "words", "no_such_day", "no_such_hour"],
)
def test_a_time_that_is_not_one_is_refused_in_one_line(typed: str, expected: str) -> None:
    with pytest.raises(InputError) as refused:
        local_time(typed, NEW_YORK)
    assert str(refused.value).startswith(expected), str(refused.value)
    assert "\n" not in str(refused.value)


def _book(session: Session, case: Case, at: datetime) -> str:
    booking = Booking(at, AppointmentKind.MEDICAL, WITH, "County clinic, room 4")
    row = appointments.book(session, case, booking, factories.STAFF, factories.now())
    return row.number or ""


def test_an_appointment_is_kept_missed_or_moved_once(session: Session, case: Case) -> None:
    now = factories.now()
    later = _book(session, case, now + timedelta(days=2))
    past = _book(session, case, now - timedelta(hours=3))
    row = appointments.get(session, later)
    with pytest.raises(InputError, match=f"{later} is not due until .*once its time has come"):
        appointments.record(session, row, AppointmentStatus.ATTENDED, "cm.tester", now)
    moved = appointments.record(
        session, row, AppointmentStatus.RESCHEDULED, "cm.tester", now, now + timedelta(days=9)
    )
    assert moved is not None
    assert (row.status, row.rescheduled_to) == ("rescheduled", moved.number)
    assert (moved.kind, moved.with_whom, moved.place, moved.status) == (
        "medical",
        WITH,
        "County clinic, room 4",
        "scheduled",
    )
    appointments.record(
        session, appointments.get(session, past), AppointmentStatus.MISSED, "x", now
    )
    with pytest.raises(InputError, match=f"{past} is already missed; nothing was changed"):
        appointments.record(
            session, appointments.get(session, past), AppointmentStatus.ATTENDED, "x", now
        )
    trail = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)).all()
    said = " ".join(str(event.detail) for event in trail)
    assert "appointment_booked" in {event.action for event in trail}
    assert WITH not in said  # numbers and codes only
    assert "County clinic" not in said


def test_a_closed_case_takes_no_appointment(session: Session, case: Case) -> None:
    cases.close(session, case, factories.now())
    with pytest.raises(InputError, match="is closed; reopen it to book an appointment"):
        _book(session, case, factories.now() + timedelta(days=1))


def test_bad_bookings_are_refused_naming_the_option(session: Session, case: Case) -> None:
    for booking, expected in (
        (Booking(factories.now(), AppointmentKind.OFFICE, "  "), "--with: say whom"),
        (Booking(factories.now(), AppointmentKind.OFFICE, "x" * 201), "--with: at most 200"),
        (Booking(factories.now(), AppointmentKind.OFFICE, "x", "y" * 301), "--place: at most 300"),
    ):
        with pytest.raises(InputError, match=expected):
            appointments.book(session, case, booking, "cm.tester", factories.now())
    assert appointments.for_case(session, case) == []


def test_the_due_list_says_the_day_then_asks_for_the_outcome(
    session: Session, case: Case, in_new_york: ZoneInfo
) -> None:
    today = date(2026, 12, 10)
    at = datetime(2026, 12, 11, 14, 30, tzinfo=in_new_york)  # tomorrow, 14:30 local
    number = _book(session, case, at.astimezone(UTC))

    def items(day: date) -> list[tuple[date, str, str]]:
        return [
            (item.due_on, item.what, item.subject)
            for item in due_list(session, day, 7, case.case_manager)
            if item.what.startswith("appointment")
        ]

    assert items(today) == [(date(2026, 12, 11), "appointment", f"{number} medical 14:30")]
    # The day after with nothing recorded: its outcome is due, then overdue.
    assert items(date(2026, 12, 12)) == [
        (date(2026, 12, 12), "appointment_outcome", f"{number} medical 14:30")
    ]
    appointments.record(
        session, appointments.get(session, number), AppointmentStatus.ATTENDED, "x", at
    )
    assert items(date(2026, 12, 12)) == []


def test_the_report_counts_appointments_kept_missed_and_moved(session: Session, case: Case) -> None:
    from casework.models.programs import programs
    from casework.models.report import build

    now = factories.now()
    numbers = [_book(session, case, now - timedelta(days=d)) for d in (1, 2, 3, 40)]
    for number, outcome in zip(
        numbers,
        (AppointmentStatus.ATTENDED, AppointmentStatus.MISSED, AppointmentStatus.ATTENDED),
        strict=False,
    ):
        appointments.record(session, appointments.get(session, number), outcome, "x", now)
    section = build(session, now, programs()).sections()["appointments kept and missed"]
    assert section == [
        {
            "window_days": 30,
            "program": "housing",
            "not_recorded": 0,
            "attended": 2,
            "missed": 1,
            "cancelled": 0,
            "rescheduled": 0,
            "kept_percent": 66.7,
        },
        {
            "window_days": 90,
            "program": "housing",
            "not_recorded": 1,  # 40 days ago, nothing recorded
            "attended": 2,
            "missed": 1,
            "cancelled": 0,
            "rescheduled": 0,
            "kept_percent": 66.7,
        },
    ]


def test_silence_about_an_appointment_climbs_the_ladder(session: Session, case: Case) -> None:
    """Nothing recorded by the next day: escalated, and resolved once recorded; missed
    with nothing booked within the program's days: escalated, resolved once rebooked."""
    from casework.models import escalations
    from casework.models.codes import Watch
    from casework.models.orm import Escalation
    from casework.models.programs import programs
    from casework.models.rules import Scope

    now = factories.now()

    def sweep(days: float) -> list[tuple[str, int, bool]]:
        escalations.sweep(
            session, Watch.STALLED_CASES, Scope(now + timedelta(days=days)), programs()
        )
        rows = session.scalars(
            select(Escalation)
            .where(Escalation.case_id == case.id, Escalation.rule.like("appointment_%"))
            .order_by(Escalation.id)
        )
        return [(row.rule, row.level, row.resolved_at is None) for row in rows]

    number = _book(session, case, datetime.combine(now.date(), time(0, 30), UTC))
    assert sweep(0) == []  # its day is today
    assert sweep(1) == []  # the next day: its outcome is due (the due list asks for it)
    assert sweep(2) == [("appointment_unrecorded", 1, True)]
    missed_on = now + timedelta(days=2)
    appointments.record(
        session, appointments.get(session, number), AppointmentStatus.MISSED, "x", missed_on
    )
    assert sweep(3) == [("appointment_unrecorded", 1, False)]  # recorded: resolved
    rebook = [i for i in due_list(session, now.date(), 30, case.case_manager) if i.what == "rebook"]
    assert [(i.due_on, i.subject) for i in rebook] == [
        ((missed_on + timedelta(days=7)).date(), f"{number} medical missed")
    ]
    assert sweep(9) == [("appointment_unrecorded", 1, False)]  # 7 days to rebook, not over
    assert sweep(10) == [
        ("appointment_unrecorded", 1, False),
        ("appointment_missed", 1, True),
    ]
    _book(session, case, now + timedelta(days=12))  # rebooked
    assert sweep(11) == [
        ("appointment_unrecorded", 1, False),
        ("appointment_missed", 1, False),
    ]
