"""Messages to clients through the real stack: the `client-messages` sweep as real flow
runs at `as_of` moments, a real SMTP relay and an SMS gateway of our own on loopback, and
the client's replies posted by that gateway to the hook of the desk `casework up` serves.
Each trigger is walked: the reminder sent (the day before and that morning, right across
the clocks going forward), confirmed and cancelled by reply, an appointment missed (the
message waits out the quiet hours; the due item; the escalation), STOP, the consent gate;
an email in Spanish; a failing gateway retried with backoff, then failed and shown in
`casework status`. No address, name or message text reaches a Prefect surface."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from casework import services
from casework.core.db import session_scope
from casework.core.settings import get_settings
from casework.flows.sweeps import client_messages, stalled_case_sweep
from casework.models import appointments, benefits, messages
from casework.models.codes import (
    AppointmentKind,
    AppointmentStatus,
    BenefitKind,
    ContactPreference,
    MessageChannel,
    Stage,
)
from casework.models.due import due_list
from casework.models.orm import Appointment, Case, Contact, Escalation, Message
from casework.models.schemas import ClientIn
from tests import factories
from tests.conftest import DESK_PORT
from tests.messaging import SmsGateway, SmtpRelay
from tests.prefect_surfaces import identity_strings, surfaces_text

pytestmark = pytest.mark.prefect

NEW_YORK = ZoneInfo("America/New_York")
DESK = f"http://127.0.0.1:{DESK_PORT}"
WITH, PLACE = "Dr Alvarez", "12 Elm Street, clinic B"


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SmtpRelay, SmsGateway]]:
    """The relay and the gateway, configured for this process's flow runs (New York time,
    quiet from 21:00 to 08:00, two attempts five minutes apart)."""
    with SmtpRelay() as relay, SmsGateway() as gateway:
        for name, value in {
            "CASEWORK_SMTP_URL": relay.url,
            "CASEWORK_SMS_URL": gateway.url,
            "CASEWORK_TIMEZONE": "America/New_York",
            "CASEWORK_AGENCY_PHONE": "555-0100",
            "CASEWORK_MESSAGE_ATTEMPTS": "2",
            "CASEWORK_MESSAGE_RETRY_MINUTES": "[5]",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield relay, gateway
        monkeypatch.undo()
        get_settings.cache_clear()


def _local(text: str) -> datetime:
    return appointments.local_time(text, NEW_YORK)


def _sweep(as_of: datetime, runs: list[str], case_number: str) -> dict[str, object]:
    """The messages sweep of one case (what other tests left in the store is theirs)."""
    state = client_messages(as_of=as_of, case_number=case_number, return_state=True)
    assert state.is_completed(), state
    runs.append(str(state.state_details.flow_run_id))
    result = state.result()
    assert isinstance(result, dict)
    return result


def _client_case(preference: ContactPreference, language: str = "en") -> tuple[str, ClientIn]:
    client = factories.client_in().model_copy(
        update={"contact_preference": preference, "language": language}
    )
    with session_scope() as session:
        case = factories.new_case(session, client=client)
        return case.case_number or "", client


def _status_of(number: str) -> tuple[str, datetime | None]:
    with session_scope() as session:
        row = session.scalars(select(Appointment).where(Appointment.number == number)).one()
        return row.status, row.confirmed_at


def _replies(case_number: str) -> list[str]:
    with session_scope() as session:
        case = session.scalars(select(Case).where(Case.case_number == case_number)).one()
        rows = session.scalars(select(Contact).where(Contact.case_id == case.id))
        return [row.text for row in rows if row.contact_type == "text_reply"]


def _next_local(after: datetime, at: time) -> datetime:
    day = after.astimezone(NEW_YORK).date()
    moment = datetime.combine(day, at, tzinfo=NEW_YORK)
    return moment if moment > after else datetime.combine(day + timedelta(days=1), at, NEW_YORK)


def test_an_appointment_by_text_reminded_confirmed_cancelled_missed_and_escalated(
    stack: str, channels: tuple[SmtpRelay, SmsGateway]
) -> None:
    _, gateway = channels
    runs: list[str] = []
    number, client = _client_case(ContactPreference.TEXT)
    phone = "".join(ch for ch in str(client.phone) if ch.isdigit())
    # Monday 15 March 2027, the day after the clocks go forward in New York.
    first = services.appointments.book(
        number, "2027-03-15 10:00", AppointmentKind.MEDICAL, WITH, PLACE, "tester"
    )
    assert _sweep(_local("2027-03-14 10:05"), runs, number)["passed_over"] == 1  # no consent yet
    assert gateway.sent == []
    services.messages.record(number, "tester", allow=[MessageChannel.SMS])

    assert _sweep(_local("2027-03-14 09:55"), runs, number)["sent"] == 0  # due at 10:00 EDT
    assert _sweep(_local("2027-03-14 10:05"), runs, number)["sent"] == 1
    assert (
        _sweep(_local("2027-03-14 11:00"), runs, number)["kept"] == 0
    )  # once, however many sweeps
    [reminder] = gateway.sent
    assert reminder["to"] == phone
    assert (
        "Reminder: you have an appointment on Monday, March 15, 2027 at 10:00 AM."
        in (reminder["message"])
    )
    for private in (WITH, PLACE, "Housing", "housing"):  # a discreet program, as shipped
        assert private not in reminder["message"]

    assert gateway.reply(DESK, f"+1 {client.phone}", "Confirm") == 204
    status, confirmed = _status_of(first.number)
    assert status == "scheduled"
    assert confirmed is not None
    assert _sweep(_local("2027-03-15 07:55"), runs, number)["sent"] == 0  # quiet until 08:00
    assert _sweep(_local("2027-03-15 08:05"), runs, number)["sent"] == 1
    assert (
        "Today, Monday, March 15, 2027, at 10:00 AM: your appointment."
        in (gateway.sent[-1]["message"])
    )
    assert gateway.reply(DESK, str(client.phone), "CANCEL") == 204
    assert _status_of(first.number)[0] == "cancelled"
    assert _replies(number) == [
        f"Reply to {m}: {w}"
        for m, w in zip(_numbers(number)[:2], ("Confirm", "CANCEL"), strict=True)
    ]
    with session_scope() as session:
        [rebook] = [
            item
            for item in due_list(session, date(2027, 3, 15), 30, factories.STAFF)
            if item.case_number == number and item.what == "rebook"
        ]
    assert rebook.subject == f"{first.number} medical cancelled by the client"

    # A visit that was due two hours ago, missed: "we missed you" waits out the quiet hours.
    now = datetime.now(UTC)
    gone = services.appointments.book(
        number,
        f"{(now - timedelta(hours=2)).astimezone(get_settings().zone):%Y-%m-%d %H:%M}",
        AppointmentKind.HOME_VISIT,
        WITH,
        None,
        "tester",
    )
    services.appointments.record(gone.number, AppointmentStatus.MISSED, "tester")
    late = _next_local(now, time(22, 0))
    said = _sweep(late, runs, number)
    assert (said["kept"], said["sent"], said["quiet_hours"]) == (1, 0, True)
    assert _sweep(_next_local(late, time(8, 30)), runs, number)["sent"] == 1
    missed_text = gateway.sent[-1]["message"]
    assert "We missed you at your appointment on" in missed_text
    assert "Reply to this message or call 555-0100." in missed_text
    stalled = stalled_case_sweep(
        as_of=now + timedelta(days=9), case_number=number, return_state=True
    )
    assert stalled.is_completed()
    runs.append(str(stalled.state_details.flow_run_id))
    with session_scope() as session:
        rules = session.scalars(
            select(Escalation.rule).where(
                Escalation.case_number == number, Escalation.subject == gone.number
            )
        ).all()
    assert rules == ["appointment_missed"]

    # STOP: the consent to texts ends; the next reminder is not sent.
    assert gateway.reply(DESK, str(client.phone), "STOP") == 204
    with session_scope() as session:
        case = session.scalars(select(Case).where(Case.case_number == number)).one()
        assert messages.consent_of(session, case.client_id, MessageChannel.SMS) is None
    later = services.appointments.book(
        number, "2027-04-05 10:00", AppointmentKind.OFFICE, WITH, None, "tester"
    )
    sent = len(gateway.sent)
    assert _sweep(_local("2027-04-04 12:00"), runs, number)["passed_over"] == 1
    assert len(gateway.sent) == sent
    assert later.number

    # A reply from a number no message went to: ignored, nothing recorded.
    before = _replies(number)
    assert gateway.reply(DESK, "+1 999 000 1111", "CONFIRM") == 204
    assert _replies(number) == before
    assert gateway.reply(DESK, str(client.phone), "STOP", token="wrong-token-0123456789") == 401

    surfaces = surfaces_text(stack, runs)
    for private in [*identity_strings(client), WITH, PLACE, phone, "We missed you", "Reminder"]:
        assert private not in surfaces, private


def _numbers(case_number: str) -> list[str]:
    with session_scope() as session:
        case = session.scalars(select(Case).where(Case.case_number == case_number)).one()
        return [m.number or "" for m in messages.for_case(session, case) if m.status == "sent"]


def test_an_email_in_spanish_and_a_failing_gateway_shown_in_status(
    stack: str, channels: tuple[SmtpRelay, SmsGateway]
) -> None:
    relay, gateway = channels
    runs: list[str] = []
    number, _ = _client_case(ContactPreference.EMAIL, language="es")
    services.messages.record(
        number, "tester", email="cliente@example.org", allow=[MessageChannel.EMAIL]
    )
    with session_scope() as session:
        case = session.scalars(select(Case).where(Case.case_number == number)).one()
        benefits.record_benefit(
            session, case, BenefitKind.SNAP, date(2027, 2, 1), "tester", datetime.now(UTC)
        )
    assert _sweep(_local("2027-01-25 10:30"), runs, number)["sent"] == 1
    [mail] = [m for m in relay.mails if m["To"] == "cliente@example.org"]
    assert mail["Subject"] == "Un mensaje de su administrador de casos"
    assert mail["Content-Language"] == "es"
    body = mail.get_content()
    assert "Uno de sus beneficios debe renovarse antes del lunes, 1 de febrero de 2027." in body
    assert "Llame al 555-0100." in body
    with session_scope() as session:  # a notice to cut it: ask for a hearing by its deadline
        case = session.scalars(select(Case).where(Case.case_number == number)).one()
        notice = factories.notice(session, case, date(2027, 1, 26), date(2027, 2, 10))
        deadline = notice.aid_deadline
    assert deadline is not None
    reminded = _local(f"{deadline - timedelta(days=7)} 10:30")
    assert _sweep(reminded, runs, number)["sent"] == 1
    [aid] = [m for m in relay.mails if "audiencia" in m.get_content()]
    assert "pida una audiencia antes del " in aid.get_content()
    assert f"{deadline.day} de febrero de 2027" in aid.get_content()

    texting, _ = _client_case(ContactPreference.TEXT)
    services.messages.record(texting, "tester", allow=[MessageChannel.SMS])
    services.appointments.book(
        texting, "2027-01-26 15:00", AppointmentKind.OFFICE, WITH, None, "tester"
    )
    gateway.refuse = 5
    assert _sweep(_local("2027-01-25 10:40"), runs, texting)["retrying"] == 1
    assert (
        _sweep(_local("2027-01-25 10:44"), runs, texting)["retrying"] == 0
    )  # its backoff: 5 minutes
    assert _sweep(_local("2027-01-25 10:46"), runs, texting)["failed"] == 1
    assert gateway.refused == 2
    with session_scope() as session:
        failed = session.scalars(
            select(Message).where(Message.status == "failed", Message.channel == "sms")
        ).all()
    assert [m.error for m in failed][-1] == "the SMS provider did not take it"

    from casework.status import check

    actions = check().actions
    assert any(
        "sms message(s) to clients failed this week: the SMS provider did not take it" in line
        for line in actions
    ), actions
    assert "cliente@example.org" not in surfaces_text(stack, runs)


def test_a_check_in_before_the_contact_interval_lapses_then_the_ladder(
    stack: str, channels: tuple[SmtpRelay, SmsGateway]
) -> None:
    """In monitoring (housing: contact every 14 days), the client is texted a check-in 3
    days before the interval lapses; nobody gets in touch, so the lapse is on the case
    manager's day and escalated; a reply would have counted as contact."""
    _, gateway = channels
    runs: list[str] = []
    number, client = _client_case(ContactPreference.TEXT)
    entered = datetime(2027, 5, 3, 14, 0, tzinfo=UTC)
    with session_scope() as session:
        case = session.scalars(select(Case).where(Case.case_number == number)).one()
        factories.walk_to(session, case, Stage.MONITORING, entered)
        case.last_contact_at = entered
    services.messages.record(number, "tester", allow=[MessageChannel.SMS])
    assert _sweep(_local("2027-05-14 09:00"), runs, number)["sent"] == 0
    assert _sweep(_local("2027-05-14 10:00"), runs, number)["sent"] == 1  # 17 May lapses: 3 days
    assert gateway.sent[-1]["message"].startswith(
        "How are you doing? Your case manager would like to hear from you."
    )
    with session_scope() as session:
        [item] = [
            i
            for i in due_list(session, date(2027, 5, 14), 7, factories.STAFF)
            if i.case_number == number and i.what == "contact"
        ]
    assert item.due_on == date(2027, 5, 17)
    stalled = stalled_case_sweep(
        as_of=datetime(2027, 5, 19, 12, tzinfo=UTC), case_number=number, return_state=True
    )
    assert stalled.is_completed()
    with session_scope() as session:
        rules = session.scalars(
            select(Escalation.rule).where(Escalation.case_number == number)
        ).all()
    assert "no_contact" in rules
    assert str(client.phone) not in surfaces_text(stack, runs)


def test_a_future_as_of_previews_messages_and_sends_nothing(
    stack: str, channels: tuple[SmtpRelay, SmsGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the development switch, a sweep as of next week says what it would send
    and writes and sends nothing; a reply from a number no text went to is ignored, and
    the log says so without the number or the words."""
    _, gateway = channels
    number, _ = _client_case(ContactPreference.TEXT)
    services.messages.record(number, "tester", allow=[MessageChannel.SMS])
    soon = datetime.now(UTC) + timedelta(days=8)
    services.appointments.book(
        number,
        f"{soon.astimezone(NEW_YORK):%Y-%m-%d} 15:00",
        AppointmentKind.OFFICE,
        WITH,
        None,
        "tester",
    )
    monkeypatch.setenv("CASEWORK_WRITE_AHEAD", "off")
    get_settings.cache_clear()
    said = _sweep(_next_local(soon - timedelta(days=1), time(12, 0)), [], number)
    assert (said["preview"], said["kept"], said["sent"]) == (True, 1, 0)
    assert gateway.sent == []
    assert _numbers(number) == []
    with session_scope() as session:
        case = session.scalars(select(Case).where(Case.case_number == number)).one()
        assert messages.for_case(session, case) == []


def test_a_reply_from_an_unknown_number_is_ignored_and_logged_without_content(
    stack: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="casework.messages"):
        assert services.messages.take_reply("+1 (555) 010-9999", "my secret words") is None
    said = " ".join(r.getMessage() for r in caplog.records if r.name == "casework.messages")
    assert said == "a reply from a number no message went to was ignored"


def test_the_messages_sweep_on_the_pool_is_run_by_the_worker(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`casework sweep --on-pool --watch messages`: the worker `casework up` runs takes the
    deployment run, keeps the message and tries it; no SMS provider is configured there,
    so it fails at once and says why (and `casework status` lists it)."""
    from tests.casework.test_cli import run_cli

    number, _ = _client_case(ContactPreference.TEXT)
    services.messages.record(number, "tester", allow=[MessageChannel.SMS])
    services.appointments.book(
        number, "2027-06-08 15:00", AppointmentKind.PHONE, WITH, None, "tester"
    )
    as_of = "2027-06-07T16:00:00+00:00"  # the day before, after 10:00 (the agency: UTC here)
    code, out, err = run_cli(
        capsys,
        "sweep",
        "--on-pool",
        "--watch",
        "messages",
        "--case",
        number,
        "--as-of",
        as_of,
        "--json",
    )
    assert code == 0, err
    [line] = json.loads(out).values()
    assert line.startswith(f"client-messages-{number}-")
    assert "kept 1" in line
    assert "failed 1" in line
    with session_scope() as session:
        case = session.scalars(select(Case).where(Case.case_number == number)).one()
        [message] = messages.for_case(session, case)
    assert (message.status, message.error) == (
        "failed",
        "no SMS provider configured (CASEWORK_SMS_URL)",
    )
