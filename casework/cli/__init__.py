"""The `casework` command line: operators and case managers run the caseload from here.
Bad input exits non-zero with one line naming what is wrong, and changes nothing.

One module per noun (cases, clients, benefits, referrals, providers, staff, sweeps, the
stack), on click. A command's module is imported only when that command runs, so `casework
show` loads the case services and not the stack, the worker or Prefect."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import click

from casework import casework_version
from casework.cli.options import EXIT_ERROR, EXIT_UNCONFIRMED
from casework.core.errors import UserError

# Each command, and the module of the noun it belongs to (imported when it runs).
COMMANDS = {
    "up": "stack",
    "prefect-server": "stack",
    "worker": "stack",
    "desk": "stack",
    "deploy": "stack",
    "automations": "stack",
    "status": "stack",
    "repair": "stack",
    "migrate": "stack",
    "backup": "stack",
    "restore": "stack",
    "demo": "stack",
    "intake": "cases",
    "submit": "cases",
    "show": "cases",
    "cases": "cases",
    "form": "cases",
    "note": "cases",
    "intake-details": "cases",
    "reopen": "cases",
    "reassess": "cases",
    "approve": "cases",
    "return": "cases",
    "transfer": "cases",
    "due": "cases",
    "doc": "cases",
    "household": "cases",
    "appointment": "appointments",
    "messaging": "appointments",
    "duplicates": "clients",
    "merge": "clients",
    "client-record": "clients",
    "benefit": "benefits",
    "notice": "benefits",
    "hearing": "benefits",
    "waiver": "benefits",
    "follow-up": "benefits",
    "consent": "referrals",
    "referral": "referrals",
    "sync-referrals": "referrals",
    "providers": "providers",
    "staff": "staff",
    "access-log": "staff",
    "webhook-secret": "staff",
    "sweep": "sweeps",
    "escalations": "sweeps",
    "report": "sweeps",
    "attach": "attachments",
    "attachments": "attachments",
    "attachment": "attachments",
    "attachment-keys": "attachments",
    "export": "exports",
    "apr": "exports",
    "retention": "record_retention",
    "retention-batch": "record_retention",
    "approve-retention": "record_retention",
    "refuse-retention": "record_retention",
    "hold": "record_retention",
    "lift-hold": "record_retention",
    "holds": "record_retention",
    "erase": "record_retention",
    "reapply-masking": "record_retention",
}


class Casework(click.Group):
    """The root command: its commands come from their nouns' modules, on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"casework.cli.{COMMANDS[name]}")
        found = module.commands.commands.get(name)
        return found if isinstance(found, click.Command) else None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in COMMANDS and not args[0].startswith("-"):
            raise click.UsageError(
                f"argument COMMAND: invalid choice: {args[0]!r} "
                f"(choose from {', '.join(COMMANDS)})",
                ctx,
            )
        return super().resolve_command(ctx, args)


@click.group(
    cls=Casework,
    help=__doc__.split("\n\n")[0],
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    casework_version(), "--version", prog_name="casework", message="%(prog)s %(version)s"
)
def root() -> None:
    pass


def main(argv: Sequence[str] | None = None) -> None:
    from casework.core.error_log import record_unexpected

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = root.main(args, prog_name="casework", standalone_mode=False)
        if not isinstance(code, int):  # --help, --version
            code = 0
        sys.stdout.flush()
    except click.exceptions.Exit as done:
        code = done.exit_code
    except click.ClickException as exc:
        print(f"{_usage_line(exc)} (see --help)", file=sys.stderr)
        code = exc.exit_code
    except click.exceptions.Abort:
        code = 130
    except Exception as exc:
        from casework.core.prefect_api import HandOverUnconfirmed

        if isinstance(exc, HandOverUnconfirmed):
            print(f"casework: {exc}", file=sys.stderr)
            sys.exit(EXIT_UNCONFIRMED)
        if isinstance(exc, UserError):
            print(f"casework: error: {_as_flag(exc, args)}", file=sys.stderr)
            if exc.end_at_once:
                # Prefect's exit handlers would try to send this process's last logs and
                # events to the server that is gone, and print each failure after our line.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EXIT_ERROR)
        else:
            command = next((a for a in args if not a.startswith("-")), "")
            reference, log = record_unexpected(exc, command)
            print(
                f"casework: error: unexpected {type(exc).__name__} (reference {reference}); "
                f"details for your administrator are in {log}",
                file=sys.stderr,
            )
        code = EXIT_ERROR
    sys.exit(code)


def _usage_line(exc: click.ClickException) -> str:
    """A usage error in one line, in the words the rest of Casework uses."""
    ctx = getattr(exc, "ctx", None)
    prog = ctx.command_path if ctx is not None else "casework"
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):  # `casework`, `casework staff`
        message = "the following arguments are required: COMMAND"
    elif isinstance(exc, click.MissingParameter) and exc.param is not None:
        message = f"the following arguments are required: {_hint(exc.param)}"
    elif isinstance(exc, click.BadParameter) and exc.param is not None:
        message = f"argument {_hint(exc.param)}: {exc.message}"
    elif isinstance(exc, click.NoSuchOption):
        message = f"unrecognized arguments: {exc.option_name}"
    elif isinstance(exc, click.BadOptionUsage) and "requires an argument" in exc.message:
        message = f"argument {exc.option_name}: expected one argument"
    else:
        message = exc.format_message()
    return f"{prog}: error: {message}"


def _hint(param: click.Parameter) -> str:
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.metavar or str(param.name)  # as the usage line names it


def _as_flag(exc: UserError, args: list[str]) -> str:
    """A user error's line with its field named as this command line names it: the option
    of the command that has the field as its parameter (`notice_date`: `--notice-date`),
    or the argument's name."""
    if exc.field is None:
        return str(exc)
    return f"{flag_for(exc.field, args)}: {exc}"


def flag_for(field: str, argv: list[str]) -> str:
    command: click.Command = root
    ctx = click.Context(root, info_name="casework")
    for word in (a for a in argv if not a.startswith("-")):
        if not isinstance(command, click.Group):
            break
        found = command.get_command(ctx, word)
        if found is None:
            break
        command = found
    for param in command.params:
        if param.name == field:
            return _hint(param)
    return field  # not one of this command's inputs: the domain's word
