"""Notices of adverse action and the client's fair hearing: the deadlines (from
`notices.toml`), recording a notice, the hearing request, the client's decision not to
appeal, and the outcome. Functions take the session first and only flush; each change is
audited. What the sweeps make of an unanswered notice is in models/rules.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework.models import audit
from casework.models.benefits import benefit_of
from casework.models.cases import CaseError
from casework.models.codes import (
    OPEN_GOALS,
    BenefitKind,
    HearingDecision,
    NeedsDomain,
    NoticeAction,
    NoticeReason,
)
from casework.models.orm import AdverseNotice, CarePlan, Case, PlanGoal
from casework.models.programs import ProgramError, read_toml

DEFAULT_NOTICES_FILE = Path(__file__).with_name("notices.toml")


class BenefitDeadlines(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    aid_continues: bool
    aid_continuing_days: int = Field(ge=0, le=365)
    hearing_request_days: int = Field(gt=0, le=365)


class Ladder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    supervisor_days_before: int = Field(ge=0, le=365)
    program_manager_days_before: int = Field(ge=0, le=365)

    @model_validator(mode="after")
    def _in_order(self) -> Ladder:
        if self.program_manager_days_before > self.supervisor_days_before:
            raise ValueError("program_manager_days_before is more than supervisor_days_before")
        return self

    def level(self, days_left: int) -> int:
        """The rung an unanswered notice stands on `days_left` days before its deadline."""
        if days_left <= self.program_manager_days_before:
            return 3
        return 2 if days_left <= self.supervisor_days_before else 1


class NoticeRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ladder: Ladder
    benefits: dict[BenefitKind, BenefitDeadlines]

    @model_validator(mode="after")
    def _complete(self) -> NoticeRules:
        missing = set(BenefitKind) - set(self.benefits)
        if missing:
            raise ValueError(f"benefits lacks {', '.join(sorted(k.value for k in missing))}")
        return self


def notice_rules() -> NoticeRules:
    """The configured deadlines (CASEWORK_NOTICES_FILE, or the shipped file)."""
    from casework.core.settings import get_settings

    return load_notice_rules(get_settings().notices_file or DEFAULT_NOTICES_FILE)


@lru_cache(maxsize=4)
def load_notice_rules(path: Path = DEFAULT_NOTICES_FILE) -> NoticeRules:
    raw = read_toml(path, "CASEWORK_NOTICES_FILE")
    try:
        return NoticeRules.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "file"
        raise ProgramError(f"CASEWORK_NOTICES_FILE: {path}: {where}: {error['msg']}") from None


@dataclass(frozen=True)
class Deadlines:
    aid: date | None  # the last day a request keeps the benefit unchanged; None: never
    hearing: date  # the last day to ask for a fair hearing at all

    @property
    def watched(self) -> tuple[date, str]:
        """The deadline the ladder climbs towards, and its name: aid's where aid can
        continue, else the hearing request's."""
        if self.aid is not None:
            return self.aid, "aid-continuing"
        return self.hearing, "hearing-request"

    def coming(self, today: date) -> tuple[date, str]:
        """The next deadline from `today` on, and its name: aid's while it has not passed,
        then the hearing request's."""
        if self.aid is not None and self.aid >= today:
            return self.aid, "aid-continuing"
        return self.hearing, "hearing-request"


def deadlines(
    rules: NoticeRules, benefit: BenefitKind, action: NoticeAction, dated: date, effective: date
) -> Deadlines:
    """A request is timely for aid before the effective date, or within the benefit's
    aid-continuing days of the notice date, whichever is later (never after the hearing
    deadline). A denial has no aid to continue."""
    config = rules.benefits[benefit]
    hearing = dated + timedelta(days=config.hearing_request_days)
    if not config.aid_continues or action is NoticeAction.DENY:
        return Deadlines(None, hearing)
    aid = max(dated + timedelta(days=config.aid_continuing_days), effective - timedelta(days=1))
    return Deadlines(min(max(aid, dated), hearing), hearing)


def of(notice: AdverseNotice) -> Deadlines:
    return Deadlines(notice.aid_deadline, notice.hearing_deadline)


def closed(notice: AdverseNotice) -> bool:
    """Decided, or not appealed: nothing more to record on it."""
    return notice.decision is not None or notice.declined_on is not None


def state(notice: AdverseNotice) -> str:
    """Where the notice stands, in words for the terminal and the case card."""
    if notice.decision is not None:
        return f"decided {notice.decision} on {notice.decided_on}"
    if notice.declined_on is not None and notice.hearing_requested_on is not None:
        return f"hearing request withdrawn by the client on {notice.declined_on}"
    if notice.declined_on is not None:
        return f"not appealed (client's decision, {notice.declined_on})"
    if notice.hearing_requested_on is not None:
        aid = "aid continuing" if notice.aid_continuing else "aid not continuing"
        return f"hearing requested {notice.hearing_requested_on} ({aid})"
    return "no hearing requested"


def record_notice(
    session: Session,
    case: Case,
    *,
    benefit: BenefitKind,
    action: NoticeAction,
    reason: NoticeReason | None,
    dated: date,
    effective: date,
    actor: str,
    at: datetime,
    rules: NoticeRules,
) -> AdverseNotice:
    """Record a notice on an open case (held for update by the caller). Refused, changing
    nothing: an effective date before the notice's, a reduction or discontinuance of a
    benefit the case does not hold, the same notice twice, and a notice whose hearing
    window has closed."""
    if effective < dated:
        raise CaseError(f"{effective} is before the notice date {dated}", field="effective")
    if action is not NoticeAction.DENY and benefit_of(session, case, benefit) is None:
        raise CaseError(
            f"{case.case_number} has no active {benefit.value} benefit to "
            f"{action.value}; record it first (`casework benefit {case.case_number} --kind "
            f"{benefit.value} --recertify-by DATE`), or use --action deny for an application",
            field="benefit",
        )
    same = session.scalars(
        select(AdverseNotice.number).where(
            AdverseNotice.case_id == case.id,
            AdverseNotice.benefit == benefit.value,
            AdverseNotice.action == action.value,
            AdverseNotice.notice_date == dated,
        )
    ).first()
    if same is not None:
        raise CaseError(
            f"this {benefit.value} {action.value} notice of {dated} is "
            f"already recorded as notice {same} of {case.case_number}",
            field="notice_date",
        )
    due = deadlines(rules, benefit, action, dated, effective)
    if due.hearing < at.date():
        raise CaseError(
            f"the window to request a hearing on a {benefit.value} notice "
            f"dated {dated} closed on {due.hearing}; there is no deadline left to watch",
            field="notice_date",
        )
    number = 1 + (
        session.scalar(
            select(func.max(AdverseNotice.number)).where(AdverseNotice.case_id == case.id)
        )
        or 0
    )
    notice = AdverseNotice(
        case_id=case.id,
        episode=case.episode,
        number=number,
        benefit=benefit.value,
        action=action.value,
        reason=reason.value if reason else None,
        notice_date=dated,
        effective_on=effective,
        aid_deadline=due.aid,
        hearing_deadline=due.hearing,
        recorded_by=actor,
    )
    session.add(notice)
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "notice_recorded",
        at,
        notice=number,
        benefit=benefit.value,
        adverse_action=action.value,
        aid_deadline=due.aid.isoformat() if due.aid else None,
        hearing_deadline=due.hearing.isoformat(),
    )
    return notice


def get_notice(
    session: Session, case: Case, number: int, *, for_update: bool = False
) -> AdverseNotice:
    query = select(AdverseNotice).where(
        AdverseNotice.case_id == case.id, AdverseNotice.number == number
    )
    notice = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if notice is None:
        numbers = session.scalars(
            select(AdverseNotice.number)
            .where(AdverseNotice.case_id == case.id)
            .order_by(AdverseNotice.number)
        )
        recorded = ", ".join(str(n) for n in numbers) or "none"
        raise CaseError(
            f"{case.case_number} has no notice {number}; recorded: {recorded}",
            field="notice",
        )
    return notice


def _check_day(notice: AdverseNotice, day: date, option: str, today: date) -> None:
    """A step's date: not ahead of today, nor before the notice or its hearing request."""
    if day > today:
        raise CaseError(f"{option}: {day} is in the future")
    if day < notice.notice_date:
        raise CaseError(f"{option}: {day} is before the notice's date {notice.notice_date}")
    if notice.hearing_requested_on is not None and day < notice.hearing_requested_on:
        raise CaseError(
            f"{option}: {day} is before the hearing was requested ({notice.hearing_requested_on})"
        )


def _still_open(case: Case, notice: AdverseNotice, option: str) -> None:
    if closed(notice):
        raise CaseError(
            f"{option}: notice {notice.number} of {case.case_number} is already closed: "
            f"{state(notice)}"
        )


def request_hearing(
    session: Session,
    case: Case,
    notice: AdverseNotice,
    requested_on: date,
    aid_continuing: bool | None,
    actor: str,
    at: datetime,
) -> AdverseNotice:
    """The client asked for a fair hearing on `requested_on`. Aid continues when asked for
    in time (the default then); asking for it after the aid-continuing deadline, or on a
    notice with no aid to continue, is refused. A request after the hearing deadline is
    refused: the client's right to one has lapsed (good cause is the agency's to decide)."""
    _still_open(case, notice, "--requested-on")
    if notice.hearing_requested_on is not None:
        raise CaseError(
            f"a hearing on notice {notice.number} of {case.case_number} was "
            f"already requested on {notice.hearing_requested_on}",
            field="requested_on",
        )
    _check_day(notice, requested_on, "--requested-on", at.date())
    if requested_on > notice.hearing_deadline:
        raise CaseError(
            f"{requested_on} is after the last day to request a hearing on "
            f"notice {notice.number} ({notice.hearing_deadline})",
            field="requested_on",
        )
    in_time = notice.aid_deadline is not None and requested_on <= notice.aid_deadline
    if aid_continuing and not in_time:
        why = (
            f"requested after the aid-continuing deadline {notice.aid_deadline}"
            if notice.aid_deadline
            else f"a {notice.benefit} {notice.action} notice has no aid to continue"
        )
        raise CaseError(f"aid cannot continue: {why}", field="aid_continuing")
    notice.hearing_requested_on = requested_on
    notice.aid_continuing = in_time if aid_continuing is None else aid_continuing
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "hearing_requested",
        at,
        notice=notice.number,
        requested_on=requested_on.isoformat(),
        in_time=in_time,
        aid_continuing=notice.aid_continuing,
    )
    return notice


def record_declined(
    session: Session, case: Case, notice: AdverseNotice, on: date, actor: str, at: datetime
) -> AdverseNotice:
    """The client, told their rights, decided not to appeal, or (a hearing requested)
    withdrew their request: the notice stands and takes effect (a discontinued benefit is
    no longer watched). Not the agency withdrawing its notice: that is a decision."""
    _still_open(case, notice, "--declined-on")
    _check_day(notice, on, "--declined-on", at.date())
    notice.declined_on = on
    _action_stands(session, case, notice)
    session.flush()
    audit.record(
        session, case, actor, "appeal_declined", at, notice=notice.number, on=on.isoformat()
    )
    return notice


def record_decision(
    session: Session,
    case: Case,
    notice: AdverseNotice,
    decision: HearingDecision,
    on: date,
    actor: str,
    at: datetime,
) -> AdverseNotice:
    """How the notice ended. Reversed or withdrawn: the benefit is active again. Upheld:
    the action stands (a discontinued or denied benefit is no longer watched), and the
    case's plan must cover income and benefits before monitoring may go on."""
    _still_open(case, notice, "--decision")
    if decision is not HearingDecision.WITHDRAWN and notice.hearing_requested_on is None:
        raise CaseError(
            f"no hearing on notice {notice.number} of {case.case_number} was "
            f"requested; record the request first (--requested-on), or the client's "
            "decision not to appeal (--declined-on)",
            field="decision",
        )
    _check_day(notice, on, "--on", at.date())
    notice.decision, notice.decided_on = decision.value, on
    if decision is HearingDecision.UPHELD:
        _action_stands(session, case, notice)
    elif (benefit := benefit_of(session, case, notice.benefit, active_only=False)) is not None:
        benefit.active = True
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "notice_decided",
        at,
        notice=notice.number,
        decision=decision.value,
        on=on.isoformat(),
    )
    return notice


def held(session: Session, case: Case, kind: BenefitKind | str) -> bool:
    """Whether the case holds `kind`, active (watched for recertification), now."""
    return benefit_of(session, case, kind) is not None


def _action_stands(session: Session, case: Case, notice: AdverseNotice) -> None:
    """A reduction leaves the benefit (smaller) to recertify; a discontinuance ends it."""
    if notice.action == NoticeAction.DISCONTINUE.value:
        benefit = benefit_of(session, case, notice.benefit)
        if benefit is not None:
            benefit.active = False


def for_case(session: Session, case: Case) -> list[AdverseNotice]:
    query = select(AdverseNotice).where(AdverseNotice.case_id == case.id)
    return list(session.scalars(query.order_by(AdverseNotice.number)))


def upheld_uncovered(session: Session, case: Case) -> list[AdverseNotice]:
    """This episode's upheld notices the current plan does not answer: it has no income and
    benefits goal still open, nor one worked on since the decision."""
    upheld = list(
        session.scalars(
            select(AdverseNotice).where(
                AdverseNotice.case_id == case.id,
                AdverseNotice.episode == case.episode,
                AdverseNotice.decision == HearingDecision.UPHELD.value,
            )
        )
    )
    if not upheld:
        return []
    goals = session.execute(
        select(PlanGoal.status, PlanGoal.status_changed_at)
        .join(CarePlan, CarePlan.id == PlanGoal.plan_id)
        .where(
            CarePlan.case_id == case.id,
            CarePlan.episode == case.episode,
            CarePlan.current,
            PlanGoal.domain == NeedsDomain.INCOME_BENEFITS.value,
        )
    ).all()
    return [
        notice
        for notice in upheld
        if not any(
            status in OPEN_GOALS or (notice.decided_on and changed.date() >= notice.decided_on)
            for status, changed in goals
        )
    ]
