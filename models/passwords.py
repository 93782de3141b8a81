"""Desk passwords: argon2id hashes in the store, and the failures that lock a staff member
out for a while. What a sign-in found is returned, never raised: the desk writes it to the
access log and says the same one sentence for every refusal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models.orm import StaffPassword

# argon2-cffi's defaults (RFC 9106's second recommended option, argon2id, 64 MiB, 3 passes).
_HASHER = PasswordHasher()
MIN_LENGTH = 12
MAX_LENGTH = 200


class PasswordRefused(UserError):
    """A new password that will not do (said in one line)."""


def check_new(password: str, staff_id: str) -> None:
    """A new password: long enough to resist guessing (NIST SP 800-63B: length, no
    composition rules), not the staff id, one line."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"a password has at most {MAX_LENGTH} characters")
    if "\n" in password or "\r" in password:
        raise PasswordRefused("a password is one line")
    if staff_id.lower() in password.lower():
        raise PasswordRefused("a password must not contain the staff id")


def set_password(
    session: Session, staff_id: str, password: str, by: str, at: datetime, *, temporary: bool
) -> None:
    """Written without reading the row back: an admin may set a password on PostgreSQL
    without being allowed to read anyone's hash."""
    check_new(password, staff_id)
    values = {
        "hash": _HASHER.hash(password),
        "set_by": by,
        "set_at": at,
        "temporary": temporary,
        "failures": 0,
        "locked_until": None,
        "updated": at,
    }
    done = session.execute(
        update(StaffPassword).where(StaffPassword.staff_id == staff_id).values(**values)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        session.add(StaffPassword(staff_id=staff_id, **values))
        session.flush()


class Verdict(Enum):
    SIGNED_IN = "sign_in"
    WRONG = "sign_in_refused"  # unknown staff id, no password set, or the wrong password
    LOCKED = "sign_in_locked"  # locked out: the password was not even checked


@dataclass(frozen=True)
class Attempt:
    verdict: Verdict
    temporary: bool = False  # signed in with a password someone else set: change it now
    locked_now: bool = False  # this failure locked the account


# A hash to verify against when the staff id has no password, so that a wrong id takes as
# long to refuse as a wrong password (no telling which staff ids exist by timing).
_DECOY = _HASHER.hash("casework decoy password, never anyone's")


def attempt(
    session: Session,
    staff_id: str,
    password: str,
    at: datetime,
    *,
    failures_allowed: int,
    lockout: timedelta,
) -> Attempt:
    """Check one sign-in (the row locked for it, so that parallel guesses all count)."""
    row = session.scalar(
        select(StaffPassword).where(StaffPassword.staff_id == staff_id).with_for_update()
    )
    if row is None:
        _verify(_DECOY, password)
        return Attempt(Verdict.WRONG)
    if row.locked_until is not None and row.locked_until > at:
        return Attempt(Verdict.LOCKED)
    if not _verify(row.hash, password):
        row.failures += 1
        if row.failures >= failures_allowed:
            row.failures, row.locked_until = 0, at + lockout
            return Attempt(Verdict.WRONG, locked_now=True)
        return Attempt(Verdict.WRONG)
    row.failures, row.locked_until = 0, None
    if _HASHER.check_needs_rehash(row.hash):
        row.hash = _HASHER.hash(password)
    return Attempt(Verdict.SIGNED_IN, temporary=row.temporary)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def has_password(session: Session, staff_id: str) -> bool:
    return (
        session.scalar(select(StaffPassword.id).where(StaffPassword.staff_id == staff_id))
        is not None
    )
