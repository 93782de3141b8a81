"""Who is acting, as the system can tell, never as someone declares it.

On PostgreSQL each staff member signs in to the case store as a database role of their own:
the actor is the store's `session_user`. On an embedded SQLite store (one machine, whose
data directory only its owner can open) the actor is the OS login, mapped through the staff
roster (a staff member's `login`). CASEWORK_ACTOR is never believed: on PostgreSQL it must
be the signed-in role; on SQLite it picks among the staff ids the login holds."""

from __future__ import annotations

import getpass
from functools import lru_cache

from sqlalchemy import Engine, text


class NotSignedIn(Exception):
    """The acting person cannot be told, or is not who CASEWORK_ACTOR says."""


def signed_in() -> str:
    """Who acts in this process (asked once per store and declared name)."""
    from casework.settings import get_settings

    settings = get_settings()
    return _signed_in(settings.store_url, settings.actor)


@lru_cache(maxsize=4)
def _signed_in(store_url: str, declared: str | None) -> str:
    from casework.db import engine_for

    return actor_for(engine_for(store_url), declared)


def actor_for(engine: Engine, declared: str | None) -> str:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            who = str(connection.execute(text("SELECT session_user")).scalar())
        if declared is not None and declared != who:
            raise NotSignedIn(
                f"CASEWORK_ACTOR: {declared} is not who you are: the case store signed you "
                f"in as {who}; unset CASEWORK_ACTOR (the store's sign-in says who acts)"
            )
        return who
    return _mapped_login(getpass.getuser(), declared)


def _mapped_login(login: str, declared: str | None) -> str:
    from models.staff import roster

    held = [m.id for m in roster().values() if m.active and login in (m.login, m.id)]
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
