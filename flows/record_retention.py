"""The weekly records-retention run (models/record_retention.py): what each program's
retention periods make due at `as_of` goes into a batch, on the escalation ladder for
approval (its cases' supervisors first, then their program managers), and the run waits,
suspended, holding nothing, for a supervisor's or an admin's decision
(`casework retention approve RET-…` or `refuse`, which wakes it). Approved, it masks,
and deletes the masked cases' files; refused, it ends. One batch waits at a time.

Started for one batch (`batch`), it waits for and applies that one: an erasure a
supervisor asked for (`casework erase`). As of a future date it is a preview: it counts
what would come due, and writes nothing. Its log, parameters and result hold batch and
case numbers, rules and counts only."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.flow_runs import suspend_flow_run

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.settings import get_settings
from casework.flows.case_lifecycle import fired_keys
from casework.flows.parameters import AS_OF, AsOf, parameter
from casework.models import record_retention
from casework.models.codes import BatchStatus
from casework.models.programs import programs
from casework.models.rules import checked_as_of, is_preview
from casework.tasks.retries import store_task

BATCH = parameter(
    "Batch", "one batch to wait for and apply, by its number (RET-…; empty: what is due)", None
)


@store_task("count-due")
def count_due(as_of: Any) -> dict[str, int]:
    with session_scope(read_only=True) as session:
        found = record_retention.due(session, as_of, programs())
    return {
        "records": sum(1 for d in found if d.scope.value == "records"),
        "identities": sum(1 for d in found if d.scope.value == "identity"),
    }


@store_task("open-batch")
def open_batch(as_of: Any, flow_run_id: str) -> str | None:
    """This run's batch: the one it opened before it waited, or a new one of what is due
    (none when nothing is, or when another batch still waits for its decision)."""
    logger = get_run_logger()
    with session_scope() as session:
        mine = record_retention.batch_of_run(session, flow_run_id)
        if mine is not None:
            return mine.number
        other = record_retention.waiting(session)
        if other is not None:
            logger.info("%s still waits for its decision: nothing new is batched", other.number)
            return None
        found = record_retention.due(session, as_of, programs())
        if not found:
            return None
        batch = record_retention.open_batch(
            session,
            found,
            kind="schedule",
            as_of=as_of,
            requested_by=record_retention.SYSTEM,
            at=now(),
            flow_run_id=flow_run_id,
        )
        return batch.number


@store_task("batch-status")
def batch_status(number: str, flow_run_id: str) -> str:
    """Where the batch is; an erasure's batch learns the run that waits for it."""
    with session_scope() as session:
        batch = record_retention.batch(session, number)
        if batch.flow_run_id is None:
            batch.flow_run_id = flow_run_id
        return batch.status


@store_task("apply-batch")
def apply_batch(number: str) -> dict[str, Any]:
    with session_scope() as session:
        batch = record_retention.batch(session, number, for_update=True)
        if batch.status == BatchStatus.APPLIED.value:  # run again after it was applied
            return {"batch": number, "status": batch.status}
        done = record_retention.apply(session, batch, now(), get_settings().masking_log_path)
    record_retention.delete_files(done.files)
    return {
        "batch": number,
        "status": BatchStatus.APPLIED.value,
        "records": done.records,
        "identities": done.identities,
        "held": done.held,
    }


@flow(
    name="records-retention",
    log_prints=False,
    description=(
        "Each program's retention periods: what is due (a case's free text and files, a "
        "client's identity) goes into a batch on the escalation ladder and the run waits for "
        "a supervisor's or an admin's approval before it masks anything (casework "
        "retention). As of a future date it is a preview that writes nothing."
    ),
)
def records_retention(as_of: AsOf = AS_OF, batch: str | None = BATCH) -> dict[str, Any]:
    logger = get_run_logger()
    moment = checked_as_of(as_of)
    if is_preview(moment):
        counts = count_due(moment)
        logger.info(
            "preview as of %s: %s case(s)' records and %s identity(ies) would be batched for "
            "approval; nothing is written",
            f"{moment:%Y-%m-%d}",
            counts["records"],
            counts["identities"],
        )
        return {"preview": True, **counts}
    context = FlowRunContext.get()
    run_id = str(context.flow_run.id) if context and context.flow_run else ""
    number = batch.strip().upper() if batch else open_batch(moment, run_id)
    if number is None:
        logger.info("nothing is due as of %s", f"{moment:%Y-%m-%d}")
        return {"batch": None}
    fired, _ = fired_keys()
    waited = 0
    while (status := batch_status(number, run_id)) == BatchStatus.WAITING.value:
        key = f"{number.lower()}-decision-{waited}"
        if key not in fired:
            logger.info("%s waits for a supervisor's or an admin's approval", number)
        suspend_flow_run(key=key)  # resumed: from the top, where this key has fired
        waited += 1
    if status != BatchStatus.APPROVED.value:
        logger.info("%s is %s: nothing is masked", number, status)
        return {"batch": number, "status": status}
    result = apply_batch(number)
    logger.info(
        "%s applied: %s case(s)' records and %s identity(ies) masked; %s stopped by a hold",
        number,
        result.get("records", 0),
        result.get("identities", 0),
        result.get("held", 0),
    )
    return result
