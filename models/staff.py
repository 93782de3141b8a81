"""The staff roster: staff id, role, programs, active. Read from one TOML file
(CASEWORK_STAFF_FILE, or the shipped `staff.toml`) and checked at load against the program
configuration: every program's supervisor and program manager are on it, in that role.

Who may be named case manager at intake, and who may submit a case's stage forms (the
Resume dialog offers exactly these), is read from here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.codes import Program, RecipientRole
from models.forms import StaffId
from models.programs import ProgramError, programs, read_toml

DEFAULT_STAFF_FILE = Path(__file__).with_name("staff.toml")
# Casework itself, acting on a schedule (the reassessment cadence sends due cases back to
# assessment): recorded as the actor, never offered in a dialog, not on the roster.
SWEEP_ACTOR = "casework.sweep"
SERVICE_ACCOUNTS = frozenset({SWEEP_ACTOR})


class StaffMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StaffId
    role: RecipientRole
    programs: frozenset[Program] = Field(min_length=1)
    active: bool = True


class NotOnRoster(ValueError):
    """A staff id the roster does not have in that program (or role), or not active."""


def roster() -> dict[str, StaffMember]:
    """The configured roster, by staff id."""
    from casework.settings import get_settings

    return load_roster(get_settings().staff_file or DEFAULT_STAFF_FILE)


@lru_cache(maxsize=4)
def load_roster(path: Path = DEFAULT_STAFF_FILE) -> dict[str, StaffMember]:
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
            if holder is None or holder.role is not role or program not in holder.programs:
                raise ProgramError(
                    f"{where}: {program.value}'s {role.value} {staff_id} (programs.toml) "
                    f"is not on the roster as {role.value} of {program.value}"
                )
    return members


def active_staff(program: Program | str) -> list[str]:
    """The staff ids that may act on a case of `program`, in roster order."""
    program = Program(program)
    return [m.id for m in roster().values() if m.active and program in m.programs]


def case_managers(program: Program | str) -> list[str]:
    """The program's active case managers, in roster order."""
    program = Program(program)
    return [
        m.id
        for m in roster().values()
        if m.active and program in m.programs and m.role is RecipientRole.CASE_MANAGER
    ]


def check_staff(staff_id: str, program: Program | str, role: RecipientRole | None = None) -> None:
    """Refuse a staff id that is not active staff of `program` (in `role`, if given)."""
    program = Program(program)
    if staff_id in SERVICE_ACCOUNTS and role is None:
        return
    member = roster().get(staff_id)
    as_role = f" {role.value}" if role else " staff"
    if (
        member is None
        or not member.active
        or program not in member.programs
        or (role is not None and member.role is not role)
    ):
        state = "" if member is None or member.active else " (inactive)"
        raise NotOnRoster(
            f"{staff_id}{state} is not an active{as_role.replace('_', ' ')} of {program.value} "
            "on the staff roster (CASEWORK_STAFF_FILE, default models/staff.toml)"
        )
