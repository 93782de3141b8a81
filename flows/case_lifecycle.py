"""One flow run per case episode. It reads where the case stands from the store, waits
(suspended, holding no process) for that stage's form, records it, and repeats until the
case closes. Each resume does the same small amount of work however many stages passed:
the store, not a replay of earlier steps, says where the case is."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import suspend_flow_run
from pydantic import Field, ValidationError

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


@flow(name="case-lifecycle", flow_run_name="{case_number}", persist_result=True)
def case_lifecycle(case_number: CaseNumber, episode: int = 1) -> str:
    logger = get_run_logger()
    while True:
        position = read_position(case_number)
        if position.episode != episode:
            logger.info("%s moved on to episode %s; this run ends", case_number, position.episode)
            return "superseded"
        mirror_tags(position)
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
                form = suspend_flow_run(wait_for_input=form_type, key=position.stage_key)
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
