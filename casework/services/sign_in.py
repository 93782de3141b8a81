"""Signing staff in to the desk as themselves: passwords set (by an admin, or by the staff
member), a sign-in checked against the argon2 hash and the lock-out, and, on PostgreSQL,
the store signed in to as the staff member's own database role with what they typed (the
role's password is the same, set in PostgreSQL's own SCRAM form), so that the store's
grants and row-level policies decide what the desk shows them. Sign-ins, sign-outs,
refusals and searches go to the access log, written by the desk's own sign-in to the store."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casework.core import oidc
from casework.core.clock import now
from casework.core.db import engine_for, make_engine, session_scope
from casework.core.errors import InputError, UserError
from casework.core.settings import STAFF_ID_PATTERN, get_settings
from casework.models import audit, passwords
from casework.models.codes import StaffRole
from casework.models.staff import StaffMember
from casework.services.staff import roster

# Who works at the desk: the roles that work cases or watch them. Operators and admins work
# from the command line and the dashboard.
DESK_ROLES = frozenset({StaffRole.CASE_MANAGER, StaffRole.SUPERVISOR, StaffRole.PROGRAM_MANAGER})
# Who watches the caseload on the Prefect dashboard: case managers work at the desk.
DASHBOARD_ROLES = frozenset(
    {StaffRole.SUPERVISOR, StaffRole.PROGRAM_MANAGER, StaffRole.OPERATOR, StaffRole.ADMIN}
)
WRONG = "Staff id or password is not right."
UNKNOWN = "unknown"  # what the access log names for a staff id nobody has


class SignInRefused(UserError):
    """The one sentence a person at the sign-in page is told."""


@dataclass(frozen=True)
class SignedIn:
    member: StaffMember
    temporary: bool  # the password was set by someone else: change it before going on
    engine: Engine  # the store as this staff member (on SQLite, the store itself)


def desk_engine() -> Engine:
    """The desk's own sign-in to the store (the service role on PostgreSQL): for passwords
    and the access log's entries that have no case."""
    return engine_for(get_settings().store_url)


def log(staff: str, what: str) -> None:
    with session_scope(desk_engine()) as session:
        audit.record_access(session, None, staff, what, now())


def set_password(
    staff_id: str, password: str, actor: str, *, temporary: bool, own: Engine | None = None
) -> None:
    """`staff_id`'s desk password (and on PostgreSQL their role's), set by an admin or, for
    their own, by themselves. Set by someone else it is temporary: changed at first sign-in.
    `own`: the staff member's own sign-in to the store (the desk's, for a change of their
    own password), through which their role changes its own password; else the command's
    sign-in does (an admin's role may change others')."""
    members = roster()
    member = members.get(staff_id)
    if member is None or not member.active:
        raise InputError(
            f"{staff_id} is not an active staff member on the roster", field="staff_id"
        )
    setter = members.get(actor)
    # An admin sets anyone's; anyone their own. Someone who is no staff member at all is the
    # store's owner: on SQLite the data directory's (`os.LOGIN`, who alone can open it), on
    # PostgreSQL a role the store itself lets change roles' passwords, or refuses.
    if actor != staff_id and setter is not None and setter.role is not StaffRole.ADMIN:
        raise InputError(
            f"setting {staff_id}'s password is an admin's work; {actor} may set their own only",
            field="staff_id",
        )
    try:
        passwords.check_new(password, staff_id)
    except passwords.PasswordRefused as exc:
        raise InputError(str(exc), field="password") from None
    with session_scope(desk_engine()) as session:
        passwords.set_password(session, staff_id, password, actor, now(), temporary=temporary)
        if session.get_bind().dialect.name == "postgresql":
            if own is None:
                _role_password(session, staff_id, password)
            else:
                with session_scope(own) as theirs:
                    _role_password(theirs, staff_id, password)
        audit.record(session, None, actor, "password_set", now(), staff=staff_id)


def _role_password(session: Session, staff_id: str, password: str) -> None:
    """The staff member's database role gets the same password, hashed here (SCRAM-SHA-256,
    by libpq) so that the statement never carries it in the clear."""
    verifier = _verifier(session, staff_id, password)
    if not re.fullmatch(r"[A-Za-z0-9$:+/=-]+", verifier):
        raise UserError("PostgreSQL's password hash came back in an unexpected form")
    # The driver's own statement: the verifier's colons are not bind parameters.
    session.connection().exec_driver_sql(f"ALTER ROLE \"{staff_id}\" PASSWORD '{verifier}'")


def _verifier(session: Session, staff_id: str, password: str) -> str:
    """The role password as PostgreSQL keeps it (SCRAM-SHA-256), hashed here by libpq."""
    raw = session.connection().connection.driver_connection
    return str(
        raw.pgconn.encrypt_password(  # type: ignore[union-attr]
            password.encode(), staff_id.encode(), b"scram-sha-256"
        ).decode()
    )


def sign_in(staff_id: str, password: str) -> SignedIn:
    """Check a sign-in; every outcome is in the access log. Refused: one sentence."""
    settings = get_settings()
    staff_id = staff_id.strip().lower()
    member = roster().get(staff_id) if re.match(STAFF_ID_PATTERN, staff_id) else None
    with session_scope(desk_engine()) as session:
        tried = passwords.attempt(
            session,
            staff_id if member else "",
            password,
            now(),
            failures_allowed=settings.desk_lockout_failures,
            lockout=timedelta(minutes=settings.desk_lockout_minutes),
        )
        audit.record_access(
            session, None, staff_id if member else UNKNOWN, tried.verdict.value, now()
        )
        if tried.locked_now:
            audit.record_access(session, None, staff_id, "sign_in_locked_out", now())
    if tried.verdict is passwords.Verdict.LOCKED or tried.locked_now:
        raise SignInRefused(
            f"Too many wrong passwords: signing in as {staff_id} is locked for "
            f"{settings.desk_lockout_minutes} minutes. A supervisor or admin can help."
        )
    if tried.verdict is not passwords.Verdict.SIGNED_IN or member is None:
        raise SignInRefused(WRONG)
    if not member.active or member.role not in DESK_ROLES:
        log(staff_id, "sign_in_not_desk_role")
        raise SignInRefused(_not_desk(member))
    return SignedIn(member, tried.temporary, as_staff(staff_id, password))


def confirm(staff_id: str, password: str) -> None:
    """A signed-in staff member's own password, asked again before it is changed (a wrong
    one counts towards the lock-out, as at sign-in)."""
    settings = get_settings()
    with session_scope(desk_engine()) as session:
        tried = passwords.attempt(
            session,
            staff_id,
            password,
            now(),
            failures_allowed=settings.desk_lockout_failures,
            lockout=timedelta(minutes=settings.desk_lockout_minutes),
        )
        if tried.verdict is not passwords.Verdict.SIGNED_IN:
            audit.record_access(session, None, staff_id, "password_change_refused", now())
    if tried.verdict is not passwords.Verdict.SIGNED_IN:
        raise SignInRefused("Your current password is not right.")


def as_staff(staff_id: str, password: str) -> Engine:
    """The store as `staff_id`: on PostgreSQL their own role, signed in with their password
    (the store checks it too, where its pg_hba.conf asks for one); on SQLite, the store."""
    url = make_url(get_settings().store_url)
    if url.get_backend_name() != "postgresql":
        return desk_engine()
    engine = make_engine(
        url.set(username=staff_id, password=password).render_as_string(hide_password=False),
        pool_size=2,
        max_overflow=2,
    )
    try:
        with engine.connect() as connection:
            who = connection.execute(text("SELECT session_user")).scalar()
    except DBAPIError as exc:
        engine.dispose()
        log(staff_id, "sign_in_store_refused")
        said = " ".join(str(exc.orig).split()).rsplit("FATAL: ", 1)[-1]
        raise SignInRefused(
            f"The case store would not sign you in as {staff_id} ({said}); an admin sets "
            f"your password again with `casework staff password {staff_id}`."
        ) from None
    if who != staff_id:
        engine.dispose()
        raise SignInRefused(f"The case store signed you in as {who}, not {staff_id}.")
    return engine


# -- single sign-on ------------------------------------------------------------------------


def sso_client(back_to: str | None = None) -> oidc.Client | None:
    """The desk's registration at the agency's OpenID provider, when one is configured;
    the provider sends the browser `back_to` (the desk's callback unless another's)."""
    settings = get_settings()
    if not settings.sso_issuer:
        return None
    assert settings.sso_client_id  # the settings insist on all three
    assert settings.sso_client_secret
    return oidc.Client(
        settings.sso_issuer,
        settings.sso_client_id,
        settings.sso_client_secret,
        back_to or f"{settings.desk_address}/sign-in/callback",
    )


def named_by(claims: dict[str, object]) -> tuple[str, StaffMember | None]:
    """What the provider names the person by (the configured claim), and the roster's
    staff member it is: the one whose `sso` it is, else the one whose staff id it is."""
    given = claims.get(get_settings().sso_claim)
    said = given.strip().lower() if isinstance(given, str) else ""
    members = roster()
    for member in members.values():
        if member.sso is not None and member.sso.strip().lower() == said:
            return said, member
    return said, members.get(said) if said else None


def sign_on(client: oidc.Client, identity: oidc.Identity) -> SignedIn:
    """A person the provider signed in, let in to the desk as the staff member the roster
    says they are (on PostgreSQL, reading the store as their own role), or refused in one
    sentence; every outcome is in the access log."""
    member = admitted(identity, DESK_ROLES, "sign_in")
    return SignedIn(member, False, _as_signed_on(client, member.id))


def admitted(identity: oidc.Identity, roles: frozenset[StaffRole], logged_as: str) -> StaffMember:
    """The roster's staff member the provider signed in, if they are active in one of
    `roles`; else refused in one sentence. Logged (`{logged_as}_sso`, or why not) under the
    staff id, or `unknown`: never what the provider called them."""
    said, member = named_by(identity.claims)
    if member is None:
        log(UNKNOWN, "sso_not_on_roster")
        raise SignInRefused(
            f"The sign-in provider signed you in, but nobody on the staff roster is "
            f"{said or 'named by its ' + get_settings().sso_claim + ' claim'}; an admin "
            "adds you (its `sso` entry names you as the provider does)."
        )
    if not member.active or member.role not in roles:
        desk = roles is DESK_ROLES
        log(member.id, f"{logged_as}_not_{'desk' if desk else 'dashboard'}_role")
        raise SignInRefused(_not_desk(member) if desk else _not_dashboard(member))
    log(member.id, f"{logged_as}_sso")
    return member


def _not_dashboard(member: StaffMember) -> str:
    return (
        "The dashboard is for supervisors, program managers, operators and admins; "
        f"{member.id} is "
        f"{'no longer active' if not member.active else member.role.value.replace('_', ' ')}"
        " and works at the desk."
    )


def _not_desk(member: StaffMember) -> str:
    return (
        f"The desk is for case managers, supervisors and program managers; {member.id} is "
        f"{'no longer active' if not member.active else member.role.value.replace('_', ' ')}"
        " and works from the command line and the dashboard."
    )


def _as_signed_on(client: oidc.Client, staff_id: str) -> Engine:
    """On PostgreSQL, the store as the staff member's own role: the store function of
    migration 0023 gives the role a password the desk derives from its registration's secret
    (the same on every desk machine, so their sign-ins do not undo each other), and the
    desk signs in with it. On SQLite, the store."""
    url = make_url(get_settings().store_url)
    if url.get_backend_name() != "postgresql":
        return desk_engine()
    derived = hmac.new(client.client_secret.encode(), staff_id.encode(), "sha256").hexdigest()
    with session_scope(desk_engine()) as session:
        verifier = _verifier(session, staff_id, derived)
        try:
            with session.begin_nested():
                session.execute(
                    text("SELECT casework_sso_password(:staff, :verifier)"),
                    {"staff": staff_id, "verifier": verifier},
                )
        except DBAPIError as exc:
            said = " ".join(str(exc.orig).split()).split("CONTEXT:")[0]
            audit.record_access(session, None, staff_id, "sign_in_store_refused", now())
            raise SignInRefused(
                f"The case store would not let the desk sign you in as {staff_id} ({said})."
            ) from None
    return as_staff(staff_id, derived)


def still_here(member_id: str, roles: frozenset[StaffRole] = DESK_ROLES) -> StaffMember | None:
    """The staff member as the roster has them now, if they may still work in `roles`."""
    member = roster().get(member_id)
    if member is None or not member.active or member.role not in roles:
        return None
    return member
