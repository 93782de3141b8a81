"""Who sees which case, as Python says it for the desk on SQLite. On PostgreSQL the store's
row-level policies say it (migration 0007's `casework_sees`), and the desk asks nothing of
this module there: the two are kept equal by tests/desk/test_access.py, which asks both."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, true

from casework.models.codes import StaffRole
from casework.models.orm import Case
from casework.models.staff import StaffMember

# Roles that read a client's identity, narratives and documents (the grants of 0007).
IDENTITY_ROLES = frozenset({StaffRole.CASE_MANAGER, StaffRole.SUPERVISOR})
EVERY_CASE = frozenset({StaffRole.OPERATOR, StaffRole.ADMIN})


def sees_identity(member: StaffMember) -> bool:
    return member.active and member.role in IDENTITY_ROLES


def seen_cases(member: StaffMember) -> ColumnElement[bool]:
    """The cases `member` sees, as a filter on Case: their own (a case manager), their
    programs' (a supervisor, a program manager), every one (an operator, an admin)."""
    if not member.active:
        return false()
    if member.role in EVERY_CASE:
        return true()
    if member.role is StaffRole.CASE_MANAGER:
        return Case.case_manager == member.id
    return Case.program.in_(sorted(p.value for p in member.programs))
