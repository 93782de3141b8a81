"""What is due from each case manager: every date a case's work hangs on, past or coming,
with what to do about it. Computed on the read (as Primero's overdue tasks are), from the
same program settings the sweeps escalate by: a due date shown here is the last day before
the sweep would count a breach (a follow-up check: the day it falls due, as the sweep has
it). Case numbers and codes only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import DateTime, and_, func, or_, select, true, type_coerce
from sqlalchemy.orm import Session

from casework.core.settings import get_settings
from casework.models import notices
from casework.models.appointments import BY_CLIENT, rebooked
from casework.models.approvals import requested as approval_requested
from casework.models.codes import AppointmentStatus, ApprovalStatus, CaseStatus, Program, Stage
from casework.models.labels import label, words
from casework.models.lifecycle import stage_of_key, waits_for_form
from casework.models.orm import (
    AdverseNotice,
    Appointment,
    Approval,
    Benefit,
    Case,
    Consent,
    FollowUp,
    Provider,
    Referral,
    Waiver,
)
from casework.models.programs import programs
from casework.models.rules import UNANSWERED, answer_window, ending_consents

# Stages the reassessment cadence watches: a case reassessed at any of them.
CADENCE_STAGES = (Stage.PLAN, Stage.REFERRAL, Stage.MONITORING)


@dataclass(frozen=True)
class DueItem:
    due_on: date
    case_number: str
    program: str
    case_manager: str
    # stage, contact, reassessment, referral_answer, recertification, waiver,
    # hearing_request, follow_up, appointment, appointment_outcome, rebook, approval,
    # returned_form
    what: str
    subject: str  # coded: a stage key, REF-…, a benefit kind, a waiver requirement, a check
    action: str

    def overdue(self, today: date) -> bool:
        return self.due_on < today

    def as_dict(self, today: date) -> dict[str, Any]:
        return {**asdict(self), "due_on": self.due_on.isoformat(), "overdue": self.overdue(today)}


def _appointments(
    session: Session, theirs: Any, today: date, until: date, configs: dict[Program, Any]
) -> list[DueItem]:
    """Appointments still scheduled: each due on its own (local) day, or, once that day
    has passed with nothing recorded, due the next day for its outcome to be recorded;
    and a missed one (or one the client cancelled by a reply) with nothing booked since, due
    to be rebooked within the program's `rebook_within_days`."""
    zone = get_settings().zone
    bound = datetime.combine(until + timedelta(days=2), time(), UTC)  # zones within a day
    query = (
        select(*SHOWN, Appointment.number, Appointment.kind, Appointment.at)
        .join(Appointment, Appointment.case_id == Case.id)
        .where(
            theirs,
            Appointment.episode == Case.episode,
            Appointment.status == AppointmentStatus.SCHEDULED.value,
            Appointment.at < bound,
        )
    )
    found = []
    for row in session.execute(query):
        local = row.at.astimezone(zone)
        number, where = row.case_number or "", f"{row.number} {row.kind} {local:%H:%M}"
        if local.date() >= today:
            due_on, what = local.date(), "appointment"
            action = (
                f"{label(row.kind).lower()} at {local:%H:%M}; then record it "
                f"(`casework appointment {row.number} --attended` or `--missed`)"
            )
        else:
            due_on, what = local.date() + timedelta(days=1), "appointment_outcome"
            action = (
                f"record whether {row.number} was kept "
                f"(`casework appointment {row.number} --attended` or `--missed`)"
            )
        if due_on <= until:
            found.append(
                DueItem(due_on, number, row.program, row.case_manager, what, where, action)
            )
    missed = (
        select(
            *SHOWN,
            Appointment.number,
            Appointment.kind,
            Appointment.status,
            Appointment.outcome_at,
            Appointment.at,
        )
        .join(Appointment, Appointment.case_id == Case.id)
        .where(
            theirs,
            Appointment.episode == Case.episode,
            or_(
                Appointment.status == AppointmentStatus.MISSED.value,
                and_(
                    Appointment.status == AppointmentStatus.CANCELLED.value,
                    Appointment.outcome_by == BY_CLIENT,
                ),
            ),
            ~rebooked(),
        )
    )
    for gone in session.execute(missed):
        days = configs[Program(gone.program)].rebook_within_days
        due_on = (gone.outcome_at or gone.at).astimezone(zone).date() + timedelta(days=days)
        if due_on <= until:
            number = gone.case_number or ""
            found.append(
                DueItem(
                    due_on,
                    number,
                    gone.program,
                    gone.case_manager,
                    "rebook",
                    f"{gone.number} {gone.kind} "
                    + (
                        "missed"
                        if gone.status == AppointmentStatus.MISSED.value
                        else "cancelled by the client"
                    ),
                    f"book the client a new appointment (`casework appointment {number} --at …`)",
                )
            )
    return found


def _day(moment: datetime) -> date:
    return moment.date()


# What a case's own clocks read: columns, not the mapped case (at 100,000 open cases, the
# whole caseload's due list builds no ORM object per case).
CLOCK_COLUMNS = (
    Case.case_number,
    Case.program,
    Case.case_manager,
    Case.stage,
    Case.stage_key,
    Case.waiting_on,
    approval_requested().label("awaiting_approval"),
    # Read as the driver gives them, in UTC without its zone: only their dates are used.
    *(
        type_coerce(column, DateTime()).label(column.key)
        for column in (
            Case.stage_entered_at,
            Case.last_contact_at,
            Case.last_assessed_at,
            Case.opened_at,
        )
    ),
)
STAGE_OF = {stage.value: stage for stage in Stage}
# What a listed case shows beside a row of another table.
SHOWN = (Case.case_number, Case.program, Case.case_manager)


def case_items(case: Any, until: date | None = None) -> list[DueItem]:
    """The case's own clocks: its stage's SLA, contact, the reassessment cadence; only those
    due by `until` if given. `case`: a Case, or a row of CLOCK_COLUMNS."""
    return _clocks(case, until, programs())


def _clocks(case: Any, until: date | None, configs: dict[Program, Any]) -> list[DueItem]:
    config = configs[case.program]  # Program is a StrEnum: its value finds it
    stage = STAGE_OF[case.stage]
    number = case.case_number or ""
    found = []
    if stage is not Stage.MONITORING:
        due_on = case.stage_entered_at.date() + timedelta(days=config.sla_days[stage])
        if until is None or due_on <= until:
            form = waits_for_form(stage)
            waiting = " (waiting on partners' answers)" if case.waiting_on else ""
            if getattr(case, "awaiting_approval", False):
                waiting = " (its form waits for a supervisor's approval)"
            submit = f": submit the {stage.value} form" if form and not waiting else ""
            action = f"finish {stage.value}{submit}{waiting}"
            found.append(
                DueItem(
                    due_on, number, case.program, case.case_manager, "stage", case.stage_key, action
                )
            )
    else:
        since = max(case.last_contact_at, case.stage_entered_at)
        due_on = since.date() + timedelta(days=config.contact_interval_days)
        if until is None or due_on <= until:
            action = f"contact the client, and record it (`casework note {number} --type phone …`)"
            subject = f"since {since.date().isoformat()}"
            found.append(
                DueItem(due_on, number, case.program, case.case_manager, "contact", subject, action)
            )
    if stage in CADENCE_STAGES:
        since = max(case.last_assessed_at or case.opened_at, case.stage_entered_at)
        due_on = since.date() + timedelta(days=config.reassessment_interval_days)
        if until is None or due_on <= until:
            action = f"reassess (`casework reassess {number} --reason scheduled_review`)"
            subject = f"since {since.date().isoformat()}"
            found.append(
                DueItem(
                    due_on, number, case.program, case.case_manager, "reassessment", subject, action
                )
            )
    return found


def _any_clock_due(configs: dict[Program, Any], until: date) -> Any:
    """The cases with a clock of their own due by `until`, as a filter (the rows `_clocks`
    finds nothing in are not read): a date due by `until` is one a day of which began
    before the midnight after `until` less the clock's days."""

    def before(days: int) -> datetime:
        return datetime.combine(until - timedelta(days=days - 1), time(), UTC)

    cadence = [s.value for s in CADENCE_STAGES]
    assessed = func.coalesce(Case.last_assessed_at, Case.opened_at)
    each = []
    for program, config in configs.items():
        clocks = [
            and_(Case.stage == stage.value, Case.stage_entered_at < before(days))
            for stage, days in config.sla_days.items()
            if stage is not Stage.MONITORING
        ]
        contact = before(config.contact_interval_days)
        clocks.append(
            and_(
                Case.stage == Stage.MONITORING.value,
                Case.last_contact_at < contact,
                Case.stage_entered_at < contact,
            )
        )
        review = before(config.reassessment_interval_days)
        clocks.append(
            and_(Case.stage.in_(cadence), assessed < review, Case.stage_entered_at < review)
        )
        each.append(and_(Case.program == program.value, or_(*clocks)))
    return or_(*each)


def _approvals(
    session: Session, managed: Any, approver: Iterable[str], until: date, configs: Any
) -> list[DueItem]:
    """Forms waiting for a supervisor's approval in the `approver`'s programs, each due
    its program's `approval_days` after it was given; and the case manager's forms a
    supervisor returned at the stage their case waits at, due at once, until given again."""
    found = []
    waiting = (
        select(*SHOWN, Approval.stage, Approval.stage_key, Approval.requested_at)
        .join(Approval, and_(Approval.case_id == Case.id, Approval.episode == Case.episode))
        .where(
            Case.status == CaseStatus.OPEN.value,
            Case.program.in_(list(approver)),
            Approval.status == ApprovalStatus.REQUESTED.value,
        )
    )
    for row in session.execute(waiting):
        number = row.case_number or ""
        due_on = _day(row.requested_at) + timedelta(
            days=configs[Program(row.program)].approval_days
        )
        found.append(
            DueItem(
                due_on,
                number,
                row.program,
                row.case_manager,
                "approval",
                row.stage_key,
                f"approve the {row.stage} form (`casework approve {number}`), or return it "
                f"with a reason (`casework return {number} --reason …`)",
            )
        )
    returned = (
        select(*SHOWN, Approval.stage, Approval.stage_key, Approval.decided_by, Approval.decided_at)
        .join(Approval, and_(Approval.case_id == Case.id, Approval.episode == Case.episode))
        .where(
            managed,
            Approval.status == ApprovalStatus.RETURNED.value,
            Approval.stage == Case.stage,
            Approval.decided_at >= Case.stage_entered_at,
            ~approval_requested(),
        )
    )
    for back in session.execute(returned):
        number = back.case_number or ""
        found.append(
            DueItem(
                _day(back.decided_at),
                number,
                back.program,
                back.case_manager,
                "returned_form",
                back.stage_key,
                f"correct the {back.stage} form {back.decided_by} returned, and give it again "
                f"(the reason: `casework show {number}`)",
            )
        )
    return [item for item in found if item.due_on <= until]


def _consents(session: Session, theirs: Any, until: date) -> list[DueItem]:
    """Consents to share of the listed cases' clients that end by `until`, not renewed:
    due on their last day, to renew with the client or let end."""
    ending = (
        select(*SHOWN, Consent.id, Consent.provider, Consent.expires_on)
        .join(Consent, Consent.client_id == Case.client_id)
        .where(theirs, ending_consents(until))
    )
    found = []
    for case in session.execute(ending):
        consent = f"CON-{case.id:06d}"
        whom = "any partner agency" if case.provider == "*" else case.provider
        found.append(
            DueItem(
                case.expires_on,
                case.case_number or "",
                case.program,
                case.case_manager,
                "consent",
                consent,
                f"renew the client's consent to share with {whom} ({consent} ends), or let it "
                f"end: referrals stop at its end",
            )
        )
    return found


def due_list(
    session: Session,
    today: date,
    within_days: int,
    manager: str | None = None,
    approver: Iterable[str] = (),
) -> list[DueItem]:
    """Everything due by `today + within_days` (overdue included), for one case manager or
    all of them, by date then case number; and, for a supervisor, the forms waiting for
    approval in the programs they supervise (`approver`)."""
    until = today + timedelta(days=within_days)
    mine = (Case.case_manager == manager) if manager is not None else true()
    is_open = Case.status == CaseStatus.OPEN.value
    items: list[DueItem] = []
    own: list[int] = []
    configs = programs()
    clocks = select(Case.id, *CLOCK_COLUMNS).where(is_open, mine, _any_clock_due(configs, until))
    rows = session.connection().execute(clocks).all()
    for case in rows:
        items += _clocks(case, until, configs)
        own.append(case.id)

    def theirs(case_id: Any, closed: bool = False) -> Any:
        """The rows of the cases listed (one case manager's open ones, or `closed` ones):
        each child table searched by its case index, the cases by their keys; not every
        open row of the store first (the planners' choice, and on PostgreSQL each row
        through the row-level policy). For the whole caseload: every open case's."""
        if manager is None:
            return Case.status == (CaseStatus.CLOSED if closed else CaseStatus.OPEN).value
        if not closed:
            return case_id.in_(own)
        ended = select(Case.id).where(Case.status == CaseStatus.CLOSED.value, mine)
        return case_id.in_(list(session.scalars(ended)))

    referrals = (
        select(
            *SHOWN,
            Referral.reference,
            Referral.provider,
            Referral.status_at,
            Provider.response_days,
        )
        .join(Referral, and_(Referral.case_id == Case.id, Referral.episode == Case.episode))
        .outerjoin(Provider, Provider.key == Referral.provider)
        .where(
            theirs(Referral.case_id),
            Referral.status.in_(UNANSWERED),
            Referral.sent_at.is_not(None),
        )
    )
    for case in session.execute(referrals):
        reference, provider = case.reference, case.provider
        status_at, response_days = case.status_at, case.response_days
        window = answer_window(response_days, programs()[Program(case.program)])
        items.append(
            DueItem(
                _day(status_at) + timedelta(days=window),
                case.case_number or "",
                case.program,
                case.case_manager,
                "referral_answer",
                reference or "",
                f"ask {provider or 'the partner'} for an answer to {reference}",
            )
        )
    dated = (
        (Benefit, Benefit.kind, Benefit.recertify_by, "recertification", "recertify {} in time"),
        (Waiver, Waiver.requirement, Waiver.expires_on, "waiver", "renew or end the {} waiver"),
    )
    for model, what, when, kind, action in dated:
        query = (
            select(*SHOWN, what.label("subject"), when.label("due_on"))
            .join(model, model.case_id == Case.id)
            .where(theirs(model.case_id), model.active, when <= until)
        )
        for case in session.execute(query):
            subject, due_on = case.subject, case.due_on
            items.append(
                DueItem(
                    due_on,
                    case.case_number or "",
                    case.program,
                    case.case_manager,
                    kind,
                    subject,
                    action.format(subject),
                )
            )
    items += _consents(session, and_(is_open, mine), until)
    unanswered = (
        select(*SHOWN, AdverseNotice)
        .join(AdverseNotice, AdverseNotice.case_id == Case.id)
        .where(theirs(AdverseNotice.case_id), AdverseNotice.awaiting)
    )
    for case in session.execute(unanswered):
        notice = case.AdverseNotice
        number = case.case_number or ""
        deadline, named = notices.of(notice).watched
        items.append(
            DueItem(
                deadline,
                number,
                case.program,
                case.case_manager,
                "hearing_request",
                f"notice {notice.number}: {notice.benefit} {notice.action}",
                ("for aid to continue, " if named == "aid-continuing" else "")
                + "help the client request a fair hearing, or record their decision "
                f"(`casework hearing {number} --notice {notice.number} --requested-on …`)",
            )
        )
    items += _appointments(session, theirs(Appointment.case_id), today, until, configs)
    items += _approvals(session, and_(is_open, mine), approver, until, configs)
    checks = (
        select(*SHOWN, FollowUp.day, FollowUp.due_on)
        .join(FollowUp, and_(FollowUp.case_id == Case.id, FollowUp.episode == Case.episode))
        .where(
            theirs(FollowUp.case_id, closed=True),
            FollowUp.outcome.is_(None),
            FollowUp.due_on <= until,
        )
    )
    for case in session.execute(checks):
        day, due_on = case.day, case.due_on
        number = case.case_number or ""
        items.append(
            DueItem(
                due_on,
                number,
                case.program,
                case.case_manager,
                "follow_up",
                f"day {day} check",
                f"check on the client (`casework follow-up {number} --day {day} …`)",
            )
        )
    return sorted(
        (i for i in items if i.due_on <= until), key=attrgetter("due_on", "case_number", "what")
    )


def markdown(manager: str, items: list[DueItem], today: date, within_days: int) -> str:
    """One case manager's due list as the daily report publishes it: case numbers, codes
    by their labels. A list, not a table, so what to do is read whole on any screen; a
    case manager with nothing due is told so."""
    until = today + timedelta(days=within_days)
    lines = [f"# Due from {manager}, {today.isoformat()} to {until.isoformat()}", ""]
    if not items:
        lines.append(f"Nothing due from {manager} by {until.isoformat()}.")
        return "\n".join(lines)
    overdue = sum(1 for i in items if i.overdue(today))
    lines += [f"{len(items)} due, {overdue} of them overdue.", ""]
    for i in items:
        when = f"**{i.due_on.isoformat()}{', overdue' if i.overdue(today) else ''}**"
        lines.append(f"- {when} · {i.case_number} · {label(i.program)} · {_what(i)}: {i.action}")
    return "\n".join(lines)


def _what(item: DueItem) -> str:
    """What is due, in words: a stage's form by the stage's label, else the kind of item
    with its subject (a benefit, a waiver by its label; a referral by its reference)."""
    if item.what == "stage":
        return f"{label(stage_of_key(item.subject))} form"
    if item.what in ("approval", "returned_form"):
        which = "to approve" if item.what == "approval" else "returned"
        return f"{label(stage_of_key(item.subject))} form {which}"
    return f"{words(item.what)} ({label(item.subject)})"
