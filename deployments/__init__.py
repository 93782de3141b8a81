"""Every deployment and schedule, declared in one place. `casework up` serves these;
`prefect.yaml` declares the same for work pools on many machines."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from flows.case_lifecycle import case_lifecycle
from flows.reassess_case import reassess_case


def all_deployments() -> list[RunnerDeployment]:
    declared = [
        case_lifecycle.to_deployment(
            name="case-lifecycle",
            description="One run per case episode; waits between stages for typed forms.",
            tags=["casework"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        reassess_case.to_deployment(
            name="reassess-case",
            description="Send a case in monitoring back to assessment (who asked, and why).",
            tags=["casework"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]
    # Called outside an event loop, to_deployment returns deployments, not coroutines.
    return [d for d in declared if isinstance(d, RunnerDeployment)]
