"""Case documents rendered for a whole case (through `casework doc`) and compared on their
content: what each says, what the referral letter leaves out, escaping, the stored hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from sqlalchemy import select

from casework.cli import main
from casework.core.db import migrate, session_scope
from casework.models import consents, contacts, referrals
from casework.models.orm import Client, Document, Provider
from casework.models.schemas import ContactIn
from casework.services.documents import render
from tests import factories


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


def _doc(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["doc", *argv])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    return Path(out.split(" (sha256")[0]).read_text()


@pytest.fixture
def whole_case() -> tuple[str, str, object]:
    """A case taken to closed through the store, with a referral, notes and a summary."""
    now = datetime.now(UTC)
    with session_scope() as session:
        case = factories.walk_to(
            session, factories.new_case(session), factories.Stage.REFERRAL, now
        )
        factories.provider(session, "hope-housing")
        consents.give(session, case, "hope-housing", now.date(), "cm.tester", now)
        factories.move(session, case, factories.referral_to("hope-housing"), now)
        [referral] = referrals.for_case(session, case)
        referrals.set_status(
            session, referral, factories.ReferralStatus.ACCEPTED, None, "partner", now
        )
        from casework.models import stage_events

        stage_events.record_stage(
            session,
            case.case_number or "",
            1,
            case.stage_key,
            None,
            "system",
            now,
            answer=factories.Trigger.ACCEPTED,
        )
        contacts.add_contact(
            session,
            case,
            ContactIn(text="Old <b>note</b> & more"),
            "cm.a",
            now - timedelta(days=40),
        )
        contacts.add_contact(
            session, case, ContactIn(text="Visited; lease <script>signed</script>"), "cm.a", now
        )
        factories.move(session, case, factories.monitoring(factories.Trigger.CLOSE), now)
        contacts.save_narrative(
            session, case, case.stage_key, "Housed and stable for 90 days.", "cm.a", now
        )
        factories.move(session, case, factories.closure(), now)
        return case.case_number or "", referral.reference or "", case.client


def test_documents_say_what_the_case_says(capsys, whole_case) -> None:
    case_number, reference, client = whole_case
    plan = _doc(capsys, case_number, "plan")
    assert f"# Service plan: {case_number}" in plan
    assert f"{client.given_name} {client.family_name}" in plan
    assert (
        "|---|---|---|---|---|\n"
        "| Housing | Secure permanent housing | lease signed and moved in |" in plan
    )  # labels, never codes, in what a client is given
    assert "Program:** Housing" in plan
    assert "Not started" in plan
    assert "cm.tester with the client" in plan

    letter = _doc(capsys, case_number, "referral", reference)
    assert f"# Referral {reference}" in letter
    assert "Service:** Housing search" in letter
    assert client.given_name in letter
    for withheld in (
        client.family_name,
        client.phone,
        client.address,
        client.id_number,
        client.date_of_birth.isoformat(),
    ):
        assert withheld not in letter, "a referral letter carries the minimum necessary only"

    today = date.today()
    notes = _doc(
        capsys, case_number, "notes", "--from", str(today - timedelta(days=7)), "--to", str(today)
    )
    assert "Contacts in the period:** 1" in notes
    assert "Old <b>note</b>" not in notes
    # The stage narratives of the period are part of the notes (a store-only document).
    assert "Stage narratives in the period:** 1" in notes
    assert "| Closure | cm.a | Housed and stable for 90 days. |" in notes

    closure = _doc(capsys, case_number, "closure", "--format", "html")
    assert "<h1>Closure summary: " in closure
    assert "<strong>Reason:</strong> Goals met" in closure
    assert "Housed and stable for 90 days." in closure


def test_html_is_escaped_and_every_document_is_kept_with_its_hash(
    capsys, whole_case, tmp_path
) -> None:
    case_number, _, _ = whole_case
    today = date.today()
    out = tmp_path / "notes.html"
    html = _doc(
        capsys,
        case_number,
        "notes",
        "--from",
        str(today),
        "--to",
        str(today),
        "--format",
        "html",
        "--out",
        str(out),
    )
    assert "lease &lt;script&gt;signed&lt;/script&gt;" in html
    assert "<script>" not in html
    with session_scope() as session:
        row = session.scalars(select(Document).where(Document.path == str(out.resolve()))).one()
        assert row.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
        assert (row.kind, row.format) == ("notes", "html")


def test_markdown_documents_escape_what_came_from_outside(capsys, whole_case) -> None:
    """A name or a provider's field is text, never a script, a link or a broken table."""
    case_number, reference, client = whole_case
    hostile = "<script>alert(1)</script> [pay here](javascript:alert(1)) | ** # x"
    with session_scope() as session:
        referral = referrals.get(session, reference)
        provider = session.scalars(select(Provider).where(Provider.key == referral.provider)).one()
        provider.organization = hostile
        session.get_one(Client, client.id).given_name = hostile
    for kind, extra in (("plan", []), ("referral", [reference])):
        text = _doc(capsys, case_number, kind, *extra)
        assert "<script>" not in text
        assert "](javascript:" not in text
        assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\[pay here\\]" in text
        assert "\\| \\*\\* \\# x" in text


def test_an_undefined_field_fails_the_render() -> None:
    with pytest.raises(UndefinedError):
        render("plan", "md", {"case": object(), "client": object()})


def test_a_document_that_does_not_apply_is_refused(capsys) -> None:
    with session_scope() as session:
        number = factories.new_case(session).case_number or ""
    for argv, expected in (
        ([number, "plan"], "has no plan yet"),
        ([number, "closure"], "is open; closure comes at closing"),
        ([number, "notes"], "--from/--to: a notes summary needs both dates"),
        ([number, "referral"], "reference: a referral letter needs the referral"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["doc", *argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 1
        assert expected in err
