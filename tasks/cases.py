"""Reading a case's position and mirroring it on its flow run (tags for the dashboard)."""

from __future__ import annotations

import time

from prefect.client.orchestration import SyncPrefectClient
from prefect.context import FlowRunContext

from casework.core.db import session_scope
from casework.models import cases, stage_events
from casework.models.cases import Position, run_tags
from casework.models.codes import Program, Stage
from casework.models.dialogs import DialogContext
from casework.models.facts import crisis_domains

ESCALATED_TAG = "escalation:level-3"


def read_position(case_number: str, wait_seconds: float = 15.0) -> Position:
    """The case's current position; waits briefly for an intake still committing."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with session_scope(read_only=True) as session:
                return cases.position(session, cases.get_case(session, case_number))
        except cases.CaseNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def mirror_tags(position: Position) -> None:
    """Keep the current run's tags on the case's stage: one API call on the run's own client,
    only when they change. Not a task: a failed update is redone at the next resume, and a
    task run costs more than the update."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    wanted = run_tags(position, list(context.flow_run.tags))
    if set(wanted) == set(context.flow_run.tags):
        return
    assert isinstance(context.client, SyncPrefectClient)  # the lifecycle flow is sync
    context.client.update_flow_run(context.flow_run.id, tags=wanted)
    context.flow_run.tags = wanted


def mirror_escalation_tag(case_number: str) -> bool:
    """Tag the case's run `escalation:level-3` while a level-3 escalation is open, so the
    dashboard can filter on it; remove the tag once none is. Returns whether it is tagged."""
    from uuid import UUID

    from casework.core.prefect_api import prefect_client
    from casework.models import escalations

    with session_scope() as session:
        case = cases.get_case(session, case_number)
        flow_run_id = cases.episode_of(session, case).flow_run_id
        tagged = escalations.open_top_level(session, case) == 3
    if flow_run_id is None:
        return tagged
    client = prefect_client()
    run = client.read_flow_run(UUID(flow_run_id))
    wanted = [tag for tag in run.tags if tag != ESCALATED_TAG] + ([ESCALATED_TAG] if tagged else [])
    if set(wanted) != set(run.tags):
        client.update_flow_run(run.id, tags=wanted)
    return tagged


def dialog_context(position: Position) -> DialogContext:
    """What the case's Resume dialog says: the stage, the program's active staff, the
    domains a plan must cover, and why the last form at this stage was refused."""
    from casework.models.lifecycle import STAGES
    from casework.models.providers import referable
    from casework.models.staff import active_staff, roster

    with session_scope(read_only=True) as session:
        case = cases.get_case(session, position.case_number)
        crisis = crisis_domains(session, case) if position.stage is Stage.PLAN else frozenset()
        refused = stage_events.last_refusal(session, case)
        providers: tuple[str, ...] = ()
        if position.stage is Stage.REFERRAL:
            providers = tuple(referable(session, position.program))
        return DialogContext(
            case_number=position.case_number,
            program=position.program,
            stage=position.stage,
            purpose=STAGES[position.stage].purpose,
            staff=tuple(active_staff(roster(session), position.program)),
            crisis_domains=tuple(sorted(d.value for d in crisis)),
            providers=providers,
            refused=refused.error if refused else None,
            refused_by=refused.actor if refused else None,
            refused_at=f"{refused.at:%Y-%m-%d %H:%M} UTC" if refused else None,
            returned=refused is not None and refused.outcome == stage_events.RETURNED,
            elsewhere=_elsewhere(position),
        )


def _elsewhere(position: Position) -> str | None:
    """Where the form's questions answered outside it are asked (its dialog does not): an
    assessment's items answered in words, a program's questions bearing identity."""
    from casework.models.assessments import words_elsewhere
    from casework.models.forms import asked_elsewhere
    from casework.models.programs import program_instruments
    from casework.models.stage_questions import in_words

    program = Program(position.program)
    if position.stage is Stage.ASSESSMENT:
        return words_elsewhere(program_instruments(program))
    return asked_elsewhere(in_words(program, position.stage))
