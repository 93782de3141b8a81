"""Appointments and visits: booked on a case, then recorded as attended, missed,
cancelled or rescheduled. Times are the agency's (`CASEWORK_TIMEZONE`). And how the
client is messaged about them (and the rest): their consent by channel, the messages."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

import click

from casework.cli.options import JSON, CliError, Day, choice_of, command, emit, one_of, signed_in
from casework.core.settings import get_settings
from casework.models.codes import AppointmentKind, AppointmentStatus, MessageChannel

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


@command(
    commands,
    "messaging",
    "how a case's client is messaged: their phone or email, consent by channel, the messages",
)
@click.argument("case_number", metavar="CASE-…")
@click.option("--phone", metavar="TEXT", help="the client's phone for texts (store only)")
@click.option("--email", metavar="TEXT", help="the client's email address (store only)")
@click.option(
    "--allow", multiple=True, type=choice_of(MessageChannel), help="consent given (repeatable)"
)
@click.option(
    "--withdraw",
    multiple=True,
    type=choice_of(MessageChannel),
    help="consent withdrawn (repeatable)",
)
@click.option("--on", type=Day(), metavar="DATE", help="the day consent was given (default: today)")
@JSON
def messaging(
    case_number: str,
    phone: str | None,
    email: str | None,
    allow: tuple[str, ...],
    withdraw: tuple[str, ...],
    on: date | None,
    as_json: bool,
) -> int:
    from casework import services

    actor = signed_in()
    if phone is not None or email is not None or allow or withdraw:
        done = services.messages.record(
            case_number,
            actor,
            phone=phone,
            email=email,
            allow=[MessageChannel(c) for c in allow],
            withdraw=[MessageChannel(c) for c in withdraw],
            on=on,
        )
        emit(
            {"case_number": case_number.upper(), "done": done},
            as_json,
            lambda: f"{case_number.upper()}: " + "; ".join(done),
        )
        return 0
    if on is not None:
        raise CliError("--on: the day a consent given with --allow was given")
    seen = services.messages.messaging(case_number, actor)
    emit(asdict(seen), as_json, lambda: messaging_text(seen))
    return 0


NO_CHANNEL = "none (the contact preference names no channel with an address on file)"


def messaging_text(seen: Any) -> str:
    from casework.models.labels import label

    zone = get_settings().zone
    lines = [f"{seen.case_number}: messages to the client"]
    if seen.reads_identity:
        by = label(seen.channel) if seen.channel else NO_CHANNEL
        lines.append(f"  by: {by}")
    for c in seen.consents:
        ended = (
            f", withdrawn {c.withdrawn_at.astimezone(zone):%Y-%m-%d %H:%M} by {c.withdrawn_by}"
            if c.withdrawn_at
            else ""
        )
        lines.append(f"  consent to {c.channel}: given {c.given_on} (by {c.recorded_by}){ended}")
    if not seen.consents:
        lines.append("  no consent to messages recorded (`casework messaging CASE --allow sms`)")
    for m in seen.messages:
        when = m.sent_at or m.due_at
        why = f" ({m.error})" if m.error else ""
        lines.append(
            f"  {m.number} {m.kind} ({m.subject}) by {m.channel} in {m.language}: {m.status} "
            f"{when.astimezone(zone):%Y-%m-%d %H:%M %Z}{why}"
        )
    if not seen.messages:
        lines.append("  no messages yet")
    return "\n".join(lines)
