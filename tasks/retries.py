"""When a task retry can help: the case store was locked or briefly unreachable."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import Task
from sqlalchemy.exc import OperationalError


def store_unavailable(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only what a retry can fix: a locked or briefly unreachable database."""
    try:
        state.result()
    except OperationalError:
        return True
    except Exception:
        return False
    return False
