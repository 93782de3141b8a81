"""Telling people about escalations: a Prefect event per escalation, and a JSON POST to the
program's webhook. The store is the outbox: a row stays undelivered until both went out,
so a dead webhook is retried by the next sweep and nothing is lost. A webhook that fails
all its attempts is left alone for the rest of the sweep, so it never holds the sweep up."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from casework.core.credentials import webhook_secret
from casework.core.db import session_scope
from casework.core.errors import CaseworkError
from casework.core.settings import get_settings
from casework.models import escalations
from casework.models.codes import Program
from casework.models.orm import Escalation
from casework.models.programs import programs
from casework.tasks.retries import retry_on, store_task

ESCALATED = "casework.case.escalated"
WARNED = "casework.case.warned"
BACKOFF_SECONDS = (0.5, 2.0, 5.0)
# Signed as the well-known webhook providers sign (Stripe's scheme), with the
# Idempotency-Key and a nonce of each attempt signed too: `t=<unix seconds>,n=<nonce>,
# v1=<hex HMAC-SHA256 of "<t>.<n>.<Idempotency-Key>." + body, keyed by the program's secret>`.
SIGNATURE_HEADER = "Casework-Signature"
# How long a delivery holds the escalations it took; a sweep that died lets go after this.
CLAIM_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Notice:
    """What an escalation says, coded only: it travels on events and to webhooks."""

    escalation_id: int
    event_emitted: bool
    webhook_url: str | None
    body: dict[str, Any]

    @property
    def event(self) -> str:
        return str(self.body["event"])


def notice(row: Escalation) -> Notice:
    url = programs()[Program(row.program)].webhook_url
    return Notice(
        escalation_id=row.id,
        event_emitted=row.event_emitted_at is not None,
        webhook_url=str(url) if url else None,
        body={
            "event": ESCALATED if row.level else WARNED,
            "escalation_id": row.id,
            "case_number": row.case_number,
            "program": row.program,
            "rule": row.rule,
            "subject": row.subject,
            "level": row.level,
            "recipient": row.recipient,
            "recipient_role": row.recipient_role,
            "threshold": row.threshold,
            "measured": row.measured,
            "as_of": row.as_of.isoformat(),
        },
    )


def emit(item: Notice) -> bool:
    body = item.body
    event = emit_event(
        event=item.event,
        resource={
            "prefect.resource.id": f"casework.case.{body['case_number']}",
            "prefect.resource.name": body["case_number"],
            "casework.program": body["program"],
            "casework.rule": body["rule"],
            "casework.level": str(body["level"]),
        },
        payload=body,
    )
    return event is not None


class WebhookUnavailable(CaseworkError):
    """The webhook did not take a notice, and another attempt may: a server error, 408,
    429, a timeout or no connection. Prefect retries the POST."""


class WebhookRefused(CaseworkError):
    """The webhook refused a notice (a client error): not retried."""


@task(
    name="post-notification",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=2,  # CASEWORK_WEBHOOK_ATTEMPTS less one: set where it is called
    retry_delay_seconds=list(BACKOFF_SECONDS),
    retry_condition_fn=retry_on(WebhookUnavailable),
)
def post(client: httpx.Client, item: Notice) -> None:
    """POST one notice, signed with its program's webhook secret (signed again on each
    attempt). Prefect retries it on the errors another attempt may fix."""
    assert item.webhook_url is not None
    payload = json.dumps(item.body, separators=(",", ":")).encode()
    key = f"casework-escalation-{item.escalation_id}"
    secret = webhook_secret(str(item.body["program"]))
    try:
        response = client.post(
            item.webhook_url,
            content=payload,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                SIGNATURE_HEADER: signature(secret, payload, key, int(time.time())),
            },
        )
    except httpx.TimeoutException:
        raise WebhookUnavailable("timed out") from None
    except httpx.HTTPError as exc:
        raise WebhookUnavailable(type(exc).__name__) from None
    if response.is_success:
        return
    error = f"HTTP {response.status_code}"
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise WebhookUnavailable(error)
    raise WebhookRefused(error)


def posted(client: httpx.Client, item: Notice, attempts: int) -> str | None:
    """None once the webhook took `item` (in at most `attempts` attempts), else why not."""
    try:
        post.with_options(retries=attempts - 1)(client, item)
    except (WebhookUnavailable, WebhookRefused) as exc:
        return str(exc)
    return None


def signature(secret: str, payload: bytes, key: str, timestamp: int, nonce: str = "") -> str:
    """The signature header's value for `payload` with Idempotency-Key `key`, sent at
    `timestamp`: signed again on each attempt, with a nonce of its own, so a receiver may
    refuse anything older than a few minutes and any delivery it has taken already."""
    nonce = nonce or secrets.token_hex(8)
    signed = f"{timestamp}.{nonce}.{key}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},n={nonce},v1={digest}"


@store_task("deliver-notifications")
def deliver_notifications(limit: int = 5000) -> dict[str, int]:
    """Emit and post every undelivered escalation (oldest first); returns counts."""
    settings = get_settings()
    with session_scope() as session:
        claimed = escalations.claim_undelivered(session, datetime.now(UTC), CLAIM_LEASE, limit)
        items = [notice(row) for row in claimed]
    by_url: dict[str | None, list[Notice]] = defaultdict(list)
    for item in items:
        by_url[item.webhook_url].append(item)
    counts = {"pending": len(items), "delivered": 0, "failed": 0, "deferred": 0}
    for url, batch in by_url.items():
        failing: str | None = None
        with httpx.Client(timeout=settings.webhook_timeout_seconds) as client:
            for item in batch:
                emitted = item.event_emitted or emit(item)
                if url is None:
                    error = None
                elif failing is not None:
                    error = f"deferred: webhook failing ({failing})"
                else:
                    error = failing = posted(client, item, settings.webhook_attempts)
                _mark(item, emitted, error)
                key = (
                    "delivered"
                    if error is None
                    else "deferred"
                    if error.startswith("deferred")
                    else "failed"
                )
                counts[key] += 1
    if counts["failed"]:
        get_run_logger().warning(
            "%s notification(s) not delivered; they are retried by the next sweep",
            counts["failed"] + counts["deferred"],
        )
    return counts


def _mark(item: Notice, emitted: bool, error: str | None) -> None:
    with session_scope() as session:
        escalations.mark_delivery(
            session,
            item.escalation_id,
            at=datetime.now(UTC),
            event_emitted=emitted,
            delivered=emitted and error is None,
            error=error,
            attempted=not (error or "").startswith("deferred"),
        )
