"""One flow run per case episode. It reads where the case stands from the store, waits
(suspended, holding no process) for that stage's form, records it, and repeats until the
case closes. Each resume does the same small amount of work however many stages passed:
the store, not a replay of earlier steps, says where the case is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import suspend_flow_run
from prefect.input.run_input import keyset_from_paused_state, run_input_subclass_from_type
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH
from prefect.states import Suspended
from pydantic import BaseModel, Field, ValidationError

from models.codes import Trigger
from models.forms import describe_error
from models.lifecycle import form_for
from tasks.case_card import publish_case_card
from tasks.cases import mirror_tags, read_position
from tasks.referrals import partner_answer, send_all
from tasks.stage_events import record_stage

CaseNumber = Annotated[str, Field(pattern=r"^CASE-\d{6,}$", description="case number only")]


def await_partners(case_number: str, key: str) -> Trigger | None:
    """Send what is unsent, then wait (suspended, no input) until the partners' answers are
    in: the status sync or an operator's answer resumes the run once they are."""
    send_all(case_number)
    answer = partner_answer(case_number)
    if answer is None:
        suspend_flow_run(key=key)
        answer = partner_answer(case_number)
    return answer


def fired_keys() -> set[str]:
    """The suspend keys this run has already used (and been resumed from), as the run read
    at its start says."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return set()
    return set(context.flow_run.empirical_policy.pause_keys or ())


def wait_for_form(form_type: type[BaseModel], key: str, fired: set[str]) -> BaseModel:
    """The form for `key`: the one stored when the run was resumed there, read straight (a
    suspend at a key that already fired would only be refused, then read it), or, the
    first time, a suspension until a form comes."""
    if key in fired:
        model = run_input_subclass_from_type(form_type)
        stored = model.load(keyset_from_paused_state(Suspended(pause_key=key)))
        assert isinstance(stored, BaseModel)  # a sync flow: loaded, not awaited
        return stored
    return suspend_flow_run(wait_for_input=form_type, key=key)


# The run's name is the case number, given when the run is created (a name template here
# would re-apply it at every resume, one more request each time). Results are stored where
# PREFECT_LOCAL_STORAGE_PATH says (a shared mount on many machines), named here so that no
# run asks the server for its default storage first.
@flow(
    name="case-lifecycle",
    persist_result=True,
    result_storage=Path(PREFECT_LOCAL_STORAGE_PATH.value()),
)
def case_lifecycle(case_number: CaseNumber, episode: int = 1) -> str:
    logger = get_run_logger()
    fired = fired_keys()
    while True:
        position = read_position(case_number)
        if position.episode != episode:
            logger.info("%s moved on to episode %s; this run ends", case_number, position.episode)
            return "superseded"
        mirror_tags(position)
        if position.stage_key not in fired:  # else published before it waited there
            publish_case_card(case_number)
        if position.closed:
            return "closed"
        form_type = form_for(position.stage)
        form_data: dict[str, Any] | None = None
        refusal: str | None = None
        answer: Trigger | None = None
        if position.waiting_on_partners:
            answer = await_partners(case_number, position.stage_key)
            refusal = None if answer else "partners have not all answered yet"
        elif form_type is not None:
            try:
                form = wait_for_form(form_type, position.stage_key, fired)
                form_data = form.model_dump(mode="json")
            except ValidationError as exc:
                refusal = describe_error(exc)
            except ObjectNotFound:
                # The key fired before without a form (a forced re-run of a waiting run):
                # record that, and wait again under a fresh key.
                refusal = f"{position.stage_key}: no form was stored for this key"
        outcome = record_stage(
            case_number, episode, position.stage_key, position.stage, form_data, refusal, answer
        )
        if outcome.get("crisis"):
            from casework.orchestration import start_case_sweep

            start_case_sweep(case_number)  # a crisis is escalated at once, not at the next SLA
        logger.info(
            "%s %s %s: %s -> %s%s",
            case_number,
            position.stage_key,
            outcome["outcome"],
            outcome["from_stage"],
            outcome["to_stage"] or "closed",
            f" ({outcome['error']})" if outcome["error"] else "",
        )
