"""Cases handed to another case manager, and Prefect told of it (the runs' manager tags
and a `casework.case.transferred` event with staff ids and case numbers only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from casework.core import prefect_api
from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.models import (
    cases,
)
from casework.models.cases import Transfer, with_manager
from casework.models.codes import (
    Program,
    RecipientRole,
    StaffRole,
    TransferReason,
)

TRANSFERRED = "casework.case.transferred"


def announce_transfer(moved: Transfer) -> None:
    """After a transfer: the case's run tagged with its new case manager, and the event
    `casework.case.transferred` (case number and staff ids only) on the Prefect server."""
    if moved.flow_run_id is not None:
        run = prefect_api.read_run(moved.flow_run_id)
        prefect_api.retag_run(moved.flow_run_id, with_manager(run.tags, moved.to_manager))
    body = {
        "case_number": moved.case_number,
        "program": moved.program,
        "from_manager": moved.from_manager,
        "to_manager": moved.to_manager,
        "reason": moved.reason,
        "escalations_handed_over": moved.escalations,
    }
    related = [
        {
            "prefect.resource.id": f"prefect.flow-run.{moved.flow_run_id}",
            "prefect.resource.role": "flow-run",
        }
    ]
    prefect_api.emit_event(
        {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": TRANSFERRED,
            "resource": {
                "prefect.resource.id": f"casework.case.{moved.case_number}",
                "prefect.resource.name": moved.case_number,
                "casework.program": moved.program,
            },
            "related": related if moved.flow_run_id else [],
            "payload": body,
        }
    )


def transfer(
    case_numbers: list[str],
    from_staff: str | None,
    to_staff: str,
    reason: TransferReason,
    override: bool,
    actor: str,
) -> tuple[list[cases.Transfer], str | None]:
    """Move cases (or `from_staff`'s whole open caseload) to `to_staff`, in one transaction:
    refused, for every case, if the receiver is not a case manager of its program or would
    pass the program's maximum caseload (unless a supervisor of that program overrides).
    Then each run is re-tagged and a `casework.case.transferred` event emitted; returns the
    transfers and, if Prefect could not be told, why."""
    with session_scope() as session:
        if from_staff is not None:
            moving = cases.open_caseload(session, from_staff)
            if not moving:
                raise InputError(f"{from_staff} has no open cases", field="from_staff")
        else:
            moving = [cases.get_open_case(session, n, for_update=True) for n in case_numbers]
        by_program: dict[str, int] = {}
        for case in moving:
            if case.case_manager == to_staff:
                raise InputError(f"{case.case_number} is {to_staff}'s already", field="to_staff")
            by_program[case.program] = by_program.get(case.program, 0) + 1
        for program, incoming in sorted(by_program.items()):
            _check_receiver(session, Program(program), incoming, to_staff, override, actor)
        why = {"override": "yes"} if override else {}
        done = [
            cases.transfer(session, case, to_staff, reason.value, actor, now(), **why)
            for case in moving
        ]
    problem = announce_transfers(done)
    if problem is not None:
        return done, (
            f"transferred; Prefect is told (the runs' manager tags, the transferred events) "
            f"once it answers again: {prefect_api.who_finishes('announce')} ({problem})"
        )
    return done, None


def announce_transfers(transfers: list[cases.Transfer]) -> str | None:
    """Tell Prefect of transfers: the runs' tags and the events; each case's pending mark is
    cleared once told. Returns why not all were told, if they were not."""
    told: list[str] = []
    problem = None
    try:
        for moved in transfers:
            announce_transfer(moved)
            told.append(moved.case_number)
    except prefect_api.OrchestratorUnavailable as exc:
        problem = str(exc)
    if told:
        with session_scope() as session:
            cases.announced(session, told)
    return problem


def _check_receiver(
    session: Session, program: Program, incoming: int, to_staff: str, override: bool, actor: str
) -> None:
    """Refuse a transfer of `incoming` cases of `program` to `to_staff` that its mover may
    not make, or that would pass the program's maximum caseload without a supervisor's
    override."""
    from casework.models.programs import programs
    from casework.models.staff import NotOnRoster, check_staff, roster

    members = roster(session)
    try:
        check_staff(members, to_staff, program, RecipientRole.CASE_MANAGER)
    except NotOnRoster as exc:
        raise InputError(f"{exc}", field="to_staff") from None
    member = members.get(actor)
    roles = (StaffRole.OPERATOR, StaffRole.SUPERVISOR)
    if member is None or member.role not in roles or program not in member.programs:
        raise InputError(
            f"transfer: moving a {program.value} case is the work of its supervisor or an "
            f"operator; {actor} is neither"
        )
    held = len(cases.open_caseload(session, to_staff, program.value))
    limit = programs()[program].maximum_caseload
    if held + incoming > limit and not (override and member.role is StaffRole.SUPERVISOR):
        raise InputError(
            f"{to_staff} holds {held} open {program.value} case(s); {incoming} more "
            f"would pass {program.value}'s maximum caseload of {limit}"
            + ("; --override is a supervisor's" if override else "; its supervisor may --override"),
            field="to_staff",
        )
