"""Desk sign-ins, held in the desk's memory: a random token in an HttpOnly, SameSite=Strict
cookie (Secure behind TLS), the staff member it signed in, their store connection (on
PostgreSQL, as their own role), a CSRF token for every form, and the clocks. A sign-in
ends at sign-out, after CASEWORK_DESK_IDLE_MINUTES without a request, after
CASEWORK_DESK_SESSION_HOURS however busy, and when the desk stops (everyone signs in
again); its connection to the store closes with it. A sign-in through the agency's OpenID
provider also keeps the provider's tokens, to ask it at each request whether the person is
still signed in there, and to end the sign-in there too at sign-out."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine

from casework import services
from casework.core import oidc
from casework.core.oidc import Started
from casework.core.settings import get_settings
from casework.models.codes import StaffRole
from casework.models.staff import StaffMember

COOKIE = "casework_desk"


@dataclass(frozen=True)
class Provided:
    """What the OpenID provider gave a sign-in (never shown, never logged)."""

    access_token: str
    id_token: str


@dataclass
class DeskSession:
    token: str
    member: StaffMember
    engine: Engine
    temporary: bool
    last_seen: datetime
    started: datetime
    provided: Provided | None = None
    ended: str = ""  # why it ran out: "idle" or "lasted"
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    said: list[str] = field(default_factory=list)  # what the next page tells them, once
    kept: KeptForm | None = None  # a form from before a sign-in ran out, to send on

    @property
    def staff_id(self) -> str:
        return self.member.id


class Sessions:
    """The live sign-ins. Each request first ends every sign-in idle past `idle` (its
    connections to the store close, and `ran_out` is told, once): one left open in a
    closed browser holds nothing for long."""

    def __init__(
        self,
        idle: timedelta,
        lasting: timedelta,
        clock: Callable[[], datetime],
        own_engine: Engine,
        ran_out: Callable[[DeskSession], None],
    ) -> None:
        self.idle, self.lasting, self.clock = idle, lasting, clock
        self._own, self._ran_out = own_engine, ran_out
        self._held: dict[str, DeskSession] = {}
        self._gone: dict[str, DeskSession] = {}  # ran out, not yet told to its browser
        self._lock = threading.Lock()

    def start(
        self,
        member: StaffMember,
        engine: Engine,
        temporary: bool,
        provided: Provided | None = None,
    ) -> DeskSession:
        self._sweep()
        moment = self.clock()
        held = DeskSession(
            secrets.token_urlsafe(32), member, engine, temporary, moment, moment, provided
        )
        with self._lock:
            self._held[held.token] = held
        return held

    def find(self, token: str | None) -> tuple[DeskSession | None, DeskSession | None]:
        """(the live sign-in, None), or (None, the sign-in that ran out), or (None, None)."""
        self._sweep()
        if not token:
            return None, None
        with self._lock:
            held = self._held.get(token)
            if held is None:
                return None, self._gone.pop(token, None)
            held.last_seen = self.clock()
            return held, None

    def _sweep(self) -> None:
        moment = self.clock()
        with self._lock:
            ended = []
            for held in self._held.values():
                if moment - held.started > self.lasting:
                    held.ended = "lasted"
                elif moment - held.last_seen > self.idle:
                    held.ended = "idle"
                else:
                    continue
                ended.append(held)
            for held in ended:
                del self._held[held.token]
                self._gone[held.token] = held
            for token in [t for t, h in self._gone.items() if moment - h.last_seen > FORGOTTEN]:
                del self._gone[token]
        for held in ended:
            self._close(held)
            self._ran_out(held)

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


def configured(clock: Callable[[], datetime], ran_out_as: str) -> Sessions:
    """Sign-ins on the settings' clocks (idle minutes, hours), held with the desk's own
    sign-in to the store; one that runs out is logged as `ran_out_as`."""
    settings = get_settings()
    return Sessions(
        timedelta(minutes=settings.desk_idle_minutes),
        timedelta(hours=settings.desk_session_hours),
        clock,
        services.sign_in.desk_engine(),
        lambda held: services.sign_in.log(held.staff_id, ran_out_as),
    )


FORGOTTEN = timedelta(days=1)  # a browser back after this is simply signed out
ON_ITS_WAY = timedelta(minutes=10)  # how long a sign-in at the provider may take


class Pending:
    """Sign-ins gone to the OpenID provider and not back yet, by their `state`: what must
    match when the browser comes back (the nonce, the PKCE verifier) stays here."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._held: dict[str, tuple[Started, str, datetime]] = {}
        self._lock = threading.Lock()

    def keep(self, started: Started, going: str = "/") -> None:
        """Kept under its state, with the page the person was going to (a path here)."""
        with self._lock:
            self._forget_old()
            self._held[started.state] = (started, going, self.clock())

    def take(self, state: str) -> tuple[Started, str] | None:
        with self._lock:
            self._forget_old()
            found = self._held.pop(state, None)
        return (found[0], found[1]) if found else None

    def _forget_old(self) -> None:
        moment = self.clock()
        for state in [s for s, (_, _, at) in self._held.items() if moment - at > ON_ITS_WAY]:
            del self._held[state]


class Failures:
    """Sign-ins through the provider that failed on their way back (not started here, or
    too late; refused by the provider; a code or ID token that would not do), counted by
    the address they came from. CASEWORK_DESK_LOCKOUT_FAILURES of them in a row lock that
    address out of signing on for CASEWORK_DESK_LOCKOUT_MINUTES, as wrong passwords lock a
    staff id out of the desk; a failure older than that is forgotten. Someone the provider
    vouched for is not a failure, whatever the roster then says of them."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        settings = get_settings()
        self.clock, self.allowed = clock, settings.desk_lockout_failures
        self.lockout = timedelta(minutes=settings.desk_lockout_minutes)
        self.sentence = (
            "Too many sign-ins from here failed: signing in from here is locked for "
            f"{settings.desk_lockout_minutes} minutes. A supervisor or admin can help."
        )
        self._failed: dict[str, tuple[int, datetime]] = {}  # address: in a row, the last
        self._locked: dict[str, datetime] = {}  # address: until
        self._lock = threading.Lock()

    def locked(self, source: str) -> bool:
        with self._lock:
            until = self._locked.get(source)
            if until is not None and until <= self.clock():
                del self._locked[source]
                until = None
            return until is not None

    def failed(self, source: str) -> bool:
        """One more failure from `source`: whether it locks `source` out now."""
        moment = self.clock()
        with self._lock:
            count, last = self._failed.get(source, (0, moment))
            count = count + 1 if moment - last <= self.lockout else 1
            if count < self.allowed:
                self._failed[source] = (count, moment)
                return False
            self._failed.pop(source, None)
            self._locked[source] = moment + self.lockout
            return True

    def succeeded(self, source: str) -> None:
        with self._lock:
            self._failed.pop(source, None)


class SignOns:
    """Sign-ins through the agency's OpenID provider, for the desk and the dashboard's
    gate alike: off to the provider with a state (in a SameSite=Lax cookie, `cookie`: the
    provider's way back is a cross-site navigation) and back, where the state must be the
    one the browser left with, the code is exchanged and the ID token checked. Each refusal
    is in the access log (`{logged_as}sso_refused`, under `unknown`), and counted towards
    a lock-out of where it came from (`Failures`)."""

    def __init__(
        self, clock: Callable[[], datetime], cookie: str, logged_as: str, *, secure: bool
    ) -> None:
        self.pending, self.failures = Pending(clock), Failures(clock)
        self.cookie, self.logged_as, self.secure = cookie, logged_as, secure

    def begin(self, request: Request, sso: oidc.Client, going: str = "/") -> Response | str:
        """The redirect to the provider, or why not (one sentence)."""
        if self.failures.locked(_source(request)):
            services.sign_in.log(services.sign_in.UNKNOWN, f"{self.logged_as}sso_locked")
            return self.failures.sentence
        try:
            started = oidc.start(sso)
        except oidc.SignOnFailed as exc:
            return str(exc)
        self.pending.keep(started, going)
        response = RedirectResponse(started.url, status_code=303)
        response.set_cookie(
            self.cookie,
            started.state,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            max_age=int(ON_ITS_WAY.total_seconds()),
        )
        return response

    def back(self, request: Request, sso: oidc.Client) -> tuple[oidc.Identity, str] | str:
        """Who the provider signed in, and the path they were going to; or why not."""
        source = _source(request)
        if self.failures.locked(source):
            services.sign_in.log(services.sign_in.UNKNOWN, f"{self.logged_as}sso_locked")
            return self.failures.sentence
        state = request.query_params.get("state", "")
        mine = request.cookies.get(self.cookie, "")
        found = self.pending.take(state) if state and secrets.compare_digest(state, mine) else None
        if found is None:
            said = "That sign-in was not started here, or took too long."
        elif error := request.query_params.get("error"):
            said = f"The sign-in provider did not sign you in ({error[:80]})."
        else:
            try:
                identity = oidc.finish(sso, found[0], request.query_params.get("code", ""))
            except oidc.SignOnFailed as exc:
                said = str(exc)
            else:
                self.failures.succeeded(source)
                return identity, found[1]
        services.sign_in.log(services.sign_in.UNKNOWN, f"{self.logged_as}sso_refused")
        if self.failures.failed(source):
            services.sign_in.log(services.sign_in.UNKNOWN, f"{self.logged_as}sso_locked_out")
            return f"{said} {self.failures.sentence}"
        return said


def _source(request: Request) -> str:
    """Where a request came from (behind a proxy, what uvicorn's proxy headers say)."""
    return request.client.host if request.client else "unknown"


@dataclass
class KeptForm:
    """A form posted after its sign-in ran out: held in memory only, for the same staff
    member to send once signed in again, for at most KEPT_FOR."""

    staff_id: str
    path: str
    form: dict[str, list[str]]
    at: datetime


KEPT_FOR = timedelta(minutes=30)


class Kept:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._held: dict[str, KeptForm] = {}
        self._lock = threading.Lock()

    def keep(self, staff_id: str, path: str, form: dict[str, list[str]]) -> str:
        token = secrets.token_urlsafe(32)
        kept = {k: v for k, v in form.items() if k != "csrf"}
        with self._lock:
            self._forget_old()
            self._held[token] = KeptForm(staff_id, path, kept, self.clock())
        return token

    def take(self, token: str | None, staff_id: str) -> KeptForm | None:
        """The form kept under `token` for `staff_id` (anyone else: none, and it is gone)."""
        if not token:
            return None
        with self._lock:
            self._forget_old()
            found = self._held.pop(token, None)
        return found if found is not None and found.staff_id == staff_id else None

    def _forget_old(self) -> None:
        moment = self.clock()
        for token in [t for t, k in self._held.items() if moment - k.at > KEPT_FOR]:
            del self._held[token]


def why_it_ends(
    held: DeskSession, sso: oidc.Client | None, roles: frozenset[StaffRole], where: str
) -> tuple[str, str] | None:
    """Asked at every request: None while the sign-in may go on; else the access log's word
    and the sentence for the person. The roster must still let them work `where` (active,
    in one of `roles`); signed in through the OpenID provider, the provider must still
    vouch for them (someone removed or signed out there is out at their next click)."""
    if services.sign_in.still_here(held.staff_id, roles) is None:
        return (
            "sign_in_ended_off_roster",
            f"You are signed out: the staff roster no longer lets you work {where}.",
        )
    if held.provided is not None and sso is not None:
        if not oidc.still_signed_in(sso.issuer, held.provided.access_token):
            return (
                "sign_in_ended_by_provider",
                "You are signed out: the agency's sign-in provider no longer vouches for you. "
                "Sign in again to go on.",
            )
    return None
