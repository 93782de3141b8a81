"""What a deployment an operator can start by hand (from the Prefect UI's run form, or any
API client) does with a mistake in its parameters: the run ends Failed with one line that
names what is wrong, and no traceback in its logs."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import get_run_logger
from prefect.client.schemas.objects import State
from prefect.exceptions import FailedRun
from prefect.states import Failed

from casework.core.errors import UserError, on_field

P = ParamSpec("P")
R = TypeVar("R")
REFUSED = "refused: "


def _not_a_refusal(record: logging.LogRecord) -> bool:
    """Prefect's engine re-raises a run's Failed state at its end and logs it with a
    traceback; for a refusal that says nothing the one-line message did not."""
    error = record.exc_info[1] if record.exc_info else None
    return not (isinstance(error, FailedRun) and str(error).startswith(REFUSED))


logging.getLogger("prefect.flow_runs").addFilter(_not_a_refusal)


def refuses_cleanly(fn: Callable[P, R]) -> Callable[P, R | State[Any]]:
    """Wrap a flow's body (under `@flow`): a user error becomes a Failed state whose message
    is the error's one line; anything else still fails loudly, with its traceback."""

    @functools.wraps(fn)
    def body(*args: P.args, **kwargs: P.kwargs) -> R | State[Any]:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            # The run form's parameters are the services' names: the field shows as it is.
            line = on_field(exc.field, str(exc)) if exc.field else str(exc)
            get_run_logger().error("%s%s", REFUSED, line)
            return Failed(message=f"{REFUSED}{line}")

    # Prefect builds the run form and validates parameters from the signature; give it the
    # resolved types, since string annotations would be looked up in this module.
    body.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return body
