"""What the desk shows a signed-in staff member: their day, a page of their caseload, a
search, a case (whole for those who read identity, coded for a program manager), their
team. On PostgreSQL the desk's requests run signed in as the staff member, so the store's
grants and row-level policies decide every row; the filter models.access writes (the same
rule, in Python) is the rule on SQLite and only narrows the planner's rows on PostgreSQL.
A case the viewer may not see is "no case", as on PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, select

from casework.core.clock import now
from casework.core.db import default_engine, session_scope
from casework.core.errors import UserError
from casework.models import access, cases, stage_events, stage_questions, workspace
from casework.models.codes import Program, StaffRole, Stage
from casework.models.orm import Case
from casework.models.schemas import CaseDetail, CaseSummary, HistoryEntry
from casework.models.staff import StaffMember
from casework.services.sign_in import log
from casework.services.staff import roster


def _seen(viewer: StaffMember) -> ColumnElement[bool]:
    """The cases the viewer sees, as a filter. On SQLite it is the rule. On PostgreSQL the
    row-level policies are the rule (the request reads as the viewer's own role, and no
    filter here can widen what they allow); the same filter only narrows the rows the
    planner hands them (a supervisor's 16,600 cases, not the store's 100,000)."""
    return access.seen_cases(viewer)


def today() -> date:
    return now().date()


def my_day(viewer: StaffMember) -> workspace.Day:
    with session_scope(read_only=True) as session:
        from casework.services.cases import approves

        return workspace.my_day(session, viewer.id, today(), approver=approves(viewer))


def caseload(
    viewer: StaffMember,
    *,
    mine: bool,
    program: Program | None = None,
    stage: Stage | None = None,
    sort: str = "longest",
    page: int = 1,
) -> workspace.Page:
    with session_scope(read_only=True) as session:
        return workspace.caseload(
            session,
            _seen(viewer),
            today(),
            identity=access.sees_identity(viewer),
            manager=viewer.id if mine else None,
            program=program,
            stage=stage,
            sort=sort,
            page=page,
        )


def find(viewer: StaffMember, wanted: str) -> list[workspace.Row]:
    """A search, written to the access log by kind (never what was typed: it may be a name)."""
    upper = wanted.strip().upper()
    kind = (
        "case" if upper.startswith("CASE-") else "client" if upper.startswith("CLIENT-") else "name"
    )
    log(viewer.id, f"search_{kind}")
    with session_scope(read_only=True) as session:
        return workspace.find(
            session, _seen(viewer), wanted, identity=access.sees_identity(viewer), today=today()
        )


def check_seen(viewer: StaffMember, case_number: str) -> None:
    """On SQLite, "no case" for a case the viewer may not see (PostgreSQL's policies hide
    the row, and the store says the same)."""
    if default_engine().dialect.name == "postgresql":
        return
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        seen = select(Case.id).where(Case.id == case.id, access.seen_cases(viewer))
        if session.scalar(seen) is None:  # the one rule, as the caseload and search ask it
            raise cases.CaseNotFound(f"case_number: no case {case_number}")


class NotTheirWork(UserError):
    """A change to a case that the viewer's role does not make (a program manager's)."""


def check_works_on(viewer: StaffMember, case_number: str) -> None:
    """Whoever changes a case works it: a case manager or a supervisor who sees it."""
    if not access.sees_identity(viewer):
        raise NotTheirWork(
            f"Work on a case is a case manager's or a supervisor's; {viewer.id} is a "
            f"{viewer.role.value.replace('_', ' ')}."
        )
    check_seen(viewer, case_number)


def open_case(viewer: StaffMember, case_number: str) -> CaseDetail:
    """The whole case, for a viewer who reads identity: the read is in the access log."""
    from casework.services.cases import show

    check_seen(viewer, case_number)
    return show(case_number, reader=viewer.id)


def coded_case(viewer: StaffMember, case_number: str) -> tuple[CaseSummary, list[HistoryEntry]]:
    """A case as a program manager sees it: its coded summary and history, no identity."""
    check_seen(viewer, case_number)
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        history = [
            HistoryEntry.model_validate(e)
            for e in stage_events.history(session, case, refused=True)
        ]
        return CaseSummary.model_validate(case), stage_questions.answered(
            session, case, history, identity=False
        )


def team(viewer: StaffMember) -> list[workspace.Member]:
    """A supervisor's case managers, in the supervisor's programs."""
    held = {p.value for p in viewer.programs}
    managers = {
        member.id: {p.value for p in member.programs} & held
        for member in roster().values()
        if member.role is StaffRole.CASE_MANAGER
        and member.active
        and {p.value for p in member.programs} & held
    }
    with session_scope(read_only=True) as session:
        return workspace.team(session, _seen(viewer), managers, today())
