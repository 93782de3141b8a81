"""What every command of the command line shares: the argument types (built from the
patterns the models declare), reading the files a user names, the one-line errors, the
way a command is declared, and who is acting.

Nothing here imports Prefect: a store-only command never pays for it."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from casework.core.errors import UserError
from casework.core.settings import LOGIN_PATTERN, STAFF_ID_PATTERN, WORK_POOL_PATTERN
from casework.models import forms
from casework.models.codes import Program

EXIT_ERROR = 1
EXIT_UNCONFIRMED = 3  # a form was handed over and whether it was taken is not known yet
F = TypeVar("F", bound=Callable[..., Any])


class CliError(UserError):
    """A refusal of the command line's own (two options that go together, a file)."""


# -- argument types ---------------------------------------------------------------------


class Matching(click.ParamType[str]):
    """The text, if it matches `pattern`; else one line naming `what` it should be."""

    name = "text"

    def __init__(self, pattern: str, what: str) -> None:
        self.pattern, self.what = pattern, what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not re.match(self.pattern, str(value)):
            self.fail(f"{value!r} is not {self.what}", param, ctx)
        return str(value)


STAFF_ID = Matching(STAFF_ID_PATTERN, "a staff id (lowercase letters, digits, '.', '_' or '-')")
LOGIN = Matching(LOGIN_PATTERN, "an OS login name")
POOL = Matching(WORK_POOL_PATTERN, "a work pool name (lowercase letters, digits and '-')")
CLIENT_NUMBER = Matching(forms.CLIENT_NUMBER, "a client number (CLIENT-…)")
DIRECTORY = Matching(
    forms.DIRECTORY_NAME, "a directory name (lower-case letters, digits, _ and -; 40 at most)"
)


class Choice(click.Choice):  # type: ignore[type-arg]
    """One of `choices`, refused as the rest of Casework refuses: in one line."""

    def __init__(self, choices: Sequence[str]) -> None:
        super().__init__(list(choices))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value not in self.choices:
            self.fail(
                f"invalid choice: {value!r} (choose from {', '.join(map(str, self.choices))})",
                param,
                ctx,
            )
        return value


def choice_of(codes: Any) -> Choice:
    """The values of an enumeration of codes (models.codes) as a choice."""
    return Choice([code.value for code in codes])


class Count(click.ParamType[int]):
    """A whole number from `low` to `high`."""

    name = "integer"

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if not self.low <= number <= self.high:
            self.fail(f"{number} is not between {self.low} and {self.high}", param, ctx)
        return number


class Day(click.ParamType[date]):
    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


class AsOf(click.ParamType[datetime]):
    """A date (its start, UTC) or an ISO time; a time without offset is taken as UTC."""

    name = "as_of"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date or ISO time", param, ctx)
        from casework.models.rules import AsOfOutOfRange, checked_as_of

        try:
            return checked_as_of(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        except AsOfOutOfRange as exc:
            self.fail(str(exc).removeprefix("as_of: "), param, ctx)


class Port(click.ParamType[int]):
    name = "port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            port = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a port number", param, ctx)
        if not 1 <= port <= 65535:
            self.fail(f"{port} is not a TCP port (1-65535)", param, ctx)
        return port


class Seconds(click.ParamType[float]):
    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            seconds = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or not 0 < seconds <= 86_400:
            self.fail(f"{value!r} is not between 0 and 86400 seconds", param, ctx)
        return seconds


class Programs(click.ParamType[list[Program]]):
    """Comma-separated programs."""

    name = "programs"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        names = [part.strip() for part in str(value).split(",") if part.strip()]
        known = {p.value for p in Program}
        if not names or (unknown := [n for n in names if n not in known]):
            self.fail(
                f"unknown program {', '.join(unknown) if names else '(none given)'}; "
                f"choose from {', '.join(sorted(known))}",
                param,
                ctx,
            )
        return [Program(n) for n in dict.fromkeys(names)]


class PrefectDatabase(click.ParamType[str]):
    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from casework.core.settings import prefect_server_database

        try:
            return prefect_server_database(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class RedisUrl(click.ParamType[str]):
    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from casework.core.settings import redis_url

        try:
            return redis_url(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


YES_NO = Choice(["yes", "no"])
JSON = click.option("--json", "as_json", is_flag=True, help="print JSON")


def one_of(*given: tuple[str, Any], required: bool = True) -> None:
    """Options that exclude one another (argparse's mutually exclusive group): at most one,
    and, if `required`, exactly one."""
    named = [name for name, value in given if value not in (None, False, ())]
    if len(named) > 1:
        raise click.UsageError(f"argument {named[1]}: not allowed with argument {named[0]}")
    if required and not named:
        names = " ".join(name for name, _ in given)
        raise click.UsageError(f"one of the arguments {names} is required")


# -- commands ---------------------------------------------------------------------------

DATA_DIR_HELP = (
    "data directory (default: CASEWORK_DATA_DIR, else ./.casework if there, else your user "
    "data directory)"
)
# The commands that may start a new data directory; every other one needs it there.
CREATES_STORE = {"up", "migrate", "worker", "prefect-server"}
NEEDS_NO_STORE = {"form", "deploy", "restore"}
ANY_SCHEMA = {"form", "migrate", "deploy", "restore", "backup", "prefect-server"}
RUNS_THE_STACK = {"up", "worker", "prefect-server"}


def command(group: click.Group, name: str, help: str, noun: str | None = None) -> Callable[[F], F]:
    """Declare a command of `group`: with `--data-dir`, and, before its body runs, the data
    directory, the environment Prefect reads and (for a command that uses the store) the
    store's schema and the acting person checked. `noun`: the top command, for a command
    of a command group (`providers import`: providers)."""

    def declare(body: F) -> F:
        top = noun or name

        @functools.wraps(body)
        def run(data_dir: Path | None, **params: Any) -> Any:
            prepare(top, data_dir, params)
            try:
                code = body(**params)
                sys.stdout.flush()
            except BrokenPipeError:
                # The reader went away (`casework show … | head`): what it read was all it
                # wanted. Point stdout at nothing so no later flush fails (as click would
                # have it, with exit 1).
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                code = 0
            return code

        with_dir = click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_DIR_HELP)(
            run
        )
        group.command(name, help=help, short_help=help)(with_dir)
        return body

    return declare


_PREPARED: list[tuple[Path, bool]] = []


def prepared() -> tuple[Path, bool]:
    """The data directory this command runs on, and whether `up` starts its own server."""
    return _PREPARED[-1]


def prepare(command: str, data_dir: Path | None, params: dict[str, Any]) -> None:
    if params.get("prefect_database_url"):  # read with the other settings, next
        os.environ["CASEWORK_PREFECT_DATABASE_URL"] = params["prefect_database_url"]
    _PREPARED.append(bootstrap(command, data_dir, params.get("port")))
    if command in RUNS_THE_STACK:
        return
    # A command that runs a flow here (`sweep`) logs to the Prefect server, not to the
    # terminal: what it did is its own output. (`up` keeps them in its runner log.)
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    if command not in ANY_SCHEMA:
        from casework.core.db import check_schema
        from casework.core.settings import get_settings

        check_schema()
        # A declared actor who is not who signed in is refused, whatever the command
        # (`staff` checks it itself: on SQLite it may be mapping the login that makes it true).
        if get_settings().actor is not None and command != "staff":
            signed_in()


def bootstrap(command: str, data_dir: Path | None, port: int | None = None) -> tuple[Path, bool]:
    """Set the environment before Prefect is imported: data dir, API URL, runner settings.
    Returns the data dir and whether `up` should start its own Prefect server."""
    from casework.core.files import PRIVATE_UMASK, make_private
    from casework.core.settings import (
        DEFAULT_API_URL,
        STACK_FILE,
        default_data_dir,
        get_settings,
        prefect_credential,
        prefect_env,
    )

    # Whatever a command writes in the data directory (a document's folder, a flow result
    # of `sweep`) is its owner's alone, as `up` requires of the whole directory.
    os.umask(PRIVATE_UMASK)
    data_dir = (data_dir or default_data_dir()).resolve()
    if command in CREATES_STORE:
        make_private(data_dir)
    elif command not in NEEDS_NO_STORE and not data_dir.is_dir():
        raise CliError(
            f"no Casework data directory at {data_dir}; start one there with `casework up`, "
            "or point at yours with --data-dir DIR (or CASEWORK_DATA_DIR)"
        )
    api_url = os.environ.get("PREFECT_API_URL")
    start_own = False
    if api_url is None:
        stack_file = data_dir / STACK_FILE
        if command == "up":
            api_url, start_own = f"http://127.0.0.1:{port or 4200}/api", True
        elif stack_file.exists():
            api_url = json.loads(stack_file.read_text())["api_url"]
        else:
            api_url = DEFAULT_API_URL
    os.environ["CASEWORK_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    settings = get_settings()  # every CASEWORK_ variable checked now, before anything is done
    env = prefect_env(data_dir, api_url, settings.runner_poll_seconds, settings.heartbeat_seconds)
    for name, value in env.items():
        if name not in os.environ:
            os.environ[name] = value
    # The Prefect API is protected: `up`'s own server runs with the data directory's
    # credential (made on its first start), and every command signs in with it.
    # PREFECT_API_AUTH_STRING, if set, is the credential of a shared server.
    if start_own or "PREFECT_API_AUTH_STRING" not in os.environ:
        credential = prefect_credential(data_dir, create=start_own)
        if credential is not None:
            os.environ["PREFECT_API_AUTH_STRING"] = credential
    return data_dir, start_own


def signed_in() -> str:
    """Who is acting (casework.core.identity): the store's sign-in, never a declared name."""
    from casework.services.staff import signed_in as who

    return who()


def back_later() -> str:
    from casework.core.prefect_api import who_finishes

    return (
        "moves on once the Prefect server is back (the server is not answering; "
        f"{who_finishes('settle')})"
    )


# -- what the user gives and what they read ---------------------------------------------

MAX_INPUT_BYTES = 5_000_000
MAX_JSON_DEPTH = 20


def _read(path: str, option: str) -> str:
    """A file (or stdin) the user named: UTF-8 text of a sane size, or one line saying why."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise CliError(f"{option}: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise CliError(f"{option}: {path} is larger than {MAX_INPUT_BYTES // 1_000_000} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{option}: {path} is not UTF-8 text") from None


def read_json(path: str, what: str, option: str = "--file") -> Any:
    from casework.core import strict_json

    try:
        return strict_json.parse(_read(path, option), MAX_JSON_DEPTH)
    except strict_json.NotJSON as exc:
        raise CliError(f"{option}: {what} is {exc}") from None
    except strict_json.JSONRefused as exc:
        raise CliError(f"{option}: {what}: {exc}") from None


def read_text(path: str, option: str) -> str:
    text = _read(path, option).strip()
    if not text:
        raise CliError(f"{option}: {path} is empty")
    return free_text(text, option)


def free_text(value: str, option: str) -> str:
    """A reason or note given on the command line: checked like any text a person typed."""
    from pydantic import TypeAdapter, ValidationError

    from casework.models.schemas import FreeText

    try:
        return TypeAdapter(FreeText).validate_python(value)
    except ValidationError as exc:
        raise CliError(f"{option}: {exc.errors()[0]['msg']}") from None


def emit(data: Any, as_json: bool, text: Callable[[], str]) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else text())


def warn(line: str | None) -> None:
    if line:
        print(f"casework: warning: {line}", file=sys.stderr)
