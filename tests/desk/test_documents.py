"""Documents made and opened on the desk, on SQLite and on PostgreSQL as the staff member:
a hearing request printed from a notice as PDF, opened as PDF by its case manager and by
no one else, every opening in the access log."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

from pypdf import PdfReader

from casework import services
from casework.core.db import session_scope
from casework.models import cases
from casework.models.codes import NoticeAction
from tests import factories
from tests.desk.conftest import Agency, Served, as_role, staff


def test_a_case_manager_prints_a_hearing_request_from_a_notice(
    agency: Agency, served: Served
) -> None:
    number, client = agency.cases["cm1"], agency.clients["cm1"]
    today = date.today()
    with as_role(agency, staff("cm1")), session_scope() as session:
        case = cases.get_case(session, number)
        factories.notice(session, case, today, today + timedelta(days=12), NoticeAction.DENY)

    desk = served.client()
    desk.sign_in(staff("cm1"))
    page = desk.get(f"/cases/{number}").text
    assert "Print a hearing request on notice 1 (PDF)" in page
    made = desk.post(f"/cases/{number}/documents", {"kind": "hearing-request", "notice": "1"})
    assert made.status_code == 303, made.text
    page = desk.get(f"/cases/{number}").text
    assert "The hearing request is made (PDF); open it below." in page
    link = re.search(rf'href="(/cases/{number}/documents/(\d+))">Hearing request \(PDF\)', page)
    assert link, "the printed letter is listed with its format"

    opened = desk.get(link.group(1))
    assert opened.status_code == 200
    assert opened.headers["content-type"] == "application/pdf"
    assert opened.content.startswith(b"%PDF-")
    text = PdfReader(io.BytesIO(opened.content)).pages[0].extract_text()
    assert f"{client.family_name}, {client.given_name}" in text
    assert "Request for a fair hearing" in text

    # A case manager of another case, and a program manager, cannot open it by its address.
    for who, refused in (("cm2", 404), ("pm", 403)):
        other = served.client()
        other.sign_in(staff(who))
        assert other.get(link.group(1)).status_code == refused, who
    reads = services.staff.access_log(number, None)
    assert (staff("cm1"), "doc_open:hearing-request") in {(r.staff, r.what) for r in reads}
    assert {r.staff for r in reads if r.what.startswith("doc_open")} == {staff("cm1")}


def test_a_document_asked_for_in_an_unknown_format_is_refused_and_nothing_is_made(
    agency: Agency, served: Served
) -> None:
    number = agency.cases["cm1"]
    desk = served.client()
    desk.sign_in(staff("cm1"))
    before = len(services.documents.listing(number))
    refused = desk.post(f"/cases/{number}/documents", {"kind": "notes", "format": "docx"})
    assert refused.status_code == 200
    assert "Choose PDF or a web page." in refused.text
    assert len(services.documents.listing(number)) == before


def test_a_supervisor_saves_a_clients_own_copy_and_a_case_manager_cannot(
    agency: Agency, served: Served
) -> None:
    """On the case's page, for a client who asks what is held about them: the supervisor's
    button gives the PDF to save (on PostgreSQL read as the supervisor's own role), in the
    access log; a case manager has no button, and a post of their own is refused."""
    number, client = agency.cases["cm1"], agency.clients["cm1"]
    desk = served.client()
    desk.sign_in(staff("sup"))
    page = desk.get(f"/cases/{number}").text
    assert "Make the client's own copy" in page
    made = desk.post(f"/cases/{number}/client-record", {})
    assert made.status_code == 200, made.text
    assert made.headers["content-type"] == "application/pdf"
    assert "attachment;" in made.headers["content-disposition"]
    text = " ".join(
        " ".join(page.extract_text() for page in PdfReader(io.BytesIO(made.content)).pages).split()
    )
    assert "What we hold about you" in text
    assert client.family_name in text
    assert number in text
    reads = services.staff.access_log(number, None)
    assert (staff("sup"), "client_record") in {(r.staff, r.what) for r in reads}

    mine = served.client()
    mine.sign_in(staff("cm1"))
    assert "own copy" not in mine.get(f"/cases/{number}").text
    refused = mine.post(f"/cases/{number}/client-record", {})
    assert refused.status_code == 200
    assert "client-record: a supervisor&#39;s work" in refused.text
    reads = services.staff.access_log(number, None)
    assert (staff("cm1"), "client_record") not in {(r.staff, r.what) for r in reads}
