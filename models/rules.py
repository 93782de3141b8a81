"""What the sweeps look for: one indexed query per rule over the whole caseload, returning
only the cases in breach. Dates are compared by day: a stage with a 14-day SLA entered on
the 1st is overdue from the 16th (its due date, the 15th, has passed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from casework.core.errors import UserError
from casework.models.appointments import rebooked
from casework.models.approvals import requested as approval_requested
from casework.models.codes import (
    OPEN_GOALS,
    AppointmentStatus,
    ApprovalStatus,
    CaseStatus,
    EscalationRule,
    FollowUpOutcome,
    Program,
    ReferralStatus,
    Stage,
    Watch,
)
from casework.models.orm import (
    AdverseNotice,
    Appointment,
    Approval,
    Benefit,
    CarePlan,
    Case,
    Consent,
    FollowUp,
    PlanGoal,
    Provider,
    Referral,
    RetentionBatch,
    RetentionItem,
    Waiver,
)
from casework.models.programs import ProgramConfig

Rule = EscalationRule
WARNING_DAYS = (7, 14, 30)  # advance warnings before a recertification or expiry date
UNANSWERED = (ReferralStatus.REQUESTED.value, ReferralStatus.RECEIVED.value)


EARLIEST_AS_OF = datetime(2000, 1, 1, tzinfo=UTC)
AS_OF_YEARS_AHEAD = 10


# An `as_of` later than now by more than this is a preview (a clock a little ahead, a
# scheduled run started a moment early, is not).
PREVIEW_AFTER = timedelta(minutes=5)


def is_preview(as_of: datetime, now: datetime | None = None) -> bool:
    """Whether a sweep or report as of `as_of` looks ahead: then it says what would happen
    and writes, sends and publishes nothing live. An `as_of` in the past is a catch-up and
    writes (escalations dated `as_of`, delivered now)."""
    return as_of > (now or datetime.now(UTC)) + PREVIEW_AFTER


class AsOfOutOfRange(UserError, ValueError):
    """An `as_of` no sweep or report can mean: before 2000 or more than ten years ahead."""


def checked_as_of(as_of: datetime | None, now: datetime | None = None) -> datetime:
    """`as_of` in UTC (default: now). The rules add days and months to it, so a far date
    (9999-12-31, a typo) is refused here, in one line, rather than deep in a sweep."""
    now = now or datetime.now(UTC)
    moment = (as_of or now).astimezone(UTC)
    latest = now.replace(year=now.year + AS_OF_YEARS_AHEAD, month=1, day=1)
    if not EARLIEST_AS_OF <= moment < latest:
        raise AsOfOutOfRange(
            f"as_of: {moment:%Y-%m-%d} is out of range; give a date from "
            f"{EARLIEST_AS_OF:%Y-%m-%d} to before {latest:%Y-%m-%d}"
        )
    return moment


@dataclass(frozen=True)
class Scope:
    """When the sweep looks (`as_of`), and optionally at one case only (a crisis just
    recorded is swept at once)."""

    as_of: datetime
    case_id: int | None = None

    @property
    def today(self) -> date:
        return self.as_of.astimezone(UTC).date()

    def cutoff(self, days: int) -> datetime:
        """Start of the day `days` before today: anything earlier is more than `days` old."""
        return datetime.combine(self.today - timedelta(days=days), time(), tzinfo=UTC)

    def days_since(self, moment: datetime | date) -> int:
        day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
        return (self.today - day).days


@dataclass(frozen=True)
class Breach:
    """One case found in breach of one rule; `subject` names what breached, so the same
    breach is recognised from one sweep to the next (and a new one is not)."""

    case_id: int
    case_number: str
    program: str
    case_manager: str
    rule: Rule
    subject: str
    threshold: str
    measured: str
    # The rung a deadline calls for now (a notice of adverse action): the ladder climbs
    # to it on the day, every rung below told too, rather than one rung per interval.
    due_level: int | None = None

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.case_id, self.rule.value, self.subject)


Programs = dict[Program, ProgramConfig]
RuleQuery = Callable[[Session, Scope, Programs], list[Breach]]
CASE_COLUMNS = (Case.id, Case.case_number, Case.program, Case.case_manager)


def _per_program(
    programs: Programs, condition: Callable[[ProgramConfig], ColumnElement[bool]]
) -> ColumnElement[bool]:
    """One disjunct per program: program thresholds differ, the query stays one query."""
    return or_(
        false(),
        *(
            and_(Case.program == program.value, condition(config))
            for program, config in programs.items()
        ),
    )


def _run(session: Session, query: Any, scope: Scope) -> Iterable[Any]:
    if scope.case_id is not None:
        query = query.where(Case.id == scope.case_id)
    return session.execute(query)


def _breach(
    row: Any, rule: Rule, subject: str, threshold: str, measured: str, level: int | None = None
) -> Breach:
    return Breach(
        row.id,
        row.case_number,
        row.program,
        row.case_manager,
        rule,
        subject,
        threshold,
        measured,
        level,
    )


def stage_overdue(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A case has spent longer in its stage than its program's SLA allows. Monitoring is
    governed by the contact interval and the reassessment cadence instead."""
    timed = [stage for stage in Stage if stage is not Stage.MONITORING]
    condition = _per_program(
        programs,
        lambda config: or_(
            *(
                and_(
                    Case.stage == stage.value,
                    Case.stage_entered_at < scope.cutoff(config.sla_days[stage]),
                )
                for stage in timed
            )
        ),
    )
    query = select(
        *CASE_COLUMNS, Case.episode, Case.stage, Case.stage_key, Case.stage_entered_at
    ).where(
        Case.status == CaseStatus.OPEN.value,
        Case.stage.in_([s.value for s in timed]),
        condition,
        ~approval_requested(),  # the supervisor's to move now: approval_overdue watches it
    )
    return [
        _breach(
            row,
            Rule.STAGE_OVERDUE,
            f"e{row.episode}:{row.stage_key}",
            f"{programs[Program(row.program)].sla_days[Stage(row.stage)]} days in {row.stage}",
            f"{scope.days_since(row.stage_entered_at)} days in {row.stage}",
        )
        for row in _run(session, query, scope)
    ]


def approval_overdue(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A form has waited for a supervisor's approval longer than its program's
    `approval_days`: the supervisor is told first, then the program manager."""
    condition = _per_program(
        programs, lambda config: Approval.requested_at < scope.cutoff(config.approval_days)
    )
    query = (
        select(*CASE_COLUMNS, Approval.stage_key, Approval.stage, Approval.requested_at)
        .join(Approval, and_(Approval.case_id == Case.id, Approval.episode == Case.episode))
        .where(
            Approval.status == ApprovalStatus.REQUESTED.value,
            Case.status == CaseStatus.OPEN.value,
            condition,
        )
    )
    return [
        _breach(
            row,
            Rule.APPROVAL_OVERDUE,
            row.stage_key,
            f"{row.stage} form decided within {programs[Program(row.program)].approval_days} days",
            f"{scope.days_since(row.requested_at)} days waiting for approval",
        )
        for row in _run(session, query, scope)
    ]


def retention_approval(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A retention batch waits for a supervisor's or an admin's approval
    (models.record_retention): each case it would mask, and each case of a client whose
    identity it would, is on the ladder under the batch's number, its supervisor told at
    once, then its program manager. Decided, it is off the ladder."""
    waiting = (
        select(
            RetentionItem.client_id,
            RetentionItem.case_id,
            RetentionBatch.number,
            RetentionBatch.requested_at,
        )
        .join(RetentionBatch, RetentionBatch.id == RetentionItem.batch_id)
        .where(RetentionBatch.status == "waiting")
        .subquery()
    )
    query = select(*CASE_COLUMNS, waiting.c.number, waiting.c.requested_at).join(
        waiting,
        or_(
            waiting.c.case_id == Case.id,
            and_(waiting.c.case_id.is_(None), waiting.c.client_id == Case.client_id),
        ),
    )
    found: dict[tuple[int, str], Breach] = {}
    for row in _run(session, query, scope):
        found[(row.id, row.number)] = _breach(
            row,
            Rule.RETENTION_APPROVAL,
            row.number,
            "approved or refused before it is applied",
            f"{scope.days_since(row.requested_at)} days waiting for approval",
        )
    return list(found.values())


def no_contact(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A case in monitoring has had no contact with the client for longer than its
    program's contact interval (counted from entering monitoring at the earliest)."""
    condition = _per_program(
        programs,
        lambda config: and_(
            Case.last_contact_at < scope.cutoff(config.contact_interval_days),
            Case.stage_entered_at < scope.cutoff(config.contact_interval_days),
        ),
    )
    query = select(*CASE_COLUMNS, Case.last_contact_at, Case.stage_entered_at).where(
        Case.status == CaseStatus.OPEN.value, Case.stage == Stage.MONITORING.value, condition
    )
    breaches = []
    for row in _run(session, query, scope):
        since = max(row.last_contact_at, row.stage_entered_at)
        breaches.append(
            _breach(
                row,
                Rule.NO_CONTACT,
                f"since {since.date().isoformat()}",
                f"contact every {programs[Program(row.program)].contact_interval_days} days",
                f"{scope.days_since(since)} days without contact",
            )
        )
    return breaches


def answer_window(response_days: int | None, program: ProgramConfig) -> int:
    """The days a partner has to answer a referral: its provider's (from the directory),
    else the program's."""
    return response_days or program.referral_response_days


def referral_unanswered(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A partner agency has not answered a referral within its response window (the
    provider's, from the directory; else the program's)."""
    query = (
        select(*CASE_COLUMNS, Referral.reference, Referral.status_at, Provider.response_days)
        .join(Referral, and_(Referral.case_id == Case.id, Referral.episode == Case.episode))
        .outerjoin(Provider, Provider.key == Referral.provider)
        .where(
            Referral.status.in_(UNANSWERED),
            Referral.status_at < scope.cutoff(1),  # a day's silence at least; windows below
            Case.status == CaseStatus.OPEN.value,
        )
    )
    breaches = []
    for row in _run(session, query, scope):
        window = answer_window(row.response_days, programs[Program(row.program)])
        if scope.days_since(row.status_at) > window:
            breaches.append(
                _breach(
                    row,
                    Rule.REFERRAL_UNANSWERED,
                    row.reference,
                    f"answer within {window} days",
                    f"{scope.days_since(row.status_at)} days unanswered",
                )
            )
    return breaches


def referral_failed(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A referral could not be delivered (or the partner refused it as malformed) while
    the case still waits at referral: someone has to choose another way."""
    query = (
        select(*CASE_COLUMNS, Referral.reference)
        .join(Referral, and_(Referral.case_id == Case.id, Referral.episode == Case.episode))
        .where(
            Referral.status == ReferralStatus.FAILED.value,
            Case.stage == Stage.REFERRAL.value,
            Case.status == CaseStatus.OPEN.value,
        )
    )
    return [
        _breach(row, Rule.REFERRAL_FAILED, row.reference, "delivered to the partner", "failed")
        for row in _run(session, query, scope)
    ]


def goal_overdue(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A goal of the case's current plan is past its target date and still open."""
    query = (
        select(*CASE_COLUMNS, PlanGoal.objective, PlanGoal.target_date)
        .join(CarePlan, and_(CarePlan.case_id == Case.id, CarePlan.episode == Case.episode))
        .join(PlanGoal, PlanGoal.plan_id == CarePlan.id)
        .where(
            PlanGoal.status.in_(OPEN_GOALS),
            PlanGoal.target_date < scope.today,
            CarePlan.current,
            Case.status == CaseStatus.OPEN.value,
        )
    )
    return [
        _breach(
            row,
            Rule.GOAL_OVERDUE,
            f"{row.objective} by {row.target_date.isoformat()}",
            f"target {row.target_date.isoformat()}",
            f"{scope.days_since(row.target_date)} days past target",
        )
        for row in _run(session, query, scope)
    ]


def crisis(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A crisis flag (from an assessment's crisis screen or a note) is open: no threshold."""
    query = select(*CASE_COLUMNS, Case.crisis_since).where(
        Case.crisis_since.is_not(None), Case.status == CaseStatus.OPEN.value
    )
    return [
        _breach(
            row,
            Rule.CRISIS,
            f"since {row.crisis_since.isoformat(timespec='minutes')}",
            "immediate",
            "crisis flag open",
        )
        for row in _run(session, query, scope)
    ]


def _dated(
    session: Session,
    scope: Scope,
    model: type[Benefit] | type[Waiver],
    what: InstrumentedAttribute[str],
    when: InstrumentedAttribute[date],
    *,
    warning: Rule,
    lapse: Rule,
) -> list[Breach]:
    """Benefits to recertify and waivers to renew: a warning 30, 14 and 7 days ahead (the
    tightest window reached), then a lapse once the date has passed. Open cases only."""
    horizon = scope.today + timedelta(days=max(WARNING_DAYS))
    query = (
        select(*CASE_COLUMNS, what.label("what"), when.label("when"))
        .join(model, model.case_id == Case.id)
        .where(model.active, when <= horizon, Case.status == CaseStatus.OPEN.value)
    )
    breaches = []
    for row in _run(session, query, scope):
        subject = f"{row.what} by {row.when.isoformat()}"
        left = (row.when - scope.today).days
        if left < 0:
            breaches.append(
                _breach(row, lapse, subject, f"renew by {row.when}", f"{-left} days lapsed")
            )
        else:
            window = min(days for days in WARNING_DAYS if days >= left)
            breaches.append(
                _breach(
                    row,
                    warning,
                    f"{subject} ({window}d)",
                    f"{window} days ahead",
                    f"{left} days left",
                )
            )
    return breaches


def ending_consents(horizon: date) -> Any:
    """Consents of open cases' clients, not withdrawn, whose end falls by `horizon` with no
    later consent of the client's to the same provider (a renewal) lasting beyond it."""
    later = aliased(Consent)
    renewed = (
        select(later.id)
        .where(
            later.client_id == Consent.client_id,
            later.provider == Consent.provider,
            later.withdrawn_at.is_(None),
            later.id != Consent.id,
            or_(later.expires_on.is_(None), later.expires_on > Consent.expires_on),
        )
        .exists()
    )
    return and_(
        Consent.withdrawn_at.is_(None),
        Consent.expires_on.is_not(None),
        Consent.expires_on <= horizon,
        ~renewed,
    )


def consents(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A consent to share of an open case's client ends soon: the case manager is warned
    30, 14 and 7 days ahead (the tightest window reached) to renew it with the client, or
    let it end (referrals stop at its end: models.referrals)."""
    horizon = scope.today + timedelta(days=max(WARNING_DAYS))
    query = (
        select(*CASE_COLUMNS, Consent.id.label("consent_id"), Consent.expires_on)
        .join(Consent, Consent.client_id == Case.client_id)
        .where(
            Case.status == CaseStatus.OPEN.value,
            Consent.expires_on >= scope.today,
            ending_consents(horizon),
        )
    )
    breaches = []
    for row in _run(session, query, scope):
        left = (row.expires_on - scope.today).days
        window = min(days for days in WARNING_DAYS if days >= left)
        breaches.append(
            _breach(
                row,
                Rule.CONSENT_EXPIRING,
                f"CON-{row.consent_id:06d} ends {row.expires_on.isoformat()} ({window}d)",
                f"{window} days ahead",
                f"{left} days left",
            )
        )
    return breaches


def benefits(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    return _dated(
        session,
        scope,
        Benefit,
        Benefit.kind,
        Benefit.recertify_by,
        warning=Rule.BENEFIT_RECERTIFICATION_DUE,
        lapse=Rule.BENEFIT_LAPSED,
    )


def waivers(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    return _dated(
        session,
        scope,
        Waiver,
        Waiver.requirement,
        Waiver.expires_on,
        warning=Rule.WAIVER_EXPIRING,
        lapse=Rule.WAIVER_EXPIRED,
    )


def adverse_notices(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """A notice of adverse action with no hearing requested, no withdrawal and no recorded
    decision not to appeal: on the ladder at once, climbing as its deadline nears (the
    aid-continuing deadline; else the hearing-request deadline), per notices.toml."""
    from casework.models.notices import Deadlines, notice_rules

    ladder = notice_rules().ladder
    query = (
        select(
            *CASE_COLUMNS,
            AdverseNotice.number,
            AdverseNotice.benefit,
            AdverseNotice.action,
            AdverseNotice.aid_deadline,
            AdverseNotice.hearing_deadline,
        )
        .join(AdverseNotice, AdverseNotice.case_id == Case.id)
        .where(AdverseNotice.awaiting, Case.status == CaseStatus.OPEN.value)
    )
    breaches = []
    for row in _run(session, query, scope):
        deadline, what = Deadlines(row.aid_deadline, row.hearing_deadline).watched
        left = (deadline - scope.today).days
        measured = (
            f"{left} days left, no hearing requested"
            if left >= 0
            else f"{what} deadline passed {-left} days ago, no hearing requested"
        )
        breaches.append(
            _breach(
                row,
                Rule.ADVERSE_NOTICE,
                f"notice {row.number}: {row.benefit} {row.action}",
                f"hearing requested by {deadline} ({what} deadline)",
                measured,
                ladder.level(left),
            )
        )
    return breaches


def follow_ups(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """Post-closure checks that are due and not done, or done and failed (which proposes
    reopening the case). Only while the case stays closed in the checked episode."""
    query = (
        select(*CASE_COLUMNS, FollowUp.day, FollowUp.episode, FollowUp.due_on, FollowUp.outcome)
        .join(FollowUp, and_(FollowUp.case_id == Case.id, FollowUp.episode == Case.episode))
        .where(
            Case.status == CaseStatus.CLOSED.value,
            or_(
                and_(FollowUp.outcome.is_(None), FollowUp.due_on <= scope.today),
                FollowUp.outcome.in_(
                    [o.value for o in FollowUpOutcome if o is not FollowUpOutcome.STABLE]
                ),
            ),
        )
    )
    breaches = []
    for row in _run(session, query, scope):
        subject = f"e{row.episode} day {row.day} check"
        if row.outcome is None:
            breach = _breach(
                row,
                Rule.FOLLOW_UP_DUE,
                subject,
                f"due {row.due_on}",
                f"{scope.days_since(row.due_on)} days since due",
            )
        else:
            breach = _breach(
                row,
                Rule.FOLLOW_UP_FAILED,
                subject,
                "stable after closure",
                f"{row.outcome}: reopen proposed",
            )
        breaches.append(breach)
    return breaches


def appointments(session: Session, scope: Scope, programs: Programs) -> list[Breach]:
    """Silence about an appointment: one whose day has passed with nothing recorded (by
    the next day, what became of it is known), and one missed with no new appointment
    booked on the case within the program's `rebook_within_days`. Open cases only."""
    missed_long = _per_program(
        programs, lambda config: Appointment.outcome_at < scope.cutoff(config.rebook_within_days)
    )
    query = (
        select(*CASE_COLUMNS, Appointment.number, Appointment.at, Appointment.status)
        .join(Appointment, Appointment.case_id == Case.id)
        .where(
            Case.status == CaseStatus.OPEN.value,
            Appointment.episode == Case.episode,
            or_(
                and_(
                    Appointment.status == AppointmentStatus.SCHEDULED.value,
                    Appointment.at < scope.cutoff(1),
                ),
                and_(
                    Appointment.status == AppointmentStatus.MISSED.value, missed_long, ~rebooked()
                ),
            ),
        )
    )
    breaches = []
    for row in _run(session, query, scope):
        if row.status == AppointmentStatus.SCHEDULED.value:
            breaches.append(
                _breach(
                    row,
                    Rule.APPOINTMENT_UNRECORDED,
                    str(row.number),
                    "what became of an appointment recorded by the next day",
                    f"{scope.days_since(row.at)} days since it was due",
                )
            )
        else:
            days = programs[Program(row.program)].rebook_within_days
            breaches.append(
                _breach(
                    row,
                    Rule.APPOINTMENT_MISSED,
                    str(row.number),
                    f"a missed appointment rebooked within {days} days",
                    f"missed {scope.days_since(row.at)} days ago; none booked since",
                )
            )
    return breaches


# Each query serves the rules listed with it; each watch runs its queries.
QUERIES: dict[RuleQuery, tuple[Rule, ...]] = {
    stage_overdue: (Rule.STAGE_OVERDUE,),
    approval_overdue: (Rule.APPROVAL_OVERDUE,),
    retention_approval: (Rule.RETENTION_APPROVAL,),
    no_contact: (Rule.NO_CONTACT,),
    referral_unanswered: (Rule.REFERRAL_UNANSWERED,),
    referral_failed: (Rule.REFERRAL_FAILED,),
    goal_overdue: (Rule.GOAL_OVERDUE,),
    crisis: (Rule.CRISIS,),
    benefits: (Rule.BENEFIT_RECERTIFICATION_DUE, Rule.BENEFIT_LAPSED),
    consents: (Rule.CONSENT_EXPIRING,),
    waivers: (Rule.WAIVER_EXPIRING, Rule.WAIVER_EXPIRED),
    adverse_notices: (Rule.ADVERSE_NOTICE,),
    follow_ups: (Rule.FOLLOW_UP_DUE, Rule.FOLLOW_UP_FAILED),
    appointments: (Rule.APPOINTMENT_UNRECORDED, Rule.APPOINTMENT_MISSED),
}
WATCHES: dict[Watch, tuple[RuleQuery, ...]] = {
    Watch.STALLED_CASES: (
        stage_overdue,
        approval_overdue,
        retention_approval,
        no_contact,
        referral_unanswered,
        referral_failed,
        goal_overdue,
        crisis,
        appointments,
    ),
    Watch.BENEFITS: (benefits, waivers, adverse_notices, consents),
    Watch.FOLLOW_UPS: (follow_ups,),
    Watch.REASSESSMENTS: (),
    Watch.MESSAGES: (),  # messages to clients (models.messages): no rule of the ladder
}
WARNINGS = frozenset(
    {Rule.BENEFIT_RECERTIFICATION_DUE, Rule.WAIVER_EXPIRING, Rule.CONSENT_EXPIRING}
)


def rules_of(watch: Watch) -> tuple[Rule, ...]:
    return tuple(rule for query in WATCHES[watch] for rule in QUERIES[query])


def first_level(rule: Rule) -> int:
    """Warnings are level 0 and stay there; a crisis goes straight to the supervisor."""
    if rule in WARNINGS:
        return 0
    # A crisis goes to the supervisor at once, as does a form waiting for their approval.
    return 2 if rule in (Rule.CRISIS, Rule.APPROVAL_OVERDUE, Rule.RETENTION_APPROVAL) else 1


def due_reassessments(session: Session, scope: Scope, programs: Programs) -> list[str]:
    """Open cases at a stage a reassessment is asked from (plan, referral, monitoring) whose
    program's reassessment interval has passed since their last assessment (or since
    entering that stage, whichever is later), and none is asked for already."""
    from casework.models.lifecycle import REASSESSABLE

    condition = _per_program(
        programs,
        lambda config: and_(
            Case.stage_entered_at < scope.cutoff(config.reassessment_interval_days),
            or_(
                Case.last_assessed_at.is_(None),
                Case.last_assessed_at < scope.cutoff(config.reassessment_interval_days),
            ),
        ),
    )
    query = (
        select(*CASE_COLUMNS)
        .where(
            Case.status == CaseStatus.OPEN.value,
            Case.stage.in_([s.value for s in REASSESSABLE]),
            or_(Case.reassess_key.is_(None), Case.reassess_key != Case.stage_key),
            condition,
        )
        .order_by(Case.id)
    )
    return [row.case_number for row in _run(session, query, scope)]
