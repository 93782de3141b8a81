"""When a task retry can help: only for the errors a retry can fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task
from sqlalchemy.exc import OperationalError

RetryCondition = Callable[[Task[Any, Any], TaskRun, State[Any]], bool]


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
