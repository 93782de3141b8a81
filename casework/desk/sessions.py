"""Desk sign-ins, held in the desk's memory: a random token in an HttpOnly, SameSite=Strict
cookie (Secure behind TLS), the staff member it signed in, their store connection (on
PostgreSQL, as their own role), a CSRF token for every form, and the idle clock. A sign-in
ends at sign-out, after CASEWORK_DESK_IDLE_MINUTES without a request, and when the desk
stops (everyone signs in again); its connection to the store closes with it."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from casework.models.staff import StaffMember

COOKIE = "casework_desk"


@dataclass
class DeskSession:
    token: str
    member: StaffMember
    engine: Engine
    temporary: bool
    last_seen: datetime
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    said: list[str] = field(default_factory=list)  # what the next page tells them, once

    @property
    def staff_id(self) -> str:
        return self.member.id


class Sessions:
    def __init__(self, idle: timedelta, clock: Callable[[], datetime], own_engine: Engine) -> None:
        self.idle, self.clock, self._own = idle, clock, own_engine
        self._held: dict[str, DeskSession] = {}
        self._lock = threading.Lock()

    def start(self, member: StaffMember, engine: Engine, temporary: bool) -> DeskSession:
        held = DeskSession(secrets.token_urlsafe(32), member, engine, temporary, self.clock())
        with self._lock:
            self._held[held.token] = held
        return held

    def find(self, token: str | None) -> tuple[DeskSession | None, DeskSession | None]:
        """(the live sign-in, None), or (None, the sign-in that just ran out), or (None, None)."""
        if not token:
            return None, None
        with self._lock:
            held = self._held.get(token)
            if held is None:
                return None, None
            moment = self.clock()
            if moment - held.last_seen > self.idle:
                del self._held[token]
                self._close(held)
                return None, held
            held.last_seen = moment
            return held, None

    def end(self, held: DeskSession) -> None:
        with self._lock:
            self._held.pop(held.token, None)
        self._close(held)

    def end_all(self) -> None:
        with self._lock:
            ended, self._held = list(self._held.values()), {}
        for held in ended:
            self._close(held)

    def _close(self, held: DeskSession) -> None:
        if held.engine is not self._own:
            held.engine.dispose()

    def __len__(self) -> int:
        return len(self._held)
