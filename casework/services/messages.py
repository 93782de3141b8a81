"""Messages to clients, as the CLI, the desk and the reply hook use them: how the client is
reached and their consent to it, the messages of a case, and a client's reply
(models.messages)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.core.settings import get_settings
from casework.models import cases, messages
from casework.models.codes import MessageChannel
from casework.services.sign_in import desk_engine
from casework.services.staff import reads_identity

log = logging.getLogger("casework.messages")


@dataclass(frozen=True)
class ConsentOut:
    channel: str
    given_on: date
    recorded_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None


@dataclass(frozen=True)
class MessageOut:
    number: str
    kind: str
    subject: str
    channel: str
    language: str
    status: str
    due_at: datetime
    attempts: int
    sent_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class Messaging:
    """How a case's client is reached: the channel their preference and addresses give
    (None: none; shown to those who read identity only), their consents, the messages."""

    case_number: str
    channel: str | None
    reads_identity: bool
    consents: list[ConsentOut]
    messages: list[MessageOut]


def messaging(case_number: str, viewer: str) -> Messaging:
    identity = reads_identity(viewer)
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        channel = None
        if identity:
            found = messages.channel_for(case.client)
            channel = found.value if found else None
        return Messaging(
            case.case_number or case_number,
            channel,
            identity,
            [
                ConsentOut(c.channel, c.given_on, c.recorded_by, c.withdrawn_at, c.withdrawn_by)
                for c in messages.consents_of(session, case.client_id)
            ],
            [
                MessageOut(
                    m.number or "",
                    m.kind,
                    m.subject,
                    m.channel,
                    m.language,
                    m.status,
                    m.due_at,
                    m.attempts,
                    m.sent_at,
                    m.error,
                )
                for m in messages.for_case(session, case)
            ],
        )


def record(
    case_number: str,
    actor: str,
    phone: str | None = None,
    email: str | None = None,
    allow: list[MessageChannel] | None = None,
    withdraw: list[MessageChannel] | None = None,
    on: date | None = None,
) -> list[str]:
    """Record the client's phone or email, consents given (from `on`, default today) and
    withdrawn, in one transaction: all of it, or (on any bad input) none. What was done."""
    allow, withdraw = allow or [], withdraw or []
    if set(allow) & set(withdraw):
        raise InputError("--allow and --withdraw name the same channel")
    if not (phone or email or allow or withdraw):
        raise InputError("say what to record: --phone, --email, --allow or --withdraw")
    at = now()
    done = []
    with session_scope() as session:
        case = cases.get_case(session, case_number, for_update=True)
        if phone is not None or email is not None:
            messages.set_address(session, case, phone, email, actor, at)
            done += [f"{name} recorded" for name, v in (("phone", phone), ("email", email)) if v]
        for channel in allow:
            day = on or at.astimezone(get_settings().zone).date()
            messages.give_consent(session, case, channel, day, actor, at)
            done.append(f"consent to {channel.value} messages from {day}")
        for channel in withdraw:
            messages.withdraw_consent(session, case, channel, actor, at)
            done.append(f"consent to {channel.value} messages withdrawn")
    return done


def take_reply(sender: str, text: str) -> messages.Reply | None:
    """A client's reply from the SMS provider's webhook: recorded on the case of the text
    it answers, as the service (the desk's own sign-in to the store). An unknown sender is
    ignored, and logged without their number or words."""
    with session_scope(desk_engine()) as session:
        reply = messages.take_reply(session, sender, text, now())
    if reply is None:
        log.info("a reply from a number no message went to was ignored")
    else:
        log.info("reply to %s recorded on %s: %s", reply.message, reply.case_number, reply.done)
    return reply
