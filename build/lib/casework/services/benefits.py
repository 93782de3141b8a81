"""Benefits continuity: benefits and their recertification dates, waivers, notices of
adverse action and their hearings, and the post-closure follow-up checks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.orm import Session

from casework.core import prefect_api
from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.models import (
    benefits,
    cases,
    notices,
)
from casework.models.codes import (
    BenefitKind,
    HearingDecision,
    NoticeAction,
    NoticeReason,
    WaiverRequirement,
)
from casework.models.orm import AdverseNotice, Case
from casework.models.schemas import (
    NoticeOut,
)


def _future(day: date, field: str) -> date:
    if day <= now().date():
        raise InputError(f"{day} is not in the future", field=field)
    return day


def record_benefit(case_number: str, kind: BenefitKind, recertify_by: date, actor: str) -> None:
    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        benefits.record_benefit(
            session, case, kind, _future(recertify_by, "recertify_by"), actor, now()
        )


def end_benefit(case_number: str, kind: BenefitKind, actor: str) -> None:
    with session_scope() as session:
        benefits.end_benefit(session, cases.get_case(session, case_number), kind, actor, now())


@dataclass(frozen=True)
class NoticeResult:
    case_number: str
    notice: NoticeOut
    benefit_active: bool  # the case holds the notice's benefit, active, now
    warning: str | None = None  # Prefect could not take the case's sweep now


def notice_out(notice: AdverseNotice) -> NoticeOut:
    return NoticeOut.model_validate(notice).model_copy(update={"state": notices.state(notice)})


def record_notice(
    case_number: str,
    benefit: BenefitKind,
    action: NoticeAction,
    reason: NoticeReason | None,
    dated: date,
    effective: date,
    actor: str,
) -> NoticeResult:
    """Record a notice of adverse action on an open case, and sweep the case at once with
    the benefits watch: its case manager is told now, with the deadline."""
    if dated > now().date():
        raise InputError(f"{dated} is in the future", field="notice_date")
    with session_scope() as session:
        case = cases.get_open_case(session, case_number, for_update=True)
        recorded = notices.record_notice(
            session,
            case,
            benefit=benefit,
            action=action,
            reason=reason,
            dated=dated,
            effective=effective,
            actor=actor,
            at=now(),
            rules=notices.notice_rules(),
        )
        result = _notice_result(session, case, recorded)
    return _followed(result)


def record_hearing(
    case_number: str,
    number: int,
    actor: str,
    *,
    requested_on: date | None = None,
    aid_continuing: bool | None = None,
    declined_on: date | None = None,
    decision: HearingDecision | None = None,
    decided_on: date | None = None,
) -> NoticeResult:
    """Record one step of a notice's appeal: the hearing request, the client's decision not
    to appeal, or the outcome; then sweep the case at once (its ladder stops)."""
    with session_scope() as session:
        case = cases.get_case(session, case_number, for_update=True)
        notice = notices.get_notice(session, case, number, for_update=True)
        if requested_on is not None:
            notices.request_hearing(
                session, case, notice, requested_on, aid_continuing, actor, now()
            )
        elif declined_on is not None:
            notices.record_declined(session, case, notice, declined_on, actor, now())
        elif decision is not None and decided_on is not None:
            notices.record_decision(session, case, notice, decision, decided_on, actor, now())
        else:
            raise InputError(
                "give the day the hearing was requested or declined, or its decision and its day",
                field="requested_on",
            )
        result = _notice_result(session, case, notice)
    return _followed(result)


def _notice_result(session: Session, case: Case, notice: AdverseNotice) -> NoticeResult:
    held = notices.held(session, case, notice.benefit)
    return NoticeResult(case.case_number or "", notice_out(notice), held)


def _followed(result: NoticeResult) -> NoticeResult:
    """After a notice's change (committed): the case swept at once by the benefits watch,
    which starts or stops the notice's ladder and rewrites the case card. With Prefect
    away the change is kept, and the next scheduled benefits watch does the same."""
    try:
        prefect_api.check_ready(prefect_api.BENEFITS_DEPLOYMENT)
        prefect_api.start_case_sweep(result.case_number, prefect_api.BENEFITS_DEPLOYMENT)
    except prefect_api.OrchestratorUnavailable as exc:
        return replace(
            result, warning=f"recorded; the next scheduled benefits watch follows it up ({exc})"
        )
    return result


def record_waiver(
    case_number: str, requirement: WaiverRequirement, expires_on: date, actor: str
) -> None:
    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        benefits.record_waiver(
            session, case, requirement, _future(expires_on, "expires_on"), actor, now()
        )


def record_follow_up(
    case_number: str,
    day: int,
    *,
    reached: bool,
    housing_kept: bool | None,
    benefits_continuing: bool | None,
    actor: str,
) -> str:
    """Record a post-closure check; returns its outcome (anything but stable proposes
    reopening, which the follow-up sweep escalates until the case is reopened)."""
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        check = benefits.record_follow_up(
            session,
            case,
            day,
            reached=reached,
            housing_kept=housing_kept,
            benefits_continuing=benefits_continuing,
            actor=actor,
            at=now(),
        )
        return check.outcome or ""
