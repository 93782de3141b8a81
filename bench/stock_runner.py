"""The stock start, for bench/lifecycle.py: Prefect's Runner serving every deployment, each
flow run in a new `python -m prefect.engine` process (how `casework up` ran cases before
the Casework worker)."""

from __future__ import annotations

import asyncio
import os
from typing import Any


async def serve(deployments: list[Any]) -> None:
    from prefect.runner import Runner

    from casework.core.settings import get_settings

    poll = float(os.environ.get("PREFECT_RUNNER_POLL_FREQUENCY", "1"))
    runner = Runner(name="bench-stock", limit=get_settings().runner_limit, query_seconds=poll)
    for deployment in deployments:
        await runner.aadd_deployment(deployment)
    await runner.start()


if __name__ == "__main__":
    from casework.deployments import all_deployments

    asyncio.run(serve(all_deployments(schedules=False)))  # built outside the loop: sync
