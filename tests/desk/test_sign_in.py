"""Signing in to the desk as oneself: one sentence for every refusal, a lock-out after
repeated wrong passwords, an idle timeout, a temporary password changed first, a form that
does not carry the page's token refused, the page's safety headers, and every sign-in,
sign-out, refusal and search in the access log. `casework staff password` sets them."""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from casework import services
from casework.core.db import make_engine, session_scope
from casework.core.errors import InputError
from casework.core.settings import get_settings
from casework.models import passwords
from casework.models.codes import Program, StaffRole
from casework.models.orm import StaffPassword
from tests.conftest import PG_URL
from tests.desk.conftest import PASSWORD, Agency, Desk, Served, as_role, staff


def _log(who: str) -> list[str]:
    return [entry.what for entry in services.staff.access_log(None, who)]


def test_a_wrong_password_and_an_unknown_staff_id_get_the_same_sentence(
    agency: Agency, served: Served
) -> None:
    desk = served.client()
    for staff_id, password in ((staff("cm2"), "not the password"), ("nobody.here", PASSWORD)):
        page = desk.sign_in(staff_id, password)
        assert page.status_code == 200
        assert "Staff id or password is not right." in page.text
        assert "casework_desk=" not in page.headers.get("set-cookie", "")
    assert _log(staff("cm2"))[0] == "sign_in_refused"
    assert _log("unknown")[0] == "sign_in_refused"  # what was typed is not kept: it may be a name
    assert desk.get("/day").headers["location"] == "/sign-in"


def test_repeated_wrong_passwords_lock_the_staff_member_out(agency: Agency, served: Served) -> None:
    desk = served.client()
    allowed = get_settings().desk_lockout_failures
    for _ in range(allowed - 1):
        assert "not right" in desk.sign_in(staff("sup"), "wrong password").text
    locked = desk.sign_in(staff("sup"), "wrong password")
    assert "Too many wrong passwords" in locked.text
    # Even the right password is refused while the lock lasts.
    assert "Too many wrong passwords" in desk.sign_in(staff("sup")).text
    assert "sign_in_locked_out" in _log(staff("sup"))
    # Once it has passed, the right password signs in (time is the caller's to give).
    with session_scope() as session:
        row = session.scalars(
            select(StaffPassword).where(StaffPassword.staff_id == staff("sup"))
        ).one()
        later = row.locked_until + timedelta(seconds=1)
        tried = passwords.attempt(
            session,
            staff("sup"),
            PASSWORD,
            later,
            failures_allowed=allowed,
            lockout=timedelta(minutes=15),
        )
    assert tried.verdict is passwords.Verdict.SIGNED_IN
    assert desk.sign_in(staff("sup")).status_code == 303


def test_a_sign_in_ends_after_the_idle_time_and_at_sign_out(agency: Agency, served: Served) -> None:
    desk = served.client()
    assert desk.sign_in(staff("cm1")).status_code == 303
    assert desk.get("/day").status_code == 200
    served.clock[0] += timedelta(minutes=get_settings().desk_idle_minutes + 1)
    away = desk.get("/day")
    assert away.headers["location"] == "/sign-in"
    assert "without activity" in desk.get("/sign-in").text
    assert _log(staff("cm1"))[0] == "sign_in_timed_out"
    assert desk.get("/day").headers["location"] == "/sign-in"  # and stays signed out

    desk.sign_in(staff("cm1"))
    token = desk.csrf()
    assert desk.post("/sign-out", {}, csrf=False).status_code == 403  # no token, no sign-out
    out = desk.http.post("/sign-out", data={"csrf": token})
    assert out.headers["location"] == "/sign-in"
    assert _log(staff("cm1"))[0] == "sign_out"
    assert desk.get("/day").headers["location"] == "/sign-in"


def test_a_sign_in_left_open_ends_on_its_own_and_closes_its_connections(
    agency: Agency, served: Served
) -> None:
    left = served.client()
    left.sign_in(staff("sup"))  # then the browser is closed, with no sign-out
    before = _log(staff("sup")).count("sign_in_timed_out")
    served.clock[0] += timedelta(minutes=get_settings().desk_idle_minutes + 1)
    other = served.client()
    other.sign_in(staff("cm2"))  # anyone's next request ends it
    assert _log(staff("sup")).count("sign_in_timed_out") == before + 1
    assert left.get("/day").headers["location"] == "/sign-in"
    assert _log(staff("sup")).count("sign_in_timed_out") == before + 1  # told once


def test_a_form_too_large_for_any_page_is_refused_and_changes_nothing(
    agency: Agency, served: Served
) -> None:
    desk = served.client()
    desk.sign_in(staff("cm1"))
    case = agency.cases["cm1"]
    huge = {"contact_type": "phone", "text": "x" * 1_100_000}
    assert desk.post(f"/cases/{case}/note", huge).status_code == 413
    assert "x" * 1000 not in desk.get(f"/cases/{case}").text


def _note_after_timeout(served: Served, case: str, text: str) -> Desk:
    """cm1 opens the desk, writes for longer than the idle time, then sends a note."""
    desk = served.client()
    desk.sign_in(staff("cm1"))
    token = desk.csrf()
    served.clock[0] += timedelta(minutes=get_settings().desk_idle_minutes + 5)
    data = {"csrf": token, "contact_type": "home_visit", "text": text}
    sent = desk.http.post(f"/cases/{case}/note", data=data)
    assert sent.headers["location"] == "/sign-in"
    assert "It is kept: sign in again to send it." in desk.get("/sign-in").text
    return desk


def test_a_form_sent_after_the_sign_in_ran_out_is_kept_for_its_author(
    agency: Agency, served: Served
) -> None:
    case = agency.cases["cm1"]
    text = "Long home visit notes, typed while the desk waited"
    desk = _note_after_timeout(served, case, text)
    assert desk.sign_in(staff("cm1")).headers["location"] == "/kept"
    kept = desk.get("/kept")
    assert "Nothing has been recorded yet" in kept.text
    assert text not in desk.get(f"/cases/{case}").text  # not sent until they say so
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', kept.text))
    assert fields["text"] == text
    assert desk.http.post(f"/cases/{case}/note", data=fields).status_code == 303
    assert text in desk.get(f"/cases/{case}").text
    assert desk.get("/kept").headers["location"] == "/"  # once only


def test_a_kept_form_is_never_offered_to_someone_else(agency: Agency, served: Served) -> None:
    case = agency.cases["cm1"]
    text = "Notes someone else must not send"
    desk = _note_after_timeout(served, case, text)
    assert desk.sign_in(staff("cm2")).headers["location"] == "/"  # the same browser
    assert desk.get("/kept").headers["location"] == "/"
    desk.http.cookies.clear()
    assert desk.sign_in(staff("cm1")).headers["location"] == "/"  # and it is gone for good


def test_a_password_someone_else_set_is_changed_first(agency: Agency, served: Served) -> None:
    temporary = "temporary password 123"
    with as_role(agency, staff("adm")):  # as `casework staff password` runs for an admin
        services.sign_in.set_password(staff("cm2"), temporary, staff("adm"), temporary=True)
    desk = served.client()
    assert desk.sign_in(staff("cm2"), temporary).headers["location"] == "/password"
    assert desk.get("/day").headers["location"] == "/password"
    page = desk.http.get("/password")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]

    def change(current: str, new: str, again: str) -> str:
        data = {"csrf": token, "current": current, "new": new, "again": again}
        return desk.http.post("/password", data=data).text

    assert "not the same" in change(temporary, "a new password 1", "a new password 2")
    assert "current password is not right" in change(
        "wrong", "a new password 1", "a new password 1"
    )
    assert "at least 12 characters" in change(temporary, "short", "short")
    done = desk.http.post(
        "/password",
        data={"csrf": token, "current": temporary, "new": PASSWORD, "again": PASSWORD},
    )
    assert done.headers["location"] == "/"
    assert desk.get("/day").status_code == 200
    assert "not right" in served.client().sign_in(staff("cm2"), temporary).text


def test_every_page_is_kept_out_of_caches_framed_by_nobody_and_forms_carry_a_token(
    agency: Agency, served: Served
) -> None:
    desk = served.client()
    signed = desk.sign_in(staff("cm1"))
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    for address in (
        "/sign-in",
        "/day",
        "/caseload",
        "/find",
        "/intake",
        f"/cases/{agency.cases['cm1']}",
        "/team",
    ):
        page = desk.get(address)
        assert page.headers["cache-control"] == "no-store", address
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # Only the desk's own script (the consent's signature box): nothing inline, nothing
        # from elsewhere.
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
        assert page.headers["x-content-type-options"] == "nosniff"
    searches = len(_log(staff("cm1")))
    refused = desk.post("/find", {"wanted": "anything"}, csrf=False)
    assert refused.status_code == 403
    assert len(_log(staff("cm1"))) == searches  # a refused form did nothing
    assert desk.post("/find", {"wanted": agency.clients["cm1"].family_name}).status_code == 200
    assert _log(staff("cm1"))[0] == "search_name"
    assert agency.clients["cm1"].family_name not in str(services.staff.access_log(None, None))
    # A sign-in form from another page (no token of its own) is refused.
    forged = served.client().http.post(
        "/sign-in", data={"staff_id": staff("cm1"), "password": PASSWORD}
    )
    assert forged.status_code == 403


def _casework(*argv: str, stdin: str = "", actor: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CASEWORK_ACTOR": actor}
    return subprocess.run(
        [sys.executable, "-m", "casework", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_staff_password_sets_a_desk_password_and_refuses_in_one_line(agency: Agency) -> None:
    if agency.backend != "sqlite":
        pytest.skip("as the data directory's owner, on the SQLite store")
    # The suite's OS login acts as the admin too (on SQLite, the login is who acts).
    services.staff.add_staff(
        staff("adm"), StaffRole.ADMIN, [Program.HOUSING], getpass.getuser(), "tests"
    )
    admin = staff("adm")
    short = _casework("staff", "password", staff("cm2"), "--stdin", stdin="short\n", actor=admin)
    assert short.returncode == 1
    assert short.stderr.count("\n") == 1
    assert "at least 12 characters" in short.stderr
    made = _casework("staff", "password", staff("cm2"), "--generate", actor=admin)
    assert made.returncode == 0, made.stderr
    given = made.stdout.strip()
    assert "temporary" in made.stderr
    assert services.sign_in.sign_in(staff("cm2"), given).temporary
    both = _casework("staff", "password", staff("cm2"), "--stdin", "--generate", actor=admin)
    assert both.returncode != 0
    assert both.stderr.count("\n") == 1
    services.sign_in.set_password(staff("cm2"), PASSWORD, staff("cm2"), temporary=False)


def test_on_a_new_machine_the_data_directorys_owner_sets_the_first_passwords(
    agency: Agency,
) -> None:
    if agency.backend != "sqlite":
        pytest.skip("the embedded store's first run")
    # The shipped roster maps no OS login: whoever runs the command owns the data directory.
    env = {
        **os.environ,
        "CASEWORK_STAFF_FILE": str(Path(__file__).parents[2] / "models" / "staff.toml"),
    }
    env.pop("CASEWORK_ACTOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "casework", "staff", "password", staff("cm1"), "--generate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert services.sign_in.sign_in(staff("cm1"), done.stdout.strip()).temporary
    services.sign_in.set_password(staff("cm1"), PASSWORD, staff("cm1"), temporary=False)


def test_only_an_admin_sets_someone_elses_password(agency: Agency) -> None:
    with pytest.raises(InputError, match="an admin's work"):
        services.sign_in.set_password(
            staff("cm2"), "someone else's pw", staff("cm1"), temporary=True
        )
    assert services.sign_in.sign_in(staff("cm2"), PASSWORD).member.id == staff("cm2")


def test_on_postgresql_the_role_has_the_same_password_hashed_by_postgresql(agency: Agency) -> None:
    if agency.backend != "postgresql":
        pytest.skip("PostgreSQL's role passwords")
    assert PG_URL is not None
    owner = make_engine(PG_URL)  # pg_authid: the cluster's superuser reads it
    try:
        with owner.connect() as connection:
            stored = connection.execute(
                text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": staff("cm1")}
            ).scalar()
    finally:
        owner.dispose()
    assert str(stored).startswith("SCRAM-SHA-256$")
    assert PASSWORD not in str(stored)
