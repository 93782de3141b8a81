"""Every deployment and schedule, declared in one place. `casework up` serves these;
`prefect.yaml` declares the same for work pools on many machines."""

from __future__ import annotations

from typing import Any

from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from flows.case_lifecycle import case_lifecycle
from flows.caseload_report import caseload_report
from flows.escalation_brief import escalation_brief
from flows.reassess_case import reassess_case
from flows.referral_sync import referral_status_sync
from flows.sweeps import benefits_watch, follow_up_checks, reassessment_cadence, stalled_case_sweep

# Cron schedules (UTC). Each sweep also runs by hand, from the UI's run form or
# `casework sweep`, with an `as_of` of the operator's choosing.
SCHEDULES = {
    "stalled-case-sweep": "*/15 * * * *",
    "benefits-watch": "0 6 * * *",
    "follow-up-checks": "30 6 * * *",
    "reassessment-cadence": "0 7 * * *",
    "referral-status-sync": "*/10 * * * *",
    "caseload-report": "0 5 * * *",
}


def _deployment(flow: Any, name: str, description: str, cron: str | None = None) -> Any:
    return flow.to_deployment(
        name=name,
        description=description,
        cron=cron,
        tags=["casework"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def all_deployments(schedules: bool | None = None) -> list[RunnerDeployment]:
    """Every deployment; the sweeps with their cron schedules unless `schedules` is off
    (default: CASEWORK_SCHEDULES)."""
    if schedules is None:
        from casework.settings import get_settings

        schedules = get_settings().schedules
    declared = [
        _deployment(
            case_lifecycle,
            "case-lifecycle",
            "One run per case episode; waits between stages for typed forms.",
        ),
        _deployment(
            reassess_case,
            "reassess-case",
            "Send a case in monitoring back to assessment (who asked, and why).",
        ),
        _deployment(
            escalation_brief,
            "escalation-brief",
            "Brief the program manager on a case at escalation level 3.",
        ),
        *(
            _deployment(
                sweep,
                sweep.name,
                sweep.description or "",
                SCHEDULES[sweep.name] if schedules else None,
            )
            for sweep in (
                stalled_case_sweep,
                benefits_watch,
                follow_up_checks,
                reassessment_cadence,
                referral_status_sync,
                caseload_report,
            )
        ),
    ]
    # Called outside an event loop, to_deployment returns deployments, not coroutines.
    return [d for d in declared if isinstance(d, RunnerDeployment)]
