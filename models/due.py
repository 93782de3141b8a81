"""What is due from each case manager: every date a case's work hangs on, past or coming,
with what to do about it. Computed on the read (as Primero's overdue tasks are), from the
same program settings the sweeps escalate by: a due date shown here is the last day before
the sweep would count a breach (a follow-up check: the day it falls due, as the sweep has
it). Case numbers and codes only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, true
from sqlalchemy.orm import Session

from casework.models import notices
from casework.models.codes import CaseStatus, Program, Stage
from casework.models.lifecycle import STAGES
from casework.models.orm import AdverseNotice, Benefit, Case, FollowUp, Provider, Referral, Waiver
from casework.models.programs import programs
from casework.models.rules import UNANSWERED, answer_window

# Stages the reassessment cadence watches: a case reassessed at any of them.
CADENCE_STAGES = (Stage.PLAN, Stage.REFERRAL, Stage.MONITORING)


@dataclass(frozen=True)
class DueItem:
    due_on: date
    case_number: str
    program: str
    case_manager: str
    # stage, contact, reassessment, referral_answer, recertification, waiver,
    # hearing_request, follow_up
    what: str
    subject: str  # coded: a stage key, REF-…, a benefit kind, a waiver requirement, a check
    action: str

    def overdue(self, today: date) -> bool:
        return self.due_on < today

    def as_dict(self, today: date) -> dict[str, Any]:
        return {**asdict(self), "due_on": self.due_on.isoformat(), "overdue": self.overdue(today)}


def _day(moment: datetime) -> date:
    return moment.date()


def case_items(case: Case) -> Iterable[DueItem]:
    """The case's own clocks: its stage's SLA, contact, the reassessment cadence."""
    config = programs()[Program(case.program)]
    stage = Stage(case.stage)
    number = case.case_number or ""

    def item(due_on: date, what: str, subject: str, action: str) -> DueItem:
        return DueItem(due_on, number, case.program, case.case_manager, what, subject, action)

    if stage is not Stage.MONITORING:
        form = STAGES[stage].form
        yield item(
            _day(case.stage_entered_at) + timedelta(days=config.sla_days[stage]),
            "stage",
            case.stage_key,
            f"finish {stage.value}"
            + (f": submit the {stage.value} form" if form and not case.waiting_on else "")
            + (" (waiting on partners' answers)" if case.waiting_on else ""),
        )
    else:
        since = max(case.last_contact_at, case.stage_entered_at)
        yield item(
            _day(since) + timedelta(days=config.contact_interval_days),
            "contact",
            f"since {since.date().isoformat()}",
            f"contact the client, and record it (`casework note {number} --type phone …`)",
        )
    if stage in CADENCE_STAGES:
        since = max(case.last_assessed_at or case.opened_at, case.stage_entered_at)
        yield item(
            _day(since) + timedelta(days=config.reassessment_interval_days),
            "reassessment",
            f"since {since.date().isoformat()}",
            f"reassess (`casework reassess {number} --reason scheduled_review`)",
        )


def due_list(
    session: Session, today: date, within_days: int, manager: str | None = None
) -> list[DueItem]:
    """Everything due by `today + within_days` (overdue included), for one case manager or
    all of them, by date then case number."""
    until = today + timedelta(days=within_days)
    mine = (Case.case_manager == manager) if manager is not None else true()
    is_open = Case.status == CaseStatus.OPEN.value
    items: list[DueItem] = []
    own: list[int] = []
    for case in session.scalars(select(Case).where(is_open, mine)):
        items += case_items(case)
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
            Case, Referral.reference, Referral.provider, Referral.status_at, Provider.response_days
        )
        .join(Referral, and_(Referral.case_id == Case.id, Referral.episode == Case.episode))
        .outerjoin(Provider, Provider.key == Referral.provider)
        .where(
            theirs(Referral.case_id),
            Referral.status.in_(UNANSWERED),
            Referral.sent_at.is_not(None),
        )
    )
    for case, reference, provider, status_at, response_days in session.execute(referrals):
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
            select(Case, what, when)
            .join(model, model.case_id == Case.id)
            .where(theirs(model.case_id), model.active, when <= until)
        )
        for case, subject, due_on in session.execute(query):
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
    unanswered = (
        select(Case, AdverseNotice)
        .join(AdverseNotice, AdverseNotice.case_id == Case.id)
        .where(theirs(AdverseNotice.case_id), AdverseNotice.awaiting)
    )
    for case, notice in session.execute(unanswered):
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
    checks = (
        select(Case, FollowUp.day, FollowUp.due_on)
        .join(FollowUp, and_(FollowUp.case_id == Case.id, FollowUp.episode == Case.episode))
        .where(
            theirs(FollowUp.case_id, closed=True),
            FollowUp.outcome.is_(None),
            FollowUp.due_on <= until,
        )
    )
    for case, day, due_on in session.execute(checks):
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
        (i for i in items if i.due_on <= until), key=lambda i: (i.due_on, i.case_number, i.what)
    )


def markdown(manager: str, items: list[DueItem], today: date, within_days: int) -> str:
    """One case manager's due list as the daily report publishes it: codes only."""
    lines = [
        f"# Due from {manager}, {today.isoformat()} (next {within_days} days)",
        "",
        "| due | case | program | what | subject | to do |",
        "|---|---|---|---|---|---|",
    ]
    for i in items:
        flag = " **overdue**" if i.overdue(today) else ""
        action = i.action.replace("|", "/")
        lines.append(
            f"| {i.due_on.isoformat()}{flag} | {i.case_number} | {i.program} | {i.what} "
            f"| {i.subject} | {action} |"
        )
    if not items:
        lines.append("| - | - | - | nothing due | - | - |")
    return "\n".join(lines)
