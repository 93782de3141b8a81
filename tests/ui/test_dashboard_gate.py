"""The Prefect dashboard behind the agency's single sign-on: the gate (`casework desk`
serves it when CASEWORK_SSO_ISSUER is set) in front of the session's Prefect server, a
real OpenID provider on loopback. Supervisors, program managers and operators come in;
case managers are sent to the desk; nobody types Prefect's credential; a form resumed from
the dialog is the signed-in staff member's, whatever its "Submitted by" said."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from casework import services
from casework.core.db import session_scope
from casework.models import audit, cases
from casework.models.codes import Stage
from casework.models.orm import Assessment
from tests import factories
from tests.conftest import CREDENTIAL, ROSTER, Stack, _free_port, environment, roster_text
from tests.oidc import openid_provider, signed_on_at
from tests.polling import wait_for
from tests.ui.conftest import MARKS, SHOTS
from tests.ui.test_resume_dialog import fill_assessment, resume_dialog

pytestmark = MARKS


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with openid_provider() as running:
        yield running


@pytest.fixture(scope="module")
def gate_clock() -> list[datetime]:
    """The gate's clock, in the test's hands (a test that moves it puts it back)."""
    return [datetime.now(UTC)]


@pytest.fixture(scope="module")
def gate(
    running_stack: Stack,
    issuer: str,
    gate_clock: list[datetime],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The gate, registered at the provider: its address. The roster is the session's with
    an operator added (the flows' roster is the session's: the operator acts on no case).
    A sign-in ends after 15 idle minutes (the default) or 1 hour."""
    import uvicorn

    from casework.desk.gate import create_gate

    roster = tmp_path_factory.mktemp("gate") / "staff.toml"
    roster.write_text(
        roster_text("tester")
        + '\n[[staff]]\nid = "op.gate"\nrole = "operator"\nprograms = ["housing"]\n'
    )
    port = _free_port()
    with environment(
        CASEWORK_SSO_ISSUER=issuer,
        CASEWORK_SSO_CLIENT_ID="casework-dashboard",
        CASEWORK_SSO_CLIENT_SECRET="the dashboard's secret at the provider",
        CASEWORK_DASHBOARD_URL=f"http://127.0.0.1:{port}",
        CASEWORK_STAFF_FILE=str(roster),
        CASEWORK_DESK_SESSION_HOURS="1",
    ):
        app = create_gate(
            running_stack.api_url.removesuffix("/api"), CREDENTIAL, lambda: gate_clock[0]
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for("the gate", lambda: server.started, timeout=30, every=0.05)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(timeout=30)


def _log(who: str) -> list[str]:
    return [entry.what for entry in services.staff.access_log(None, who)]


def _browser(gate: str) -> httpx.Client:
    return httpx.Client(base_url=gate, follow_redirects=False, timeout=60)


def test_the_dashboard_lets_in_whom_the_roster_says_and_nobody_types_prefects_credential(
    gate: str,
) -> None:
    anonymous = _browser(gate)
    page = anonymous.get("/runs")
    assert (page.status_code, page.headers["location"]) == (303, "/casework/sign-in?next=%2Fruns")
    assert anonymous.post("/api/flow_runs/filter", json={}).status_code == 401

    refused = signed_on_at(_browser(gate), "/casework/sign-in", "cm.rivera")
    assert "The dashboard is for supervisors, program managers, operators and admins" in (
        refused.text
    )
    assert "casework_dashboard=" not in refused.headers.get("set-cookie", "")
    assert "dashboard_sign_in_not_dashboard_role" in _log("cm.rivera")

    for who in ("pm.housing", "op.gate"):
        browser = _browser(gate)
        back = signed_on_at(browser, "/casework/sign-in?next=/runs", who)
        assert 'content="0; url=/runs"' in back.text, back.text
        runs = browser.post("/api/flow_runs/filter", json={"limit": 1})
        assert runs.status_code == 200, runs.text
        ui = browser.get("/ui-settings").json()
        assert ui["auth"] is None  # the UI asks for no credential
        assert ui["api_url"] == f"{gate}/api"
        assert "dashboard_sign_in_sso" in _log(who)


def test_a_form_resumed_through_the_gate_is_the_signed_in_staff_members(gate: str) -> None:
    """Through the API, as the UI sends it: the form names cm.park; the signed-in
    supervisor's id is what the run records, and the resume is in the access log."""
    case_number, _ = factories.case_waiting_at(Stage.ASSESSMENT)
    waiting = factories.where_it_waits(case_number)
    browser = _browser(gate)
    signed_on_at(browser, "/casework/sign-in", "sup.housing")
    form = factories.assessment().model_copy(update={"submitted_by": "cm.park"})
    resumed = browser.post(
        f"/api/flow_runs/{waiting.flow_run_id}/resume",
        json={"run_input": form.model_dump(mode="json")},
    )
    assert resumed.status_code < 300, resumed.text
    assert _assessed_by(case_number) == "sup.housing"
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        accessed = [e.what for e, _ in audit.accesses(session, case)]
    assert f"dashboard_resume:{waiting.flow_run_id}" in accessed


def _assessed_by(case_number: str) -> str:
    """Who the assessment is recorded as given by, once the case has moved on to plan."""
    wait_for(
        "the case to move on",
        lambda: services.cases.show(case_number).stage == Stage.PLAN.value,
        timeout=180,
    )
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        return (
            session.scalars(select(Assessment).where(Assessment.case_id == case.id))
            .one()
            .assessed_by
        )


def test_in_a_browser_a_supervisor_signs_in_and_resumes_from_the_dialog(browser, gate: str) -> None:  # type: ignore[no-untyped-def]
    case_number, _ = factories.case_waiting_at(Stage.ASSESSMENT)
    waiting = factories.where_it_waits(case_number)
    page = browser.new_page(viewport={"width": 1000, "height": 3400})
    page.set_default_timeout(60_000)
    page.goto(f"{gate}/runs")
    page.get_by_placeholder("sub").fill("sup.housing")  # the provider's own page
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{gate}/runs**")
    assert page.get_by_placeholder("admin:pass").count() == 0  # no Prefect sign-in asked
    dialog = resume_dialog(page, gate, waiting.flow_run_id, f"Assessment form for {case_number}")
    fill_assessment(page, dialog, case_number, "cm.park")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "dashboard-through-the-gate.png")
    dialog.get_by_role("button", name="Submit").click()
    assert _assessed_by(case_number) == "sup.housing"  # not cm.park, whom the form named
    page.close()


def test_casework_desk_serves_the_gate_beside_the_desk_and_ctrl_c_stops_both(
    running_stack: Stack, issuer: str
) -> None:
    """As `casework up` starts it: `casework desk` with the SSO settings, the Prefect API
    and its credential in its environment."""
    import os
    import signal
    import subprocess
    import sys

    desk_port, gate_port = _free_port(), _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "CASEWORK_DASHBOARD_URL"},
        "PREFECT_API_URL": running_stack.api_url,
        "PREFECT_API_AUTH_STRING": CREDENTIAL,
        "CASEWORK_SSO_ISSUER": issuer,
        "CASEWORK_SSO_CLIENT_ID": "casework",
        "CASEWORK_SSO_CLIENT_SECRET": "the desk's secret",
        "CASEWORK_DESK_PORT": str(desk_port),
        "CASEWORK_DASHBOARD_PORT": str(gate_port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "casework", "desk"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answering(port: int) -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/runs").status_code > 0
            except httpx.HTTPError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                return False

        wait_for("the desk and the gate", lambda: answering(desk_port) and answering(gate_port))
        runs = httpx.get(f"http://127.0.0.1:{gate_port}/runs")
        assert (runs.status_code, runs.headers["location"]) == (
            303,
            "/casework/sign-in?next=%2Fruns",
        )
        sign_in = httpx.get(f"http://127.0.0.1:{desk_port}/sign-in")
        assert "Sign in with your agency account" in sign_in.text
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    said = process.stdout.read() if process.stdout else ""
    assert code == 0, said
    assert f"Dashboard: http://127.0.0.1:{gate_port}/runs" in said
    assert "Traceback" not in said


def test_the_page_after_sign_in_goes_only_to_a_path_of_the_dashboard(gate: str) -> None:
    """`next` comes from a link anyone may send: another site is replaced by the
    dashboard's start, and markup in a path arrives as text."""
    elsewhere = signed_on_at(
        _browser(gate), "/casework/sign-in?next=//elsewhere.example/", "pm.housing"
    )
    assert 'content="0; url=/"' in elsewhere.text
    marked = signed_on_at(_browser(gate), '/casework/sign-in?next=/runs?q="><b>x</b>', "pm.housing")
    assert "<b>x</b>" not in marked.text
    assert "&quot;&gt;&lt;b&gt;" in marked.text


def test_signing_out_of_the_dashboard_ends_it_here_and_at_the_provider(
    gate: str, issuer: str
) -> None:
    browser = _browser(gate)
    signed_on_at(browser, "/casework/sign-in", "sup.housing")
    assert "Sign out" in browser.get("/casework/sign-out").text
    out = browser.post("/casework/sign-out")
    assert out.status_code == 303
    assert out.headers["location"].startswith(f"{issuer}/oauth2/end_session?"), out.headers
    assert browser.post("/api/flow_runs/filter", json={}).status_code == 401
    assert "dashboard_sign_out" in _log("sup.housing")


def test_whom_the_provider_or_the_roster_lets_go_is_out_of_the_dashboard_at_once(
    gate: str, issuer: str
) -> None:
    """The gate asks again at every request, as the desk does: tokens revoked at the
    provider, or the staff member made inactive in the roster file."""
    revoked = _browser(gate)
    signed_on_at(revoked, "/casework/sign-in", "pm.housing")
    assert revoked.post("/api/flow_runs/filter", json={"limit": 1}).status_code == 200
    httpx.post(f"{issuer}/users/pm.housing/revoke-tokens").raise_for_status()
    assert revoked.post("/api/flow_runs/filter", json={"limit": 1}).status_code == 401
    assert "dashboard_sign_in_ended_by_provider" in _log("pm.housing")

    from casework.core.settings import get_settings

    roster = get_settings().staff_file
    assert roster is not None
    before = roster.read_text()
    operator = _browser(gate)
    signed_on_at(operator, "/casework/sign-in", "op.gate")
    assert operator.post("/api/flow_runs/filter", json={"limit": 1}).status_code == 200
    roster.write_text(before.replace('id = "op.gate"\n', 'id = "op.gate"\nactive = false\n'))
    try:
        page = operator.get("/runs")
        assert "no longer lets you work on the dashboard" in page.text
        assert "dashboard_sign_in_ended_off_roster" in _log("op.gate")
    finally:
        roster.write_text(before)


def test_a_dashboard_sign_in_ends_when_idle_and_after_its_hours(
    gate: str, gate_clock: list[datetime]
) -> None:
    """As at the desk: 15 minutes without a request, or 1 hour however busy (this gate's
    settings); the UI's next request is refused, and the page asks for a sign-in again."""
    idle, busy = _browser(gate), _browser(gate)
    signed_on_at(idle, "/casework/sign-in", "pm.housing")
    signed_on_at(busy, "/casework/sign-in", "sup.housing")
    try:
        for _ in range(4):  # 56 minutes, a request every 14
            gate_clock[0] += timedelta(minutes=14)
            assert busy.post("/api/flow_runs/filter", json={"limit": 1}).status_code == 200
        assert idle.post("/api/flow_runs/filter", json={"limit": 1}).status_code == 401
        assert "dashboard_timed_out" in _log("pm.housing")
        gate_clock[0] += timedelta(minutes=14)
        assert busy.post("/api/flow_runs/filter", json={"limit": 1}).status_code == 401
        assert busy.get("/runs").headers["location"] == "/casework/sign-in?next=%2Fruns"
        assert "dashboard_timed_out" in _log("sup.housing")
    finally:
        gate_clock[0] = datetime.now(UTC)


def test_failed_ways_back_in_a_row_lock_where_they_came_from_out_for_a_while(
    gate: str, gate_clock: list[datetime]
) -> None:
    """Ways back the gate did not start (a forged state, a made-up code) are failures of
    the address they came from, as wrong passwords are a staff id's at the desk: five in a
    row lock it out for 15 minutes (the settings' defaults), the provider not even asked."""
    signed_on_at(_browser(gate), "/casework/sign-in", "pm.housing")  # a success: none in a row
    browser = _browser(gate)
    for tried in range(1, 6):
        page = browser.get(f"/casework/callback?state=forged-{tried}&code=made-up")
        assert "was not started here" in page.text
        assert ("locked for 15 minutes" in page.text) is (tried == 5), (tried, page.text)
    assert "dashboard_sso_locked_out" in _log("unknown")
    start = browser.get("/casework/sign-in?next=/runs")
    assert start.status_code == 200  # not off to the provider
    assert "Too many sign-ins from here failed" in start.text
    assert "dashboard_sso_locked" in _log("unknown")
    try:
        gate_clock[0] += timedelta(minutes=16)
        back = signed_on_at(_browser(gate), "/casework/sign-in?next=/runs", "pm.housing")
        assert 'content="0; url=/runs"' in back.text, back.text
    finally:
        gate_clock[0] = datetime.now(UTC)


def test_casework_up_with_single_sign_on_puts_the_dashboard_and_the_desk_behind_it(
    running_stack: Stack, issuer: str
) -> None:
    """`casework up` as an agency runs it with its provider, with the README's settings
    (the claim `preferred_username`) and users as Keycloak gives them (an opaque `sub`, the
    login as `preferred_username`, a mailbox as `email`): the summary's dashboard is the
    gate, where a supervisor signs in and the UI's API answers; the desk sends a case
    manager to the provider too. Then `up` as the session had it again."""
    accounts = {}
    for staff_id in ("sup.housing", "cm.rivera"):
        accounts[staff_id] = sub = str(uuid.uuid4())
        httpx.put(
            f"{issuer}/users/{sub}",
            json={"preferred_username": staff_id, "email": f"{sub[:8]}@agency.example"},
        ).raise_for_status()
    schedules = running_stack.schedules
    running_stack.stop()
    try:
        sso = {
            "CASEWORK_SSO_ISSUER": issuer,
            "CASEWORK_SSO_CLIENT_ID": "casework",
            "CASEWORK_SSO_CLIENT_SECRET": "the agency's secret for casework",
            "CASEWORK_SSO_CLAIM": "preferred_username",
            "CASEWORK_DASHBOARD_PORT": str(_free_port()),
        }
        with environment(**{**AS_THE_SESSION_HAS_IT, **sso}):
            running_stack.start(schedules)
            try:
                _through_the_gate_and_at_the_desk(running_stack.log_path.read_text(), accounts)
            finally:
                said = running_stack.stop()
        assert "Traceback" not in said
    finally:
        # As the session had it: this module's gate fixture holds SSO settings in this
        # process's environment while the module runs, and `up` would inherit them.
        with environment(**AS_THE_SESSION_HAS_IT):
            running_stack.start(schedules)
        assert "Sign in:     with your agency account" not in running_stack.log_path.read_text()


# The session's own settings, whatever a fixture of this module has put in their place.
AS_THE_SESSION_HAS_IT: dict[str, str | None] = {
    "CASEWORK_SSO_ISSUER": None,
    "CASEWORK_SSO_CLIENT_ID": None,
    "CASEWORK_SSO_CLIENT_SECRET": None,
    "CASEWORK_SSO_CLAIM": None,
    "CASEWORK_DASHBOARD_URL": None,
    "CASEWORK_DASHBOARD_PORT": None,
    "CASEWORK_DESK_SESSION_HOURS": None,
    "CASEWORK_STAFF_FILE": str(ROSTER),
}


def _through_the_gate_and_at_the_desk(said: str, accounts: dict[str, str]) -> None:
    """What `up` printed sends a supervisor to the dashboard and a case manager to the
    desk, both signed in at the provider (`accounts`: staff id to the provider's `sub`)."""
    assert "Sign in:     with your agency account" in said, said
    found = re.search(r"Dashboard: +(http://\S+)/runs", said)
    desk = re.search(r"Desk: +(http://\S+)", said)
    assert found is not None, said
    assert desk is not None, said
    dashboard = httpx.Client(base_url=found[1], follow_redirects=False, timeout=60)
    assert dashboard.get("/runs").status_code == 303  # not without a sign-in
    back = signed_on_at(dashboard, "/casework/sign-in?next=/runs", accounts["sup.housing"])
    assert 'content="0; url=/runs"' in back.text, back.text
    deployed = dashboard.post("/api/deployments/filter", json={})
    assert deployed.status_code == 200, deployed.text
    assert "case-lifecycle" in {d["name"] for d in deployed.json()}, deployed.text
    at_desk = httpx.Client(base_url=desk[1], follow_redirects=False, timeout=60)
    signed_on_at(at_desk, "/sign-in/sso", accounts["cm.rivera"])
    day = at_desk.get("/", follow_redirects=True)
    assert "Signed in as <strong>cm.rivera</strong>" in day.text, day.text
