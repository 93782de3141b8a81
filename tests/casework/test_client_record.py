"""A client's own copy (`casework client-record`): everything the store holds about them,
for a subject-access request. A supervisor makes it; it has their identity (and that of a
record merged into theirs), every row of every table that belongs to their cases or to
them, and who read their cases; making it is in the access log. On PostgreSQL as the
roles: tests/casework/test_access.py."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from casework.cli import main
from casework.core.db import migrate, session_scope
from casework.models import cases, client_record, contacts
from casework.models.base import Base
from casework.models.codes import Program
from casework.models.orm import AccessEntry, Case, Client
from casework.models.schemas import ContactIn
from tests import factories
from tests.conftest import SESSION_DIR, acting_as

SHOTS = SESSION_DIR / "screenshots"


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


def test_every_table_of_the_store_is_in_the_copy_or_says_why_not() -> None:
    """A table added to the store without a place in the copy fails here: the copy stays
    complete as the store grows."""
    tables = set(Base.metadata.tables)
    sections, left_out = set(client_record.SECTIONS), set(client_record.NOT_HELD_ABOUT_A_CLIENT)
    assert not sections & left_out
    assert tables == sections | left_out, tables ^ (sections | left_out)
    needs = {
        "case": ["case_id"],
        "client": ["client_id"],
        "either": ["case_id", "client_id"],
        "plan": ["plan_id"],
        "referral": ["referral_id"],
    }
    for table, (reach, _) in client_record.SECTIONS.items():
        for column in needs[reach]:
            assert column in Base.metadata.tables[table].c, (table, column)


@pytest.fixture
def a_clients_record() -> tuple[str, list[str], str]:
    """A client with a housing case taken to closure (a referral under a consent, notes, a
    narrative), a second, open case in another program, and an older record of them
    merged into theirs: the client number, their case numbers, the merged record's."""
    now = datetime.now(UTC)
    with session_scope() as session:
        case, referral = factories.referred_case(session, now)
        contacts.add_contact(
            session,
            case,
            ContactIn(text="Called the landlord about the deposit"),
            "cm.a",
            now - timedelta(days=3),
        )
        contacts.save_narrative(
            session, case, case.stage_key, "Worried about the winter heating bill.", "cm.a", now
        )
        client = case.client
        other = cases.open_case(
            session, client, Program.GERIATRIC, factories.STAFF, factories.STAFF, now
        )
        older = factories.new_case(session, Program.HEALTHCARE)
        session.flush()
        number, older_number = client.client_number or "", older.client.client_number or ""
        cases_of = [case.case_number or "", other.case_number or ""]
        given = older.client.given_name
    with acting_as("sup.tester"):
        assert main_code(["merge", number, older_number]) == 0
    return number, cases_of + [_case_of(older_number)], given


def _case_of(client_number: str) -> str:
    with session_scope(read_only=True) as session:
        client = session.scalars(select(Client).where(Client.client_number == client_number)).one()
        kept = session.get(Client, client.merged_into_id)
        assert kept is not None
        found = session.scalars(
            select(Case.case_number).where(Case.client_id == kept.id).order_by(Case.id.desc())
        ).first()
        return found or ""


def main_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exit_info:
        return int(exit_info.code or 0)
    return 0


def test_a_supervisor_makes_a_clients_whole_copy_and_it_is_logged(
    capsys: pytest.CaptureFixture[str], a_clients_record, tmp_path: Path
) -> None:
    number, case_numbers, merged_given = a_clients_record
    capsys.readouterr()
    out = tmp_path / "copy.md"
    with acting_as("sup.tester"):
        assert main_code(["client-record", number, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"{number}: everything held about them in 3 case(s) -> {out}" in said
    copy = out.read_text()
    with session_scope(read_only=True) as session:
        client = session.scalars(select(Client).where(Client.client_number == number)).one()
        assert client.family_name in copy
        assert client.date_of_birth.isoformat() in copy
    assert merged_given in copy  # the record merged into theirs is theirs too
    for case_number in case_numbers:
        assert case_number in copy
    assert "Called the landlord about the deposit" in copy
    assert "Worried about the winter heating bill." in copy
    assert "hope-housing" in copy
    # Every row the store holds of every table the copy reads is in it, one entry each.
    with session_scope(read_only=True) as session:
        record = client_record.gather(session, number, {p.value for p in Program})
        for table, (reach, heading) in client_record.SECTIONS.items():
            case_ids = list(
                session.scalars(select(Case.id).where(Case.case_number.in_(case_numbers)))
            )
            held = session.scalar(
                select(func.count()).select_from(
                    client_record._rows_of(table, reach, case_ids, _client_ids(session, number))
                    .order_by(None)
                    .subquery()
                )
            )
            given = next((s for s in record.sections if s.table == table), None)
            assert (len(given.rows) if given else 0) == held, table
            if held:
                assert heading.replace("'", "&#39;") in copy or heading in copy, heading
        # The copy's making is in the access log, for each case it read.
        logged = session.scalars(
            select(Case.case_number)
            .join(AccessEntry, AccessEntry.case_id == Case.id)
            .where(AccessEntry.what == "client_record", AccessEntry.staff == "sup.tester")
        ).all()
        assert set(case_numbers) <= set(logged)
    # ...and a second copy lists the first one's making among who read the cases.
    again = tmp_path / "again.md"
    with acting_as("sup.tester"):
        assert main_code(["client-record", number, "--out", str(again)]) == 0
    assert "client\\_record" in again.read_text()


def _client_ids(session, number: str) -> list[int]:  # type: ignore[no-untyped-def]
    kept = session.scalars(select(Client.id).where(Client.client_number == number)).one()
    merged = session.scalars(select(Client.id).where(Client.merged_into_id == kept)).all()
    return [kept, *merged]


def test_only_a_supervisor_makes_a_copy_and_bad_input_changes_nothing(
    capsys: pytest.CaptureFixture[str], a_clients_record, tmp_path: Path
) -> None:
    number, *_ = a_clients_record

    def refused(expected: str, *argv: str) -> None:
        capsys.readouterr()
        assert main_code(["client-record", *argv]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert expected in err, err

    def logged() -> int:
        with session_scope(read_only=True) as session:
            count = select(func.count()).where(AccessEntry.what == "client_record")
            return session.scalar(count.select_from(AccessEntry)) or 0

    before = logged()
    with acting_as("tester"):  # a case manager
        refused("a supervisor's work", number, "--out", str(tmp_path / "copy.pdf"))
    with acting_as("sup.tester"):
        refused("must end in .pdf, .html or .md", number, "--out", str(tmp_path / "c.docx"))
        refused("no client CLIENT-999999", "CLIENT-999999", "--out", str(tmp_path / "c.md"))
        (tmp_path / "there.md").write_text("someone's file")
        refused("already exists", number, "--out", str(tmp_path / "there.md"))
        refused("inside Casework's data", number, "--out", str(SESSION_DIR / "copy.md"))
    assert (tmp_path / "there.md").read_text() == "someone's file"
    assert not (tmp_path / "copy.pdf").exists()
    assert logged() == before  # nothing read, nothing logged


def test_the_copy_prints_as_pdf_people_can_read(
    capsys: pytest.CaptureFixture[str], a_clients_record, tmp_path: Path
) -> None:
    """Printed, as it is posted or handed to the client: every section on pages, looked at
    as pictures (the first page is kept with the session's screenshots)."""
    number, *_ = a_clients_record
    out = tmp_path / "copy.pdf"
    with acting_as("sup.tester"):
        assert main_code(["client-record", number, "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o077 == 0  # the owner's alone
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(out).pages).split())
    assert f"What we hold about you: {number}" in text
    assert "Who read your cases" in text
    assert "sup.tester" in text.split("Who read your cases")[-1]  # this copy's own making
    assert "Called the landlord about the deposit" in text
    SHOTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", out, SHOTS / "client-record"],
        check=True,
    )
    assert (SHOTS / "client-record-1.png").exists() or (SHOTS / "client-record-01.png").exists()
