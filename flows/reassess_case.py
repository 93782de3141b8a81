"""Operator-triggered reassessment: the Prefect UI's run form (or any API client) sends a
case at plan, referral or monitoring back to assessment. Parameters are coded: case
number, reason, staff id."""

from __future__ import annotations

from prefect import flow, get_run_logger

from casework.flows.operator import refuses_cleanly
from casework.flows.parameters import (
    CASE_TO_REASSESS,
    REASON,
    REQUESTED_BY,
    CaseNumber,
    Reason,
    StaffIdParameter,
)


@flow(name="reassess-case", flow_run_name="reassess-{case_number}", persist_result=False)
@refuses_cleanly
def reassess_case(
    case_number: CaseNumber = CASE_TO_REASSESS,
    reason: Reason = REASON,
    requested_by: StaffIdParameter = REQUESTED_BY,
) -> str:
    from casework import services

    result = services.stages.reassess(case_number, reason, requested_by)
    get_run_logger().info(
        "%s sent back to assessment (%s, %s)", case_number, reason.value, result.stage_key
    )
    return result.stage_key
