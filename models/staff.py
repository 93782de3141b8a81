"""The staff roster: staff id, role, programs, active. Read from one TOML file
(CASEWORK_STAFF_FILE, or the shipped `staff.toml`) and checked at load against the program
configuration: every program's supervisor and program manager are on it, in that role.

Who may be named case manager at intake, and who may submit a case's stage forms (the
Resume dialog offers exactly these), is read from here."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.core.settings import LOGIN_PATTERN, get_settings
from casework.models.codes import Program, RecipientRole, StaffRole
from casework.models.forms import StaffId
from casework.models.orm import StaffProgram, StaffRecord
from casework.models.programs import ProgramError, programs, read_toml

DEFAULT_STAFF_FILE = Path(__file__).with_name("staff.toml")
# Casework itself, acting on a schedule (the reassessment cadence sends due cases back to
# assessment): recorded as the actor, never offered in a dialog, not on the roster.
SWEEP_ACTOR = "casework.sweep"
SERVICE_ACCOUNTS = frozenset({SWEEP_ACTOR})


class StaffMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StaffId
    role: StaffRole
    programs: frozenset[Program] = Field(min_length=1)
    active: bool = True
    # The OS login that acts as this staff member on an embedded (SQLite) store.
    login: str | None = Field(default=None, pattern=LOGIN_PATTERN)
    # What the agency's OpenID provider names this staff member by, in the claim
    # CASEWORK_SSO_CLAIM says (an email, a user name); without it, the staff id itself.
    sso: str | None = Field(default=None, min_length=1, max_length=254)


class NotOnRoster(UserError, ValueError):
    """A staff id the roster does not have in that program (or role), or not active."""


def roster(session: Session) -> dict[str, StaffMember]:
    """The roster, by staff id: the roster file, with the staff added in the store by
    `casework staff add` (their logins, and staff the file does not list)."""
    members = dict(file_roster())
    for added in stored_staff(session):
        members[added.id] = added
    return members


def file_roster() -> dict[str, StaffMember]:
    """The configured roster file's staff (CASEWORK_STAFF_FILE, or the shipped one)."""
    return load_roster(get_settings().staff_file or DEFAULT_STAFF_FILE)


def stored_staff(session: Session) -> list[StaffMember]:
    """The staff `casework staff add` put in the store (none where it has no store yet)."""
    try:
        with session.begin_nested():  # a store not migrated yet fails this part alone
            programs: dict[str, set[str]] = {}
            for row in session.scalars(select(StaffProgram)):
                programs.setdefault(row.staff_id, set()).add(row.program)
            return [
                StaffMember(
                    id=row.staff_id,
                    role=StaffRole(row.role),
                    programs=frozenset(Program(p) for p in programs.get(row.staff_id, ())),
                    active=row.active,
                    login=row.login,
                )
                for row in session.scalars(select(StaffRecord).order_by(StaffRecord.id))
            ]
    except DBAPIError:  # a store not migrated yet (`casework form` needs none)
        return []


def load_roster(path: Path = DEFAULT_STAFF_FILE) -> dict[str, StaffMember]:
    """The roster file's staff, read again whenever the file changes: an admin's edit (a
    leaver's `active = false`) holds from the next request of a desk that is running."""
    try:
        found = path.stat()
        version = (found.st_mtime_ns, found.st_size)
    except OSError:
        version = (0, 0)  # not there: read_toml says so, in one line
    return _load_roster(path, version)


@lru_cache(maxsize=8)
def _load_roster(path: Path, _version: tuple[int, int]) -> dict[str, StaffMember]:
    where = f"CASEWORK_STAFF_FILE: {path}"
    raw = read_toml(path, "CASEWORK_STAFF_FILE")
    members: dict[str, StaffMember] = {}
    for index, entry in enumerate(raw.get("staff", [])):
        try:
            member = StaffMember.model_validate(entry)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = "".join(f".{part}" for part in error["loc"])
            raise ProgramError(f"{where}: staff[{index}]{field}: {error['msg']}") from None
        if member.id in members:
            raise ProgramError(f"{where}: staff id {member.id} is listed twice")
        members[member.id] = member
    for program, config in programs().items():
        for role, staff_id in (
            (RecipientRole.SUPERVISOR, config.supervisor),
            (RecipientRole.PROGRAM_MANAGER, config.program_manager),
        ):
            holder = members.get(staff_id)
            if holder is None or holder.role != role.value or program not in holder.programs:
                raise ProgramError(
                    f"{where}: {program.value}'s {role.value} {staff_id} (programs.toml) "
                    f"is not on the roster as {role.value} of {program.value}"
                )
    return members


def active_staff(members: Mapping[str, StaffMember], program: Program | str) -> list[str]:
    """The staff ids that may act on a case of `program`, in roster order."""
    program = Program(program)
    return [m.id for m in members.values() if m.active and program in m.programs]


def case_managers(members: Mapping[str, StaffMember], program: Program | str) -> list[str]:
    """The program's active case managers, in roster order."""
    program = Program(program)
    return [
        m.id
        for m in members.values()
        if m.active and program in m.programs and m.role is StaffRole.CASE_MANAGER
    ]


def held_by(members: Mapping[str, StaffMember], login: str) -> list[str]:
    """The active staff ids an OS login acts as (its own mapping, or a staff id equal to it)."""
    return [m.id for m in members.values() if m.active and login in (m.login, m.id)]


def check_staff(
    members: Mapping[str, StaffMember],
    staff_id: str,
    program: Program | str,
    role: RecipientRole | None = None,
) -> None:
    """Refuse a staff id that is not active staff of `program` (in `role`, if given)."""
    program = Program(program)
    if staff_id in SERVICE_ACCOUNTS and role is None:
        return
    member = members.get(staff_id)
    as_role = f" {role.value}" if role else " staff"
    if (
        member is None
        or not member.active
        or program not in member.programs
        or (role is not None and member.role != role.value)
    ):
        state = "" if member is None or member.active else " (inactive)"
        raise NotOnRoster(
            f"{staff_id}{state} is not an active{as_role.replace('_', ' ')} of {program.value} "
            "on the staff roster (CASEWORK_STAFF_FILE, default models/staff.toml)"
        )


SERVICE_GROUP = "casework_service"


def membership_problems(session: Any) -> list[str]:
    """On PostgreSQL, database roles whose memberships the roster does not account for,
    one line each: a staff member in the service role (which reads every client) or in a
    staff group other than their role's (roles are the cluster's: one not on this store's
    roster may be another store's). A GRANT made by hand (an admin may create roles, and so grant
    them) shows here; `casework status` reports it."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return []
    groups = [f"casework_{role.value}" for role in StaffRole]
    rows = session.execute(
        text(
            "SELECT m.rolname, g.rolname FROM pg_auth_members a "
            "JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.roleid "
            "WHERE g.rolname = ANY(:groups) ORDER BY 1, 2"
        ),
        {"groups": [*groups, SERVICE_GROUP]},
    ).all()
    rostered = {
        row[0]: (row[1], row[2])
        for row in session.execute(text("SELECT staff_id, role, active FROM staff"))
    }
    problems = []
    for member, group in rows:
        if member in groups or member == "casework_staff":
            continue  # the groups themselves are members of casework_staff
        on_roster = rostered.get(member)
        if group == SERVICE_GROUP:
            if on_roster is not None:
                problems.append(
                    f"role {member}: a staff member in {SERVICE_GROUP}, which reads every "
                    f'client; `REVOKE {SERVICE_GROUP} FROM "{member}"`'
                )
        elif on_roster is not None and group != f"casework_{on_roster[0]}":
            problems.append(
                f"role {member}: in {group}, but the roster says {on_roster[0]}; "
                f"`casework staff add {member} --role {on_roster[0]} …` sets it right"
            )
    return problems
