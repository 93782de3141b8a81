"""The daily retention run: deletes from the Prefect server the finished runs Casework no
longer needs (see casework/services/retention.py), so the dashboard stays fast and the
server's database stops growing with time. Numbers only in its log and result."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger

from casework.core.clock import now
from casework.core.settings import get_settings
from casework.flows.case_lifecycle import case_lifecycle
from casework.flows.caseload_report import caseload_report
from casework.flows.escalation_brief import escalation_brief
from casework.flows.reassess_case import reassess_case
from casework.flows.record_retention import records_retention
from casework.flows.referral_sync import referral_status_sync
from casework.flows.sweeps import (
    benefits_watch,
    client_messages,
    follow_up_checks,
    reassessment_cadence,
    stalled_case_sweep,
)
from casework.services.retention import prune

# Casework's flows whose finished runs are history once they end; the case run is kept
# while its case is open. This flow's own runs are history too.
HISTORY = [
    f.name
    for f in (
        reassess_case,
        escalation_brief,
        stalled_case_sweep,
        benefits_watch,
        follow_up_checks,
        reassessment_cadence,
        client_messages,
        referral_status_sync,
        caseload_report,
        records_retention,
    )
] + ["prefect-retention"]


@flow(
    name="prefect-retention",
    description="Delete Casework's finished runs older than the retention age "
    "(CASEWORK_PREFECT_RETENTION_DAYS) from the Prefect server; never an open case's run.",
    persist_result=False,
)
def prefect_retention(days: int | None = None) -> str:
    """`days`: the age to keep (default the setting). Returns what was deleted, in numbers."""
    age = days if days is not None else get_settings().prefect_retention_days
    if age < 1:
        raise ValueError(f"days: {age} is not a number of days (1 or more)")
    pruned = prune(HISTORY, str(case_lifecycle.name), now() - timedelta(days=age))
    get_run_logger().info("runs older than %d day(s): %s", age, pruned)
    return str(pruned)
