"""One flow run per case episode. It reads where the case stands from the store, waits
(suspended, holding no process) for that stage's form, records it, and repeats until the
case closes. Each resume does the same small amount of work however many stages passed:
the store, not a replay of earlier steps, says where the case is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.flow_runs import suspend_flow_run
from prefect.input.actions import ensure_flow_run_id, read_flow_run_input
from prefect.input.run_input import (
    Keyset,
    RunInput,
    keyset_from_paused_state,
    run_input_subclass_from_type,
)
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH
from prefect.states import Suspended
from pydantic import BaseModel, ValidationError

from casework.core.errors import CaseworkError
from casework.core.prefect_api import OrchestratorUnavailable, create_run_input, read_run_input
from casework.core.prefect_private import form_schema
from casework.core.settings import STAFF_ID_PATTERN
from casework.flows.parameters import CASE, EPISODE, CaseNumber
from casework.models.cases import Position
from casework.models.codes import Program, Stage, Trigger
from casework.models.dialogs import DialogContext, description, dialog_schema
from casework.models.forms import StageForm, describe_error
from casework.models.lifecycle import form_for, form_version_given, upgrade_form
from casework.models.stage_events import HELD, REJECTED, RETURNED
from casework.tasks.case_card import publish_case_card
from casework.tasks.cases import dialog_context, mirror_tags, read_position
from casework.tasks.referrals import partner_answer, send_all
from casework.tasks.stage_events import await_again, record_stage


def await_partners(case_number: str, key: str, fired: set[str]) -> Trigger | None:
    """Send what is unsent, then wait (suspended, no input) until the partners' answers are
    in: the status sync or an operator's answer resumes the run once they are. Back at a
    spent key with the answers still out (run again while it waited: a repair, a carry-over
    after an upgrade), it waits again under the next key: nothing was answered."""
    send_all(case_number)
    answer = partner_answer(case_number)
    if answer is None:
        if key in fired:
            raise NoFormStored(key)
        suspend_flow_run(key=key)
        answer = partner_answer(case_number)
    return answer


def await_decision(case_number: str, key: str, fired: set[str]) -> None:
    """Wait (suspended, no input) for a supervisor's decision on the form held for approval:
    `casework approve` or `return` (or the desk) writes it and wakes the run. Woken with none
    made (a Resume from the dashboard), or back at a spent key, it waits again under the
    next key: nothing was decided."""
    if key in fired:
        raise NoFormStored(key)
    suspend_flow_run(key=key)
    if not read_position(case_number).approval_decided:
        raise NoFormStored(key)


Started = tuple[set[str], list[str]]  # the keys a run had used, and its tags, at its start


def fired_keys() -> Started:
    """The suspend keys this run has already used (and been resumed from), and its tags,
    as the run read at its start says (the tags say which form version it waited for)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return set(), []
    run = context.flow_run
    return set(run.empirical_policy.pause_keys or ()), list(run.tags)


class NoFormStored(CaseworkError):
    """The run passed a stage key (the server counts a key once the run suspends there)
    but no form was given there: it ran again while waiting (a crash, a forced re-run, a
    lost-run recovery), not because anyone submitted."""


def stored_form(
    form_type: type[StageForm], keyset: Keyset, given_under: tuple[Stage, int] | None = None
) -> BaseModel:
    """The form given at `keyset`'s key, parsed, in today's terms if it was given under an
    earlier version of the stage's form (`given_under`: a form handed to a run before an
    upgrade). Prefect's own `RunInput.load` builds an empty form when nothing was given,
    which fails validation and read as a form refused ("submitted_by: Field required"):
    nothing was submitted, so nothing is refused."""
    given: Any = read_flow_run_input(keyset["response"])  # a sync flow: read, not awaited
    if given is None or given == {}:
        raise NoFormStored(keyset["response"])
    if given_under is not None and isinstance(given, dict):
        given = upgrade_form(*given_under, given)
    form: BaseModel = run_input_subclass_from_type(form_type).model_validate(given)
    return form


def dialog_input(form_type: type[StageForm], context: DialogContext) -> type[RunInput]:
    """The run input the case waits for: the stage form, whose Resume dialog is shaped for
    this case (its stage and number, labelled choices, the program's staff, the last
    refusal). Its schema is Prefect's own for the form, then shaped; the form it returns
    holds codes."""
    base = run_input_subclass_from_type(form_type)

    class Dialog(base):  # type: ignore[valid-type, misc]
        @classmethod
        def save(cls, keyset: Keyset, flow_run_id: UUID | None = None) -> None:
            run_id = str(flow_run_id or ensure_flow_run_id())
            schema = form_schema(base)
            create_run_input(run_id, keyset["schema"], dialog_schema(schema, form_type, context))
            create_run_input(run_id, keyset["description"], description(context))

        @classmethod
        def load(cls, keyset: Keyset, flow_run_id: UUID | None = None) -> BaseModel:
            # The server refused the suspend (the key fired since the run started).
            return stored_form(form_type, keyset)

    Dialog.__name__ = base.__name__
    return Dialog


def wait_for_form(
    form_type: type[StageForm], key: str, started: Started, position: Position
) -> BaseModel:
    """The form for `key`: the one stored when the run was resumed there, read straight (a
    suspend at a key that already fired would only be refused, then read it) and read as
    the form version the run waited for, or, the first time, a suspension until a form
    comes."""
    fired, tags = started
    if key in fired:
        given_under = (position.stage, form_version_given(tags, position.stage))
        keyset = keyset_from_paused_state(Suspended(pause_key=key))
        return stored_form(form_type, keyset, given_under)
    context = dialog_context(position)  # read only when the dialog is shown
    return suspend_flow_run(wait_for_input=dialog_input(form_type, context), key=key)


def submitter(key: str) -> str | None:
    """Who submitted the form given at `key`, read from what was given (it did not parse as
    a form): a staff id, or None."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    try:
        given = read_run_input(
            str(context.flow_run.id), keyset_from_paused_state(Suspended(pause_key=key))["response"]
        )
    except OrchestratorUnavailable:  # the refusal is still recorded, as the system's
        return None
    staff = given.get("submitted_by") if isinstance(given, dict) else None
    return staff if isinstance(staff, str) and re.match(STAFF_ID_PATTERN, staff) else None


def log_outcome(case_number: str, stage_key: str, outcome: dict[str, Any]) -> None:
    """A refused form is a WARNING that says "refused" and why (the guards name fields and
    coded values, never what was typed); a move is INFO."""
    logger = get_run_logger()
    if outcome["outcome"] == HELD:
        logger.info(
            "%s %s: %s form held for a supervisor's approval",
            case_number,
            outcome["stage_key"],
            outcome["from_stage"],
        )
    elif outcome["outcome"] == RETURNED:
        logger.info(
            "%s %s: %s form returned for correction", case_number, stage_key, outcome["from_stage"]
        )
    elif outcome["outcome"] == REJECTED:
        logger.warning(
            "%s %s form refused; the case stays at %s: %s",
            case_number,
            outcome["stage_key"],
            outcome["from_stage"],
            outcome["error"],
        )
    else:
        logger.info(
            "%s %s: %s -> %s",
            case_number,
            stage_key,
            outcome["from_stage"],
            outcome["to_stage"] or "closed",
        )


def what_came(
    position: Position, form_type: type[StageForm] | None, started: Started
) -> tuple[dict[str, Any] | None, str | None, str | None, Trigger | None]:
    """What the case's stop at its stage key came to: (the form, a refusal and who it was
    refused from, the partners' answer). A reassessment requested while it waited here
    needs none of them: it is recorded as asked. Raises NoFormStored when the run came
    back to a spent key that no form was given at."""
    if position.reassessment_requested:
        return None, None, None, None
    if position.waiting_on_approval:  # the decision is the store's; the run records it
        if not position.approval_decided:
            await_decision(position.case_number, position.stage_key, started[0])
        return None, None, None, None
    if position.waiting_on_partners:
        answer = await_partners(position.case_number, position.stage_key, started[0])
        return None, None if answer else "partners have not all answered yet", None, answer
    if form_type is None:
        return None, None, None, None
    try:
        form = wait_for_form(form_type, position.stage_key, started, position)
    except ValidationError as exc:  # a form was given, and the flow cannot read it
        return None, describe_error(exc), submitter(position.stage_key), None
    return form.model_dump(mode="json"), None, None, None


# The run's name is the case number, given when the run is created (a name template here
# would re-apply it at every resume, one more request each time). Nothing a resume needs is
# a result: the store says where the case is, and the form is the run's input, kept by the
# Prefect server. So no result is persisted, and workers need no shared storage. Storage
# is named all the same, so that no run asks the server for its default storage first.
@flow(
    name="case-lifecycle",
    persist_result=False,
    result_storage=Path(PREFECT_LOCAL_STORAGE_PATH.value()),
)
def case_lifecycle(
    case_number: CaseNumber = CASE,
    episode: int = EPISODE,
) -> str:
    logger = get_run_logger()
    started = fired_keys()
    fired = started[0]
    while True:
        position = read_position(case_number)
        if position.episode != episode:
            logger.info("%s moved on to episode %s; this run ends", case_number, position.episode)
            return "superseded"
        mirror_tags(position)
        form_type = form_for(position.stage, Program(position.program))
        # Once per stage the case stops at (a replay published it before it waited there);
        # not for intake, which moves on at once: the card would be replaced within a second.
        if position.closed:  # the card says so: the run ends here, once
            publish_case_card(case_number)
            return "closed"
        stops = form_type is not None or position.waiting_on_partners
        stops = stops and not position.approval_decided
        if stops and position.stage_key not in fired and not position.reassessment_requested:
            publish_case_card(case_number)
        try:
            form_data, refusal, refused_by, answer = what_came(position, form_type, started)
        except NoFormStored:
            # Wait again, under a fresh key (the server spent this one); no refusal.
            logger.info(
                "%s %s: no form was given there; waiting again", case_number, position.stage_key
            )
            await_again(case_number, episode, position.stage_key)
            continue
        outcome = record_stage(
            case_number,
            episode,
            position.stage_key,
            position.stage,
            form_data,
            Program(position.program),
            refusal,
            answer,
            refused_by,
            position.reassessment_requested,
            # A decision to record; a reassessment asked for meanwhile goes first.
            position.approval_decided and not position.reassessment_requested,
        )
        if outcome.get("crisis"):
            from casework.core.prefect_api import start_case_sweep

            start_case_sweep(case_number)  # a crisis is escalated at once, not at the next SLA
        log_outcome(case_number, position.stage_key, outcome)
