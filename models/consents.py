"""Consent to share: a client's consent to send their referral details to one provider (or
to any, "*"), with the date given; withdrawing it cancels the open referrals it covered."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import audit
from models.codes import REFERRAL_WAITING, ReferralStatus
from models.orm import Case, Consent, Referral

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


def withdraw(
    session: Session, case: Case, provider: str, actor: str, at: datetime
) -> list[Referral]:
    """Withdraw consent for `provider` ("*": all); returns the referrals it cancelled."""
    from models.referrals import set_status

    query = select(Consent).where(
        Consent.client_id == case.client_id, Consent.withdrawn_at.is_(None)
    )
    if provider != ANY_PROVIDER:
        query = query.where(Consent.provider == provider)
    found = list(session.scalars(query))
    if not found:
        from models.cases import CaseError

        raise CaseError(
            f"{case.case_number} has no consent on file for {provider}", field="provider"
        )
    for consent in found:
        consent.withdrawn_at = at
    audit.record(session, case, actor, "consent_withdrawn", at, provider=provider)
    still = {
        c.provider
        for c in session.scalars(
            select(Consent).where(
                Consent.client_id == case.client_id, Consent.withdrawn_at.is_(None)
            )
        )
    }
    open_refs = select(Referral).where(
        Referral.case_id == case.id, Referral.status.in_([s.value for s in REFERRAL_WAITING])
    )
    cancelled = []
    for referral in session.scalars(open_refs):
        if ANY_PROVIDER not in still and referral.provider not in still:
            set_status(
                session, referral, ReferralStatus.CANCELLED, "consent withdrawn", "system", at
            )
            cancelled.append(referral)
    session.flush()
    return cancelled
