"""Recording a stage form in the store, once per stage key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from casework.core.db import session_scope
from casework.models import stage_events
from casework.models.codes import Program, Stage, Trigger
from casework.models.lifecycle import form_for
from casework.tasks.retries import while_store_unavailable

SYSTEM_ACTOR = "system"


# Not a Prefect task: the store's unique (case, episode, stage key) already makes a replay
# return the recorded outcome, so a cached or persisted result would add nothing, and a
# task run costs a flow run's process its task engine, its events and four reads of the
# run's related objects for those events. Retried like the task was, while the store is
# locked or briefly unreachable.
def record_stage(
    case_number: str,
    episode: int,
    stage_key: str,
    stage: Stage,
    form_data: dict[str, Any] | None,
    program: Program,
    refusal: str | None = None,
    answer: Trigger | None = None,
    refused_by: str | None = None,
    requested: bool = False,
    decided: bool = False,
) -> dict[str, Any]:
    """Apply one stage's form; a replay at the same key returns the stored outcome. A form
    that did not parse is recorded as refused, as `refused_by`'s where that is known;
    `decided`: a supervisor's decision on the form held for approval (no form given)."""
    form_type = form_for(stage, program)
    form = form_type.model_validate(form_data) if form_type and form_data is not None else None
    actor = form.submitted_by if form is not None else refused_by or SYSTEM_ACTOR

    def record() -> dict[str, Any]:
        with session_scope() as session:
            outcome = stage_events.record_stage(
                session,
                case_number,
                episode,
                stage_key,
                form,
                actor,
                datetime.now(UTC),
                refusal=refusal,
                answer=answer,
                requested=requested,
                decided=decided,
            )
        return outcome.as_dict()

    return while_store_unavailable(record)


def await_again(case_number: str, episode: int, stage_key: str) -> None:
    """The run came back to `stage_key` with no form given there: the case waits on,
    under the next key (audited as `form_awaited_again`, never as a refusal)."""

    def record() -> None:
        with session_scope() as session:
            stage_events.await_again(
                session, case_number, episode, stage_key, SYSTEM_ACTOR, datetime.now(UTC)
            )

    while_store_unavailable(record)
