"""Sweeps and upkeep: the scheduled sweeps started on the work pool, escalations listed,
and what Prefect must be told to catch up with the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casework.core import prefect_api
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.core.prefect_api import (
    BENEFITS_DEPLOYMENT,
    CADENCE_DEPLOYMENT,
    FOLLOW_UPS_DEPLOYMENT,
    MESSAGES_DEPLOYMENT,
    SWEEP_DEPLOYMENT,
)
from casework.models import cases, escalations, referrals
from casework.models.codes import (
    Watch,
)
from casework.models.schemas import (
    EscalationOut,
)
from casework.services.referrals import resume_answered
from casework.services.transfers import announce_transfers

# The sweeps' deployments, by watch (flows/sweeps.py names the flows; a test keeps them so).
WATCH_DEPLOYMENTS = {
    Watch.STALLED_CASES: SWEEP_DEPLOYMENT,
    Watch.BENEFITS: BENEFITS_DEPLOYMENT,
    Watch.FOLLOW_UPS: FOLLOW_UPS_DEPLOYMENT,
    Watch.REASSESSMENTS: CADENCE_DEPLOYMENT,
    Watch.MESSAGES: MESSAGES_DEPLOYMENT,
}


def catch_up() -> list[str]:
    """Prefect caught up with the store, whoever asks (`casework up`'s upkeep every few
    seconds on one machine; on a work pool, each stalled-case sweep): the cases whose
    partners' answers were recorded while the server was away moved on, the transfers it
    missed announced, and the runs of cases whose reassessment was asked for meanwhile
    woken. Returns a line per case."""
    with session_scope(read_only=True) as session:
        waiting = referrals.waiting_cases(session)
        pending = cases.unannounced_transfers(session)
        asked = cases.pending_reassessments(session)
    lines = [
        f"{number}: moved on (its partners had answered)" for number in resume_answered(waiting)
    ]
    if pending and announce_transfers(pending) is None:
        lines += [f"{t.case_number}: transfer to {t.to_manager} announced" for t in pending]
    for number, key, flow_run_id in asked:
        if prefect_api.wake_if_waiting(flow_run_id, key)[0]:
            lines.append(f"{number}: woken to go back to assessment")
    return lines


def one_case(watches: list[Watch], case_number: str) -> str:
    """The case's number as the store has it, for sweeps that can look at one case."""
    if not set(watches) <= {Watch.STALLED_CASES, Watch.BENEFITS, Watch.MESSAGES}:
        raise InputError(
            "only the stalled-cases, benefits and messages sweeps run for one case",
            field="case_number",
        )
    with session_scope(read_only=True) as session:
        return cases.get_case(session, case_number).case_number or case_number


ON_POOL_TIMEOUT_SECONDS = 1800.0  # a sweep of a large caseload, on a busy pool


def sweep_on_pool(
    watches: list[Watch], as_of: datetime | None, case_number: str | None
) -> tuple[dict[str, str], bool]:
    """Run the sweeps as deployment runs on the work pool (not in this process) and wait for
    each: what each found (its artifact's counts), or how its run ended; and whether every
    one completed."""
    parameters: dict[str, Any] = {"as_of": as_of.isoformat()} if as_of else {}
    if case_number is not None:
        parameters["case_number"] = one_case(watches, case_number)
    said, completed = {}, True
    for watch in watches:
        deployment = WATCH_DEPLOYMENTS[watch]
        prefect_api.check_ready(deployment)
        run = prefect_api.run_on_pool(deployment, parameters, ON_POOL_TIMEOUT_SECONDS)
        if run.state_type == "COMPLETED":
            counts = prefect_api.artifact_description(run.flow_run_id, f"sweep-{watch.value}")
            said[watch.value] = f"{run.name}: {counts or 'completed'}"
        else:
            said[watch.value] = f"{run.name}: {run.state_name} ({run.state_message or '-'})"
            completed = False
    return said, completed


def escalation_list(open_only: bool, case_number: str | None) -> list[EscalationOut]:
    with session_scope(read_only=True) as session:
        if case_number is not None:
            case_number = cases.get_case(session, case_number).case_number
        rows = escalations.listing(session, open_only=open_only, case_number=case_number)
        return [EscalationOut.model_validate(row) for row in rows]
