"""Referrals to partner agencies, one row per requested service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.forms import ReferralForm
from models.orm import Case, Referral

REQUESTED = "requested"


def record_referrals(
    session: Session, case: Case, key: str, form: ReferralForm, at: datetime
) -> list[Referral]:
    referrals = [
        Referral(
            case_id=case.id,
            episode=case.episode,
            stage_key=key,
            position=position,
            service=request.service.value,
            provider=request.provider,
            urgency=request.urgency.value,
            status=REQUESTED,
            status_at=at,
        )
        for position, request in enumerate(form.referrals)
    ]
    session.add_all(referrals)
    session.flush()
    for referral in referrals:
        referral.reference = f"REF-{referral.id:06d}"
    session.flush()
    return referrals


def for_case(session: Session, case: Case) -> list[Referral]:
    return list(
        session.scalars(select(Referral).where(Referral.case_id == case.id).order_by(Referral.id))
    )
