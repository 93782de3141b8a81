"""Single sign-on to the desk through a real OpenID provider on loopback (the
`oidc-provider-mock` server, in a process of its own): staff signed in there come in as the
roster's staff member, on PostgreSQL as their own database role; a case manager's day, an
operator refused, someone the roster does not know refused; a person the provider stops
vouching for, or the roster deactivates, is out at their next request; a sign-in ends
after its hours however busy; sign-out ends it at the provider too."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from casework import services
from casework.models.codes import Program, StaffRole
from tests.conftest import _free_port, environment, roster_text
from tests.desk.conftest import Agency, Desk, Served, as_role, staff
from tests.oidc import openid_provider, signed_on_at
from tests.polling import wait_for
from tests.ui.chromium import CHROMIUM, CHROMIUM_ARGS

SECRET = "the desk's client secret at the provider"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with openid_provider() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def sso_desk(agency: Agency, provider: str) -> Iterator[Served]:
    """The desk, registered at the provider; its clock in the test's hands."""
    import uvicorn

    from casework.desk.app import create_app

    clock = [datetime.now(UTC)]
    now: Callable[[], datetime] = lambda: clock[0]  # noqa: E731
    port = _free_port()
    with environment(
        CASEWORK_SSO_ISSUER=provider,
        CASEWORK_SSO_CLIENT_ID="casework-desk",
        CASEWORK_SSO_CLIENT_SECRET=SECRET,
        CASEWORK_DESK_URL=f"http://127.0.0.1:{port}",
        CASEWORK_DESK_SESSION_HOURS="1",
        CASEWORK_DESK_IDLE_MINUTES="45",
    ):
        app = create_app(clock=now)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for("the desk", lambda: server.started, timeout=30, every=0.05)
        yield Served(f"http://127.0.0.1:{port}", clock)
        server.should_exit = True
        thread.join(timeout=30)


def _log(who: str) -> list[str]:
    return [entry.what for entry in services.staff.access_log(None, who)]


def signed_on(desk: Served, sub: str) -> tuple[Desk, httpx.Response]:
    """A browser that went to the provider, was signed in there as `sub`, and came back:
    the page the desk answered the way back with."""
    browser = desk.client()
    back = signed_on_at(browser.http, "/sign-in/sso", sub)
    assert str(back.url).startswith(desk.base + "/sign-in/callback?"), back.url
    return browser, back


def test_staff_sign_in_at_the_provider_and_work_as_themselves(
    agency: Agency, sso_desk: Served
) -> None:
    page = sso_desk.client().get("/sign-in")
    assert "Sign in with your agency account" in page.text
    assert 'name="password"' not in page.text  # the desk asks no password of its own

    browser, back = signed_on(sso_desk, staff("cm1"))
    assert back.status_code == 200, back.text
    assert 'http-equiv="refresh" content="0; url=/"' in back.text
    day = browser.get("/caseload")
    assert day.status_code == 200, day.headers.get("location")
    assert f"Signed in as <strong>{staff('cm1')}</strong>" in day.text
    assert agency.cases["cm1"] in day.text
    assert agency.cases["cm2"] not in day.text  # as themselves: their own caseload
    assert "sign_in_sso" in _log(staff("cm1"))


def test_on_postgresql_a_signed_on_desk_reads_the_store_as_the_staff_members_role(
    agency: Agency, sso_desk: Served
) -> None:
    """The desk's role sets the staff role's password through the store's own function,
    for desk roles only; nobody else may call it."""
    if agency.backend != "postgresql":
        pytest.skip("PostgreSQL's roles")
    from casework.core import oidc

    registered = oidc.Client("http://unused", "casework-desk", SECRET, "http://unused/cb")
    engine = services.sign_in._as_signed_on(registered, staff("cm2"))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT session_user")).scalar() == staff("cm2")
            numbers = connection.execute(text("SELECT case_number FROM cases")).scalars().all()
            assert numbers == [agency.cases["cm2"]]
            # The staff member's own role may not set anyone's password through it.
            with pytest.raises(DBAPIError, match="permission denied"):
                connection.execute(
                    text("SELECT casework_sso_password(:s, 'x')"), {"s": staff("cm1")}
                )
    finally:
        engine.dispose()
    for not_desk in ("op", "adm"):
        with pytest.raises(services.sign_in.SignInRefused, match="would not let the desk"):
            services.sign_in._as_signed_on(registered, staff(not_desk))


def test_who_the_roster_does_not_let_in_is_refused_in_one_sentence(
    agency: Agency, sso_desk: Served
) -> None:
    _, operator = signed_on(sso_desk, staff("op"))
    assert "The desk is for case managers, supervisors and program managers" in operator.text
    assert "casework_desk=" not in operator.headers.get("set-cookie", "")
    _, stranger = signed_on(sso_desk, "someone.else@example.org")
    assert "nobody on the staff roster is someone.else@example.org" in stranger.text
    assert "someone.else" not in " ".join(_log("unknown"))  # what the provider said: not kept
    assert "sso_not_on_roster" in _log("unknown")


def test_a_way_back_that_was_not_started_here_signs_nobody_in(sso_desk: Served) -> None:
    browser = sso_desk.client()
    off = browser.get("/sign-in/sso")
    at_provider = httpx.post(off.headers["location"], data={"sub": staff("cm1")})
    back = at_provider.headers["location"].removeprefix(sso_desk.base)
    stranger = sso_desk.client()  # another browser, without this one's state
    refused = stranger.get(back)
    assert "That sign-in was not started here" in refused.text
    assert stranger.get("/caseload").headers["location"] == "/sign-in"
    forged = re.sub(r"state=[^&]+", "state=forged", back)
    assert "not started here" in browser.get(forged).text
    # A password posted to a desk that signs in through the provider is refused.
    assert browser.http.post("/sign-in", data={"staff_id": staff("cm1")}).status_code == 403


def test_failed_ways_back_in_a_row_lock_where_they_came_from_out_for_a_while(
    sso_desk: Served,
) -> None:
    """Failed ways back from the provider count against the address they came from, as
    wrong passwords count against a staff id: the fifth in a row locks it out for the
    lock-out's minutes, before the provider is even asked; a success clears the count."""
    signed_on(sso_desk, staff("cm1"))  # none in a row
    browser = sso_desk.client()
    for tried in range(1, 6):
        page = browser.http.get(f"/sign-in/callback?state=forged-{tried}&code=made-up")
        assert "not started here" in page.text
        assert ("locked for 15 minutes" in page.text) is (tried == 5), (tried, page.text)
    assert "sso_locked_out" in _log("unknown")
    start = browser.http.get("/sign-in/sso")
    assert start.status_code == 200  # the sign-in page, not a redirect to the provider
    assert "Too many sign-ins from here failed" in start.text
    assert "sso_locked" in _log("unknown")
    try:
        sso_desk.clock[0] += timedelta(minutes=16)
        _, back = signed_on(sso_desk, staff("cm1"))
        assert 'http-equiv="refresh" content="0; url=/"' in back.text, back.text
    finally:
        sso_desk.clock[0] = datetime.now(UTC)


def test_someone_the_provider_stops_vouching_for_is_out_at_their_next_request(
    provider: str, sso_desk: Served
) -> None:
    browser, _ = signed_on(sso_desk, staff("sup"))
    assert browser.get("/caseload").status_code == 200
    httpx.post(f"{provider}/users/{staff('sup')}/revoke-tokens").raise_for_status()
    assert browser.get("/caseload").headers["location"] == "/sign-in"
    assert "no longer vouches for you" in browser.get("/sign-in").text
    assert "sign_in_ended_by_provider" in _log(staff("sup"))


def test_a_sign_in_ends_after_its_hours_however_busy(sso_desk: Served) -> None:
    browser, _ = signed_on(sso_desk, staff("pm"))
    try:
        sso_desk.clock[0] += timedelta(minutes=40)
        assert browser.get("/caseload").status_code == 200  # busy: never idle 45 minutes
        sso_desk.clock[0] += timedelta(minutes=40)
        assert browser.get("/caseload").headers["location"] == "/sign-in"
        assert "signed out after 1 hour signed in" in browser.get("/sign-in").text
    finally:
        sso_desk.clock[0] = datetime.now(UTC)


def test_sign_out_ends_the_sign_in_at_the_provider_too(provider: str, sso_desk: Served) -> None:
    browser, _ = signed_on(sso_desk, staff("cm1"))
    csrf = browser.csrf()
    out = browser.http.post("/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    ending = urlparse(out.headers["location"])
    assert f"{ending.scheme}://{ending.netloc}" == provider
    query = parse_qs(ending.query)
    assert query["post_logout_redirect_uri"] == [f"{sso_desk.base}/sign-in"]
    assert query["id_token_hint"]
    assert browser.get("/caseload").headers["location"] == "/sign-in"


def test_a_staff_member_deactivated_in_the_roster_is_out_at_their_next_request(
    agency: Agency, sso_desk: Served
) -> None:
    browser, _ = signed_on(sso_desk, staff("cm2"))
    assert browser.get("/caseload").status_code == 200
    with as_role(agency, staff("adm")):  # an admin's work
        services.staff.deactivate_staff(staff("cm2"), staff("adm"))
    try:
        assert browser.get("/caseload").headers["location"] == "/sign-in"
        assert "no longer lets you work at the desk" in browser.get("/sign-in").text
        assert "sign_in_ended_off_roster" in _log(staff("cm2"))
        _, again = signed_on(sso_desk, staff("cm2"))
        assert "no longer active" in again.text
    finally:
        with as_role(agency, staff("adm")):
            services.staff.add_staff(
                staff("cm2"), StaffRole.CASE_MANAGER, [Program.HOUSING], None, staff("adm")
            )


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium installed")
def test_in_a_browser_a_case_manager_signs_in_at_the_provider_and_reaches_their_day(
    agency: Agency, sso_desk: Served
) -> None:
    """As people see it: the desk's sign-in page (looked at, at both widths, with axe),
    the provider's page, and back on the desk signed in, by the page that moves on."""
    from playwright.sync_api import sync_playwright

    from tests.ui.desk import look

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{sso_desk.base}/sign-in")
            look(page, "sign-in-sso")
            page.get_by_role("link", name="Sign in with your agency account").click()
            page.get_by_placeholder("sub").fill(staff("cm1"))
            page.get_by_role("button", name="Authorize").click()
            page.get_by_text(f"Signed in as {staff('cm1')}").wait_for()
            assert urlparse(page.url).path in ("/", "/day"), page.url
            look(page, "day-after-sso")
        finally:
            browser.close()


def test_the_roster_names_staff_by_what_the_provider_calls_them(tmp_path: Path) -> None:
    """A roster entry's `sso` is matched before staff ids, without regard to case; a value
    no entry has names nobody, whatever the claim."""
    roster = tmp_path / "staff.toml"
    roster.write_text(
        roster_text("tester")
        + '\n[[staff]]\nid = "cm.sso"\nrole = "case_manager"\nprograms = ["housing"]\n'
        + 'sso = "M.Rivera@Agency.org"\n'
    )
    with environment(CASEWORK_STAFF_FILE=str(roster), CASEWORK_SSO_CLAIM="email"):
        said, member = services.sign_in.named_by({"email": " m.rivera@agency.org "})
        assert (said, member and member.id) == ("m.rivera@agency.org", "cm.sso")
        assert services.sign_in.named_by({"email": "cm.rivera"})[1].id == "cm.rivera"  # type: ignore[union-attr]
        assert services.sign_in.named_by({"email": "nobody@agency.org"})[1] is None
        assert services.sign_in.named_by({"preferred_username": "cm.sso"})[1] is None
