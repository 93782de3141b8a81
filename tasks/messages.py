"""Sending messages to clients: find what fell due, keep it once (models.messages.plan),
then deliver each pending message through its channel, claimed first so that two sweeps
never both send it. Email goes to the agency's SMTP relay (the standard library's smtplib,
`CASEWORK_SMTP_URL`); SMS through the provider apprise reaches by `CASEWORK_SMS_URL`.

Logs and results name message numbers, kinds and channels only: a message's words and
address go to the relay or provider and nowhere else."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import CaseworkError
from casework.core.settings import CaseworkSettings, get_settings
from casework.models import messages
from casework.models.codes import MessageChannel
from casework.models.orm import Message
from casework.models.programs import programs
from casework.tasks.retries import store_task

SMTP_TIMEOUT_SECONDS = 15.0


class NotConfigured(CaseworkError):
    """The channel has no relay or provider configured: waiting will not fix it."""


class NotTaken(CaseworkError):
    """The relay or provider did not take the message; another attempt may."""


@dataclass
class Sent:
    """One sweep's deliveries, coded: (message number, kind, channel, outcome)."""

    rows: list[dict[str, str]] = field(default_factory=list)

    def add(self, message: Message, outcome: str) -> None:
        self.rows.append(
            {
                "message": message.number or "",
                "kind": message.kind,
                "channel": message.channel,
                "outcome": outcome,
            }
        )


def send_email(item: messages.Outgoing, settings: CaseworkSettings) -> None:
    """Hand the message to the SMTP relay (plain, STARTTLS or TLS, as its URL says)."""
    if not settings.smtp_url:
        raise NotConfigured("no SMTP relay configured (CASEWORK_SMTP_URL)")
    parts = urlsplit(settings.smtp_url)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = settings.mail_from, item.to, item.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(idstring=item.number, domain="casework")
    mail.set_content(item.text)
    mail["Content-Language"] = item.language  # after the content: set_content clears Content-*
    host = parts.hostname or "localhost"
    try:
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host,
                parts.port or 465,
                timeout=SMTP_TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            if parts.scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            refused = client.send_message(mail)
    except smtplib.SMTPResponseException as exc:
        raise NotTaken(f"the relay answered {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise NotTaken(f"the relay did not take it ({type(exc).__name__})") from None
    if refused:
        raise NotTaken("the relay refused the recipient")


def send_sms(item: messages.Outgoing, settings: CaseworkSettings) -> None:
    """Hand the message to the SMS provider through apprise (its URL, with the number in
    place of `{to}`)."""
    import apprise

    if not settings.sms_url:
        raise NotConfigured("no SMS provider configured (CASEWORK_SMS_URL)")
    number = "".join(ch for ch in item.to if ch.isdigit() or ch == "+")
    # apprise logs what it sends at debug level: never let that reach a log of ours
    logging.getLogger("apprise").setLevel(logging.WARNING)
    sender = apprise.Apprise()
    if not sender.add(settings.sms_url.replace("{to}", quote(number, safe=""))):
        raise NotConfigured("CASEWORK_SMS_URL is not a URL apprise knows")
    if not sender.notify(body=item.text, title=""):
        raise NotTaken("the SMS provider did not take it")


SENDERS = {MessageChannel.EMAIL: send_email, MessageChannel.SMS: send_sms}


@store_task("keep-due-messages")
def keep_due_messages(as_of: datetime, case_id: int | None, preview: bool) -> dict[str, Any]:
    """Keep a row for each message that fell due (a preview works it out and rolls back)."""
    settings = get_settings()
    with session_scope() as session:
        planned = messages.plan(
            session, as_of, programs(), settings.zone, settings.quiet[1], case_id
        )
        kept = [
            {"message": m.number or "", "kind": m.kind, "channel": m.channel} for m in planned.kept
        ]
        if preview:
            session.rollback()
    return {"kept": kept, "passed": planned.passed}


@task(name="deliver-messages", cache_policy=NO_CACHE, persist_result=False)
def deliver_messages(as_of: datetime, case_id: int | None = None) -> dict[str, Any]:
    """Deliver every pending message whose time has come (of one case, if given), outside
    the quiet hours."""
    logger = get_run_logger()
    settings = get_settings()
    if messages.quiet(as_of, settings.quiet, settings.zone):
        logger.info("quiet hours (%s): no message goes now", settings.quiet_hours)
        return {"rows": [], "quiet": True}
    voice = messages.Voice(settings.agency_name, settings.agency_phone, settings.zone)
    with session_scope(read_only=True) as session:
        due = messages.deliverable(session, as_of, case_id)
    done = Sent()
    for message_id in due:
        outcome = deliver_one(message_id, as_of, voice, settings)
        if outcome is not None:
            message, said = outcome
            done.add(message, said)
            logger.info("%s (%s, %s): %s", message.number, message.kind, message.channel, said)
    return {"rows": done.rows, "quiet": False}


def deliver_one(
    message_id: int, as_of: datetime, voice: messages.Voice, settings: CaseworkSettings
) -> tuple[Message, str] | None:
    """Claim, render, send and record one message (None: another sweep holds it)."""
    with session_scope() as session:
        if not messages.claim(session, message_id, now()):
            return None
        message = session.get(Message, message_id)
        assert message is not None
        why = messages.still_wanted(session, message, as_of)
        if why is not None:
            messages.withhold(session, message, why)
            return message, "withheld"
        item = messages.outgoing(session, message, voice)
    try:
        SENDERS[item.channel](item, settings)
    except NotConfigured as exc:
        return _failed(message_id, str(exc), as_of, settings, final=True)
    except NotTaken as exc:
        return _failed(message_id, str(exc), as_of, settings)
    with session_scope() as session:
        messages.delivered(session, message_id, now())
        return _reread(session, message_id), "sent"


def _failed(
    message_id: int, why: str, as_of: datetime, settings: CaseworkSettings, final: bool = False
) -> tuple[Message, str]:
    with session_scope() as session:
        messages.not_delivered(
            session,
            message_id,
            why,
            as_of,
            settings.message_attempts,
            settings.message_retry_minutes,
            final,
        )
        message = _reread(session, message_id)
        return message, message.status if message.status == "failed" else "retrying"


def _reread(session: Any, message_id: int) -> Message:
    message: Message | None = session.get(Message, message_id)
    assert message is not None
    session.expunge(message)
    return message
