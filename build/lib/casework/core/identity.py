"""Who is acting, as the system can tell, never as someone declares it.

On PostgreSQL each staff member signs in to the case store as a database role of their own:
the actor is the store's `session_user`. On an embedded SQLite store (one machine, whose
data directory only its owner can open) the actor is the OS login, mapped through the staff
roster (a staff member's `login`). CASEWORK_ACTOR is never believed: on PostgreSQL it must
be the signed-in role; on SQLite it picks among the staff ids the login holds."""

from __future__ import annotations

import getpass
from collections.abc import Callable

from sqlalchemy import Engine, text

from casework.core.errors import UserError


class NotSignedIn(UserError):
    """The acting person cannot be told, or is not who CASEWORK_ACTOR says."""


def actor_for(engine: Engine, declared: str | None, held_by: Callable[[str], list[str]]) -> str:
    """Who acts: on PostgreSQL, the store's sign-in; on SQLite, the staff id the OS login
    holds (`held_by(login)`: the staff ids the roster maps that login to)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            who = str(connection.execute(text("SELECT session_user")).scalar())
        if declared is not None and declared != who:
            raise NotSignedIn(
                f"CASEWORK_ACTOR: {declared} is not who you are: the case store signed you "
                f"in as {who}; unset CASEWORK_ACTOR (the store's sign-in says who acts)"
            )
        return who
    login = getpass.getuser()
    return _mapped_login(login, held_by(login), declared)


def _mapped_login(login: str, held: list[str], declared: str | None) -> str:
    if declared is not None:
        if declared in held:
            return declared
        raise NotSignedIn(
            f"CASEWORK_ACTOR: {declared} is not a staff id your login {login} holds on the "
            f"staff roster (it holds: {', '.join(held) or 'none'}); an administrator maps it "
            f"with `casework staff add {declared} --login {login}`"
        )
    if len(held) == 1:
        return held[0]
    if not held:
        raise NotSignedIn(
            f"your login {login} is not on the staff roster; map it to your staff id with "
            f"`casework staff add STAFF_ID --login {login}`"
        )
    raise NotSignedIn(
        f"your login {login} holds several staff ids ({', '.join(held)}); say which with "
        "CASEWORK_ACTOR"
    )
