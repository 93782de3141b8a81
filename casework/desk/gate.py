"""The dashboard's gate: with single sign-on, people reach the Prefect UI and its API
through here, signed in at the agency's OpenID provider as themselves.

It admits supervisors, program managers, operators and admins (case managers work at the
desk), asks at every request whether the roster and the provider still let them in, and
forwards what they ask to the Prefect server with the server's own credential, which
nobody types any more. Machines (workers, flow runs, the command line) keep talking to the
server directly with that credential. The UI is told it needs no sign-in of its own and
that its API is here.

A flow run resumed from the UI's dialog carries the signed-in staff id as its submitter,
whatever the form said, and each resume is in the access log under that staff id with
its case; so is each sign-in to the dashboard."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from casework import services
from casework.core import oidc
from casework.core.clock import now
from casework.core.settings import get_settings
from casework.desk.sessions import DeskSession, Provided, SignOns, configured, why_it_ends

COOKIE = "casework_dashboard"
STATE_COOKIE = "casework_dashboard_sso"
OURS = "/casework"  # the gate's own paths; everything else is the Prefect server's
RESUME = re.compile(r"^/api/flow_runs/([0-9a-f-]{36})/resume$")
# Not passed on, either way: the connection's own, the browser's cookies (the gate's), and
# the person's authorization (the gate puts the server's).
DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "cookie",
        "authorization",
        "content-length",
        "content-encoding",
        "set-cookie",
    }
)
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{head}
<title>{title} · Casework dashboard</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:40rem;padding:0 1rem;
color:#1b1b1f}}a{{color:#0b4a8b}}.error{{border-left:4px solid #b00020;padding:.5rem 1rem;
background:#fff4f4}}</style></head><body><main><h1>{title}</h1>{body}</main></body></html>"""


def create_gate(  # noqa: C901 - its routes
    prefect_url: str, credential: str, clock: Callable[[], datetime] = now
) -> FastAPI:
    """The gate in front of the Prefect server at `prefect_url` (its root, not `/api`),
    which it signs in to with `credential` (the server's API auth string)."""
    settings = get_settings()
    address = settings.dashboard_address
    sso = services.sign_in.sso_client(f"{address}{OURS}/callback")
    if sso is None:
        raise ValueError("the dashboard's gate needs single sign-on (CASEWORK_SSO_ISSUER)")
    secure = address.startswith("https://")
    sessions = configured(clock, "dashboard_timed_out")
    sign_ons = SignOns(clock, STATE_COOKIE, "dashboard_", secure=secure)
    basic = "Basic " + base64.b64encode(credential.encode()).decode()
    upstream = httpx.AsyncClient(base_url=prefect_url.rstrip("/"), timeout=120)
    app = FastAPI(title="Casework dashboard", docs_url=None, redoc_url=None, openapi_url=None)

    def page(title: str, body: str, status: int = 200, head: str = "") -> HTMLResponse:
        response = HTMLResponse(PAGE.format(title=title, body=body, head=head), status)
        response.headers["Cache-Control"] = "no-store"
        return response

    def refused(sentence: str) -> HTMLResponse:
        response = page(
            "Not signed in",
            f'<p class="error" role="alert">{escape(sentence)}</p>'
            f'<p><a href="{OURS}/sign-in">Sign in again</a></p>',
        )
        response.delete_cookie(STATE_COOKIE)
        return response

    @app.get(f"{OURS}/sign-in")
    def sign_in(request: Request) -> Response:
        going = request.query_params.get("next", "/")
        off = sign_ons.begin(request, sso, going if _a_path_here(going) else "/")
        return refused(off) if isinstance(off, str) else off

    @app.get(f"{OURS}/callback")
    def callback(request: Request) -> Response:
        back = sign_ons.back(request, sso)
        if isinstance(back, str):
            return refused(back)
        identity, going = back
        try:
            member = services.sign_in.admitted(
                identity, services.sign_in.DASHBOARD_ROLES, "dashboard_sign_in"
            )
        except services.sign_in.SignInRefused as exc:
            return refused(str(exc))
        held = sessions.start(
            member,
            services.sign_in.desk_engine(),
            False,
            Provided(identity.access_token, identity.id_token),
        )
        # On its own page: a SameSite=Strict cookie set on the answer to a cross-site
        # redirect is not sent on the next redirect, but is on this page's own step.
        response = page(
            "Signed in",
            f'<p>Signed in as {held.staff_id}. <a href="{escape(going)}">Go on to the '
            "dashboard</a>.</p>",
            head=f'<meta http-equiv="refresh" content="0; url={escape(going)}">',
        )
        response.set_cookie(COOKIE, held.token, httponly=True, samesite="strict", secure=secure)
        response.delete_cookie(STATE_COOKIE)
        return response

    @app.get(f"{OURS}/sign-out")
    def sign_out_page(request: Request) -> Response:
        """Where people sign out of the dashboard (Prefect's UI has no place for it): one
        button. A form from another site cannot send the SameSite=Strict sign-in with it."""
        held, _ = sessions.find(request.cookies.get(COOKIE))
        if held is None:
            return RedirectResponse(f"{OURS}/sign-in", status_code=303)
        return page(
            "Sign out of the dashboard",
            f"<p>Signed in as {held.staff_id}.</p>"
            f'<form method="post" action="{OURS}/sign-out"><button type="submit">Sign out'
            "</button></form>",
        )

    @app.post(f"{OURS}/sign-out")
    def sign_out(request: Request) -> Response:
        held, _ = sessions.find(request.cookies.get(COOKIE))
        if held is None:
            return RedirectResponse(f"{OURS}/sign-in", status_code=303)
        sessions.end(held)
        services.sign_in.log(held.staff_id, "dashboard_sign_out")
        assert held.provided is not None
        ending = oidc.sign_out_url(sso.issuer, held.provided.id_token, f"{address}/")
        response = RedirectResponse(ending or f"{OURS}/sign-in", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    def signed_in(request: Request) -> DeskSession | Response:
        """The live sign-in, or what to answer instead: the sign-in for a page, 401 for the
        API (the UI's requests)."""
        held, _ = sessions.find(request.cookies.get(COOKIE))
        said = None
        if held is not None:
            ended = why_it_ends(held, sso, services.sign_in.DASHBOARD_ROLES, "on the dashboard")
            if ended is None:
                return held
            sessions.end(held)
            services.sign_in.log(held.staff_id, f"dashboard_{ended[0]}")
            said = ended[1]
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": said or "sign in to the dashboard"}, 401)
        if said:
            return refused(said)
        going = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"{OURS}/sign-in?{httpx.QueryParams({'next': going})}", status_code=303
        )

    @app.api_route(
        "/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    )
    async def forward(request: Request, path: str) -> Response:
        held = await asyncio.to_thread(signed_in, request)
        if isinstance(held, Response):
            return held
        body = await request.body()
        resumed = RESUME.match(request.url.path) if request.method == "POST" else None
        if resumed:
            body = _as_submitted_by(body, held.staff_id)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        headers["authorization"] = basic
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        answer = await upstream.request(request.method, target, content=body, headers=headers)
        content = answer.content
        if request.url.path.endswith("/ui-settings") and answer.status_code == 200:
            content = _no_sign_in_of_its_own(content, address)
        if resumed and answer.status_code < 300:
            run = await upstream.get(
                f"/api/flow_runs/{resumed.group(1)}", headers={"authorization": basic}
            )
            await asyncio.to_thread(_log_resume, held.staff_id, resumed.group(1), run)
        out = {k: v for k, v in answer.headers.items() if k.lower() not in DROPPED}
        return Response(content, status_code=answer.status_code, headers=out)

    return app


def _a_path_here(going: str) -> bool:
    """Whether `next` is a path of this site (never another's: no scheme, no `//host`)."""
    return going.startswith("/") and not going.startswith("//") and "\\" not in going


def _as_submitted_by(body: bytes, staff_id: str) -> bytes:
    """The resume's form, its `submitted_by` the signed-in staff member's, whatever it said."""
    try:
        sent: Any = json.loads(body or b"{}")
    except ValueError:
        return body  # not JSON: the server refuses it as it would
    if isinstance(sent, dict) and isinstance(sent.get("run_input"), dict):
        sent["run_input"]["submitted_by"] = staff_id
        return json.dumps(sent).encode()
    return body


def _no_sign_in_of_its_own(content: bytes, address: str) -> bytes:
    """The UI's settings: its API is the gate's, and it asks for no credential."""
    try:
        settings = json.loads(content)
    except ValueError:
        return content
    settings["auth"] = None
    settings["api_url"] = f"{address}/api"
    return json.dumps(settings).encode()


def _log_resume(staff_id: str, flow_run_id: str, run: httpx.Response) -> None:
    """The resume in the access log, with its case (the run's `case_number` parameter)."""
    number = run.json().get("parameters", {}).get("case_number") if run.is_success else None
    if isinstance(number, str):
        services.staff.log_access(number, f"dashboard_resume:{flow_run_id}", staff_id)
    else:
        services.sign_in.log(staff_id, f"dashboard_resume:{flow_run_id}")
