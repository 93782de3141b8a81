"""Every deployment and schedule, declared in one place. `casework up` serves these;
`prefect.yaml` declares the same for work pools on many machines."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from flows.case_lifecycle import case_lifecycle

LIFECYCLE = "case-lifecycle"


def all_deployments() -> list[RunnerDeployment]:
    lifecycle = case_lifecycle.to_deployment(
        name=LIFECYCLE,
        description="One run per case episode; waits between stages for typed forms.",
        tags=["casework"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    assert isinstance(lifecycle, RunnerDeployment)  # called outside an event loop: not a coroutine
    return [lifecycle]
