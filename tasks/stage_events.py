"""Recording a stage form in the store, once per stage key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from casework.db import session_scope
from models import stage_events
from models.codes import Stage, Trigger
from models.lifecycle import form_for
from tasks.retries import store_unavailable

SYSTEM_ACTOR = "system"


# No cached or persisted result: the store's unique (case, episode, stage key) already
# makes a replay return the recorded outcome, without a result file per stage.
@task(
    name="record-stage",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=3,
    retry_delay_seconds=[1, 2, 5],
    retry_condition_fn=store_unavailable,
)
def record_stage(
    case_number: str,
    episode: int,
    stage_key: str,
    stage: Stage,
    form_data: dict[str, Any] | None,
    refusal: str | None = None,
    answer: Trigger | None = None,
) -> dict[str, Any]:
    """Apply one stage's form; a replay at the same key returns the stored outcome."""
    form_type = form_for(stage)
    form = form_type.model_validate(form_data) if form_type and form_data is not None else None
    actor = form.submitted_by if form is not None else SYSTEM_ACTOR
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
        )
    return outcome.as_dict()
