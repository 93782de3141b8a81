"""What the desk's pages read: a page of a caseload, a search, a case manager's day, a
supervisor's team. Each query takes `seen`, the filter on cases the viewer sees (on SQLite,
models.access; on PostgreSQL `true()`, because the store's policies filter every row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from casework.models.codes import CaseStatus, Program, Stage
from casework.models.due import DueItem, case_items
from casework.models.escalations import top_open_rungs
from casework.models.matching import fold
from casework.models.orm import AdverseNotice, Case, Client, ClientMatch, Escalation, StageEvent
from casework.models.programs import programs

PAGE_SIZE = 25
# Case numbers follow the case's id. Ordered by `id + 0`, not `id`: a planner that may walk
# an index in the asked order walks all 100,000 cases to find one case manager's 25 (SQLite
# did, 140 ms); by the expression it finds their cases by index first, then sorts them.
BY_NUMBER = Case.id + 0
SORTS = {
    "longest": (Case.stage_entered_at.asc(), BY_NUMBER.asc()),
    "newest": (BY_NUMBER.desc(),),
    "case": (BY_NUMBER.asc(),),
    "stage": (Case.stage.asc(), Case.stage_entered_at.asc()),
}


@dataclass(frozen=True)
class Row:
    case_number: str
    client_number: str
    name: str | None  # None: the viewer does not see identity
    program: str
    stage: str
    case_manager: str
    days_in_stage: int
    sla_days: int
    next_due: DueItem | None

    @property
    def over_sla(self) -> bool:
        return self.days_in_stage > self.sla_days


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int


def caseload(
    session: Session,
    seen: ColumnElement[bool],
    today: date,
    *,
    identity: bool,
    manager: str | None = None,
    program: Program | None = None,
    stage: Stage | None = None,
    sort: str = "longest",
    page: int = 1,
) -> Page:
    """One page of the open cases `seen` (and `manager`'s, `program`'s, at `stage`)."""
    where = [seen, Case.status == CaseStatus.OPEN.value]
    if manager is not None:
        where.append(Case.case_manager == manager)
    if program is not None:
        where.append(Case.program == program.value)
    if stage is not None:
        where.append(Case.stage == stage.value)
    total = session.scalar(select(func.count(Case.id)).where(*where)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    query = (
        select(Case)
        .where(*where)
        .order_by(*SORTS.get(sort, SORTS["longest"]))
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    found = list(session.scalars(query))
    return Page(_rows(session, found, today, identity), total, page, pages)


def _rows(session: Session, found: list[Case], today: date, identity: bool) -> list[Row]:
    clients: dict[int, Any] = {}
    numbers: dict[int, str] = {}
    if found:
        ids = {c.client_id for c in found}
        if identity:
            query = select(Client.id, Client.client_number, Client.given_name, Client.family_name)
            for id_, number, given, family in session.execute(query.where(Client.id.in_(ids))):
                clients[id_], numbers[id_] = f"{family}, {given}", number or ""
        else:
            from casework.models.clients import client_number_for

            numbers = {id_: client_number_for(id_) for id_ in ids}
    config = programs()
    rows = []
    for case in found:
        items = sorted(case_items(case), key=lambda item: item.due_on)
        rows.append(
            Row(
                case_number=case.case_number or "",
                client_number=numbers.get(case.client_id, ""),
                name=clients.get(case.client_id),
                program=case.program,
                stage=case.stage,
                case_manager=case.case_manager,
                days_in_stage=(today - case.stage_entered_at.date()).days,
                sla_days=config[Program(case.program)].sla_days[Stage(case.stage)],
                next_due=items[0] if items else None,
            )
        )
    return rows


def find(
    session: Session, seen: ColumnElement[bool], wanted: str, *, identity: bool, today: date
) -> list[Row]:
    """Cases by case number, client number or (with `identity`) a client's name: family
    name, or "family, given", each a prefix; at most one page, open cases first."""
    wanted = wanted.strip()
    upper = wanted.upper()
    if upper.startswith("CASE-"):
        match: ColumnElement[bool] = Case.case_number == upper
    elif upper.startswith("CLIENT-"):
        match = Case.client_id.in_(select(Client.id).where(Client.client_number == upper))
    elif identity:
        # By the folded names duplicate detection keeps (client_match), each a prefix.
        family, _, given = (fold(part) for part in wanted.partition(","))
        named = _starts(session, ClientMatch.family, family)
        if given:
            named = and_(named, _starts(session, ClientMatch.given, given))
        match = Case.client_id.in_(select(ClientMatch.client_id).where(named))
    else:
        return []
    query = (
        select(Case)
        .where(seen, match)
        .order_by((Case.status == CaseStatus.OPEN.value).desc(), BY_NUMBER.desc())
        .limit(PAGE_SIZE)
    )
    return _rows(session, list(session.scalars(query)), today, identity)


def _starts(session: Session, column: Any, prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`. On PostgreSQL by `starts_with`, which is leakproof:
    the planner may then filter by it before each row's row-level policy, so a search
    asks the policy of the rows it finds, not of every client in the store."""
    if session.get_bind().dialect.name == "postgresql":
        return func.starts_with(column, prefix)
    return column.startswith(prefix, autoescape=True)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Day:
    due: list[DueItem]
    escalations: list[Escalation]
    notices: list[tuple[str, AdverseNotice]]  # case number, notice
    refusals: list[tuple[str, StageEvent]]  # case number, event


NOTICE_HORIZON_DAYS = 14
REFUSALS_SHOWN = 20


def my_day(
    session: Session,
    staff_id: str,
    today: date,
    within_days: int = 7,
    approver: list[str] | None = None,
) -> Day:
    """A staff member's day: what is due from them, the open escalations addressed to them,
    notices of their cases near the aid-continuing deadline, and their refused forms."""
    from casework.models.due import due_list

    mine = and_(Case.case_manager == staff_id, Case.status == CaseStatus.OPEN.value)
    escalations = session.scalars(
        select(Escalation)
        .where(Escalation.id.in_(top_open_rungs()), Escalation.recipient == staff_id)
        .order_by(Escalation.as_of.desc())
        .limit(50)
    )
    notices = session.execute(
        select(Case.case_number, AdverseNotice)
        .join(AdverseNotice, AdverseNotice.case_id == Case.id)
        .where(
            mine,
            AdverseNotice.awaiting,
            AdverseNotice.aid_deadline.is_not(None),
            AdverseNotice.aid_deadline <= today + timedelta(days=NOTICE_HORIZON_DAYS),
        )
        .order_by(AdverseNotice.aid_deadline)
    )
    refusals = session.execute(
        select(Case.case_number, StageEvent)
        .join(StageEvent, StageEvent.case_id == Case.id)
        .where(StageEvent.actor == staff_id, StageEvent.outcome == "rejected")
        .order_by(StageEvent.at.desc())
        .limit(REFUSALS_SHOWN)
    )
    return Day(
        due=due_list(session, today, within_days, staff_id, approver or ()),
        escalations=list(escalations),
        notices=[(number or "", notice) for number, notice in notices],
        refusals=[(number or "", event) for number, event in refusals],
    )


@dataclass(frozen=True)
class Member:
    staff_id: str
    program: str
    open_cases: int
    over_sla: int
    maximum: int


def team(
    session: Session, seen: ColumnElement[bool], managers: dict[str, set[str]], today: date
) -> list[Member]:
    """Each case manager (`managers`: staff id -> programs) in each program: open cases,
    cases past their stage's SLA, against the program's maximum caseload."""
    is_open = and_(seen, Case.status == CaseStatus.OPEN.value)
    counts = {
        (manager, program): count
        for manager, program, count in session.execute(
            select(Case.case_manager, Case.program, func.count(Case.id))
            .where(is_open)
            .group_by(Case.case_manager, Case.program)
        )
    }
    config = programs()
    late: dict[tuple[str, str], int] = {}
    midnight = datetime.combine(today, time.min, tzinfo=UTC)
    for program_code in {p for ps in managers.values() for p in ps}:
        program = Program(program_code)
        for stage, days in config[program].sla_days.items():
            since = midnight - timedelta(days=days)
            query = (
                select(Case.case_manager, func.count(Case.id))
                .where(
                    is_open,
                    Case.program == program.value,
                    Case.stage == stage.value,
                    Case.stage_entered_at < since,
                )
                .group_by(Case.case_manager)
            )
            for manager, count in session.execute(query):
                late[(manager, program.value)] = late.get((manager, program.value), 0) + count
    return [
        Member(
            staff_id,
            program,
            counts.get((staff_id, program), 0),
            late.get((staff_id, program), 0),
            config[Program(program)].maximum_caseload,
        )
        for staff_id, held in sorted(managers.items())
        for program in sorted(held)
    ]
