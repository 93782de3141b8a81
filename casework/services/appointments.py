"""Appointments and visits, as the CLI and the desk book and record them: times read and
shown in the agency's time zone (`CASEWORK_TIMEZONE`), kept in UTC (models.appointments)."""

from __future__ import annotations

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.core.settings import get_settings
from casework.models import appointments, cases
from casework.models.appointments import Booking
from casework.models.codes import AppointmentKind, AppointmentStatus
from casework.models.orm import Appointment
from casework.models.schemas import AppointmentOut


def shown(row: Appointment) -> AppointmentOut:
    zone = get_settings().zone
    return AppointmentOut.model_validate(row).model_copy(
        update={"local": appointments.shown(row.at, zone), "come": row.at <= now()}
    )


def book(
    case_number: str,
    at: str,
    kind: AppointmentKind,
    with_whom: str,
    place: str | None,
    actor: str,
) -> AppointmentOut:
    """Book an appointment on an open case at `at` (local time, as typed)."""
    moment = appointments.local_time(at, get_settings().zone)
    with session_scope() as session:
        case = cases.get_case(session, case_number, for_update=True)
        row = appointments.book(
            session, case, Booking(moment, kind, with_whom, place), actor, now()
        )
        return shown(row)


def record(
    number: str, outcome: AppointmentStatus, actor: str, rescheduled_to: str | None = None
) -> tuple[AppointmentOut, AppointmentOut | None]:
    """What became of an appointment; a rescheduled one's new appointment returned too."""
    if outcome is AppointmentStatus.SCHEDULED:
        raise InputError("an appointment is scheduled when booked; record what became of it")
    moment = None
    if rescheduled_to is not None:
        moment = appointments.local_time(rescheduled_to, get_settings().zone, "--rescheduled-to")
    with session_scope() as session:
        row = appointments.get(session, number, for_update=True)
        moved_to = appointments.record(session, row, outcome, actor, now(), moment)
        return shown(row), shown(moved_to) if moved_to else None


def for_case(case_number: str) -> list[AppointmentOut]:
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        return [shown(row) for row in appointments.for_case(session, case)]


def check_on_case(number: str, case_number: str) -> None:
    """Refuse an appointment number that is not `case_number`'s (a page's own link)."""
    with session_scope(read_only=True) as session:
        row = appointments.get(session, number)
        case = cases.get_case(session, case_number)
        if row.case_id != case.id:
            raise InputError(f"no appointment {number.upper()} on {case.case_number}")
