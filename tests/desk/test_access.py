"""What each role may see and change through the desk, on SQLite and on PostgreSQL, tried
every way a person could: a case's address typed in, a search by number and by name, a
document's address, a form posted to a case not theirs, and (on PostgreSQL) the desk's own
connection as them. A case not theirs is "no case", exactly as for a number that does not
exist; a program manager sees coded figures and never a client."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from casework import services
from casework.core.db import AccessDenied, session_scope
from tests.desk.conftest import Agency, Served, staff


def test_a_case_manager_opens_their_own_case_and_no_other(agency: Agency, served: Served) -> None:
    mine, theirs = agency.cases["cm1"], agency.cases["cm2"]
    desk = served.client()
    assert desk.sign_in(staff("cm1")).status_code == 303
    page = desk.get(f"/cases/{mine}")
    assert page.status_code == 200
    assert agency.clients["cm1"].family_name in page.text

    for address in (f"/cases/{theirs}", "/cases/CASE-999999"):
        page = desk.get(address)
        assert page.status_code == 404
        assert "that you can open" in page.text
        assert agency.clients["cm2"].family_name not in page.text

    other = served.client()
    other.sign_in(staff("cm2"))
    assert other.get(f"/cases/{mine}/documents/{agency.document}").status_code == 404
    assert other.get(f"/cases/{mine}").status_code == 404
    for wanted in (mine, agency.clients["cm1"].family_name, "CLIENT-000001"):
        found = other.post("/find", {"wanted": wanted})
        assert found.status_code == 200
        assert "0 found" in found.text, wanted
        assert f"/cases/{mine}" not in found.text
    caseload = other.get("/caseload").text
    assert theirs in caseload
    assert mine not in caseload
    # Writing to it is refused as reading it is, and nothing is written.
    refused = other.post(f"/cases/{mine}/note", {"contact_type": "phone", "text": "not mine"})
    assert refused.status_code == 404
    assert "not mine" not in desk.get(f"/cases/{mine}").text
    # What cm1 read is in the access log, under cm1, as the store says.
    reads = services.staff.access_log(mine, None)
    assert {(r.staff, r.what) for r in reads} >= {(staff("cm1"), "show")}
    assert staff("cm2") not in {r.staff for r in reads}


def test_a_supervisor_sees_their_programs_cases_and_their_team(
    agency: Agency, served: Served
) -> None:
    desk = served.client()
    desk.sign_in(staff("sup"))
    caseload = desk.get("/caseload").text
    assert agency.cases["cm1"] in caseload
    assert agency.cases["cm2"] in caseload
    assert agency.cases["geriatric"] not in caseload
    assert desk.get(f"/cases/{agency.cases['geriatric']}").status_code == 404
    team = desk.get("/team").text
    assert staff("cm1") in team
    assert staff("cm2") in team
    assert desk.get(f"/cases/{agency.cases['cm2']}").status_code == 200


def test_a_program_manager_sees_coded_figures_and_never_a_client(
    agency: Agency, served: Served
) -> None:
    desk = served.client()
    desk.sign_in(staff("pm"))
    assert desk.get("/").headers["location"] == "/caseload"
    case = agency.cases["cm1"]
    names = [c.family_name for c in agency.clients.values()]
    for address in ("/caseload", f"/cases/{case}", "/find"):
        page = desk.get(address)
        assert page.status_code == 200, address
        assert not any(name in page.text for name in names), address
    assert case in desk.get("/caseload").text
    assert "Coded figures only" in desk.get(f"/cases/{case}").text
    assert (
        desk.post("/find", {"wanted": agency.clients["cm1"].family_name}).text.count("CASE-") == 0
    )
    assert desk.get("/intake").status_code == 403
    assert desk.get(f"/cases/{case}/documents/{agency.document}").status_code == 403
    note = desk.post(f"/cases/{case}/note", {"contact_type": "phone", "text": "pm note"})
    assert note.status_code == 403


@pytest.mark.parametrize("who", ["op", "adm"])
def test_operators_and_admins_work_from_the_command_line(
    agency: Agency, served: Served, who: str
) -> None:
    page = served.client().sign_in(staff(who))
    assert page.status_code == 200
    assert "The desk is for case managers, supervisors and program managers" in page.text


def test_on_postgresql_the_desk_reads_the_store_as_the_staff_member(
    agency: Agency, served: Served
) -> None:
    """The store's own policies decide: the desk's connection for a signed-in case manager
    is their database role, whose raw SQL sees their case only and no password hash."""
    if agency.backend != "postgresql":
        pytest.skip("PostgreSQL's roles and row-level security")
    signed = services.sign_in.sign_in(staff("cm2"), "desk password for the tests")
    try:
        with signed.engine.connect() as connection:
            assert connection.execute(text("SELECT session_user")).scalar() == staff("cm2")
            numbers = connection.execute(text("SELECT case_number FROM cases")).scalars().all()
            assert numbers == [agency.cases["cm2"]]
            names = connection.execute(text("SELECT family_name FROM clients")).scalars().all()
            assert names == [agency.clients["cm2"].family_name]
        with pytest.raises(AccessDenied), session_scope(signed.engine) as session:
            session.execute(text("SELECT hash FROM staff_passwords"))
    finally:
        signed.engine.dispose()


def test_appointments_are_booked_and_recorded_on_ones_own_cases_only(
    agency: Agency, served: Served
) -> None:
    """A booking posted to a case not theirs is "no case", and an appointment of another
    case cannot be recorded through one's own case's address; a program manager books
    none. Nothing is written by any of them."""
    from casework.models.codes import AppointmentKind

    mine, theirs = agency.cases["cm1"], agency.cases["cm2"]
    booked = services.appointments.book(
        mine, "2026-01-05 10:00", AppointmentKind.OFFICE, "Ms Lee", None, staff("cm1")
    )
    booking = {"at": "2031-01-05T10:00", "kind": "office", "with_whom": "not mine"}
    other = served.client()
    other.sign_in(staff("cm2"))
    assert other.post(f"/cases/{mine}/appointments", booking).status_code == 404
    moved = other.post(f"/cases/{theirs}/appointments/{booked.number}", {"outcome": "missed"})
    # (On PostgreSQL the store does not show it to them at all: "no appointment" either way.)
    assert f"no appointment {booked.number}" in moved.text
    manager = served.client()
    manager.sign_in(staff("pm"))
    assert manager.post(f"/cases/{mine}/appointments", booking).status_code == 403
    [kept] = services.appointments.for_case(mine)
    assert (kept.number, kept.status, kept.with_whom) == (booked.number, "scheduled", "Ms Lee")
    assert services.appointments.for_case(theirs) == []
