"""Cases: intake (a client registered or linked, a case opened, its run started), notes,
reopening, and what staff read of a case (the case itself, a caseload, what is due)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casework.core import prefect_api
from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.models import (
    appointments,
    approvals,
    assessments,
    audit,
    benefits,
    cases,
    clients,
    consents,
    contacts,
    escalations,
    intake_fields,
    notices,
    plans,
    referrals,
    stage_events,
    stage_questions,
)
from casework.models import households as household_records
from casework.models.clients import client_number_for
from casework.models.codes import (
    STAFF_CONTACT_TYPES,
    CaseStatus,
    NewClientReason,
    Program,
    Stage,
)
from casework.models.forms import describe_error
from casework.models.orm import Case, Client
from casework.models.programs import programs
from casework.models.schemas import (
    ApprovalOut,
    AssessmentOut,
    BenefitOut,
    CaseDetail,
    CaseSummary,
    ClientIn,
    ClientOut,
    ConsentOut,
    ContactIn,
    ContactOut,
    EscalationOut,
    FollowUpOut,
    HistoryEntry,
    HouseholdMemberOut,
    OtherCaseOut,
    PlanOut,
    ReferralOut,
    WaiverOut,
)
from casework.services import case_runs, households
from casework.services.appointments import shown as appointment_out
from casework.services.benefits import notice_out
from casework.services.staff import log_access, programs_of, roster


@dataclass(frozen=True)
class IntakeResult:
    case_number: str
    flow_run_id: str
    stage: str
    client_number: str | None = None


def intake(
    client: ClientIn | str,
    program: Program,
    case_manager: str,
    actor: str,
    *,
    new_client_reason: NewClientReason | None = None,
    members: Sequence[households.Member] = (),
) -> IntakeResult:
    """Register the client (or link the client numbered `client`), and the members of their
    household if any, and open the case (one transaction, committed), then start its run:
    no store lock is held while Prefect is asked. A likely duplicate stops a new
    registration unless `new_client_reason` says why; that and an unknown client are
    refused before Prefect is asked anything."""
    with session_scope(read_only=True) as session:
        _registration(session, client, program, new_client_reason, write=False)
        households.check_members(session, list(members), new_client_reason)
    prefect_api.check_ready()
    position, number = open_case(client, program, case_manager, actor, new_client_reason, members)
    return IntakeResult(position.case_number, start_run(position), position.stage.value, number)


def open_case(
    client: ClientIn | str,
    program: Program,
    case_manager: str,
    actor: str,
    new_client_reason: NewClientReason | None = None,
    members: Sequence[households.Member] = (),
) -> tuple[cases.Position, str]:
    """Intake's store half: the client registered (or linked), the case opened and the
    household's members registered with it, in one transaction; audited with the client's
    number, and with the matches set aside when a new client was registered despite them."""
    with session_scope() as session:
        registered, client_id, number, set_aside = _registration(
            session, client, program, new_client_reason, write=True
        )
        try:
            case = cases.open_case(session, client_id, program, case_manager, actor, now())
        except IntegrityError:  # another intake linked them a moment ago
            raise clients.ClientError(
                f"{number} already has an open {program.value} case; work on that "
                "case, or close it first",
                field="client",
            ) from None
        if registered is not None:  # after its case: staff see a client through one
            clients.index_client(session, registered)
        detail = {"client": number}
        if set_aside and new_client_reason is not None:
            detail["reason"] = new_client_reason.value
            detail["set_aside"] = ",".join(
                f"{m.client_number}:{m.match.score}" for m in set_aside[:5]
            )
        action = "client_linked" if isinstance(client, str) else "client_registered"
        audit.record(session, case, actor, action, now(), **detail)
        if members:
            households.register_members(session, case, list(members), actor, new_client_reason)
        return cases.position(session, case), number


def _registration(
    session: Session,
    client: ClientIn | str,
    program: Program,
    new_client_reason: NewClientReason | None,
    *,
    write: bool,
) -> tuple[Client | None, int, str, list[clients.Candidate]]:
    """The client a new case is for (the new row if one was registered, id and number),
    and the likely matches set aside: an existing client who may have a case of this
    program, or (`write`) a newly registered one, to be indexed once its case is written;
    without `write`, only checked (id 0)."""
    if isinstance(client, str):
        found = clients.find_client(session, client, program.value)
        clients.check_linkable(found)
        return None, found.client_id, found.client_number, []
    set_aside = clients.check_new(session, client, new_client_reason)
    if not write:
        return None, 0, "", set_aside
    record = clients.create_client(session, client, index=False)
    return record, record.id, record.client_number or "", set_aside


def start_run(position: cases.Position) -> str:
    """Start the run of a case episode already in the store, and note it there. Starting
    is idempotent (the run's key is the case and episode), so repairing a case whose start
    failed, or starting twice, gives one run."""
    try:
        flow_run_id = case_runs.start_case_run(position)
    except (prefect_api.OrchestratorUnavailable, prefect_api.ObjectNotFound) as exc:
        raise prefect_api.OrchestratorUnavailable(
            f"{position.case_number} is recorded, but its run could not start "
            f"({exc}); `casework repair {position.case_number}` starts it"
        ) from None
    with session_scope() as session:
        cases.set_flow_run(session, cases.get_case(session, position.case_number), flow_run_id)
    return flow_run_id


def note(case_number: str, data: ContactIn, actor: str) -> str | None:
    """Record a contact or note (no flow resume). A crisis note also starts a sweep of the
    case at once; if Prefect cannot take it, the note is kept and the scheduled sweep
    escalates it. Returns a warning for the user, if any."""
    if data.contact_type not in STAFF_CONTACT_TYPES:
        raise InputError(
            f"{data.contact_type.value}: recorded when the client replies to a message; "
            "choose another kind of note"
        )
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        contacts.add_contact(session, case, data, actor, now())
    if not data.crisis:
        return None
    try:
        prefect_api.check_ready(prefect_api.SWEEP_DEPLOYMENT)
        prefect_api.start_case_sweep(case.case_number or case_number)
    except prefect_api.OrchestratorUnavailable as exc:
        return f"crisis recorded; it will be escalated by the next scheduled sweep ({exc})"
    return None


def record_intake_details(
    case_number: str, data: Any, actor: str, member: str | None = None
) -> int:
    """The case's answers to its program's own intake fields (or, for `member`, a member of
    its household, to HMIS's project-start questions of a HUD-funded program), checked
    against the declaration (one line naming every bad field) and kept in the store only; a
    second recording replaces the first. Returns how many fields were answered."""
    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        program = Program(case.program)
        client_id: int | None = None
        if member is not None:
            form_type, fields = intake_fields.member_form_of(program)
            if not fields:
                raise InputError(
                    f"--member: the {case.program} program is not HUD-funded; it asks a "
                    "household's members nothing",
                    field="member",
                )
            client_id = _household_member(session, case, member)
        else:
            form_type, fields = intake_fields.form_of(program)
            if not fields:
                raise InputError(
                    f"the {case.program} program declares no intake fields of its own",
                    field="case_number",
                )
        try:
            form = form_type.model_validate(data)
        except ValidationError as exc:
            raise InputError(describe_error(exc, "intake details: ")) from None
        row = intake_fields.record(session, case, form, fields, actor, client_id)
        return len(row.coded) + len(row.identity)


def members_answers(case_number: str) -> dict[str, list[tuple[str, str]]]:
    """The answers recorded for each member of the case's household (HMIS's start
    questions), by client number, labelled as the questions are declared now."""
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        _, fields = intake_fields.member_form_of(Program(case.program))
        return {
            client_number_for(row.client_id): intake_fields.said(
                fields, {**row.coded, **row.identity}
            )
            for row in intake_fields.members_answers(session, case)
        }


def _household_member(session: Session, case: Case, number: str) -> int:
    """The client id of `number`, a member (now or before) of the case's household other
    than its head; refused in one line otherwise."""
    wanted = number.strip().upper()
    if case.household_id is not None:
        for stay in household_records.stays(session, case.household_id):
            if stay.client_id != case.client_id and client_number_for(stay.client_id) == wanted:
                return stay.client_id
    raise InputError(
        f"--member: {wanted} is not a member of {case.case_number}'s household "
        f"(`casework household {case.case_number}` lists them)",
        field="member",
    )


def reopen(case_number: str, reason: str, actor: str) -> IntakeResult:
    prefect_api.check_ready()
    with session_scope() as session:
        case = cases.get_case(session, case_number, for_update=True)
        cases.reopen_case(session, case, actor, now())
        contacts.save_narrative(session, case, f"reopen-{case.episode}", reason, actor, now())
        position = cases.position(session, case)
    return IntakeResult(position.case_number, start_run(position), position.stage.value)


def show(case_number: str, reader: str | None = None) -> CaseDetail:
    """The whole case, identity and narratives included: `reader`'s read is logged first."""
    if reader is not None:
        log_access(case_number, "show", reader)
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        latest = assessments.latest(session, case)
        plan = plans.current_plan(session, case)
        narratives = contacts.narratives_for(session, case)
        assessment = None
        if latest is not None:
            assessment = AssessmentOut.model_validate(latest).model_copy(
                update={
                    "narrative": narratives.get(f"e{latest.episode}:{latest.stage_key}"),
                    "readings": assessments.readings(
                        session,
                        latest,
                        contacts.written_for(session, case, latest.episode, latest.stage_key),
                    ),
                }
            )
        episode = cases.episode_of(session, case)
        held, waived, checks = benefits.for_case(session, case)
        household_number, stays = household_records.listing(session, case, identity=True)
        approval = approvals.pending(session, case) or approvals.last_returned(session, case)
        detail = CaseDetail(
            **CaseSummary.model_validate(case).model_dump(),
            client=ClientOut.model_validate(case.client),
            other_cases=[
                OtherCaseOut.model_validate(other)
                for other in clients.other_cases(session, case, programs_of(reader))
            ],
            flow_run_id=episode.flow_run_id,
            closure_reason=episode.closure_reason,
            history=stage_questions.answered(
                session,
                case,
                [
                    HistoryEntry.model_validate(e)
                    for e in stage_events.history(session, case, refused=True)
                ],
                identity=True,
            ),
            latest_assessment=assessment,
            plan=PlanOut.model_validate(plan) if plan else None,
            referrals=[ReferralOut.model_validate(r) for r in referrals.for_case(session, case)],
            contacts=[ContactOut.model_validate(c) for c in contacts.contacts_for(session, case)],
            benefits=[BenefitOut.model_validate(b) for b in held],
            notices=[notice_out(n) for n in notices.for_case(session, case)],
            waivers=[WaiverOut.model_validate(w) for w in waived],
            follow_ups=[FollowUpOut.model_validate(f) for f in checks],
            open_escalations=[
                EscalationOut.model_validate(e)
                for e in escalations.listing(session, open_only=True, case_number=case.case_number)
            ],
            narratives=narratives,
            appointments=[appointment_out(row) for row in appointments.for_case(session, case)],
            intake_details=intake_fields.shown(
                list(programs()[Program(case.program)].intake),
                intake_fields.details_of(session, case),
            ),
            household_number=household_number,
            household=[HouseholdMemberOut.model_validate(asdict(stay)) for stay in stays],
            approval=ApprovalOut.model_validate(approval) if approval else None,
            consents=[
                ConsentOut.model_validate(asdict(held))
                for held in consents.of_client(session, case.client_id, now().date())
            ],
        )
    # Asked of Prefect once the store's read is over: no transaction waits on the network.
    if detail.status == CaseStatus.OPEN.value:
        with_run_states([detail], {detail.case_number: detail.flow_run_id})
    return detail


def due(manager: str, within_days: int, today: date | None = None) -> list[Any]:
    """What is due from `manager` in the next `within_days` days (overdue included)."""
    from casework.models.due import due_list

    member = roster().get(manager)
    if member is None:
        raise InputError(f"{manager} is not on the staff roster", field="manager")
    with session_scope(read_only=True) as session:
        return due_list(session, today or now().date(), within_days, manager, approves(member))


def approves(member: Any) -> list[str]:
    """The programs whose forms `member` approves: a supervisor's own (models.approvals)."""
    from casework.models.codes import StaffRole

    return [p.value for p in member.programs] if member.role is StaffRole.SUPERVISOR else []


CASELOAD_PAGE = 100  # `casework cases`: cases a page


def caseload(
    stage: Stage | None = None,
    program: Program | None = None,
    status: CaseStatus | None = None,
    *,
    page: int | None = None,
    per_page: int = CASELOAD_PAGE,
) -> list[CaseSummary]:
    """The caseload in the order cases were opened: every case, or one `page` (from 1) of
    `per_page`. Prefect is asked about the listed open cases' runs only."""
    offset, limit = ((page - 1) * per_page, per_page) if page is not None else (0, None)
    with session_scope(read_only=True) as session:
        rows = cases.list_cases(
            session, stage=stage, program=program, status=status, offset=offset, limit=limit
        )
        return _summaries(session, rows)


def _summaries(session: Session, rows: list[Any]) -> list[CaseSummary]:
    listed = [CaseSummary.model_validate(case) for case in rows]
    open_ids = [c.id for c in rows if c.status == CaseStatus.OPEN.value]
    return with_run_states(listed, cases.current_runs(session, open_ids))


def caseload_count(
    stage: Stage | None = None, program: Program | None = None, status: CaseStatus | None = None
) -> int:
    with session_scope(read_only=True) as session:
        return cases.count_cases(session, stage=stage, program=program, status=status)


def caseload_chunks(
    stage: Stage | None = None,
    program: Program | None = None,
    status: CaseStatus | None = None,
    chunk: int = 1000,
) -> Iterator[list[CaseSummary]]:
    """The whole caseload, `chunk` cases at a time (each read, and its runs asked about,
    as it is wanted): memory and each read bounded however large the store."""
    after = 0
    while True:
        with session_scope(read_only=True) as session:
            rows = cases.list_cases(
                session, stage=stage, program=program, status=status, after_id=after, limit=chunk
            )
            if not rows:
                return
            after = rows[-1].id
            summaries = _summaries(session, rows)
        yield summaries


def with_run_states(rows: list[CaseSummary], runs: dict[str, str | None]) -> list[CaseSummary]:
    """Each open case (`runs`: case number -> its current run) with its run's state when
    that is not the expected Suspended: a stuck case does not look like a waiting one."""
    if not runs:
        return rows
    ids = {run_id for run_id in runs.values() if run_id}
    states = prefect_api.runs_not_waiting(ids) if ids else {}
    for row in rows:
        if row.case_number not in runs:
            continue
        run_id = runs[row.case_number]
        if run_id is None:
            row.run_state = "none"
        elif states is None:
            row.run_state = "unknown"
        else:
            row.run_state = states.get(run_id)
    return rows
