"""Append-only audit trail: every change to a case writes one event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models.orm import AccessEntry, AuditEvent, Case


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


def record_access(session: Session, case: Case | None, staff: str, what: str, at: datetime) -> None:
    """One read of a client's identity, narrative or document (on PostgreSQL the database
    writes the signed-in role as `staff`, whatever is given); with no case, a desk sign-in,
    sign-out, refusal or search (written by the service role)."""
    session.add(AccessEntry(staff=staff, case_id=case.id if case else None, what=what, at=at))
    session.flush()


def accesses(
    session: Session, case: Case | None = None, staff: str | None = None, limit: int = 1000
) -> list[tuple[AccessEntry, str]]:
    """Access entries, newest first, with each one's case number."""
    query = select(AccessEntry, Case.case_number).outerjoin(Case, Case.id == AccessEntry.case_id)
    if case is not None:
        query = query.where(AccessEntry.case_id == case.id)
    if staff is not None:
        query = query.where(AccessEntry.staff == staff)
    query = query.order_by(AccessEntry.at.desc(), AccessEntry.id.desc()).limit(limit)
    return [(entry, number or "") for entry, number in session.execute(query)]
