"""Messages to clients, in the store: what falls due and when (in the agency's zone, right
across a daylight-saving change), kept once however many sweeps find it, only by the
client's preferred channel and with their consent; the words in their language, saying
nothing a discreet program's client would not want read over their shoulder; a reply's
keywords. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.core.errors import InputError
from casework.models import appointments, benefits, messages
from casework.models.appointments import Booking
from casework.models.codes import (
    AppointmentKind,
    BenefitKind,
    ContactPreference,
    MessageChannel,
    MessageKind,
    MessageStatus,
    Program,
    ReplyKeyword,
)
from casework.models.messages import TEXTS, Voice
from casework.models.orm import Appointment, Case, ContactConsent, Message
from casework.models.programs import ProgramConfig, programs
from tests import factories

NEW_YORK = ZoneInfo("America/New_York")
MORNING = time(8, 0)
WITH, PLACE = "Dr Alvarez", "12 Elm Street, clinic B"


def _texting(session: Session, case: Case, language: str = "en") -> None:
    client = case.client
    client.contact_preference, client.language = ContactPreference.TEXT.value, language
    session.flush()


def _consent(session: Session, case: Case, channel: MessageChannel = MessageChannel.SMS) -> None:
    messages.give_consent(
        session, case, channel, date(2026, 1, 1), factories.STAFF, datetime(2026, 1, 1, tzinfo=UTC)
    )


def _book(
    session: Session, case: Case, when: str, kind: AppointmentKind, place: str | None = None
) -> Appointment:
    booking = Booking(_at(when), kind, WITH, place)
    return appointments.book(
        session, case, booking, factories.STAFF, datetime(2026, 10, 20, tzinfo=UTC)
    )


def _plan(session: Session, as_of: datetime, configs: dict[Program, ProgramConfig] | None = None):  # type: ignore[no-untyped-def]
    return messages.plan(session, as_of, configs or programs(), NEW_YORK, MORNING)


def _at(text: str) -> datetime:
    return appointments.local_time(text, NEW_YORK)


def test_reminders_fall_due_the_day_before_and_that_morning_across_the_clock_change(
    session: Session, case: Case
) -> None:
    """The appointment is the Monday after the clocks go back (1 November 2026): the day
    before's reminder is due at 10:00 EST (15:00 UTC), not an hour off; that morning's at
    the end of the quiet hours, 08:00 EST."""
    _texting(session, case)
    _consent(session, case)
    booked = _book(session, case, "2026-11-02 14:00", AppointmentKind.MEDICAL, PLACE)
    assert _plan(session, _at("2026-11-01 09:59")).kept == []
    [tomorrow] = _plan(session, _at("2026-11-01 10:00")).kept
    assert (tomorrow.kind, tomorrow.subject, tomorrow.channel, tomorrow.status) == (
        MessageKind.APPOINTMENT_TOMORROW.value,
        booked.number,
        "sms",
        "pending",
    )
    assert tomorrow.due_at == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
    assert _plan(session, _at("2026-11-01 18:00")).kept == []  # kept once, whoever sweeps
    [today] = _plan(session, _at("2026-11-02 08:10")).kept
    assert (today.kind, today.due_at) == (
        MessageKind.APPOINTMENT_TODAY.value,
        datetime(2026, 11, 2, 13, 0, tzinfo=UTC),
    )
    assert _plan(session, _at("2026-11-02 14:30")).kept == []  # it has begun: nothing more


def test_no_consent_or_no_channel_keeps_nothing(session: Session, case: Case) -> None:
    """A reminder goes only by the channel the client prefers, with an address, and only
    once they consent to it; withdrawn, nothing more is kept."""
    _book(session, case, "2026-11-10 14:00", AppointmentKind.OFFICE)
    as_of = _at("2026-11-09 12:00")
    assert _plan(session, as_of).passed == [
        (case.case_number, "appointment_tomorrow", "no_channel")  # preference: phone calls
    ]
    _texting(session, case)
    assert _plan(session, as_of).passed == [
        (case.case_number, "appointment_tomorrow", "no_sms_consent")
    ]
    _consent(session, case, MessageChannel.EMAIL)  # consent to the other channel: not enough
    assert _plan(session, as_of).kept == []
    _consent(session, case)
    assert len(_plan(session, as_of).kept) == 1
    assert session.scalar(select(Message.status)) == "pending"

    messages.withdraw_consent(
        session, case, MessageChannel.SMS, factories.STAFF, datetime(2026, 11, 9, 18, tzinfo=UTC)
    )
    message = session.scalars(select(Message)).one()
    assert messages.still_wanted(session, message, _at("2026-11-09 19:00")) == (
        "no consent to sms messages"
    )


def test_consent_is_given_and_withdrawn_once_in_one_line(session: Session, case: Case) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    _consent(session, case)
    with pytest.raises(InputError, match=r"has consented to sms messages since 2026-01-01"):
        _consent(session, case)
    messages.withdraw_consent(session, case, MessageChannel.SMS, "cm.tester", at)
    with pytest.raises(InputError, match="no consent to sms messages to withdraw"):
        messages.withdraw_consent(session, case, MessageChannel.SMS, "cm.tester", at)
    with pytest.raises(InputError, match="--on: 2026-12-01 is in the future"):
        messages.give_consent(session, case, MessageChannel.SMS, date(2026, 12, 1), "x", at)
    with pytest.raises(InputError, match="--email: 'not-an-address' is not an email address"):
        messages.set_address(session, case, None, "not-an-address", "x", at)
    rows = session.scalars(select(ContactConsent)).all()
    assert [(r.channel, r.withdrawn_by) for r in rows] == [("sms", "cm.tester")]


def test_quiet_hours_run_past_midnight_in_the_agency_zone() -> None:
    hours = (time(21, 0), time(8, 0))
    assert messages.quiet(_at("2026-11-02 21:30"), hours, NEW_YORK)
    assert messages.quiet(_at("2026-11-03 07:59"), hours, NEW_YORK)
    assert not messages.quiet(_at("2026-11-03 08:00"), hours, NEW_YORK)
    assert not messages.quiet(_at("2026-11-03 20:59"), hours, NEW_YORK)
    assert messages.quiet(_at("2026-11-03 13:00"), (time(12, 0), time(14, 0)), NEW_YORK)


def _rendered(session: Session, case: Case, as_of: datetime) -> tuple[str, str]:
    message = session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert message is not None
    return messages.render(session, message, Voice(None, "555-0100", NEW_YORK))


def test_the_words_are_the_clients_language_and_discreet_by_default(
    session: Session, case: Case, in_new_york: ZoneInfo
) -> None:
    _texting(session, case, language="es-MX")
    _consent(session, case)
    _book(session, case, "2026-11-02 14:00", AppointmentKind.MEDICAL, PLACE)
    _plan(session, _at("2026-11-01 12:00"))
    subject, text = _rendered(session, case, _at("2026-11-01 12:00"))
    assert subject == "Un mensaje de su administrador de casos"
    assert "Recordatorio: tiene una cita el lunes, 2 de noviembre de 2026 a las 14:00." in text
    assert "CONFIRMAR" in text
    assert "ALTO" in text
    for private in (WITH, PLACE, "Housing", "housing"):  # discreet: the shipped default
        assert private not in text

    told = {**programs()}
    told[Program.HOUSING] = told[Program.HOUSING].model_copy(update={"discreet_messages": False})
    case.client.language = "en"
    session.flush()
    message = session.scalars(select(Message)).one()
    message.language = "en"
    session.flush()
    import casework.models.programs as configured

    original = configured.programs
    configured.programs = lambda: told  # type: ignore[assignment]
    try:
        _, text = _rendered(session, case, _at("2026-11-01 12:00"))
    finally:
        configured.programs = original
    assert "your Housing stability appointment is on Monday, November 2, 2026 at 2:00 PM." in text
    assert f"With: {WITH}" in text
    assert f"Where: {PLACE}" in text
    assert "Reply CONFIRM to confirm or CANCEL to cancel." in text


def test_every_english_text_has_its_spanish_translation() -> None:
    """The catalogue covers every sentence the templates say (babel extracts them as a
    translator's tools would), and says nothing they no longer say."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    options = {"extensions": "jinja2.ext.i18n", "lstrip_blocks": "true"}
    said = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(TEXTS), method_map=[("*.txt", "jinja2")], options_map={"*.txt": options}
        )
    }
    with (TEXTS / "es.po").open("rb") as source:
        catalogue = read_po(source, locale="es")
    translated = {m.id: m.string for m in catalogue if m.id}
    assert said == set(translated)
    assert all(translated.values())
    assert not [m.id for m in catalogue if m.fuzzy and m.id]


def test_dated_reminders_fall_due_days_before(session: Session, case: Case) -> None:
    """A recertification date and an aid-continuing deadline are reminded the program's
    `reminder_days_before` ahead (7), at 10:00 local; until the day itself."""
    _texting(session, case)
    _consent(session, case)
    benefits.record_benefit(
        session, case, BenefitKind.SNAP, date(2026, 11, 20), "x", datetime(2026, 10, 1, tzinfo=UTC)
    )
    assert _plan(session, _at("2026-11-13 09:59")).kept == []
    [kept] = _plan(session, _at("2026-11-13 10:00")).kept
    assert (kept.kind, kept.subject) == ("recertification", "snap")
    assert _plan(session, _at("2026-11-21 00:01")).kept == []


@pytest.mark.parametrize(
    ("reply", "keyword"),
    [
        ("CONFIRM", ReplyKeyword.CONFIRM),
        (" confirm. ", ReplyKeyword.CONFIRM),
        ("Sí", ReplyKeyword.CONFIRM),
        ("cancelar", ReplyKeyword.CANCEL),
        ("STOP", ReplyKeyword.STOP),
        ("Alto", ReplyKeyword.STOP),
        ("can we move it to Friday?", None),
        ("stop by tomorrow", None),
    ],
)
def test_a_reply_is_a_keyword_only_when_it_is_one_word(reply: str, keyword: object) -> None:
    assert messages.keyword(reply) is keyword


def test_a_failed_delivery_waits_then_fails_after_the_last_attempt(
    session: Session, case: Case
) -> None:
    _texting(session, case)
    _consent(session, case)
    _book(session, case, "2026-11-10 14:00", AppointmentKind.OFFICE)
    as_of = _at("2026-11-09 12:00")
    [message] = _plan(session, as_of).kept
    assert messages.claim(session, message.id, as_of)
    assert not messages.claim(session, message.id, as_of)  # held: another sweep passes it by
    messages.not_delivered(session, message.id, "HTTP 500", as_of, 2, [5.0])
    session.refresh(message)
    assert (message.status, message.attempts) == (MessageStatus.PENDING.value, 1)
    assert message.next_attempt_at == as_of + timedelta(minutes=5)
    assert messages.deliverable(session, as_of + timedelta(minutes=4)) == []
    assert messages.deliverable(session, as_of + timedelta(minutes=5)) == [message.id]
    messages.not_delivered(session, message.id, "HTTP 500", as_of, 2, [5.0])
    session.refresh(message)
    assert (message.status, message.error) == (MessageStatus.FAILED.value, "HTTP 500")
    failed, retrying = messages.failures(session, datetime(2000, 1, 1, tzinfo=UTC))
    assert (failed, retrying) == ([("sms", "HTTP 500", 1)], 0)
