"""Append-only audit trail: every change to a case writes one event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.orm import AuditEvent, Case


def record(
    session: Session, case: Case | None, actor: str, action: str, at: datetime, **detail: Any
) -> AuditEvent:
    event = AuditEvent(
        case_id=case.id if case else None,
        episode=case.episode if case else None,
        actor=actor,
        action=action,
        detail=detail,
        at=at,
    )
    session.add(event)
    session.flush()
    return event


def for_case(session: Session, case: Case) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)
    return list(session.scalars(query))
