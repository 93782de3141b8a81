"""Benefits and waivers the sweeps watch ahead of their dates, and post-closure checks.
Functions take the session first and only flush; each change is audited."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import audit
from casework.models.cases import CaseError
from casework.models.codes import BenefitKind, CaseStatus, FollowUpOutcome, WaiverRequirement
from casework.models.orm import Benefit, Case, FollowUp, Waiver


def record_benefit(
    session: Session, case: Case, kind: BenefitKind, recertify_by: date, actor: str, at: datetime
) -> Benefit:
    """Record a benefit, or renew it with its next recertification date."""
    benefit = benefit_of(session, case, kind, active_only=False)
    previous = benefit.recertify_by.isoformat() if benefit and benefit.active else None
    if benefit is None:
        benefit = Benefit(case_id=case.id, kind=kind.value, recertify_by=recertify_by)
        session.add(benefit)
    benefit.recertify_by, benefit.active, benefit.recorded_by = recertify_by, True, actor
    session.flush()
    action = "benefit_renewed" if previous else "benefit_recorded"
    audit.record(
        session,
        case,
        actor,
        action,
        at,
        kind=kind.value,
        recertify_by=recertify_by.isoformat(),
        previous=previous,
    )
    return benefit


def benefit_of(
    session: Session, case: Case, kind: BenefitKind | str, *, active_only: bool = True
) -> Benefit | None:
    """The case's benefit of `kind` (by default only while active: watched, received)."""
    query = select(Benefit).where(Benefit.case_id == case.id, Benefit.kind == str(kind))
    return session.scalars(query.where(Benefit.active) if active_only else query).one_or_none()


def end_benefit(session: Session, case: Case, kind: BenefitKind, actor: str, at: datetime) -> None:
    """The client no longer receives the benefit (on purpose): stop watching it."""
    benefit = benefit_of(session, case, kind)
    if benefit is None:
        raise CaseError(f"{case.case_number} has no active {kind.value} benefit", field="kind")
    benefit.active = False
    session.flush()
    audit.record(session, case, actor, "benefit_ended", at, kind=kind.value)


def record_waiver(
    session: Session,
    case: Case,
    requirement: WaiverRequirement,
    expires_on: date,
    actor: str,
    at: datetime,
) -> Waiver:
    """Grant a program-requirement waiver, or extend it to a new expiry date."""
    waiver = session.scalars(
        select(Waiver).where(Waiver.case_id == case.id, Waiver.requirement == requirement.value)
    ).one_or_none()
    if waiver is None:
        waiver = Waiver(case_id=case.id, requirement=requirement.value, expires_on=expires_on)
        session.add(waiver)
    waiver.expires_on, waiver.active, waiver.granted_by = expires_on, True, actor
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "waiver_granted",
        at,
        requirement=requirement.value,
        expires_on=expires_on.isoformat(),
    )
    return waiver


def record_follow_up(
    session: Session,
    case: Case,
    day: int,
    *,
    reached: bool,
    housing_kept: bool | None,
    benefits_continuing: bool | None,
    actor: str,
    at: datetime,
) -> FollowUp:
    """Record a post-closure check. Stable only if the client was reached, kept their
    housing and their benefits continue; anything else proposes reopening the case."""
    if case.status != CaseStatus.CLOSED.value:
        raise CaseError(f"case_number: {case.case_number} is open; follow-ups are for closed cases")
    check = session.scalars(
        select(FollowUp).where(
            FollowUp.case_id == case.id, FollowUp.episode == case.episode, FollowUp.day == day
        )
    ).one_or_none()
    if check is None:
        days = sorted(
            session.scalars(
                select(FollowUp.day).where(
                    FollowUp.case_id == case.id, FollowUp.episode == case.episode
                )
            )
        )
        offered = ", ".join(str(d) for d in days) or "none (no follow-up consent)"
        raise CaseError(
            f"{case.case_number} has no day-{day} check; scheduled: {offered}", field="day"
        )
    if check.outcome is not None:
        raise CaseError(
            f"the day-{day} check of {case.case_number} is already recorded", field="day"
        )
    if not reached:
        outcome = FollowUpOutcome.UNREACHABLE
    elif housing_kept and benefits_continuing:
        outcome = FollowUpOutcome.STABLE
    else:
        outcome = FollowUpOutcome.NEEDS_HELP
    check.outcome = outcome.value
    check.housing_kept, check.benefits_continuing = housing_kept, benefits_continuing
    check.checked_by, check.checked_at = actor, at
    session.flush()
    audit.record(session, case, actor, "follow_up_recorded", at, day=day, outcome=outcome.value)
    return check


def for_case(session: Session, case: Case) -> tuple[list[Benefit], list[Waiver], list[FollowUp]]:
    return (
        list(
            session.scalars(select(Benefit).where(Benefit.case_id == case.id).order_by(Benefit.id))
        ),
        list(session.scalars(select(Waiver).where(Waiver.case_id == case.id).order_by(Waiver.id))),
        list(
            session.scalars(
                select(FollowUp).where(FollowUp.case_id == case.id).order_by(FollowUp.id)
            )
        ),
    )
