"""Staff and access: the roster as the roster file and the store hold it, and who acts."""

from __future__ import annotations

from functools import lru_cache

from casework.core.db import engine_for, session_scope
from casework.core.identity import actor_for
from casework.core.settings import get_settings
from models import staff
from models.staff import StaffMember


def roster() -> dict[str, StaffMember]:
    """The roster, by staff id (the roster file, with the staff `casework staff add` put in
    the store)."""
    with session_scope(read_only=True) as session:
        return staff.roster(session)


def signed_in() -> str:
    """Who acts in this process (asked once per store and declared name): the store's
    sign-in on PostgreSQL, the OS login as the roster maps it on SQLite; CASEWORK_ACTOR only
    ever chooses among what those allow."""
    settings = get_settings()
    return _signed_in(settings.store_url, settings.actor)


@lru_cache(maxsize=4)
def _signed_in(store_url: str, declared: str | None) -> str:
    return actor_for(engine_for(store_url), declared, lambda login: staff.held_by(roster(), login))
