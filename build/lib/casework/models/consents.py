"""Consent to share: a client's consent to send their referral details to one provider (or
to any, "*"), with the date given; withdrawing it cancels the open referrals it covered."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from casework.models import audit
from casework.models.orm import Case, Consent

ANY_PROVIDER = "*"


def give(
    session: Session, case: Case, provider: str, given_on: date, actor: str, at: datetime
) -> Consent:
    consent = Consent(
        client_id=case.client_id, provider=provider, given_on=given_on, recorded_by=actor
    )
    session.add(consent)
    session.flush()
    audit.record(
        session, case, actor, "consent_given", at, provider=provider, given_on=given_on.isoformat()
    )
    return consent


def covers(session: Session, client_id: int, provider: str) -> bool:
    query = select(Consent.id).where(
        Consent.client_id == client_id,
        Consent.withdrawn_at.is_(None),
        or_(Consent.provider == provider, Consent.provider == ANY_PROVIDER),
    )
    return session.scalars(query.limit(1)).first() is not None
