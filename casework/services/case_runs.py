"""A case's flow run: started under its case number, tagged with its stage and manager."""

from __future__ import annotations

from casework.core import prefect_api
from casework.models.cases import Position, run_tags


def start_case_run(position: Position) -> str:
    """Start (or find, on a retried intake) the flow run of this case episode."""
    return prefect_api.start_run(
        prefect_api.LIFECYCLE_DEPLOYMENT,
        {"case_number": position.case_number, "episode": position.episode},
        name=position.case_number,
        tags=run_tags(position),
        idempotency_key=f"{position.case_number}-e{position.episode}",
    )
