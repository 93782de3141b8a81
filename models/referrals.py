"""Referrals to partner agencies: one row per requested service, its status history, and
what the partners' answers mean for the case (all taken up: on to monitoring; one refused:
back to choosing another provider)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import audit, consents
from casework.models.cases import CaseError
from casework.models.codes import (
    REFERRAL_REFUSED,
    REFERRAL_TAKEN,
    REFERRAL_WAITING,
    Program,
    ReferralStatus,
    Trigger,
)
from casework.models.forms import ReferralForm
from casework.models.lifecycle import TransitionNotAllowed
from casework.models.orm import Case, Consent, Provider, Referral, ReferralEvent
from casework.models.programs import programs

REQUESTED = ReferralStatus.REQUESTED.value
SYNCED = [s.value for s in REFERRAL_WAITING | {ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS}]


def check_sendable(session: Session, case: Case, form: ReferralForm) -> None:
    """Every provider named must be in the directory, active, offer the service (and take
    the program) where its referral settings say so, and be covered by the client's consent
    to share; otherwise the form is refused. A directory-only service says neither: the case
    manager chose it from the directory, and the referral is made by hand."""
    for position, request in enumerate(form.referrals):
        where = f"referrals.{position}.provider"
        provider = session.scalars(select(Provider).where(Provider.key == request.provider)).first()
        if provider is None or not provider.active:
            raise TransitionNotAllowed(f"{where}: no active provider {request.provider}")
        if provider.category is not None and provider.category != request.service.value:
            raise TransitionNotAllowed(
                f"{where}: {request.provider} offers {provider.category}, "
                f"not {request.service.value}"
            )
        if provider.programs and case.program not in provider.programs:
            raise TransitionNotAllowed(
                f"{where}: {request.provider} does not take {case.program} referrals"
            )
        signed = programs()[Program(case.program)].signed_consent
        today = datetime.now(UTC).date()
        if not consents.covers(session, case.client_id, request.provider, today, signed):
            why = consents.why_not(session, case.client_id, request.provider, today, signed)
            raise TransitionNotAllowed(f"{where}: {why}; record it with `casework consent`")


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
            reason=request.reason.value if request.reason else None,
            status=REQUESTED,
            status_at=at,
        )
        for position, request in enumerate(form.referrals)
    ]
    session.add_all(referrals)
    session.flush()
    for referral in referrals:
        referral.reference = f"REF-{referral.id:06d}"
        session.add(
            ReferralEvent(referral_id=referral.id, status=REQUESTED, source="system", at=at)
        )
    session.flush()
    return referrals


def set_status(
    session: Session,
    referral: Referral,
    status: ReferralStatus,
    reason: str | None,
    source: str,
    at: datetime,
) -> bool:
    """Record a status (and its time and source); False if it is already the status."""
    reason = reason[:300] if reason else None
    if referral.status == status.value and referral.status_reason == reason:
        return False
    referral.status, referral.status_reason, referral.status_at = status.value, reason, at
    session.add(
        ReferralEvent(
            referral_id=referral.id, status=status.value, reason=reason, source=source, at=at
        )
    )
    session.flush()
    return True


def get(session: Session, reference: str) -> Referral:
    query = select(Referral).where(Referral.reference == reference.strip().upper())
    referral = session.scalars(query).first()
    if referral is None:
        raise CaseError(f"referral: no referral {reference}")
    return referral


def answer(session: Session, case: Case) -> Trigger | None:
    """What the partners' answers to the referrals sent from `case.waiting_on` mean: one
    refused (rejected, failed, cancelled) sends the case back to choosing; all taken up
    moves it on; anything else is still waiting."""
    if case.waiting_on is None:
        return None
    statuses = set(
        session.scalars(
            select(Referral.status).where(
                Referral.case_id == case.id,
                Referral.episode == case.episode,
                Referral.stage_key == case.waiting_on,
            )
        )
    )
    if statuses & {s.value for s in REFERRAL_REFUSED}:
        return Trigger.REJECTED
    if statuses and statuses <= {s.value for s in REFERRAL_TAKEN}:
        return Trigger.ACCEPTED
    return None


def unsent(session: Session, case: Case) -> list[str]:
    query = select(Referral.reference).where(
        Referral.case_id == case.id,
        Referral.episode == case.episode,
        Referral.status == REQUESTED,
        Referral.sent_at.is_(None),
    )
    return [ref for ref in session.scalars(query.order_by(Referral.id)) if ref]


def open_by_provider(session: Session) -> dict[str, list[str]]:
    """Provider key -> references of its sent referrals still worth asking about."""
    query = (
        select(Referral.provider, Referral.reference)
        .join(Provider, Provider.key == Referral.provider)
        .where(
            Referral.status.in_(SYNCED),
            Referral.sent_at.is_not(None),
            Provider.endpoint.is_not(None),  # directory-only: answers come by hand
        )
        .order_by(Referral.provider, Referral.id)
    )
    grouped: dict[str, list[str]] = {}
    for provider, reference in session.execute(query):
        if provider and reference:
            grouped.setdefault(provider, []).append(reference)
    return grouped


def waiting_cases(session: Session) -> list[str]:
    """Case numbers waiting on partners' answers (`operations.settle` resumes the answered)."""
    query = select(Case.case_number).where(Case.waiting_on.is_not(None)).order_by(Case.id)
    return [number for number in session.scalars(query) if number]


def for_case(session: Session, case: Case) -> list[Referral]:
    return list(
        session.scalars(select(Referral).where(Referral.case_id == case.id).order_by(Referral.id))
    )


def open_references(session: Session, case: Case) -> list[str]:
    """The episode's referrals still open (waiting on, or taken up by, the partner): the
    ones the status sync still asks about."""
    query = select(Referral.reference).where(
        Referral.case_id == case.id,
        Referral.episode == case.episode,
        Referral.status.in_(SYNCED),
    )
    return [ref for ref in session.scalars(query.order_by(Referral.id)) if ref]


def withdraw_consent(
    session: Session, case: Case, provider: str, actor: str, at: datetime
) -> list[Referral]:
    """Withdraw consent for `provider` ("*": all); returns the referrals it cancelled."""
    query = select(Consent).where(
        Consent.client_id == case.client_id, Consent.withdrawn_at.is_(None)
    )
    if provider != consents.ANY_PROVIDER:
        query = query.where(Consent.provider == provider)
    found = list(session.scalars(query))
    if not found:
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
        if consents.ANY_PROVIDER not in still and referral.provider not in still:
            set_status(
                session, referral, ReferralStatus.CANCELLED, "consent withdrawn", "system", at
            )
            cancelled.append(referral)
    session.flush()
    return cancelled
