"""A case handed to another case manager, as Prefect is told of it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from casework.core import prefect_api
from models.cases import Transfer, with_manager

TRANSFERRED = "casework.case.transferred"


def announce_transfer(moved: Transfer) -> None:
    """After a transfer: the case's run tagged with its new case manager, and the event
    `casework.case.transferred` (case number and staff ids only) on the Prefect server."""
    if moved.flow_run_id is not None:
        run = prefect_api.read_run(moved.flow_run_id)
        prefect_api.retag_run(moved.flow_run_id, with_manager(run.tags, moved.to_manager))
    body = {
        "case_number": moved.case_number,
        "program": moved.program,
        "from_manager": moved.from_manager,
        "to_manager": moved.to_manager,
        "reason": moved.reason,
        "escalations_handed_over": moved.escalations,
    }
    related = [
        {
            "prefect.resource.id": f"prefect.flow-run.{moved.flow_run_id}",
            "prefect.resource.role": "flow-run",
        }
    ]
    prefect_api.emit_event(
        {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": TRANSFERRED,
            "resource": {
                "prefect.resource.id": f"casework.case.{moved.case_number}",
                "prefect.resource.name": moved.case_number,
                "casework.program": moved.program,
            },
            "related": related if moved.flow_run_id else [],
            "payload": body,
        }
    )
