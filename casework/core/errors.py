"""Casework's one error tree.

Every error Casework raises derives from `CaseworkError`. A `UserError` is one the user can
cause or fix: each surface shows it as one line (the CLI exits 1; a run form's run fails
with the line; a web form marks the field) and nothing has changed. Where the error is about
one input, `field` names it in the domain's word (the services' parameter: `effective`,
`notice_date`, `to_staff`), never in a surface's: each surface maps the field to its own
word (the CLI to its flag, a run form to its parameter, a web form to its field). Anything
that is not a `CaseworkError` is unexpected: see `casework.core.error_log`."""

from __future__ import annotations

from typing import ClassVar


class CaseworkError(Exception):
    """The base of every error Casework raises."""

    # The process ends at once after its line is shown, without Prefect's exit handlers
    # (which would try, and fail loudly, to reach a Prefect server that is gone).
    end_at_once: ClassVar[bool] = False

    def __init__(self, message: str = "", *args: object, field: str | None = None) -> None:
        super().__init__(message, *args)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return str(self.message) if self.message or not self.args else super().__str__()


class UserError(CaseworkError):
    """An error the user can cause or fix, shown as one line; nothing was changed."""


class Deferred(CaseworkError):  # noqa: N818 - not an error: done, with a part still to come
    """Recorded in the store; the case's run follows once the Prefect server is back."""

    def __init__(self, case_number: str, done: list[str]) -> None:
        super().__init__(case_number)
        self.case_number, self.done = case_number, done


class InputError(UserError):
    """Bad input from the user: the message names the field and what is wrong."""


class StackError(UserError):
    """The local stack (`casework up`, a worker, the demo) cannot start or go on."""


class ServerGone(StackError):
    """The Prefect server died under `up`: nothing is left to send logs or events to."""

    end_at_once = True


def on_field(field: str, message: str) -> str:
    """A user error's line as a surface that names its inputs as the services do (a run
    form, whose parameters are the services' names) shows it."""
    return f"{field}: {message}"
