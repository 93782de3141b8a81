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


def give_consent(case_number: str, provider: str, given_on: date, actor: str) -> None:
    from casework.models import consents, providers

    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        if provider != consents.ANY_PROVIDER:
            providers.get(session, provider)
        if given_on > now().date():
            raise InputError(f"{given_on} is in the future", field="given_on")
        consents.give(session, case, provider, given_on, actor, now())


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
