"""When a task retry can help: only for the errors a retry can fix."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task
from sqlalchemy.exc import OperationalError

RetryCondition = Callable[[Task[Any, Any], TaskRun, State[Any]], bool]
T = TypeVar("T")
P = ParamSpec("P")
STORE_RETRY_SECONDS = (1.0, 2.0, 5.0)


def retry_on(*errors: type[BaseException]) -> RetryCondition:
    """A task retry condition: retry when the run failed with one of `errors`, not otherwise."""

    def condition(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
        try:
            state.result()
        except errors:
            return True
        except Exception:
            return False
        return False

    return condition


# A locked or briefly unreachable case store.
store_unavailable = retry_on(OperationalError)


def store_task(name: str) -> Callable[[Callable[P, T]], Task[P, T]]:
    """A task of work on the case store: nothing cached or kept of its result (it may
    name cases), tried again twice, 2 s apart, while the store is locked or briefly away."""
    return task(
        name=name,
        cache_policy=NO_CACHE,
        persist_result=False,
        retries=2,
        retry_delay_seconds=2,
        retry_condition_fn=store_unavailable,
    )


def while_store_unavailable(
    step: Callable[[], T], delays: tuple[float, ...] = STORE_RETRY_SECONDS
) -> T:
    """Run `step`, again after each of `delays` while the case store is locked or briefly
    unreachable: the retries of a task, for a step that is not worth a task run."""
    for delay in delays:
        try:
            return step()
        except OperationalError:
            time.sleep(delay)
    return step()
