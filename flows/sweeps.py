"""The scheduled sweeps. Each reads the case store in bulk (one query per rule), records
what it found on the escalation ladder, acts on the cases that need it, tells people, and
leaves a table artifact of what it found and did (case numbers and rule names only).
Every sweep takes `as_of`, so an operator (or a test) can sweep any day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from casework.core.db import session_scope
from casework.core.errors import UserError
from casework.core.prefect_api import own_stack
from casework.core.settings import get_settings
from casework.flows.operator import refuses_cleanly
from casework.flows.parameters import AS_OF, ONLY_CASE, AsOf, CaseNumber
from casework.models import cases, escalations
from casework.models.codes import ReassessmentReason, Watch
from casework.models.programs import programs
from casework.models.rules import Scope, checked_as_of, due_reassessments, is_preview
from casework.models.staff import SWEEP_ACTOR
from casework.services.sweeps import catch_up
from casework.tasks.case_card import publish_case_card
from casework.tasks.cases import mirror_escalation_tag
from casework.tasks.messages import deliver_messages, keep_due_messages
from casework.tasks.notifications import deliver_notifications
from casework.tasks.retries import store_task

ARTIFACT_ROWS = 500  # the table shows this many rows; the description gives the totals


@store_task("find-and-escalate")
def find_and_escalate(
    watch: Watch, as_of: datetime, case_number: str | None, preview: bool = False
) -> dict[str, Any]:
    """Run the watch's rules over the store and record the ladder, in one transaction; a
    preview works it out the same way and rolls it back."""
    with session_scope() as session:
        case_id = cases.get_case(session, case_number).id if case_number else None
        result = escalations.sweep(session, watch, Scope(as_of, case_id), programs())
        if preview:
            session.rollback()
    return {
        "breaches": result.breaches,
        "raised": [rung.__dict__ for rung in result.raised],
        "resolved": [rung.__dict__ for rung in result.resolved],
    }


@task(name="list-due-reassessments", cache_policy=NO_CACHE, persist_result=False)
def list_due_reassessments(as_of: datetime) -> list[str]:
    with session_scope(read_only=True) as session:
        return due_reassessments(session, Scope(as_of), programs())


def reassess_due(due: list[str], progress: Any) -> list[dict[str, Any]]:
    """Resume each due case with a reassess decision (a resume per case, never a flow run
    per case). A case that cannot be resumed now is reported and tried again next sweep."""
    from casework import services

    rows = []
    for done, case_number in enumerate(due, start=1):
        try:
            result = services.stages.reassess(
                case_number, ReassessmentReason.SCHEDULED_REVIEW, SWEEP_ACTOR, timeout=15
            )
            action = f"reassessment {result.outcome}"
        except UserError as exc:
            action = f"skipped: {type(exc).__name__}"
        rows.append(
            {"case_number": case_number, "rule": "reassessment_due", "level": "", "action": action}
        )
        if done % 20 == 0:
            update_progress_artifact(progress, 20 + 60 * done / len(due))
    return rows


def dated_run_name() -> str:
    """What the run is and the moment it covers: its `as_of`, else the time it was scheduled
    for (`stalled-case-sweep-2026-11-23T13:15Z`); a sweep of one case names the case too
    (`stalled-case-sweep-CASE-000123-2026-11-23T13:15Z`)."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    given = params.get("as_of")
    if isinstance(given, str):
        try:
            given = datetime.fromisoformat(given)
        except ValueError:
            given = None  # the flow refuses it, in one line
    moment = given if isinstance(given, datetime) else flow_run.scheduled_start_time
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    case_number = params.get("case_number")
    subject = f"{case_number}-" if case_number else ""
    return f"{flow_run.flow_name}-{subject}{moment.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def previewing(when: datetime) -> bool:
    """Whether a sweep or report as of `when` is a preview: a future `as_of`, unless the
    development switch CASEWORK_WRITE_AHEAD says to write as if that day had come."""
    return is_preview(when) and not get_settings().write_ahead


PREVIEW = "PREVIEW, nothing written or sent: "


def _actions(found: dict[str, Any], preview: bool) -> list[dict[str, Any]]:
    would = "would be " if preview else ""
    return [
        {
            **rung,
            "action": f"{would}warned"
            if rung["level"] == 0
            else f"{would}escalated to level {rung['level']}",
        }
        for rung in found["raised"]
    ] + [{**rung, "action": f"{would}resolved"} for rung in found["resolved"]]


def run_watch(watch: Watch, as_of: datetime | None, case_number: str | None) -> dict[str, Any]:
    """One watch's sweep. As of a future date it is a preview: what it would raise, resolve
    and send is worked out and published under `preview-sweep-<watch>`, and nothing is
    written, sent, tagged or replaced."""
    logger = get_run_logger()
    when = checked_as_of(as_of)
    preview = previewing(when)
    scope = f" for {case_number}" if case_number else ""
    heading = (
        f"{PREVIEW if preview else ''}{watch.value} sweep{scope} as of {when:%Y-%m-%d %H:%M} UTC"
    )
    progress = create_progress_artifact(0.0, description=heading)
    assert isinstance(progress, UUID)  # a sync flow: not a coroutine
    found = find_and_escalate(watch, when, case_number, preview)
    update_progress_artifact(progress, 20)
    rows = _actions(found, preview)
    if watch is Watch.REASSESSMENTS:
        due = list_due_reassessments(when)
        rows += (
            [
                {
                    "case_number": n,
                    "rule": "reassessment_due",
                    "level": "",
                    "action": "would be sent to reassessment",
                }
                for n in due
            ]
            if preview
            else reassess_due(due, progress)
        )
    update_progress_artifact(progress, 80)
    if preview:
        delivery = {"would_send": len(found["raised"])}
    else:
        delivery = deliver_notifications()
        update_progress_artifact(progress, 90)
        for number in sorted({r["case_number"] for r in found["resolved"] if r["level"] == 3}):
            mirror_escalation_tag(number)
        if case_number is not None:  # swept at once for a crisis or a notice: its card shows it
            publish_case_card(case_number, on_case_run=True)
    totals = {
        "breaches": found["breaches"],
        "raised": len(found["raised"]),
        "resolved": len(found["resolved"]),
        "reassessed": sum(1 for row in rows if row["rule"] == "reassessment_due"),
        **{f"notifications_{k}": v for k, v in delivery.items()},
    }
    summary = ", ".join(f"{k} {v}" for k, v in totals.items())
    create_table_artifact(
        rows[:ARTIFACT_ROWS]
        or [{"case_number": "", "rule": "", "level": "", "action": "nothing to do"}],
        key=f"{'preview-' if preview else ''}sweep-{watch.value}",
        description=f"{heading}: {summary}"
        + (f" (first {ARTIFACT_ROWS} rows shown)" if len(rows) > ARTIFACT_ROWS else ""),
    )
    update_progress_artifact(progress, 100)
    logger.info("%s: %s", heading, summary)
    return {"preview": True, **totals} if preview else totals


@flow(name="stalled-case-sweep", flow_run_name=dated_run_name, persist_result=False)
@refuses_cleanly
def stalled_case_sweep(
    as_of: AsOf = AS_OF, case_number: CaseNumber | None = ONLY_CASE
) -> dict[str, Any]:
    """Stage SLAs, contact intervals, unanswered referrals, overdue goals, crisis flags."""
    if case_number is None:
        catch_up_on_the_pool()
    return run_watch(Watch.STALLED_CASES, as_of, case_number)


def catch_up_on_the_pool() -> None:
    """On a work pool, what `casework up`'s upkeep does on one machine (the same service:
    `casework.services.sweeps.catch_up`). Under `casework up` its upkeep does it, and this
    does not."""
    if own_stack():
        return
    try:
        lines = catch_up()
    except Exception as exc:  # noqa: BLE001 - the sweep itself goes on; the next one tries again
        get_run_logger().warning("catch-up skipped this time (%s)", type(exc).__name__)
        return
    for line in lines:
        get_run_logger().info(line)


@flow(name="benefits-watch", flow_run_name=dated_run_name, persist_result=False)
@refuses_cleanly
def benefits_watch(
    as_of: AsOf = AS_OF, case_number: CaseNumber | None = ONLY_CASE
) -> dict[str, Any]:
    """Benefit recertifications and waiver expiries (warned 30/14/7 days ahead, then
    escalated); notices of adverse action until a hearing is requested or the notice ends."""
    return run_watch(Watch.BENEFITS, as_of, case_number)


@flow(name="follow-up-checks", flow_run_name=dated_run_name, persist_result=False)
@refuses_cleanly
def follow_up_checks(as_of: AsOf = AS_OF) -> dict[str, Any]:
    """Post-closure checks at 30 and 90 days; a failed check proposes reopening."""
    return run_watch(Watch.FOLLOW_UPS, as_of, None)


@flow(name="reassessment-cadence", flow_run_name=dated_run_name, persist_result=False)
@refuses_cleanly
def reassessment_cadence(as_of: AsOf = AS_OF) -> dict[str, Any]:
    """Send the cases whose reassessment is due (plan, referral, monitoring) back to assessment."""
    return run_watch(Watch.REASSESSMENTS, as_of, None)


@flow(name="client-messages", flow_run_name=dated_run_name, persist_result=False)
@refuses_cleanly
def client_messages(
    as_of: AsOf = AS_OF, case_number: CaseNumber | None = ONLY_CASE
) -> dict[str, Any]:
    """Reminders before appointments, "we missed you" after a missed one, check-ins before
    a contact interval lapses, reminders before recertifications and aid-continuing
    deadlines: by text or email, with the client's consent, outside quiet hours."""
    logger = get_run_logger()
    when = checked_as_of(as_of)
    preview = previewing(when)
    scope = f" for {case_number}" if case_number else ""
    heading = f"{PREVIEW if preview else ''}messages{scope} as of {when:%Y-%m-%d %H:%M} UTC"
    case_id = None
    if case_number is not None:
        with session_scope(read_only=True) as session:
            case_id = cases.get_case(session, case_number).id
    planned = keep_due_messages(when, case_id, preview)
    rows = [
        {**m, "case_number": "", "outcome": "would be sent" if preview else "kept"}
        for m in planned["kept"]
    ]
    rows += [
        {"message": "", "kind": kind, "channel": "", "case_number": number, "outcome": why}
        for number, kind, why in planned["passed"]
    ]
    sent: dict[str, Any] = {"rows": [], "quiet": False}
    if not preview:
        sent = deliver_messages(when, case_id)
        rows += [{**row, "case_number": ""} for row in sent["rows"]]
    totals = {
        "kept": len(planned["kept"]),
        "passed_over": len(planned["passed"]),
        **{
            outcome: sum(1 for row in sent["rows"] if row["outcome"] == outcome)
            for outcome in ("sent", "retrying", "failed", "withheld")
        },
        "quiet_hours": sent["quiet"],
    }
    summary = ", ".join(f"{k} {v}" for k, v in totals.items())
    create_table_artifact(
        rows[:ARTIFACT_ROWS]
        or [{"message": "", "kind": "", "channel": "", "case_number": "", "outcome": "none"}],
        key=f"{'preview-' if preview else ''}sweep-{Watch.MESSAGES.value}",
        description=f"{heading}: {summary}",
    )
    logger.info("%s: %s", heading, summary)
    return {"preview": True, **totals} if preview else totals


SWEEPS: dict[Watch, Callable[..., Any]] = {
    Watch.STALLED_CASES: stalled_case_sweep,
    Watch.BENEFITS: benefits_watch,
    Watch.FOLLOW_UPS: follow_up_checks,
    Watch.REASSESSMENTS: reassessment_cadence,
    Watch.MESSAGES: client_messages,
}
