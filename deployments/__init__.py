"""Every deployment and schedule, declared in one place. `casework up` serves these;
`prefect.yaml` declares the same for work pools on many machines."""

from __future__ import annotations

from prefect.deployments.runner import EntrypointType, RunnerDeployment

from flows.case_lifecycle import case_lifecycle

LIFECYCLE = "case-lifecycle"


def all_deployments() -> list[RunnerDeployment]:
    return [
        case_lifecycle.to_deployment(
            name=LIFECYCLE,
            description="One run per case episode; waits between stages for typed forms.",
            tags=["casework"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]
