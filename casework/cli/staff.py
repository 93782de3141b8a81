"""Staff and access: the roster, who read what, and a program's webhook secret."""

from __future__ import annotations

import click

from casework.cli.options import (
    JSON,
    LOGIN,
    STAFF_ID,
    Programs,
    choice_of,
    command,
    emit,
    signed_in,
)
from casework.models.codes import Program, StaffRole

commands = click.Group()


@commands.group("staff", help="staff who may sign in", short_help="staff who may sign in")
def staff() -> None:
    pass


@command(
    staff,
    "add",
    "put a staff member on the roster: on PostgreSQL their database role and grants, on "
    "SQLite the OS login that acts as them",
    noun="staff",
)
@click.argument("staff_id", type=STAFF_ID)
@click.option("--role", type=choice_of(StaffRole), help="(default: the roster file's)")
@click.option(
    "--programs",
    type=Programs(),
    metavar="P,P",
    help="comma-separated programs (default: the roster file's)",
)
@click.option("--login", type=LOGIN, help="SQLite only: the OS login")
def add(staff_id: str, role: str | None, programs: list[Program] | None, login: str | None) -> int:
    from casework import services

    member = services.staff.add_staff(
        staff_id, StaffRole(role) if role else None, programs, login, signed_in_or_owner()
    )
    held = ", ".join(sorted(p.value for p in member.programs))
    signs_in = f"; OS login {member.login} acts as them" if member.login else ""
    print(f"{member.id}: {member.role.value} of {held}{signs_in}")
    return 0


@command(
    staff,
    "deactivate",
    "someone who has left: kept in old records, no longer accepted; on PostgreSQL their "
    "database role can no longer sign in",
    noun="staff",
)
@click.argument("staff_id", type=STAFF_ID)
def deactivate(staff_id: str) -> int:
    from casework import services

    services.staff.deactivate_staff(staff_id, signed_in_or_owner())
    print(f"{staff_id}: inactive")
    return 0


@command(
    staff,
    "password",
    "set a staff member's desk password (an admin, for anyone: temporary, changed at first "
    "sign-in; anyone, for their own); on PostgreSQL their database role's too",
    noun="staff",
)
@click.argument("staff_id", type=STAFF_ID)
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="read the password from standard input's first line, not from a prompt",
)
@click.option(
    "--generate",
    is_flag=True,
    help="make a temporary password, print it once, to hand to the staff member",
)
def password(staff_id: str, from_stdin: bool, generate: bool) -> int:
    import secrets
    import sys

    from casework import services
    from casework.cli.options import CliError

    if from_stdin and generate:
        raise CliError("--stdin and --generate: give one of them, not both")
    if generate:
        given = "-".join(secrets.token_urlsafe(6) for _ in range(3))
    elif from_stdin:
        given = sys.stdin.readline().rstrip("\n")
    else:
        given = click.prompt(f"New password for {staff_id}", hide_input=True)
        if click.prompt("Again", hide_input=True) != given:
            raise CliError("the two passwords are not the same; nothing changed")
    actor = signed_in_or_owner()
    services.sign_in.set_password(staff_id, given, actor, temporary=actor != staff_id)
    if generate:
        print(given)
    when = " (temporary: they choose their own at first sign-in)" if actor != staff_id else ""
    print(f"{staff_id}: desk password set{when}", file=sys.stderr if generate else sys.stdout)
    return 0


@command(staff, "list", "the roster: file and store", noun="staff")
def listing() -> int:
    from casework.services.staff import roster

    for member in roster().values():
        held = ",".join(sorted(p.value for p in member.programs))
        state = "" if member.active else "  (inactive)"
        login = f"  login {member.login}" if member.login else ""
        print(f"{member.id:<20} {member.role.value:<16} {held}{login}{state}")
    return 0


def signed_in_or_owner() -> str:
    """Who adds staff: the signed-in staff member; on a SQLite store nobody is mapped yet,
    the data directory's owner (its OS login), who alone can open it."""
    from casework.core.identity import NotSignedIn
    from casework.core.settings import login_as_staff_id

    try:
        return signed_in()
    except NotSignedIn:
        from casework.core.db import default_engine

        if default_engine().dialect.name == "postgresql":
            raise
        return f"os.{login_as_staff_id()}"[:40]


@command(
    commands,
    "access-log",
    "who read which client's identity, narrative or document, newest first",
)
@click.option("--case", "case_number")
@click.option("--staff", "staff_id", type=STAFF_ID)
@JSON
def access_log(case_number: str | None, staff_id: str | None, as_json: bool) -> int:
    from casework import services

    rows = services.staff.access_log(case_number, staff_id)
    emit(
        [r.model_dump(mode="json") for r in rows],
        as_json,
        lambda: (
            "\n".join(
                f"{r.at:%Y-%m-%d %H:%M:%S}Z  {r.staff:<16} {r.case_number}  {r.what}" for r in rows
            )
            or "no reads logged"
        ),
    )
    return 0


@command(
    commands,
    "webhook-secret",
    "print the secret a program's webhook POSTs are signed with (made on first use)",
)
@click.argument("program", type=choice_of(Program))
@click.option("--rotate", is_flag=True, help="replace it: the receiver must take the new one")
def webhook_secret(program: str, rotate: bool) -> int:
    from casework.core.credentials import webhook_secret as secret

    print(secret(program, rotate=rotate))
    return 0
