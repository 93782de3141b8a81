"""Appointments and visits: booked on a case, then recorded as attended, missed,
cancelled or rescheduled. Times are the agency's (`CASEWORK_TIMEZONE`)."""

from __future__ import annotations

from typing import Any

import click

from casework.cli.options import JSON, CliError, choice_of, command, emit, one_of, signed_in
from casework.models.codes import AppointmentKind, AppointmentStatus

commands = click.Group()


@command(
    commands,
    "appointment",
    "book an appointment on a case (CASE-…), or record what became of one (APT-…)",
)
@click.argument("target", metavar="CASE-…|APT-…")
@click.option("--at", "at", metavar="DATETIME", help="when: YYYY-MM-DD HH:MM, agency time")
@click.option("--kind", type=choice_of(AppointmentKind))
@click.option("--with", "with_whom", metavar="TEXT", help="whom the client sees (store only)")
@click.option("--place", metavar="TEXT", help="where (store only)")
@click.option("--attended", is_flag=True)
@click.option("--missed", is_flag=True)
@click.option("--cancelled", is_flag=True)
@click.option("--rescheduled-to", metavar="DATETIME", help="a new time: the appointment moves")
@JSON
def appointment(
    target: str,
    at: str | None,
    kind: str | None,
    with_whom: str | None,
    place: str | None,
    attended: bool,
    missed: bool,
    cancelled: bool,
    rescheduled_to: str | None,
    as_json: bool,
) -> int:
    from casework import services

    actor = signed_in()
    if target.upper().startswith("APT-"):
        for name, value in (("--at", at), ("--kind", kind), ("--with", with_whom)):
            if value is not None:
                raise CliError(f"{name}: books a new appointment on a case (CASE-…), not {target}")
        one_of(
            ("--attended", attended),
            ("--missed", missed),
            ("--cancelled", cancelled),
            ("--rescheduled-to", rescheduled_to),
        )
        outcome = (
            AppointmentStatus.ATTENDED
            if attended
            else AppointmentStatus.MISSED
            if missed
            else AppointmentStatus.CANCELLED
            if cancelled
            else AppointmentStatus.RESCHEDULED
        )
        row, moved_to = services.appointments.record(target, outcome, actor, rescheduled_to)
        data: dict[str, Any] = row.model_dump(mode="json")
        text = f"{row.number}: {row.status}"
        if moved_to is not None:
            data["rescheduled_to"] = moved_to.model_dump(mode="json")
            text += f"; now {moved_to.number} at {moved_to.local}"
        emit(data, as_json, lambda: text)
        return 0
    if attended or missed or cancelled or rescheduled_to:
        raise CliError(f"{target}: record an outcome on an appointment (APT-…), not on a case")
    if at is None or kind is None or with_whom is None:
        needed = [n for n, v in (("--at", at), ("--kind", kind), ("--with", with_whom)) if not v]
        raise CliError(f"{needed[0]}: required to book an appointment")
    booked = services.appointments.book(target, at, AppointmentKind(kind), with_whom, place, actor)
    emit(
        booked.model_dump(mode="json"),
        as_json,
        lambda: f"{booked.number}: {booked.kind} on {target.upper()} at {booked.local}",
    )
    return 0
