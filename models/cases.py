"""Cases and their episodes: open, find, list, reopen. Functions take the session first
and only flush; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models import audit
from casework.models.codes import ApprovalStatus, CaseStatus, Program, Stage
from casework.models.forms import ClosureForm
from casework.models.hmis import adult_on
from casework.models.lifecycle import WAIT_TAG, stage_key, wait_tag, waits_for_form
from casework.models.orm import Approval, Case, Client, Episode, FollowUp


class CaseError(UserError):
    """A request about a case that cannot be honoured; the message says why."""


class CaseNotFound(CaseError):
    pass


class CaseClosed(CaseError):
    pass


@dataclass(frozen=True)
class Position:
    """Where a case's lifecycle stands: all a flow run needs, and all coded."""

    case_number: str
    program: str
    episode: int
    stage: Stage
    stage_key: str
    closed: bool
    waiting_on_partners: bool = False
    case_manager: str | None = None  # tagged on the run (a staff id, not client identity)
    reassessment_requested: bool = False  # at this stage key: the run moves it, not a form
    # Its form is held for a supervisor's approval (models.approvals): the run waits at
    # this key for the decision, and records it once it is made.
    waiting_on_approval: bool = False
    approval_decided: bool = False


def case_number_for(case_id: int) -> str:
    return f"CASE-{case_id:06d}"


def open_case(
    session: Session,
    client: Client | int,
    program: Program,
    case_manager: str,
    actor: str,
    at: datetime,
) -> Case:
    case = Case(
        client_id=client if isinstance(client, int) else client.id,
        program=program.value,
        case_manager=case_manager,
        status=CaseStatus.OPEN.value,
        episode=1,
        stage=Stage.INTAKE.value,
        stage_sequence=1,
        stage_attempt=0,
        stage_key=stage_key(Stage.INTAKE, 1),
        stage_entered_at=at,
        opened_at=at,
        last_contact_at=at,  # intake is a contact with the client
    )
    if session.get_bind().dialect.name == "postgresql":  # numbered as written: staff may
        case.id = session.scalar(text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))"))
        case.case_number = case_number_for(case.id)  # not rewrite a case's number
    session.add(case)
    session.flush()
    if case.case_number is None:
        case.case_number = case_number_for(case.id)
    # Read once the case is written: a client registered in a program the case manager
    # cannot read becomes theirs to read through this case (PostgreSQL's policies).
    born = (client if isinstance(client, Client) else session.get_one(Client, client)).date_of_birth
    case.adult_at_start = adult_on(born, at.date())
    session.add(Episode(case_id=case.id, number=1, opened_at=at))
    audit.record(
        session, case, actor, "case_opened", at, program=program.value, manager=case_manager
    )
    return case


def get_case(session: Session, case_number: str, *, for_update: bool = False) -> Case:
    query = select(Case).where(Case.case_number == case_number.strip().upper())
    if for_update:
        query = query.with_for_update()
    case = session.scalars(query).one_or_none()
    if case is None:
        raise CaseNotFound(f"case_number: no case {case_number}")
    return case


def get_open_case(session: Session, case_number: str, *, for_update: bool = False) -> Case:
    case = get_case(session, case_number, for_update=for_update)
    if case.status == CaseStatus.CLOSED.value:
        raise CaseClosed(f"case_number: {case.case_number} is closed; reopen it first")
    return case


def _listed(
    stage: Stage | None, program: Program | None, status: CaseStatus | None
) -> list[ColumnElement[bool]]:
    where = []
    if stage is not None:
        where.append(Case.stage == stage.value)
    if program is not None:
        where.append(Case.program == program.value)
    if status is not None:
        where.append(Case.status == status.value)
    return where


def list_cases(
    session: Session,
    *,
    stage: Stage | None = None,
    program: Program | None = None,
    status: CaseStatus | None = None,
    after_id: int = 0,
    offset: int = 0,
    limit: int | None = None,
) -> list[Case]:
    """The cases in the order they were opened: those after case id `after_id` (a page's
    last, for reading the store in bounded chunks), or from `offset`; at most `limit`."""
    query = select(Case).where(Case.id > after_id, *_listed(stage, program, status))
    query = query.order_by(Case.id).offset(offset).limit(limit)
    return list(session.scalars(query))


def count_cases(
    session: Session,
    *,
    stage: Stage | None = None,
    program: Program | None = None,
    status: CaseStatus | None = None,
) -> int:
    query = select(func.count(Case.id)).where(*_listed(stage, program, status))
    return session.scalar(query) or 0


def position(session: Session, case: Case) -> Position:
    approval = session.scalar(
        select(Approval.status).where(
            Approval.case_id == case.id,
            Approval.episode == case.episode,
            Approval.wait_key == case.stage_key,
        )
    )
    return Position(
        case_number=case.case_number or case_number_for(case.id),
        program=case.program,
        episode=case.episode,
        stage=Stage(case.stage),
        stage_key=case.stage_key,
        closed=case.status == CaseStatus.CLOSED.value,
        waiting_on_partners=case.waiting_on is not None,
        case_manager=case.case_manager,
        reassessment_requested=case.reassess_key is not None
        and case.reassess_key == case.stage_key,
        waiting_on_approval=approval is not None,
        approval_decided=approval not in (None, ApprovalStatus.REQUESTED.value),
    )


def current_runs(session: Session, case_ids: list[int]) -> dict[str, str | None]:
    """Case number -> the flow run id of its current episode (None: never started)."""
    found: dict[str, str | None] = {}
    for chunk in range(0, len(case_ids), 5000):
        query = (
            select(Case.id, Case.case_number, Episode.flow_run_id)
            .join(Episode, (Episode.case_id == Case.id) & (Episode.number == Case.episode))
            .where(Case.id.in_(case_ids[chunk : chunk + 5000]))
        )
        found |= {
            number or case_number_for(case_id): run_id
            for case_id, number, run_id in session.execute(query)
        }
    return found


def episode_of(session: Session, case: Case, number: int | None = None) -> Episode:
    query = select(Episode).where(
        Episode.case_id == case.id, Episode.number == (number or case.episode)
    )
    return session.scalars(query).one()


def set_flow_run(session: Session, case: Case, flow_run_id: str) -> None:
    episode_of(session, case).flow_run_id = flow_run_id
    session.flush()


def move_to(session: Session, case: Case, stage: Stage, at: datetime) -> None:
    case.stage = stage.value
    case.stage_sequence += 1
    case.stage_attempt = 0
    case.stage_key = stage_key(stage, case.stage_sequence)
    case.stage_entered_at = at


def retry_stage(case: Case) -> None:
    """A refused form fired its key; the stage waits again under a fresh one."""
    case.stage_attempt += 1
    case.stage_key = stage_key(Stage(case.stage), case.stage_sequence, case.stage_attempt)


def close(session: Session, case: Case, at: datetime) -> None:
    case.status = CaseStatus.CLOSED.value
    case.closed_at = at
    episode_of(session, case).closed_at = at


def reopen_case(session: Session, case: Case, actor: str, at: datetime) -> Case:
    if case.status != CaseStatus.CLOSED.value:
        raise CaseError(
            f"case_number: {case.case_number} is open (at {case.stage}); only closed cases reopen"
        )
    case.episode += 1
    case.status = CaseStatus.OPEN.value
    case.closed_at = None
    case.stage = Stage.INTAKE.value
    case.stage_sequence = 1
    case.stage_attempt = 0
    case.stage_key = stage_key(Stage.INTAKE, 1)
    case.stage_entered_at = at
    case.last_contact_at = at
    case.last_assessed_at = None
    case.crisis_since = None
    session.add(Episode(case_id=case.id, number=case.episode, opened_at=at))
    session.flush()
    audit.record(session, case, actor, "case_reopened", at, episode=case.episode)
    return case


FOLLOW_UP_DAYS = (30, 90)


def record_closure(session: Session, case: Case, key: str, form: ClosureForm, at: datetime) -> None:
    """Close the episode's record; with the client's consent, schedule the follow-up checks."""
    episode = episode_of(session, case)
    episode.closure_reason = form.reason.value
    episode.follow_up_consent = form.follow_up_consent
    if form.follow_up_consent:
        session.add_all(
            FollowUp(
                case_id=case.id,
                episode=case.episode,
                day=day,
                due_on=at.date() + timedelta(days=day),
            )
            for day in FOLLOW_UP_DAYS
        )
    session.flush()


@dataclass(frozen=True)
class RunOwner:
    """The open case whose current episode a flow run drives."""

    case_number: str
    stage_key: str
    reassess_pending: bool = False  # asked for at its stage key; its run has not woken


def owners_of_runs(session: Session, flow_run_ids: Iterable[str]) -> dict[str, RunOwner]:
    """The open cases driven by these flow runs (a run of a closed case or of an earlier
    episode is history, not a problem), keyed by flow run id."""
    owners: dict[str, RunOwner] = {}
    wanted = list(flow_run_ids)
    for start in range(0, len(wanted), 500):
        query = (
            select(Episode.flow_run_id, Case.case_number, Case.stage_key, Case.reassess_key)
            .join(Case, Case.id == Episode.case_id)
            .where(
                Episode.flow_run_id.in_(wanted[start : start + 500]),
                Episode.number == Case.episode,
                Case.status == CaseStatus.OPEN.value,
            )
        )
        for run_id, number, key, asked in session.execute(query):
            owners[str(run_id)] = RunOwner(str(number), str(key), asked == key)
    return owners


def runs_moved_since(session: Session, since: datetime) -> list[str]:
    """The runs of open cases that entered their stage at or after `since`: the runs that
    suspended lately, the only ones that can have lost their form's schema (a process dying
    as it suspends)."""
    query = (
        select(Episode.flow_run_id)
        .join(Case, Case.id == Episode.case_id)
        .where(
            Case.status == CaseStatus.OPEN.value,
            Case.stage_entered_at >= since,
            Episode.number == Case.episode,
            Episode.flow_run_id.is_not(None),
        )
    )
    return [str(run) for run in session.scalars(query)]


APPROVAL_TAG = "approval:requested"  # the run waits for a supervisor's approval
TAG_PREFIXES = ("program:", "stage:", "status:", "manager:", "approval:", WAIT_TAG)


def manager_tag(staff_id: str) -> str:
    return f"manager:{staff_id}"


def with_manager(tags: list[str], staff_id: str) -> list[str]:
    """`tags` with the case manager's tag replaced by `staff_id`'s (a transfer)."""
    return [t for t in tags if not t.startswith(manager_tag(""))] + [manager_tag(staff_id)]


def run_tags(position: Position, existing: list[str] | None = None) -> list[str]:
    """Our tags (program, stage, status, case manager) replacing earlier ones; other tags
    are kept."""
    kept = [tag for tag in existing or [] if not tag.startswith(TAG_PREFIXES) and tag != "casework"]
    status = "closed" if position.closed else "open"
    manager = [manager_tag(position.case_manager)] if position.case_manager else []
    waits = not position.closed and (waits_for_form(position.stage) or position.waiting_on_partners)
    program = Program(position.program)
    on_approval = position.waiting_on_approval and not position.closed
    wait = (
        [wait_tag(position.stage, program, position.waiting_on_partners, on_approval)]
        if waits
        else []
    )
    return [
        "casework",
        f"program:{position.program}",
        f"stage:{position.stage.value}",
        f"status:{status}",
        *manager,
        *wait,
        *([APPROVAL_TAG] if on_approval else []),
        *kept,
    ]


@dataclass(frozen=True)
class Transfer:
    case_number: str
    program: str
    from_manager: str
    to_manager: str
    escalations: int  # open escalations handed to the new case manager
    flow_run_id: str | None
    reason: str


def open_caseload(session: Session, staff_id: str, program: str | None = None) -> list[Case]:
    """A case manager's open cases (in one program, if given), oldest first."""
    query = select(Case).where(Case.case_manager == staff_id, Case.status == CaseStatus.OPEN.value)
    if program is not None:
        query = query.where(Case.program == program)
    return list(session.scalars(query.order_by(Case.id).with_for_update()))


def transfer(
    session: Session, case: Case, to_manager: str, reason: str, actor: str, at: datetime, **why: str
) -> Transfer:
    """Give the case to another case manager, with its open escalations addressed to the
    one leaving it; audited with both staff ids and the reason (coded)."""
    from casework.models.orm import Escalation

    before = case.case_manager
    case.case_manager = to_manager
    case.announce_pending = True
    handed = list(
        session.scalars(
            select(Escalation).where(
                Escalation.case_id == case.id,
                Escalation.resolved_at.is_(None),
                Escalation.recipient == before,
            )
        )
    )
    for escalation in handed:
        escalation.recipient = to_manager
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "case_transferred",
        at,
        from_manager=before,
        to_manager=to_manager,
        reason=reason,
        escalations=len(handed),
        **why,
    )
    return Transfer(
        case.case_number or "",
        case.program,
        before,
        to_manager,
        len(handed),
        episode_of(session, case).flow_run_id,
        reason,
    )


def unannounced_transfers(session: Session) -> list[Transfer]:
    """The transfers Prefect has not been told of (it was away), each case's last, as its
    audit row has it."""
    from casework.models.orm import AuditEvent

    found = []
    for case in session.scalars(select(Case).where(Case.announce_pending).order_by(Case.id)):
        row = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.case_id == case.id, AuditEvent.action == "case_transferred")
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).one()
        found.append(
            Transfer(
                case.case_number or "",
                case.program,
                str(row.detail["from_manager"]),
                case.case_manager,
                int(row.detail["escalations"]),
                episode_of(session, case).flow_run_id,
                str(row.detail["reason"]),
            )
        )
    return found


def pending_reassessments(session: Session) -> list[tuple[str, str, str]]:
    """(case number, stage key, flow run) of cases whose reassessment was asked for at the
    stage key they are at (their run has not recorded it yet). Any move clears a request,
    closing too; the index on reassess_key finds the few."""
    asked = session.scalars(select(Case).where(Case.reassess_key.is_not(None)))
    found = []
    for case in asked:
        flow_run_id = episode_of(session, case).flow_run_id
        if case.reassess_key == case.stage_key and flow_run_id is not None:
            found.append((case.case_number or "", case.stage_key, flow_run_id))
    return found


def announced(session: Session, case_numbers: list[str]) -> None:
    """Prefect has been told of these cases' transfers."""
    for number in case_numbers:
        get_case(session, number).announce_pending = False
