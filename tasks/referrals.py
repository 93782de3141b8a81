"""Talking to partner agencies over HTTP (the protocol is in docs/partners.md): sending a
referral, and asking a provider for the status of its open referrals. Only the minimum a
partner needs leaves the store (given name, contact preference, language); nothing of the
client reaches a Prefect surface (task parameters and results are REF numbers and codes)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import OperationalError

from casework.core import credentials
from casework.core.db import session_scope
from casework.core.errors import CaseworkError
from casework.core.settings import get_settings
from casework.models import cases, consents, providers, referrals
from casework.models.codes import Program, ReferralStatus, Trigger
from casework.models.orm import Case, Client
from casework.models.programs import programs
from casework.tasks.retries import retry_on

FINAL_ATTEMPTS_FAILED = "partner unreachable after every attempt"
NO_TOKEN = (
    "no token named {0} on this machine: keep it with `casework providers token {0}`, or "
    "import the provider file that carries it here"
)
REFUSED_ENDPOINT = "the provider's referral endpoint is refused: {0}; import its directory again"
BY_HAND = (
    "no electronic referral: make it by hand (`casework doc {0} referral {1}` is the "
    "letter) and record the answer with `casework referral {1} --status`"
)


class PartnerUnavailable(CaseworkError):
    """A timeout, a connection error or a 5xx: worth trying again later."""


@dataclass(frozen=True)
class Outgoing:
    reference: str
    endpoint: str
    token: str
    body: dict[str, Any]


def _outgoing(reference: str) -> Outgoing | str:
    """What to send for `reference`, or the status it already has (nothing to send)."""
    with session_scope() as session:
        referral = referrals.get(session, reference)
        if referral.status != ReferralStatus.REQUESTED.value or referral.sent_at is not None:
            return referral.status
        case = session.get_one(Case, referral.case_id)
        client = session.get_one(Client, case.client_id)
        signed = programs()[Program(case.program)].signed_consent
        if not consents.covers(session, client.id, referral.provider or "", signed=signed):
            referrals.set_status(
                session, referral, ReferralStatus.CANCELLED, "no consent to share", "system", _now()
            )
            return referral.status
        provider = providers.get(session, referral.provider or "")
        if provider.endpoint is None:
            # Directory-only: handed to the case manager to make and track by hand. It
            # counts as sent from now, so its answer is due within the window as any other.
            referral.sent_at = _now()
            by_hand = BY_HAND.format(case.case_number, reference)
            referrals.set_status(
                session, referral, ReferralStatus.REQUESTED, by_hand, "system", referral.sent_at
            )
            return referral.status
        token_name = provider.token_ref or provider.key
        try:
            bearer = credentials.token(token_name)
        except credentials.TokenMissing:
            no_token = NO_TOKEN.format(token_name)
            referrals.set_status(
                session, referral, ReferralStatus.FAILED, no_token, "system", _now()
            )
            return referral.status
        return Outgoing(
            reference=reference,
            endpoint=provider.endpoint,
            token=bearer,
            body={
                "referral_id": reference,
                "case_number": case.case_number,
                "service": referral.service,
                "program": case.program,
                "urgency": referral.urgency,
                "reason": referral.reason,
                "client": {
                    "given_name": client.given_name,
                    "contact_preference": client.contact_preference,
                    "language": client.language,
                },
            },
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _partner_reason(response: httpx.Response) -> str:
    try:
        reason = response.json().get("reason")
    except (ValueError, AttributeError):
        reason = None
    return f"HTTP {response.status_code}: {reason or response.reason_phrase}"[:300]


@task(
    name="send-referral",
    # No cached result: a run that sends again after a crash or a resume finds the referral
    # sent in the store (and the partner sees the same Idempotency-Key).
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_on(PartnerUnavailable, OperationalError),
)
def send_referral(reference: str) -> str:
    """POST one referral. 2xx or 409: received. Other 4xx: failed, with the partner's
    reason, no retry. 5xx, timeouts, connection errors: raised, so Prefect retries."""
    outgoing = _outgoing(reference)
    if isinstance(outgoing, str):
        return outgoing
    if problem := refused(outgoing.endpoint):
        with session_scope() as session:
            referral = referrals.get(session, reference)
            why = REFUSED_ENDPOINT.format(problem)[:300]
            referrals.set_status(session, referral, ReferralStatus.FAILED, why, "system", _now())
            return referral.status
    settings = get_settings()
    try:
        with httpx.Client(timeout=settings.partner_timeout_seconds) as client:
            response = within_deadline(
                client,
                lambda: client.post(
                    f"{outgoing.endpoint}/referrals",
                    json=outgoing.body,
                    headers={
                        "Authorization": f"Bearer {outgoing.token}",
                        "Idempotency-Key": outgoing.reference,
                    },
                ),
                settings.partner_deadline_seconds,
            )
    except httpx.TimeoutException:
        raise PartnerUnavailable(f"{reference}: the partner did not answer in time") from None
    except httpx.TransportError as exc:
        raise PartnerUnavailable(f"{reference}: {type(exc).__name__}") from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise PartnerUnavailable(f"{reference}: HTTP {response.status_code}")
    with session_scope() as session:
        referral = referrals.get(session, reference)
        if response.is_success or response.status_code == 409:
            referral.sent_at = _now()
            referrals.set_status(
                session, referral, ReferralStatus.RECEIVED, None, "partner", _now()
            )
        else:
            referrals.set_status(
                session,
                referral,
                ReferralStatus.FAILED,
                _partner_reason(response),
                "partner",
                _now(),
            )
        return referral.status


def refused(endpoint: str) -> str | None:
    """Why nothing may go to `endpoint` now, or None: the address as stored (a directory
    imported before today's rules), then every address its host resolves to (a public name
    that points at this machine or a private network). A name that does not resolve now is
    a partner unreachable for now."""
    allow_local = credentials.local_endpoint_allowed(endpoint)
    if problem := providers.endpoint_problem(endpoint, allow_local):
        return problem
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    try:
        found = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise PartnerUnavailable(f"{host} does not resolve") from None
    for *_, address in found:
        if problem := providers.address_problem(str(address[0]), allow_local, host):
            return problem
    return None


def mark_undeliverable(reference: str) -> None:
    """Every attempt failed: the referral failed (the sweep escalates it)."""
    with session_scope() as session:
        referral = referrals.get(session, reference)
        referrals.set_status(
            session, referral, ReferralStatus.FAILED, FINAL_ATTEMPTS_FAILED, "system", _now()
        )


@dataclass(frozen=True)
class Change:
    reference: str
    provider: str
    old: str
    new: str


def _askable(endpoint: str | None, token_ref: str | None) -> str | None:
    """The token to ask `endpoint` with, or None if it is not to be asked now."""
    if endpoint is None or token_ref is None:
        return None  # directory-only now: its answers are recorded by hand
    try:
        if refused(endpoint):
            return None  # its referrals failed when sent; nothing goes there
        return credentials.token(token_ref)
    except PartnerUnavailable:
        return None  # left for the next sync
    except credentials.TokenMissing:
        return None  # cannot ask without it: left for when its provider file is imported here


def sync_provider(provider_key: str, references: Iterable[str]) -> list[Change]:
    """Ask one provider for the status of its open referrals (one HTTP client); record
    every change with its time. A provider that cannot be reached is left for next time."""
    with session_scope() as session:
        provider = providers.get(session, provider_key)
        endpoint, token_ref = provider.endpoint, provider.token_ref
    token = _askable(endpoint, token_ref)
    if endpoint is None or token is None:
        return []
    changes: list[Change] = []
    settings = get_settings()
    with httpx.Client(
        base_url=endpoint,
        headers={"Authorization": f"Bearer {token}"},
        timeout=settings.partner_timeout_seconds,
    ) as client:
        for reference in references:
            try:
                response = within_deadline(
                    client,
                    lambda ref=reference: client.get(f"/referrals/{ref}"),  # type: ignore[misc]
                    settings.partner_deadline_seconds,
                )
                response.raise_for_status()
                answer = response.json()
                status = ReferralStatus(answer["status"])
                reason = answer.get("reason")
            except PartnerUnavailable:
                break  # the client is closed: the rest wait for the next sync
            except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
                continue
            if answer.get("referral_id", reference) != reference:
                continue  # an answer about another referral is not an answer about this one
            with session_scope() as session:
                referral = referrals.get(session, reference)
                when = _answered_at(answer.get("updated_at"), referral.sent_at)
                if when is None:
                    continue  # dated before we sent it, or in the future: refused
                old = referral.status
                if referrals.set_status(
                    session,
                    referral,
                    status,
                    str(reason)[:300] if reason else None,
                    "partner",
                    when,
                ):
                    changes.append(Change(reference, provider_key, old, status.value))
    return changes


CLOCK_SKEW = timedelta(minutes=5)


def _answered_at(value: Any, sent_at: datetime | None) -> datetime | None:
    """When the partner says it answered: now if it does not say; None (refused) if it
    names a time before the referral was sent or in the future (beyond clock skew)."""
    if value is None:
        return _now()
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > _now() + CLOCK_SKEW or (sent_at is not None and moment < sent_at - CLOCK_SKEW):
        return None
    return moment


T = TypeVar("T")


def within_deadline(client: httpx.Client, call: Callable[[], T], seconds: float) -> T:
    """Make one call to a partner, whole, within `seconds`. httpx's timeouts bound each
    read; a partner that trickles a byte at a time could hold a case run for ever. Past
    the deadline the client is closed under the call, which ends it."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="partner-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        client.close()
        worker.join(5)
        raise PartnerUnavailable(f"no whole answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return cast(T, outcome["value"])


def unsent_referrals(case_number: str) -> list[str]:
    with session_scope(read_only=True) as session:
        return referrals.unsent(session, cases.get_case(session, case_number))


def partner_answer(case_number: str) -> Trigger | None:
    with session_scope(read_only=True) as session:
        return referrals.answer(session, cases.get_case(session, case_number))


def send_all(case_number: str) -> None:
    """Send the case's unsent referrals, each with Prefect retries. One the partner refused
    as malformed (4xx), or that failed every attempt, is marked failed, and the case is
    swept at once, which escalates it."""
    delays = get_settings().partner_retry_seconds
    sender = send_referral.with_options(retries=len(delays), retry_delay_seconds=delays)
    failed = False
    for reference in unsent_referrals(case_number):
        state = sender(reference, return_state=True)
        if state.is_failed():
            mark_undeliverable(reference)
        failed = failed or state.is_failed() or state.result() == ReferralStatus.FAILED.value
    if failed:
        from casework.core.prefect_api import start_case_sweep

        start_case_sweep(case_number)
