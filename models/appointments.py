"""Appointments and visits: booked for a case at a time in the agency's own time zone
(`CASEWORK_TIMEZONE`; kept in UTC), then kept (attended), missed, cancelled or rescheduled
(a new appointment, linked). Whom the client sees and where are the client's own business:
kept in the store, read only by those who read identity; the kind, time and outcome are
coded (a program manager counts them). Nothing here reaches a Prefect surface.

Times across daylight-saving changes: a local time the clocks skip is refused, and one
they pass twice must say its offset (`2026-11-01 01:30-05:00`), so no appointment is an
hour from where the client was told it is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from casework.core.errors import InputError
from casework.models import audit
from casework.models.codes import AppointmentKind, AppointmentStatus, CaseStatus
from casework.models.orm import Appointment, Case

NUMBER = re.compile(r"^APT-\d{6,}$")
LOCAL = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})(?::00)?([+-]\d{2}:?\d{2}|Z)?$")
WITH_LIMIT, PLACE_LIMIT = 200, 300
OUTCOMES = (AppointmentStatus.ATTENDED, AppointmentStatus.MISSED)
# What makes a later appointment the client's next one (a missed one is then rebooked).
NEXT_APPOINTMENT = (AppointmentStatus.SCHEDULED.value, AppointmentStatus.ATTENDED.value)
# Who cancelled an appointment by replying CANCEL to a reminder (models.messages).
BY_CLIENT = "client"


def local_time(text: str, zone: ZoneInfo, option: str = "--at") -> datetime:
    """`text` (`YYYY-MM-DD HH:MM` in the agency's zone, or with an offset) as a UTC time; a
    time the clocks skip, or pass twice without an offset, refused by name."""
    if not text.strip():
        raise InputError(f"{option}: give the date and time (YYYY-MM-DD HH:MM)")
    match = LOCAL.match(text.strip())
    if match is None:
        raise InputError(f"{option}: {text!r} is not a date and time (YYYY-MM-DD HH:MM)")
    day, clock, offset = match.groups()
    try:
        naive = datetime.fromisoformat(f"{day}T{int(clock[:-3]):02d}:{clock[-2:]}")
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a date and time (YYYY-MM-DD HH:MM)") from None
    if offset is not None:
        given = datetime.fromisoformat(
            f"{naive.isoformat()}{'+00:00' if offset == 'Z' else offset}"
        )
        moment = given.astimezone(UTC)
        if moment.astimezone(zone).replace(tzinfo=None) != naive:
            raise InputError(
                f"{option}: {naive:%Y-%m-%d %H:%M} is not at offset {offset} in {zone.key}"
            )
        return moment
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise InputError(
            f"{option}: {naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks go "
            "forward then); give a time after the change"
        )
    if first.utcoffset() != second.utcoffset():
        raise InputError(
            f"{option}: {naive:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks go "
            f"back then); add the offset: {_offset(first)} for the first, {_offset(second)} "
            "for the second"
        )
    return first.astimezone(UTC)


def _offset(moment: datetime) -> str:
    text = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M}{text[:3]}:{text[3:]}"


def shown(moment: datetime, zone: ZoneInfo) -> str:
    """A stored time as the agency reads it: `2026-12-10 14:30 EST`."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Booking:
    at: datetime  # UTC
    kind: AppointmentKind
    with_whom: str
    place: str | None = None

    def checked(self) -> Booking:
        with_whom, place = self.with_whom.strip(), (self.place or "").strip() or None
        if not with_whom:
            raise InputError("--with: say whom the client sees (a name, a role, an office)")
        if len(with_whom) > WITH_LIMIT:
            raise InputError(f"--with: at most {WITH_LIMIT} characters")
        if place is not None and len(place) > PLACE_LIMIT:
            raise InputError(f"--place: at most {PLACE_LIMIT} characters")
        return Booking(self.at, self.kind, with_whom, place)


def rebooked() -> ColumnElement[bool]:
    """Whether a missed appointment (the query's `Appointment` row) has a next one on its
    case: a later appointment still scheduled, or attended."""
    later = Appointment.__table__.alias("later")
    return (
        select(later.c.id)
        .where(
            later.c.case_id == Appointment.case_id,
            later.c.at > Appointment.at,
            later.c.status.in_(NEXT_APPOINTMENT),
        )
        .exists()
    )


def book(session: Session, case: Case, booking: Booking, actor: str, at: datetime) -> Appointment:
    """A new appointment on the open case's current episode, numbered, audited by its
    number, kind and time (never whom or where)."""
    if case.status != CaseStatus.OPEN.value:
        raise InputError(f"{case.case_number} is closed; reopen it to book an appointment")
    given = booking.checked()
    row = Appointment(
        case_id=case.id,
        episode=case.episode,
        kind=given.kind.value,
        at=given.at,
        with_whom=given.with_whom,
        place=given.place,
        status=AppointmentStatus.SCHEDULED.value,
        booked_by=actor,
    )
    session.add(row)
    session.flush()
    row.number = f"APT-{row.id:06d}"  # numbered by its row, as referrals are
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "appointment_booked",
        at,
        appointment=row.number,
        kind=row.kind,
        at_utc=row.at.isoformat(),
    )
    return row


def get(session: Session, number: str, for_update: bool = False) -> Appointment:
    if not NUMBER.match(number.upper()):
        raise InputError(f"{number!r} is not an appointment number (APT-000001)")
    query = select(Appointment).where(Appointment.number == number.upper())
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).first()
    if found is None:
        raise InputError(f"no appointment {number.upper()}")
    return found


def record(
    session: Session,
    appointment: Appointment,
    outcome: AppointmentStatus,
    actor: str,
    at: datetime,
    rescheduled_to: datetime | None = None,
) -> Appointment | None:
    """What became of a scheduled appointment: attended or missed (once its time has come),
    cancelled, or rescheduled (a new appointment, returned). Audited by numbers and codes."""
    case = session.get(Case, appointment.case_id)
    assert case is not None
    number = appointment.number
    if appointment.status != AppointmentStatus.SCHEDULED.value:
        raise InputError(f"{number} is already {appointment.status}; nothing was changed")
    if outcome in OUTCOMES and appointment.at > at:
        raise InputError(
            f"{number} is not due until {appointment.at:%Y-%m-%d %H:%M} UTC: whether it was "
            "kept is recorded once its time has come"
        )
    moved_to = None
    if outcome is AppointmentStatus.RESCHEDULED:
        if rescheduled_to is None:
            raise InputError("--rescheduled-to: give the new date and time")
        kind = AppointmentKind(appointment.kind)
        booking = Booking(rescheduled_to, kind, appointment.with_whom, appointment.place)
        moved_to = book(session, case, booking, actor, at)
        appointment.rescheduled_to = moved_to.number
    appointment.status = outcome.value
    appointment.outcome_by, appointment.outcome_at = actor, at
    session.flush()
    audit.record(
        session,
        case,
        actor,
        f"appointment_{outcome.value}",
        at,
        appointment=number,
        **({"rescheduled_to": moved_to.number} if moved_to else {}),
    )
    return moved_to


def for_case(session: Session, case: Case) -> list[Appointment]:
    query = select(Appointment).where(Appointment.case_id == case.id)
    return list(session.scalars(query.order_by(Appointment.at, Appointment.id)))


def counts(session: Session, since: datetime, until: datetime) -> dict[tuple[str, str], int]:
    """Appointments due in [since, until), by (program, status): how many were kept,
    missed, rescheduled, cancelled, or are still to be recorded."""
    query = (
        select(Case.program, Appointment.status, func.count())
        .join(Case, Case.id == Appointment.case_id)
        .where(Appointment.at >= since, Appointment.at < until)
        .group_by(Case.program, Appointment.status)
    )
    return {(program, status): n for program, status, n in session.execute(query)}
