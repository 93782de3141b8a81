"""The desk: the web application where case managers, supervisors and program managers do
their day's work, signed in as themselves. Server-rendered pages (jinja2) that work
without JavaScript; every page's work is a call to the services, made as the signed-in
staff member (on PostgreSQL, through their own database role: the store's grants and
row-level policies decide what they see).

Safe by default: a CSRF token on every form, `Cache-Control: no-store` on every page, a
Content-Security-Policy with no inline script or style, no identity in any URL (searches
and forms are posted), and the desk listens on loopback unless configured otherwise."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.staticfiles import StaticFiles

from casework import services
from casework.core import oidc
from casework.core.clock import now
from casework.core.db import acting_through
from casework.core.errors import CaseworkError, UserError
from casework.core.settings import get_settings
from casework.desk import pages
from casework.desk.forms import Posted, posted
from casework.desk.sessions import (
    COOKIE,
    DeskSession,
    Kept,
    Provided,
    SignOns,
    configured,
    why_it_ends,
)
from casework.desk.words import happened, plain
from casework.models.cases import CaseNotFound
from casework.models.labels import label
from casework.services.workspace import NotTheirWork

HERE = Path(__file__).parent
PRE_COOKIE = "casework_desk_pre"  # the sign-in page's own CSRF token (before any sign-in)
KEPT_COOKIE = "casework_desk_kept"  # names a form kept when its sign-in ran out
SSO_COOKIE = "casework_desk_sso"  # the state of a sign-in gone to the OpenID provider
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SignInNeeded(CaseworkError):
    def __init__(self, said: str | None = None, kept: str | None = None) -> None:
        self.said, self.kept = said, kept


class Refused(UserError):
    """A request that is not allowed (a bad CSRF token, a role's page another role asked)."""


def create_app(clock: Callable[[], datetime] = now) -> FastAPI:  # noqa: C901 - its routes
    """The desk (`clock`: when it is, for the idle timeout)."""
    settings = get_settings()
    sessions = configured(clock, "sign_in_timed_out")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        sessions.end_all()  # every sign-in ends with the desk; their connections close

    app = FastAPI(
        title="Casework desk", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    kept = Kept(clock)
    sso = services.sign_in.sso_client()
    secure = settings.desk_address.startswith("https://")
    sign_ons = SignOns(clock, SSO_COOKIE, "", secure=secure)
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.globals.update(
        label=label,
        happened=happened,
        dashboard=_dashboard_url(),
        document_title=services.documents.title,
    )
    templates.filters["plain"] = plain
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        # The desk's own time for the request (bench/desk.py reads it; so can a proxy's log).
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    def render(
        name: str, held: DeskSession | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        said = held.said[:] if held else []
        if held:
            held.said.clear()
        body = templates.get_template(name).render(
            me=held.member if held else None,
            csrf=held.csrf if held else "",
            said=said,
            today=clock().date(),
            **context,
        )
        return HTMLResponse(body, status_code=status)

    def signed_in(request: Request) -> DeskSession:
        held, ran_out = sessions.find(request.cookies.get(COOKIE))
        if ran_out is not None:
            why = (
                f"You were signed out after {settings.desk_session_hours} "
                f"hour{'' if settings.desk_session_hours == 1 else 's'} signed in"
                if ran_out.ended == "lasted"
                else f"You were signed out after {settings.desk_idle_minutes} minutes without "
                "activity"
            )
            form = getattr(request.state, "form", None)
            if request.method == "POST" and form and request.url.path != "/sign-out":
                token = kept.keep(ran_out.staff_id, request.url.path, form)
                raise SignInNeeded(
                    f"{why}, before your form was sent. It is kept: sign in again to send it.",
                    token,
                )
            raise SignInNeeded(f"{why}. Sign in again to go on.")
        if held is None:
            raise SignInNeeded()
        _still_allowed(held)
        if held.temporary and request.url.path != "/password":
            raise _Redirect("/password")
        return held

    def _still_allowed(held: DeskSession) -> None:
        """At every request: still allowed to work here, or the sign-in ends now."""
        if ended := why_it_ends(held, sso, services.sign_in.DESK_ROLES, "at the desk"):
            sessions.end(held)
            services.sign_in.log(held.staff_id, ended[0])
            raise SignInNeeded(ended[1])

    def checked(held: DeskSession, form: dict[str, list[str]]) -> dict[str, list[str]]:
        given = (form.get("csrf") or [""])[0]
        if not secrets.compare_digest(given, held.csrf):
            raise Refused(
                "This form is out of date (its security token did not match); reload the page "
                "and try again."
            )
        return form

    @app.exception_handler(SignInNeeded)
    async def _to_sign_in(request: Request, exc: SignInNeeded) -> Response:
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(COOKIE)
        if exc.kept:
            response.set_cookie(
                KEPT_COOKIE, exc.kept, httponly=True, samesite="strict", secure=secure
            )
        if exc.said:
            response.set_cookie(
                "casework_said", quote(exc.said), httponly=True, samesite="strict", secure=secure
            )
        return response

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        return PlainTextResponse(str(exc), status_code=403)

    @app.exception_handler(CaseNotFound)
    async def _no_case(request: Request, exc: CaseNotFound) -> Response:
        """A case the signed-in staff member may not see is no case at all (on PostgreSQL
        the store hides its row; on SQLite models.access does), whatever they asked of it."""
        held, _ = sessions.find(request.cookies.get(COOKIE))
        number = request.path_params.get("case_number", "")
        return render("no_case.html", held, 404, case_number=number)

    @app.exception_handler(NotTheirWork)
    async def _not_theirs(request: Request, exc: NotTheirWork) -> Response:
        held, _ = sessions.find(request.cookies.get(COOKIE))
        return render("refused.html", held, 403, what=str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        """A fault of ours: the traceback (scrubbed) to the error log, a page with its
        reference; never the traceback on the page."""
        from casework.core.error_log import record_unexpected

        reference, _ = record_unexpected(exc, "desk")
        body = templates.get_template("fault.html").render(
            me=None, csrf="", said=[], reference=reference
        )
        return HTMLResponse(body, status_code=500)

    @app.exception_handler(_Redirect)
    async def _redirect(request: Request, exc: _Redirect) -> Response:
        return RedirectResponse(exc.to, status_code=303)

    # -- signing in and out ---------------------------------------------------------------

    @app.get("/sign-in", response_class=HTMLResponse)
    def sign_in_page(request: Request) -> Response:
        token = secrets.token_urlsafe(32)
        said = request.cookies.get("casework_said")
        response = render(
            "sign_in.html", None, pre=token, notice=_unquote(said), error=None, sso=sso
        )
        response.set_cookie(PRE_COOKIE, token, httponly=True, samesite="strict", secure=secure)
        response.delete_cookie("casework_said")
        return response

    @app.post("/sign-in", response_class=HTMLResponse)
    def sign_in(request: Request, form: Annotated[Posted, Depends(posted)]) -> Response:
        if sso is not None:
            raise Refused("This desk signs staff in through the agency's sign-in provider.")
        pre = request.cookies.get(PRE_COOKIE, "")
        if not pre or not secrets.compare_digest(pre, _one(form, "pre")):
            raise Refused("This sign-in form is out of date; reload the page and try again.")
        staff_id = _one(form, "staff_id")
        try:
            signed = services.sign_in.sign_in(staff_id, _one(form, "password"))
        except UserError as exc:
            token = secrets.token_urlsafe(32)
            response = render(
                "sign_in.html", None, 200, pre=token, notice=None, error=str(exc), staff_id=staff_id
            )
            response.set_cookie(PRE_COOKIE, token, httponly=True, samesite="strict", secure=secure)
            return response
        held = sessions.start(signed.member, signed.engine, signed.temporary)
        onward = RedirectResponse(_welcome(request, held), status_code=303)
        onward.set_cookie(COOKIE, held.token, httponly=True, samesite="strict", secure=secure)
        onward.delete_cookie(PRE_COOKIE)
        onward.delete_cookie(KEPT_COOKIE)
        return onward

    def _welcome(request: Request, held: DeskSession) -> str:
        """Where a new sign-in goes first: a temporary password's change, a form kept from
        the last sign-in, or the day."""
        waiting = kept.take(request.cookies.get(KEPT_COOKIE), held.staff_id)
        if waiting is not None:
            held.kept = waiting
        return "/password" if held.temporary else "/kept" if waiting else "/"

    @app.get("/sign-in/sso")
    def sign_in_sso(request: Request) -> Response:
        """Off to the agency's OpenID provider."""
        if sso is None:
            raise _Redirect("/sign-in")
        off = sign_ons.begin(request, sso)
        return _sign_in_again(off) if isinstance(off, str) else off

    @app.get("/sign-in/callback", response_class=HTMLResponse)
    def sign_in_callback(request: Request) -> Response:
        """Back from the provider; the roster says who it is. The page then moves on by
        itself (a SameSite=Strict cookie set on a cross-site redirect's answer is not sent
        on its next redirect, so the next step starts from here)."""
        if sso is None:
            raise _Redirect("/sign-in")
        back = sign_ons.back(request, sso)
        if isinstance(back, str):
            return _sign_in_again(back)
        identity, _ = back
        try:
            signed = services.sign_in.sign_on(sso, identity)
        except UserError as exc:
            return _sign_in_again(str(exc))
        held = sessions.start(
            signed.member, signed.engine, False, Provided(identity.access_token, identity.id_token)
        )
        onward = render("signed_on.html", None, to=_welcome(request, held))
        onward.set_cookie(COOKIE, held.token, httponly=True, samesite="strict", secure=secure)
        onward.delete_cookie(SSO_COOKIE)
        onward.delete_cookie(KEPT_COOKIE)
        return onward

    def _sign_in_again(error: str) -> Response:
        response = render("sign_in.html", None, 200, pre="", notice=None, error=error, sso=sso)
        response.delete_cookie(SSO_COOKIE)
        return response

    @app.post("/hooks/sms-reply")
    def sms_reply(request: Request, form: Annotated[Posted, Depends(posted)]) -> Response:
        """The SMS provider posts a client's reply here (form-encoded `From` and `Body`, as
        Twilio and most gateways send; or `from` and `text`), with the reply token as a
        bearer token or `?token=`. Recorded on the case of the text it answers; a number
        no text went to is ignored. Never a page: a status code and one line."""
        token = settings.sms_reply_token
        if token is None:
            return PlainTextResponse("the reply hook is closed (CASEWORK_SMS_REPLY_TOKEN)", 404)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        given = given or request.query_params.get("token", "")
        if not secrets.compare_digest(given.encode(), token.encode()):
            return PlainTextResponse("not the reply token", 401)
        sender = (_one(form, "From") or _one(form, "from")).strip()
        words = _one(form, "Body") or _one(form, "text")
        if not sender:
            return PlainTextResponse("From: the sender's number is missing", 400)
        services.messages.take_reply(sender, words)
        return Response(status_code=204)

    @app.post("/sign-out")
    def sign_out(request: Request, form: Annotated[Posted, Depends(posted)]) -> Response:
        held, _ = sessions.find(request.cookies.get(COOKIE))
        if held is None:
            raise SignInNeeded()
        checked(held, form)
        sessions.end(held)
        services.sign_in.log(held.staff_id, "sign_out")
        ending = None
        if held.provided is not None and sso is not None:  # ended at the provider too
            ending = oidc.sign_out_url(
                sso.issuer, held.provided.id_token, f"{settings.desk_address}/sign-in"
            )
        response = RedirectResponse(ending or "/sign-in", status_code=303)
        response.delete_cookie(COOKIE)
        response.set_cookie(
            "casework_said",
            quote("You are signed out."),
            httponly=True,
            samesite="strict",
            secure=secure,
        )
        return response

    @app.api_route("/password", methods=["GET", "POST"], response_class=HTMLResponse)
    def password(request: Request, form: Annotated[Posted, Depends(posted)]) -> Response:
        held = signed_in(request)
        if request.method == "GET":
            return render("password.html", held, error=None)
        checked(held, form)
        new, again = _one(form, "new"), _one(form, "again")
        try:
            if new != again:
                raise UserError("The two new passwords are not the same.")
            services.sign_in.confirm(held.staff_id, _one(form, "current"))
            services.sign_in.set_password(
                held.staff_id, new, held.staff_id, temporary=False, own=held.engine
            )
        except UserError as exc:
            return render("password.html", held, error=str(exc))
        held.temporary = False
        replaced, held.engine = held.engine, services.sign_in.as_staff(held.staff_id, new)
        if replaced is not held.engine:
            replaced.dispose()  # its connections signed in with the old password
        held.said.append("Your password is changed.")
        return RedirectResponse("/", status_code=303)

    @app.get("/kept", response_class=HTMLResponse)
    def kept_form(request: Request) -> Response:
        """The form that was posted after the last sign-in ran out: sent on with one click
        (nothing is sent without it), or left."""
        held = signed_in(request)
        waiting, held.kept = held.kept, None
        if waiting is None:
            return RedirectResponse("/", status_code=303)
        fields = [(name, value) for name, values in waiting.form.items() for value in values]
        return render("kept.html", held, path=waiting.path, fields=fields)

    # -- the day's pages ------------------------------------------------------------------

    @contextmanager
    def acting(request: Request) -> Iterator[DeskSession]:
        held = signed_in(request)
        with acting_through(held.engine):
            yield held

    pages.register(app, acting, render, checked)
    return app


class _Redirect(CaseworkError):
    def __init__(self, to: str) -> None:
        self.to = to


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _unquote(value: str | None) -> str | None:
    from urllib.parse import unquote

    return unquote(value) if value else None


def _dashboard_url() -> str | None:
    import os

    api = os.environ.get("PREFECT_API_URL")
    return api.removesuffix("/api") if api else None
