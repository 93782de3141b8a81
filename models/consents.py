"""Consent to share: a client's consent to send their details to one provider (or to any,
"*"), what it lets the agency share (its scope), from when and until when, and, once the
client signs it, the signed document (an attachment of the case) and the staff member who
witnessed it. A consent covers a referral while it is in force: given, not withdrawn, not
past its end, and signed where the case's program asks for signed consent. Withdrawing it
cancels the open referrals it covered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models import audit
from casework.models.codes import ConsentKind, ConsentScope
from casework.models.orm import Attachment, Case, Consent

ANY_PROVIDER = "*"
SIGNED_ON_DESK = "desk"
SIGNED_SCAN = "scan"


class ConsentError(UserError):
    """A consent that cannot be found, or signed, as asked."""


def number_of(consent_id: int) -> str:
    return f"CON-{consent_id:06d}"


def give(
    session: Session,
    case: Case,
    provider: str,
    given_on: date,
    actor: str,
    at: datetime,
    *,
    kind: ConsentKind = ConsentKind.CONSENT_TO_SHARE,
    scope: ConsentScope = ConsentScope.REFERRAL_DETAILS,
    expires_on: date | None = None,
) -> Consent:
    if expires_on is not None and expires_on < given_on:
        raise ConsentError(f"--expires: {expires_on} is before the consent was given ({given_on})")
    consent = Consent(
        client_id=case.client_id,
        provider=provider,
        given_on=given_on,
        recorded_by=actor,
        kind=kind.value,
        scope=scope.value,
        expires_on=expires_on,
    )
    session.add(consent)
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "consent_given",
        at,
        consent=number_of(consent.id),
        provider=provider,
        given_on=given_on.isoformat(),
        kind=kind.value,
        scope=scope.value,
        expires_on=expires_on.isoformat() if expires_on else None,
    )
    return consent


def in_force(on: date, signed: bool = False) -> list[object]:
    """The conditions of a consent in force on `on` (signed, if `signed`)."""
    conditions: list[object] = [
        Consent.withdrawn_at.is_(None),
        Consent.given_on <= on,
        or_(Consent.expires_on.is_(None), Consent.expires_on >= on),
    ]
    if signed:
        conditions.append(Consent.signed_at.is_not(None))
    return conditions


def covers(
    session: Session,
    client_id: int,
    provider: str,
    on: date | None = None,
    signed: bool = False,
) -> bool:
    """Whether a consent of the client's in force on `on` (today) covers `provider`."""
    query = select(Consent.id).where(
        Consent.client_id == client_id,
        or_(Consent.provider == provider, Consent.provider == ANY_PROVIDER),
        *in_force(on or datetime.now(UTC).date(), signed),  # type: ignore[arg-type]
    )
    return session.scalars(query.limit(1)).first() is not None


def why_not(session: Session, client_id: int, provider: str, on: date, signed: bool) -> str:
    """Why no consent covers `provider` on `on`, in words: none, ended, or not signed."""
    query = select(Consent).where(
        Consent.client_id == client_id,
        Consent.withdrawn_at.is_(None),
        or_(Consent.provider == provider, Consent.provider == ANY_PROVIDER),
    )
    found = list(session.scalars(query.order_by(Consent.id.desc())))
    if not found:
        return f"no consent on file to share with {provider}"
    if all(c.expires_on is not None and c.expires_on < on for c in found):
        ended = max(c.expires_on for c in found if c.expires_on is not None)
        return f"the client's consent to share with {provider} ended on {ended}; renew it"
    if signed and all(c.signed_at is None for c in found):
        return (
            f"the client's consent to share with {provider} is not signed yet; the program "
            "asks for signed consent (sign it on the desk, or attach the signed form)"
        )
    return f"no consent in force on {on} to share with {provider}"


def get(session: Session, case: Case, number: str) -> Consent:
    """A consent of the case's client, by its number (CON-000001)."""
    digits = number.strip().upper().removeprefix("CON-")
    consent = session.get(Consent, int(digits)) if digits.isdigit() else None
    if consent is None or consent.client_id != case.client_id:
        raise ConsentError(f"consent: {case.case_number}'s client has no consent {number}")
    return consent


def sign(
    session: Session,
    case: Case,
    consent: Consent,
    signed: Attachment,
    how: str,
    witness: str,
    at: datetime,
) -> None:
    """The consent is signed: `signed` is the signed document, `witness` who saw it."""
    if consent.withdrawn_at is not None:
        raise ConsentError(f"consent: {number_of(consent.id)} was withdrawn; record a new one")
    if consent.signed_at is not None:
        raise ConsentError(f"consent: {number_of(consent.id)} is signed already")
    consent.signed_at, consent.signed_how, consent.witness = at, how, witness
    consent.signed_attachment_id = signed.id
    session.flush()
    audit.record(
        session,
        case,
        witness,
        "consent_signed",
        at,
        consent=number_of(consent.id),
        how=how,
        attachment=f"ATT-{signed.id:06d}",
    )


@dataclass(frozen=True)
class Held:
    """A consent of the client, as a case's page lists it (coded, but for the provider's
    key): its state on the day."""

    number: str
    kind: str
    scope: str
    provider: str
    given_on: date
    expires_on: date | None
    signed_at: datetime | None
    witness: str | None
    signed_attachment: str | None
    state: str  # in_force | ended | withdrawn


def of_client(session: Session, client_id: int, on: date) -> list[Held]:
    query = select(Consent).where(Consent.client_id == client_id).order_by(Consent.id.desc())
    return [
        Held(
            number_of(c.id),
            c.kind,
            c.scope,
            c.provider,
            c.given_on,
            c.expires_on,
            c.signed_at,
            c.witness,
            f"ATT-{c.signed_attachment_id:06d}" if c.signed_attachment_id else None,
            "withdrawn"
            if c.withdrawn_at is not None
            else "ended"
            if c.expires_on is not None and c.expires_on < on
            else "in_force",
        )
        for c in session.scalars(query)
    ]
