"""Messages to clients: reminders before an appointment, "we missed you" after a missed
one, a check-in before the contact interval lapses, and reminders before a benefit's
recertification date and a notice's aid-continuing deadline.

A message goes only by the client's contact preference (`text`: SMS to their phone,
`email`: to their email address), only with their consent to that channel (given, not
withdrawn; a STOP withdraws it), and never in the agency's quiet hours. Each is found by a
sweep when it falls due (`plan`), kept as one row under a once-only key (however many
sweeps find it), claimed before it is delivered (`claim`), and its delivery recorded
(`delivered`, `not_delivered`: a failure waits out its backoff, then is tried again, and
after the last attempt is failed). Its words are rendered from the store at send time
(`render`, in the client's language) and kept nowhere; nothing here reaches a Prefect
surface but message numbers, kinds, channels and statuses.

A reply by text (`take_reply`) is recorded on the case as a contact: CONFIRM confirms the
appointment it answers, CANCEL cancels it (the due list asks to rebook), STOP withdraws
the consent to texts, anything else is a note for the case manager."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from casework.core.errors import InputError
from casework.models import audit
from casework.models.appointments import BY_CLIENT, rebooked
from casework.models.codes import (
    AppointmentStatus,
    CaseStatus,
    ContactPreference,
    ContactType,
    MessageChannel,
    MessageKind,
    MessageStatus,
    Program,
    ReplyKeyword,
    Stage,
)
from casework.models.contacts import add_contact
from casework.models.labels import label
from casework.models.matching import digits
from casework.models.orm import (
    AdverseNotice,
    Appointment,
    Benefit,
    Case,
    Client,
    ContactConsent,
    Message,
)
from casework.models.programs import ProgramConfig
from casework.models.schemas import EMAIL_PATTERN, PHONE_PATTERN, ContactIn

TEXTS = Path(__file__).parent / "message_texts"
LANGUAGES = ("en", "es")  # the catalogues shipped; any other language gets English
SEND_AT = time(10, 0)  # a dated reminder (the day before, N days before) goes at 10:00 local
EARLIEST_MORNING = time(7, 0)  # the morning's reminder: when quiet hours end, not before 07:00
CLIENT = BY_CLIENT  # who withdrew a consent or cancelled an appointment by a reply
CLAIM_LEASE = timedelta(minutes=10)  # a sweep that died lets go of its claims after this
NUMBER = re.compile(r"^MSG-\d{6,}$")
REPLY_WINDOW = timedelta(days=90)  # a reply answers a text sent at most this long ago
EMAIL = re.compile(EMAIL_PATTERN)
APPOINTMENT_KINDS = (
    MessageKind.APPOINTMENT_TOMORROW,
    MessageKind.APPOINTMENT_TODAY,
    MessageKind.APPOINTMENT_MISSED,
)
KEYWORDS = {
    ReplyKeyword.CONFIRM: {"CONFIRM", "CONFIRMAR", "YES", "SI", "SÍ"},
    ReplyKeyword.CANCEL: {"CANCEL", "CANCELAR"},
    ReplyKeyword.STOP: {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "ALTO", "PARAR"},
}


# -- consent -----------------------------------------------------------------------------


def channel_for(client: Client) -> MessageChannel | None:
    """The channel a client's contact preference asks for, if they have its address."""
    return reachable(client.contact_preference, client.phone, client.email)


def reachable(preference: str, phone: str | None, email: str | None) -> MessageChannel | None:
    if preference == ContactPreference.TEXT.value and phone:
        return MessageChannel.SMS
    if preference == ContactPreference.EMAIL.value and email:
        return MessageChannel.EMAIL
    return None


def consent_of(
    session: Session, client_id: int, channel: MessageChannel, on: date | None = None
) -> ContactConsent | None:
    """The client's consent to `channel` that holds (given by `on`, not withdrawn)."""
    query = (
        select(ContactConsent)
        .where(ContactConsent.client_id == client_id, ContactConsent.channel == channel.value)
        .order_by(ContactConsent.id.desc())
        .limit(1)
    )
    latest = session.scalars(query).first()
    return latest if latest is not None and _holds(latest, on) else None


def _holds(consent: ContactConsent, on: date | None) -> bool:
    """Whether a client's latest consent to a channel holds: not withdrawn, and given by
    `on` (if asked)."""
    return consent.withdrawn_at is None and (on is None or consent.given_on <= on)


def give_consent(
    session: Session, case: Case, channel: MessageChannel, on: date, actor: str, at: datetime
) -> ContactConsent:
    """The client consents to messages by `channel` from `on`. Audited on the case."""
    held = consent_of(session, case.client_id, channel)
    if held is not None:
        raise InputError(
            f"{case.case_number}: the client has consented to {channel.value} messages since "
            f"{held.given_on}; nothing was changed"
        )
    if on > at.date() + timedelta(days=1):
        raise InputError(f"--on: {on} is in the future; consent is recorded once it is given")
    row = ContactConsent(
        client_id=case.client_id, channel=channel.value, given_on=on, recorded_by=actor
    )
    session.add(row)
    session.flush()
    audit.record(
        session, case, actor, "contact_consent_given", at, channel=channel.value, on=str(on)
    )
    return row


def withdraw_consent(
    session: Session, case: Case, channel: MessageChannel, actor: str, at: datetime
) -> ContactConsent:
    """The client's consent to `channel` ends now (by staff, or by the client's STOP)."""
    held = consent_of(session, case.client_id, channel)
    if held is None:
        raise InputError(
            f"{case.case_number}: the client has no consent to {channel.value} messages to "
            "withdraw; nothing was changed"
        )
    held.withdrawn_at, held.withdrawn_by = at, actor
    session.flush()
    audit.record(session, case, actor, "contact_consent_withdrawn", at, channel=channel.value)
    return held


def set_address(
    session: Session, case: Case, phone: str | None, email: str | None, actor: str, at: datetime
) -> None:
    """Record the client's phone or email address (store only; audited without them)."""
    client = session.get(Client, case.client_id)
    assert client is not None
    changed = []
    if phone is not None:
        if not re.fullmatch(PHONE_PATTERN, phone.strip()) or not digits(phone):
            raise InputError(f"--phone: {phone!r} is not a phone number")
        client.phone = phone.strip()  # duplicate detection keeps the phone given at intake
        changed.append("phone")
    if email is not None:
        if not EMAIL.fullmatch(email.strip()) or len(email.strip()) > 254:
            raise InputError(f"--email: {email!r} is not an email address")
        client.email = email.strip()
        changed.append("email")
    session.flush()
    audit.record(session, case, actor, "client_address_recorded", at, changed=changed)


# -- what falls due ------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A message that falls due, before it is kept: coded only."""

    case_id: int
    kind: MessageKind
    subject: str
    key: str
    due_at: datetime


def _local(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """A local day and time of day, as UTC (a time the clocks skip: the hour after)."""
    first = datetime.combine(day, moment, tzinfo=zone)
    back = first.astimezone(UTC).astimezone(zone)
    return (first if back.replace(tzinfo=None) == first.replace(tzinfo=None) else back).astimezone(
        UTC
    )


def quiet(moment: datetime, hours: tuple[time, time], zone: ZoneInfo) -> bool:
    """Whether `moment` falls in the quiet hours (local), which may run past midnight."""
    start, end = hours
    clock = moment.astimezone(zone).time()
    if start <= end:
        return start <= clock < end
    return clock >= start or clock < end


def _open_cases(case_id: int | None) -> ColumnElement[bool]:
    """The open cases a sweep looks at: all of them, or the one it was asked about."""
    opened = Case.status == CaseStatus.OPEN.value
    return opened if case_id is None else and_(opened, Case.id == case_id)


def _appointment_reminders(
    session: Session, as_of: datetime, morning: time, zone: ZoneInfo, case_id: int | None
) -> Iterator[Due]:
    query = (
        select(Appointment.case_id, Appointment.number, Appointment.at)
        .join(Case, Case.id == Appointment.case_id)
        .where(
            _open_cases(case_id),
            Appointment.episode == Case.episode,
            Appointment.status == AppointmentStatus.SCHEDULED.value,
            Appointment.at > as_of,
            Appointment.at < as_of + timedelta(days=3),
        )
    )
    morning = max(morning, EARLIEST_MORNING)
    for row in session.execute(query):
        day = row.at.astimezone(zone).date()
        on_the_day = _local(day, morning, zone)
        the_day_before = _local(day - timedelta(days=1), SEND_AT, zone)
        if the_day_before <= as_of < min(on_the_day, row.at):
            kind = MessageKind.APPOINTMENT_TOMORROW
            yield Due(row.case_id, kind, row.number, f"{kind.value}:{row.number}", the_day_before)
        if on_the_day <= as_of < row.at:
            kind = MessageKind.APPOINTMENT_TODAY
            yield Due(row.case_id, kind, row.number, f"{kind.value}:{row.number}", on_the_day)


def _missed(
    session: Session, as_of: datetime, configs: dict[Program, ProgramConfig], case_id: int | None
) -> Iterator[Due]:
    query = (
        select(Appointment.case_id, Appointment.number, Appointment.outcome_at, Case.program)
        .join(Case, Case.id == Appointment.case_id)
        .where(
            _open_cases(case_id),
            Appointment.episode == Case.episode,
            Appointment.status == AppointmentStatus.MISSED.value,
            Appointment.outcome_at <= as_of,
            Appointment.outcome_at > as_of - timedelta(days=60),
            ~rebooked(),
        )
    )
    kind = MessageKind.APPOINTMENT_MISSED
    for row in session.execute(query):
        window = timedelta(days=configs[Program(row.program)].rebook_within_days)
        if as_of < row.outcome_at + window:
            yield Due(row.case_id, kind, row.number, f"{kind.value}:{row.number}", row.outcome_at)


def _check_ins(
    session: Session,
    as_of: datetime,
    configs: dict[Program, ProgramConfig],
    zone: ZoneInfo,
    case_id: int | None,
) -> Iterator[Due]:
    query = select(Case.id, Case.program, Case.last_contact_at, Case.stage_entered_at).where(
        _open_cases(case_id), Case.stage == Stage.MONITORING.value
    )
    kind = MessageKind.CHECK_IN
    for row in session.execute(query):
        config = configs[Program(row.program)]
        since = max(row.last_contact_at, row.stage_entered_at).astimezone(UTC).date()
        lapses_on = since + timedelta(days=config.contact_interval_days)  # its last day
        due_at = _local(lapses_on - timedelta(days=config.check_in_days_before), SEND_AT, zone)
        if due_at <= as_of < _local(lapses_on + timedelta(days=1), time(), zone):
            key = f"{kind.value}:{row.id}:{lapses_on.isoformat()}"
            yield Due(row.id, kind, lapses_on.isoformat(), key, due_at)


def _dated(
    session: Session,
    as_of: datetime,
    configs: dict[Program, ProgramConfig],
    zone: ZoneInfo,
    case_id: int | None,
) -> Iterator[Due]:
    # Only dates within the longest reminder window are read (a day either side, zones).
    first = as_of.date() - timedelta(days=1)
    last = as_of.date() + timedelta(days=max(c.reminder_days_before for c in configs.values()) + 1)
    benefits = (
        select(Benefit.case_id, Benefit.kind, Benefit.recertify_by, Case.program)
        .join(Case, Case.id == Benefit.case_id)
        .where(
            _open_cases(case_id),
            Benefit.active.is_(True),
            Benefit.recertify_by.between(first, last),
        )
    )
    for row in session.execute(benefits):
        kind, by = MessageKind.RECERTIFICATION, row.recertify_by
        key = f"{kind.value}:{row.case_id}:{row.kind}:{by.isoformat()}"
        yield from _before(
            kind, row.case_id, row.kind, key, by, configs[Program(row.program)], as_of, zone
        )
    notices = (
        select(
            AdverseNotice.case_id, AdverseNotice.number, AdverseNotice.aid_deadline, Case.program
        )
        .join(Case, Case.id == AdverseNotice.case_id)
        .where(
            _open_cases(case_id),
            AdverseNotice.episode == Case.episode,
            AdverseNotice.awaiting,
            AdverseNotice.aid_deadline.between(first, last),
        )
    )
    for notice in session.execute(notices):
        kind, by = MessageKind.AID_DEADLINE, notice.aid_deadline
        assert by is not None
        key = f"{kind.value}:{notice.case_id}:{notice.number}"
        yield from _before(
            kind,
            notice.case_id,
            f"notice {notice.number}",
            key,
            by,
            configs[Program(notice.program)],
            as_of,
            zone,
        )


def _before(
    kind: MessageKind,
    case_id: int,
    subject: str,
    key: str,
    by: date,
    config: ProgramConfig,
    as_of: datetime,
    zone: ZoneInfo,
) -> Iterator[Due]:
    due_at = _local(by - timedelta(days=config.reminder_days_before), SEND_AT, zone)
    if due_at <= as_of < _local(by + timedelta(days=1), time(), zone):
        yield Due(case_id, kind, subject, key, due_at)


@dataclass(frozen=True)
class Planned:
    """What one sweep found and kept: new messages, and those it passed over (no channel,
    no consent), by case number and kind."""

    kept: list[Message]
    passed: list[tuple[str, str, str]]  # (case number, kind, why)


def plan(
    session: Session,
    as_of: datetime,
    configs: dict[Program, ProgramConfig],
    zone: ZoneInfo,
    morning: time,
    case_id: int | None = None,
) -> Planned:
    """Keep a message row for each message due as of `as_of` that has none yet and may go
    (the client's preference names a channel they have an address for, and they consent to
    it). Once only: the row's key is unique, whichever sweep finds it first keeps it. The
    cases, clients and consents are read in bulk, a few queries per thousand messages."""
    found = [
        *_appointment_reminders(session, as_of, morning, zone, case_id),
        *_missed(session, as_of, configs, case_id),
        *_check_ins(session, as_of, configs, zone, case_id),
        *_dated(session, as_of, configs, zone, case_id),
    ]
    known: set[str] = set()
    for chunk in _chunks([d.key for d in found]):
        known.update(session.scalars(select(Message.key).where(Message.key.in_(chunk))))
    due = [item for item in found if item.key not in known]
    recipients = _recipients(session, {item.case_id for item in due})
    consented = _consented(session, {r.client_id for r in recipients.values()}, as_of.date())
    new, passed = [], []
    for item in due:
        to = recipients[item.case_id]
        if to.channel is None:
            passed.append((to.case_number, item.kind.value, "no_channel"))
            continue
        if (to.client_id, to.channel.value) not in consented:
            passed.append((to.case_number, item.kind.value, f"no_{to.channel.value}_consent"))
            continue
        new.append(
            {
                "key": item.key,
                "case_id": item.case_id,
                "episode": to.episode,
                "client_id": to.client_id,
                "kind": item.kind.value,
                "subject": item.subject,
                "channel": to.channel.value,
                "language": language_of(to.language),
                "status": MessageStatus.PENDING.value,
                "due_at": item.due_at,
                "next_attempt_at": item.due_at,
                "attempts": 0,
            }
        )
    return Planned(_insert_once(session, new), passed)


def _insert_once(session: Session, rows: list[dict[str, Any]]) -> list[Message]:
    """Insert the rows whose key is not taken (another sweep may have just kept one: ON
    CONFLICT DO NOTHING), number them by their ids, and return them: a few statements per
    500 messages."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    ids: list[int] = []
    for chunk in _chunks(rows, 500):
        statement = (
            dialect.insert(Message)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(Message.id)
        )
        ids += [int(i) for i in session.scalars(statement, chunk)]
    if ids:
        session.execute(update(Message), [{"id": i, "number": f"MSG-{i:06d}"} for i in ids])
    kept: list[Message] = []
    for chunk in _chunks(sorted(ids)):
        kept += session.scalars(select(Message).where(Message.id.in_(chunk)).order_by(Message.id))
    return kept


def _chunks(values: list[Any], size: int = 900) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class _Recipient:
    case_number: str
    episode: int
    client_id: int
    channel: MessageChannel | None
    language: str


def _recipients(session: Session, case_ids: set[int]) -> dict[int, _Recipient]:
    """Each case's client as a message needs them: the channel they can be reached by."""
    found = {}
    for chunk in _chunks(sorted(case_ids)):
        query = (
            select(
                Case.id,
                Case.case_number,
                Case.episode,
                Case.client_id,
                Client.contact_preference,
                Client.phone,
                Client.email,
                Client.language,
            )
            .join(Client, Client.id == Case.client_id)
            .where(Case.id.in_(chunk))
        )
        for row in session.execute(query):
            channel = reachable(row.contact_preference, row.phone, row.email)
            found[row.id] = _Recipient(
                row.case_number or "", row.episode, row.client_id, channel, row.language
            )
    return found


def _consented(session: Session, client_ids: set[int], on: date) -> set[tuple[int, str]]:
    """The (client, channel) pairs whose latest consent holds on `on`."""
    latest: dict[tuple[int, str], ContactConsent] = {}
    for chunk in _chunks(sorted(client_ids)):
        query = (
            select(ContactConsent)
            .where(ContactConsent.client_id.in_(chunk))
            .order_by(ContactConsent.id)
        )
        for row in session.scalars(query):
            latest[(row.client_id, row.channel)] = row
    return {pair for pair, row in latest.items() if _holds(row, on)}


def language_of(code: str | None) -> str:
    """The catalogue a client's language reads: `es-MX` reads Spanish; unknown, English."""
    base = (code or "en").split("-")[0].lower()
    return base if base in LANGUAGES else "en"


# -- delivery ------------------------------------------------------------------------------


def deliverable(
    session: Session, as_of: datetime, case_id: int | None = None, limit: int = 500
) -> list[int]:
    """The ids of pending messages whose next attempt has come (of one case, if given)."""
    query = (
        select(Message.id)
        .where(Message.status == MessageStatus.PENDING.value, Message.next_attempt_at <= as_of)
        .order_by(Message.next_attempt_at, Message.id)
        .limit(limit)
    )
    if case_id is not None:
        query = query.where(Message.case_id == case_id)
    return list(session.scalars(query))


def claim(session: Session, message_id: int, now: datetime) -> bool:
    """Take a pending message for delivery, unless another sweep holds it: one UPDATE, so
    two sweeps never both take it. The claim lapses after CLAIM_LEASE."""
    taken = session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status == MessageStatus.PENDING.value,
            or_(Message.claimed_until.is_(None), Message.claimed_until < now),
        )
        .values(claimed_until=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(taken, "rowcount", 0))


@dataclass(frozen=True)
class Outgoing:
    """One message, rendered and addressed: what delivery needs, and no more. Its `text`
    and `to` bear identity: they go to the relay or provider, never to a log or a run."""

    message_id: int
    number: str
    channel: MessageChannel
    to: str
    subject: str
    text: str
    language: str


def still_wanted(session: Session, message: Message, as_of: datetime) -> str | None:
    """Why a claimed message should no longer go, if it should not: the consent or the
    address is gone, or the appointment it is about is no longer as it said."""
    client = session.get(Client, message.client_id)
    assert client is not None
    channel = MessageChannel(message.channel)
    if channel_for(client) is not channel:
        return "the client's contact preference or address changed"
    if consent_of(session, client.id, channel, as_of.date()) is None:
        return f"no consent to {channel.value} messages"
    kind = MessageKind(message.kind)
    if kind in APPOINTMENT_KINDS:
        appointment = session.scalars(
            select(Appointment).where(Appointment.number == message.subject)
        ).first()
        wanted = (
            AppointmentStatus.MISSED
            if kind is MessageKind.APPOINTMENT_MISSED
            else AppointmentStatus.SCHEDULED
        )
        if appointment is None or appointment.status != wanted.value:
            return f"{message.subject} is no longer {wanted.value}"
        if kind is not MessageKind.APPOINTMENT_MISSED and appointment.at <= as_of:
            return f"{message.subject} has begun"
    return None


def withhold(session: Session, message: Message, why: str) -> None:
    message.status, message.error, message.claimed_until = MessageStatus.WITHHELD.value, why, None
    session.flush()


def delivered(session: Session, message_id: int, at: datetime) -> None:
    message = session.get(Message, message_id)
    assert message is not None
    message.attempts += 1
    message.status, message.sent_at, message.claimed_until = MessageStatus.SENT.value, at, None
    message.error = None
    session.flush()


def not_delivered(
    session: Session,
    message_id: int,
    why: str,
    as_of: datetime,
    attempts: int,
    backoff_minutes: list[float],
    final: bool = False,
) -> None:
    """A failed attempt: tried again after its backoff, or failed after the last attempt
    (or at once, when `final`: a channel not configured is not fixed by waiting)."""
    message = session.get(Message, message_id)
    assert message is not None
    message.attempts += 1
    message.error, message.claimed_until = why[:200], None
    if final or message.attempts >= attempts:
        message.status = MessageStatus.FAILED.value
    else:
        wait = backoff_minutes[min(message.attempts, len(backoff_minutes)) - 1]
        message.next_attempt_at = as_of + timedelta(minutes=wait)
    session.flush()


# -- the words -----------------------------------------------------------------------------


@cache
def _translations(language: str) -> Any:
    """The language's catalogue (message_texts/<lang>.po, read as babel reads it); English
    is the templates' own words."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    if language == "en":
        return NullTranslations()
    with (TEXTS / f"{language}.po").open("rb") as source:
        catalogue = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


@cache
def _environment(language: str) -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(TEXTS),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        autoescape=False,  # plain text: an SMS or a text/plain email
        lstrip_blocks=True,
    )
    env.install_gettext_translations(_translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


@dataclass(frozen=True)
class Voice:
    """How the agency signs and what number it gives: from the settings."""

    agency: str | None
    phone: str | None
    zone: ZoneInfo


def render(session: Session, message: Message, voice: Voice) -> tuple[str, str]:
    """The message's subject line (for email) and text, in its language, from the store as
    it is now. A discreet program's messages name neither the program, nor whom the client
    sees or where, nor which benefit."""
    from babel.dates import format_date, format_time

    from casework.models.programs import programs

    case = session.get(Case, message.case_id)
    assert case is not None
    config = programs()[Program(case.program)]
    locale = message.language
    context: dict[str, Any] = {
        "sms": message.channel == MessageChannel.SMS.value,
        "agency": voice.agency,
        "phone": voice.phone,
        "program": None if config.discreet_messages else config.title,
        "with_whom": None,
        "place": None,
    }

    def day(value: date) -> str:
        return str(format_date(value, format="full", locale=locale))

    kind = MessageKind(message.kind)
    if kind in APPOINTMENT_KINDS:
        appointment = session.scalars(
            select(Appointment).where(Appointment.number == message.subject)
        ).one()
        local = appointment.at.astimezone(voice.zone)
        context.update(
            date=day(local.date()),
            time=str(format_time(local.time(), format="short", locale=locale)),
        )
        if not config.discreet_messages:
            context.update(with_whom=appointment.with_whom, place=appointment.place)
    elif kind is MessageKind.CHECK_IN:
        pass
    elif kind is MessageKind.RECERTIFICATION:
        benefit = message.key.split(":")[2]
        by = date.fromisoformat(message.key.split(":")[3])
        context.update(date=day(by), benefit=None if config.discreet_messages else label(benefit))
    else:
        notice = session.scalars(
            select(AdverseNotice).where(
                AdverseNotice.case_id == case.id,
                AdverseNotice.number == int(message.subject.split()[-1]),
            )
        ).one()
        assert notice.aid_deadline is not None
        context.update(date=day(notice.aid_deadline))
    env = _environment(locale)
    text = env.get_template(f"{kind.value}.txt").render(**context)
    subject = env.get_template("subject.txt").render(**context)
    return _lines(subject), _lines(text)


def _lines(rendered: str) -> str:
    """A rendered text's lines, trimmed, without empty ones; and plain spaces where the
    locale's formats put narrow or no-break ones (which cost a text message its GSM
    alphabet)."""
    plain = rendered.replace("\u202f", " ").replace("\xa0", " ")
    return "\n".join(" ".join(line.split()) for line in plain.splitlines() if line.strip())


def outgoing(session: Session, message: Message, voice: Voice) -> Outgoing:
    client = session.get(Client, message.client_id)
    assert client is not None
    channel = MessageChannel(message.channel)
    to = client.phone if channel is MessageChannel.SMS else client.email
    assert to is not None
    subject, text = render(session, message, voice)
    return Outgoing(message.id, message.number or "", channel, to, subject, text, message.language)


# -- what clients and staff see ------------------------------------------------------------


def for_case(session: Session, case: Case) -> list[Message]:
    query = select(Message).where(Message.case_id == case.id).order_by(Message.due_at, Message.id)
    return list(session.scalars(query))


def consents_of(session: Session, client_id: int) -> list[ContactConsent]:
    query = (
        select(ContactConsent)
        .where(ContactConsent.client_id == client_id)
        .order_by(ContactConsent.id)
    )
    return list(session.scalars(query))


def failures(session: Session, since: datetime) -> tuple[list[tuple[str, str, int]], int]:
    """For `casework status`: messages failed since `since`, by channel and why; and how
    many pending ones wait for another attempt."""
    failed = [
        (str(row[0]), str(row[1] or "-"), int(row[2]))
        for row in session.execute(
            select(Message.channel, Message.error, func.count())
            .where(Message.status == MessageStatus.FAILED.value, Message.updated >= since)
            .group_by(Message.channel, Message.error)
            .order_by(Message.channel, Message.error)
        )
    ]
    retrying = session.scalar(
        select(func.count()).where(
            Message.status == MessageStatus.PENDING.value, Message.attempts > 0
        )
    )
    return failed, int(retrying or 0)


# -- replies -------------------------------------------------------------------------------


def keyword(text: str) -> ReplyKeyword | None:
    """The reply's keyword, when the whole reply is one (case and punctuation aside)."""
    word = re.sub(r"[^\wÍí]", "", text.strip()).upper()
    for found, words in KEYWORDS.items():
        if word in words:
            return found
    return None


@dataclass(frozen=True)
class Reply:
    """What a reply did, coded: the case, the message it answered, and its keyword."""

    case_number: str
    message: str
    keyword: ReplyKeyword | None
    done: str  # what was recorded: confirmed, cancelled, stopped, noted


def answered(session: Session, sender: str, at: datetime) -> Message | None:
    """The latest text message sent to the number `sender` (the message a reply answers)."""
    wanted = digits(sender)
    if wanted is None:
        return None
    query = (
        select(Message, Client.phone)
        .join(Client, Client.id == Message.client_id)
        .where(
            Message.channel == MessageChannel.SMS.value,
            Message.status == MessageStatus.SENT.value,
            Message.sent_at > at - REPLY_WINDOW,
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
    )
    for message, phone in session.execute(query):
        if digits(phone) == wanted:
            found: Message = message
            return found
    return None


def printable(text: str) -> str:
    """A reply as it may be kept: control and format characters (which a phone may send,
    inside an emoji) as spaces."""
    return "".join(
        " " if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} and ch not in "\n\t" else ch
        for ch in text
    )


def take_reply(session: Session, sender: str, text: str, at: datetime) -> Reply | None:
    """Record a client's text reply on the case of the message it answers (None: no text
    message went to that number; nothing is recorded). The words are kept as a contact."""
    message = answered(session, sender, at)
    if message is None:
        return None
    case = session.get(Case, message.case_id)
    assert case is not None
    words = printable(text).strip()[:1000] or "(an empty reply)"
    found = keyword(words)
    number = message.number or ""
    add_contact(
        session,
        case,
        ContactIn(contact_type=ContactType.TEXT_REPLY, text=f"Reply to {number}: {words}"),
        CLIENT,
        at,
    )
    done = "noted"
    if found is ReplyKeyword.STOP:
        if consent_of(session, message.client_id, MessageChannel.SMS) is not None:
            withdraw_consent(session, case, MessageChannel.SMS, CLIENT, at)
        done = "stopped"
    elif found is not None and MessageKind(message.kind) in APPOINTMENT_KINDS[:2]:
        done = _answer_appointment(session, case, message.subject, found, at)
    audit.record(
        session,
        case,
        CLIENT,
        "message_reply",
        at,
        message=number,
        keyword=found.value if found else None,
        done=done,
    )
    return Reply(case.case_number or "", number, found, done)


def _answer_appointment(
    session: Session, case: Case, number: str, found: ReplyKeyword, at: datetime
) -> str:
    from casework.models.appointments import record

    appointment = session.scalars(select(Appointment).where(Appointment.number == number)).first()
    if appointment is None or appointment.status != AppointmentStatus.SCHEDULED.value:
        return "noted"
    if found is ReplyKeyword.CONFIRM:
        appointment.confirmed_at = at
        session.flush()
        audit.record(session, case, CLIENT, "appointment_confirmed", at, appointment=number)
        return "confirmed"
    if found is ReplyKeyword.CANCEL and appointment.at > at:
        record(session, appointment, AppointmentStatus.CANCELLED, CLIENT, at)
        return "cancelled"
    return "noted"


def get(session: Session, number: str) -> Message:
    if not NUMBER.match(number.upper()):
        raise InputError(f"{number!r} is not a message number (MSG-000001)")
    found = session.scalars(select(Message).where(Message.number == number.upper())).first()
    if found is None:
        raise InputError(f"no message {number.upper()}")
    return found
