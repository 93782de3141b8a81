"""Referrals and consents: consent to share with a provider given or withdrawn, a
partner's answer recorded by hand, and the cases whose partners have all answered moved on."""

from __future__ import annotations

from datetime import date

from casework.core import prefect_api
from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import Deferred, InputError
from casework.models import (
    audit,
    cases,
    referrals,
)
from casework.models.codes import (
    AttachmentKind,
    ConsentKind,
    ConsentScope,
    ReferralStatus,
)
from casework.models.orm import Case


def resume_answered(case_numbers: list[str]) -> list[str]:
    """Resume the runs of cases whose partners have all answered (or one refused); returns
    the case numbers resumed. A run not yet suspended finds the answers itself."""
    resumed = []
    for case_number in case_numbers:
        with session_scope() as session:
            case = cases.get_case(session, case_number)
            flow_run_id = cases.episode_of(session, case).flow_run_id
            key = case.stage_key
            ready = referrals.answer(session, case) is not None
        if ready and flow_run_id and prefect_api.resume_waiting(flow_run_id, key):
            resumed.append(case_number)
    return resumed


def give_consent(
    case_number: str,
    provider: str,
    given_on: date,
    actor: str,
    *,
    kind: ConsentKind = ConsentKind.CONSENT_TO_SHARE,
    scope: ConsentScope = ConsentScope.REFERRAL_DETAILS,
    expires_on: date | None = None,
) -> str:
    """Record the client's consent (to sign next, where the program asks for signed
    consent): its number."""
    from casework.models import consents, providers

    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        if provider != consents.ANY_PROVIDER:
            providers.get(session, provider)
        if given_on > now().date():
            raise InputError(f"{given_on} is in the future", field="given_on")
        if expires_on is not None and expires_on <= now().date():
            raise InputError(f"--expires: {expires_on} is not after today", field="expires_on")
        try:
            consent = consents.give(
                session,
                case,
                provider,
                given_on,
                actor,
                now(),
                kind=kind,
                scope=scope,
                expires_on=expires_on,
            )
        except consents.ConsentError as exc:
            raise InputError(str(exc), field="expires_on") from None
        return consents.number_of(consent.id)


SIGNATURE_BYTES = 256 * 1024
NAME_LENGTH = 120


def sign_consent(
    case_number: str, number: str, signed_name: str, signature: str, actor: str
) -> str:
    """The client signs consent `number` on the desk, `actor` witnessing: their typed name
    and their signature drawn there (a PNG, as a data URL) go on the consent's form, printed
    as PDF and kept as an attachment of the case (sealed), which the consent then points
    at. The attachment's number."""
    name = signed_name.strip()
    if not name or len(name) > NAME_LENGTH or not name.isprintable():
        raise InputError("Type the client's name as they sign it.", field="signed_name")
    drawn = _signature(signature)
    _unsigned(case_number, number)
    from casework.services import documents

    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        context = documents.context(session, case, "consent", number) | documents.consent_context(
            session, case, number, (drawn, name, actor, now().date())
        )
        signed = documents.made("consent", "pdf", context)
    return _signed_with(case_number, number, signed, f"{number} signed.pdf", "desk", actor)


def attach_signed_scan(
    case_number: str, number: str, data: bytes, file_name: str, actor: str
) -> str:
    """A scan of the consent's form the client signed on paper, kept as the case's
    attachment (scanned, typed by content, sealed) and pointed at by the consent."""
    _unsigned(case_number, number)
    return _signed_with(case_number, number, data, file_name, "scan", actor)


def _unsigned(case_number: str, number: str) -> None:
    """Refuse, before anything is made, a consent that is not the client's, or is signed
    or withdrawn already."""
    from casework.models import consents

    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        try:
            consent = consents.get(session, case, number)
        except consents.ConsentError as exc:
            raise InputError(str(exc), field="consent") from None
        if consent.signed_at is not None or consent.withdrawn_at is not None:
            state = "signed" if consent.signed_at is not None else "withdrawn"
            raise InputError(f"consent: {number.upper()} is {state} already", field="consent")


def _signed_with(
    case_number: str, number: str, data: bytes, file_name: str, how: str, actor: str
) -> str:
    from casework.models import consents
    from casework.models.orm import Attachment
    from casework.services import attachments

    kept = attachments.attach(case_number, data, file_name, AttachmentKind.SIGNED_CONSENT, actor)
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        document = session.get_one(Attachment, int(kept.number.removeprefix("ATT-")))
        consents.sign(
            session, case, consents.get(session, case, number), document, how, actor, now()
        )
    return kept.number


def _signature(data_url: str) -> str:
    """The drawn signature as posted (a PNG data URL), checked: a PNG, not too large, not
    blank. Returned as given, for the signed form."""
    import base64
    import binascii
    import io

    from PIL import Image

    head, _, encoded = data_url.partition(",")
    try:
        png = base64.b64decode(encoded, validate=True) if head == "data:image/png;base64" else b""
    except (binascii.Error, ValueError):
        png = b""
    if not png or len(png) > SIGNATURE_BYTES:
        raise InputError("Ask the client to sign in the box.", field="signature")
    try:
        with Image.open(io.BytesIO(png)) as image:
            drawn = image.convert("RGBA").getchannel("A").getbbox()
    except OSError:
        drawn = None
    if drawn is None:
        raise InputError("Ask the client to sign in the box.", field="signature")
    return data_url


def withdraw_consent(case_number: str, provider: str, actor: str) -> list[str]:
    """Withdraw consent; open referrals it covered are cancelled and the case (if it was
    waiting on them) goes back to choosing. Returns the cancelled references."""

    with session_scope() as session:
        case = cases.get_case(session, case_number)
        cancelled = [
            r.reference or ""
            for r in referrals.withdraw_consent(session, case, provider, actor, now())
        ]
        number = case.case_number or case_number
    if cancelled and _resume_answered_now(number) is None:
        raise Deferred(number, cancelled)
    return cancelled


def record_referral_status(
    reference: str, status: ReferralStatus, reason: str | None, actor: str
) -> tuple[str, bool | None]:
    """An operator records a partner's answer by hand; returns (case number, whether the
    case was moved on because of it: None when the Prefect server is away, and the case
    moves once it is back if the answers are all in)."""
    with session_scope() as session:
        referral = referrals.get(session, reference)
        if referral.sent_at is None and status is not ReferralStatus.CANCELLED:
            raise InputError(f"referral: {referral.reference} has not been sent yet")
        referrals.set_status(session, referral, status, reason, "operator", now())
        case = session.get_one(Case, referral.case_id)
        audit.record(
            session,
            case,
            actor,
            "referral_status_recorded",
            now(),
            reference=referral.reference,
            status=status.value,
        )
        number = case.case_number or ""
    settled = _resume_answered_now(number)
    return number, None if settled is None else bool(settled)


def _resume_answered_now(case_number: str) -> list[str] | None:
    """Settle now if Prefect is there; None if it is not: then `casework up`, once back,
    settles it (and the referral status sync after it)."""
    try:
        if not prefect_api.api_is_healthy(prefect_api.api_url()):
            return None
        return resume_answered([case_number])
    except prefect_api.OrchestratorUnavailable:
        return None
