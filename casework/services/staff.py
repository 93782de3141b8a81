"""Staff and access: the roster as the roster file and the store hold it, who acts, who
read what, and staff added or deactivated (on PostgreSQL, their database roles too)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.orm import Session

from casework.core.clock import now
from casework.core.db import engine_for, session_scope
from casework.core.errors import InputError
from casework.core.identity import actor_for
from casework.core.settings import get_settings
from casework.models import (
    audit,
    cases,
    staff,
)
from casework.models.access import sees_identity
from casework.models.codes import (
    Program,
    StaffRole,
)
from casework.models.staff import StaffMember


def roster() -> dict[str, StaffMember]:
    """The roster, by staff id (the roster file, with the staff `casework staff add` put in
    the store)."""
    with session_scope(read_only=True) as session:
        return staff.roster(session)


def reads_identity(staff_id: str) -> bool:
    """Whether the staff member reads clients' identity (models/access.py's roles)."""
    member = roster().get(staff_id)
    return member is not None and sees_identity(member)


def signed_in() -> str:
    """Who acts in this process (asked once per store and declared name): the store's
    sign-in on PostgreSQL, the OS login as the roster maps it on SQLite; CASEWORK_ACTOR only
    ever chooses among what those allow."""
    settings = get_settings()
    return _signed_in(settings.store_url, settings.actor, settings.staff_file)


@lru_cache(maxsize=4)
def _signed_in(store_url: str, declared: str | None, roster_file: Path | None) -> str:
    """Asked once per store, declared name and roster (a roster that maps the login to
    other staff ids is another answer)."""
    return actor_for(engine_for(store_url), declared, lambda login: staff.held_by(roster(), login))


def log_access(case_number: str, what: str, staff: str) -> None:
    """Write who reads a client's identity, narrative or document before they read it."""
    with session_scope() as session:
        audit.record_access(session, cases.get_case(session, case_number), staff, what, now())


def supervisor_programs(actor: str, what: str, *roles: StaffRole) -> set[str]:
    """The programs of `actor`, a supervisor (or one of `roles`); anyone else is refused."""
    member = roster().get(actor)
    allowed = (StaffRole.SUPERVISOR, *roles)
    if member is None or not member.active or member.role not in allowed:
        who = " or ".join(r.value for r in allowed)
        raise InputError(f"{what}: a supervisor's work; {actor} is not a {who}")
    return {p.value for p in member.programs}


def programs_of(staff: str | None) -> set[str]:
    member = roster().get(staff or "")
    return {p.value for p in member.programs} if member else set()


def access_log(case_number: str | None, staff: str | None) -> list[AccessOut]:
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number) if case_number else None
        return [
            AccessOut(at=entry.at, staff=entry.staff, case_number=number, what=entry.what)
            for entry, number in audit.accesses(session, case, staff)
        ]


class AccessOut(BaseModel):
    at: datetime
    staff: str
    case_number: str
    what: str


def add_staff(
    staff_id: str,
    role: StaffRole | None,
    programs: list[Program] | None,
    login: str | None,
    actor: str,
) -> StaffMember:
    """Put a staff member on the roster in the store. On PostgreSQL, create their database
    role (member of their staff role's group) too; on SQLite, map their OS login. A staff
    id the roster file lists keeps the file's role and programs."""
    from sqlalchemy import select

    from casework.core.db import default_engine
    from casework.models.orm import StaffProgram, StaffRecord

    role, programs = _role_and_programs(staff_id, role, programs)
    postgresql = default_engine().dialect.name == "postgresql"
    if postgresql and login:
        raise InputError(
            "on PostgreSQL staff sign in as their own database role, not an OS login",
            field="login",
        )
    with session_scope() as session:
        record = session.scalar(select(StaffRecord).where(StaffRecord.staff_id == staff_id))
        if record is None:
            record = StaffRecord(staff_id=staff_id, role=role.value, added_by=actor)
            session.add(record)
        record.role, record.active, record.added_by = role.value, True, actor
        record.login = login or record.login
        session.flush()
        for row in session.scalars(select(StaffProgram).where(StaffProgram.staff_id == staff_id)):
            session.delete(row)
        session.flush()
        session.add_all(StaffProgram(staff_id=staff_id, program=p.value) for p in programs)
        if postgresql:
            _database_role(session, staff_id, role)
        audit.record(session, None, actor, "staff_added", now(), staff=staff_id, role=role.value)
    return StaffMember(id=staff_id, role=role, programs=frozenset(programs), login=record.login)


def _role_and_programs(
    staff_id: str, role: StaffRole | None, programs: list[Program] | None
) -> tuple[StaffRole, list[Program]]:
    """The role and programs to add `staff_id` with: the roster file's, if it lists them."""
    from casework.models.staff import file_roster

    listed = file_roster().get(staff_id)
    if listed is None:
        if role is None or not programs:
            raise InputError(
                f"{staff_id} is not on the roster file: give their role and their programs",
                field="role" if role is None else "programs",
            )
        return role, programs
    kept = sorted(listed.programs)
    if role is not None and role is not listed.role:
        raise InputError(f"{staff_id} is {listed.role.value} on the roster file", field="role")
    if programs and sorted(programs) != kept:
        raise InputError(
            f"{staff_id} works {','.join(p.value for p in kept)} on the roster file",
            field="programs",
        )
    return listed.role, kept


def _database_role(session: Session, staff_id: str, role: StaffRole) -> None:
    """The staff member's own PostgreSQL role, in their staff role's group and no other
    (staff ids are [a-z0-9._-], safe to quote as identifiers). An admin may create roles in
    turn. Adding someone again signs them in again (after `staff deactivate`)."""
    from sqlalchemy import text

    who = f'"{staff_id}"'
    session.execute(
        text(f"DO $$ BEGIN CREATE ROLE {who}; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    )
    session.execute(
        text(f"ALTER ROLE {who} LOGIN {'' if role is StaffRole.ADMIN else 'NO'}CREATEROLE")
    )
    for other in StaffRole:
        if other is not role:
            session.execute(text(f"REVOKE casework_{other.value} FROM {who}"))
    session.execute(text(f"GRANT casework_{role.value} TO {who}"))


def deactivate_staff(staff_id: str, actor: str) -> None:
    """Someone who has left: inactive in the store's roster (old records still name them;
    nothing new is accepted from them); on PostgreSQL their role may no longer sign in."""
    from sqlalchemy import select, text

    from casework.core.db import default_engine
    from casework.models.orm import StaffRecord
    from casework.models.staff import file_roster

    with session_scope() as session:
        record = session.scalar(select(StaffRecord).where(StaffRecord.staff_id == staff_id))
        if record is None:
            if file_roster().get(staff_id) is None:
                raise InputError(f"{staff_id} is not on the roster", field="staff_id")
            raise InputError(
                f"{staff_id} is on the roster file only: set active = false there", field="staff_id"
            )
        record.active = False
        if default_engine().dialect.name == "postgresql":
            session.execute(text(f'ALTER ROLE "{staff_id}" NOLOGIN'))
        audit.record(session, None, actor, "staff_deactivated", now(), staff=staff_id)
