"""Case documents rendered for a whole case (through `casework doc`) and compared on their
content: what each says, what the referral letter leaves out, escaping, the stored hash."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from pypdf import PdfReader
from sqlalchemy import func, select

from casework.cli import main
from casework.core.db import migrate, session_scope
from casework.core.settings import get_settings
from casework.models import contacts, referrals
from casework.models.codes import NoticeAction
from casework.models.orm import Client, Document, Provider
from casework.models.schemas import ContactIn
from casework.services.documents import markdown_text, render
from tests import factories
from tests.conftest import SESSION_DIR

SHOTS = SESSION_DIR / "screenshots"


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
        case, referral = factories.referred_case(session, now)
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
        # The brackets are escaped, so the parenthesis after them is only text.
        assert "&lt;script&gt;alert(1)&lt;/script&gt; \\[pay here\\](javascript:alert(1))" in text
        assert "\\| \\*\\* # x" in text


def test_markdown_keeps_ordinary_punctuation_as_written() -> None:
    """A label or a note reads as typed: only what Markdown would take as markup is escaped."""
    assert markdown_text("SNAP (food assistance)") == "SNAP (food assistance)"
    assert markdown_text("Rent: $900 + utilities! #2") == "Rent: $900 + utilities! #2"
    assert markdown_text("# heading\n+ item\n1. first") == "\\# heading\n\\+ item\n1\\. first"


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


@pytest.fixture
def agency(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CASEWORK_AGENCY_NAME", "Riverside Family Services")
    monkeypatch.setenv("CASEWORK_AGENCY_ADDRESS", "12 Main Street, Springfield, IL 62701")
    monkeypatch.setenv("CASEWORK_AGENCY_PHONE", "(217) 555-0100")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _ink(pdf: Path, out: Path) -> float:
    """The share of a page's pixels that are ink, from pdftoppm's picture of page 1 (kept
    as `out`.png beside a grey map it reads)."""
    first_page = ["pdftoppm", "-r", "60", "-f", "1", "-l", "1"]
    subprocess.run([*first_page, "-png", pdf, out], check=True)
    gray = subprocess.run([*first_page, "-gray", pdf], check=True, capture_output=True).stdout
    _, size, _, pixels = gray.split(b"\n", 3)  # P5, "W H", 255, then one byte per pixel
    width, height = map(int, size.split())
    assert len(pixels) == width * height
    return sum(1 for value in pixels if value < 128) / len(pixels)


def test_the_hearing_request_prints_as_pdf_on_the_agency_letterhead(
    capsys, agency, tmp_path
) -> None:
    """The letter a client signs is made as PDF by default: a Letter page with the agency's
    name and address on top, the benefit's name as written (no Markdown escapes), the
    client's name as the form asks, and the page counted. Kept with its hash, as any."""
    today = date.today()
    with session_scope() as session:
        case = factories.new_case(session)
        factories.notice(session, case, today, today + timedelta(days=12), NoticeAction.DENY)
        number, client = case.case_number or "", case.client
        family, given = client.family_name, client.given_name
    with pytest.raises(SystemExit) as exit_info:
        main(["doc", number, "hearing-request", "--notice", "1"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    path = Path(out.split(" (sha256")[0])
    assert path.suffix == ".pdf"
    reader = PdfReader(path)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)  # US Letter
    text = reader.pages[0].extract_text()
    lines = [line.strip() for line in text.splitlines()]
    assert lines[:3] == [
        "Riverside Family Services",
        "12 Main Street, Springfield, IL 62701",
        "(217) 555-0100",
    ]
    assert "Request for a fair hearing" in text
    assert "SNAP (food assistance)" in text
    assert "\\" not in text
    assert f"{family}, {given}" in text
    assert f"I request a fair hearing about the notice dated {today}" in text
    assert "Page 1 of 1" in text
    with session_scope() as session:
        row = session.scalars(select(Document).where(Document.path == str(path))).one()
        assert (row.kind, row.format) == ("hearing-request", "pdf")
        assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    if shutil.which("pdftoppm"):  # looked at as a picture: a page with writing on it
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert 0.005 < _ink(path, SHOTS / "hearing-request-pdf") < 0.2


def test_a_pdf_names_what_is_missing_when_the_system_cannot_print(
    capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Pango, WeasyPrint cannot load: the PDF is refused in one line saying what to
    install, and nothing is kept; Markdown still works."""
    import builtins

    real_import = builtins.__import__

    def no_pango(name: str, *args: object, **kwargs: object) -> object:
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0': No such file")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    with session_scope() as session:
        case = factories.new_case(session)
        factories.notice(
            session, case, date.today(), date.today() + timedelta(days=12), NoticeAction.DENY
        )
        number = case.case_number or ""
        kept = session.scalar(select(func.count(Document.id)))
    monkeypatch.setattr(builtins, "__import__", no_pango)
    with pytest.raises(SystemExit) as exit_info:
        main(["doc", number, "hearing-request", "--notice", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.count("\n") == 1
    assert "install Debian's libpango-1.0-0 and libpangoft2-1.0-0" in err
    with session_scope() as session:
        assert session.scalar(select(func.count(Document.id))) == kept
    assert "Request for a fair hearing" in _doc(
        capsys, number, "hearing-request", "--notice", "1", "--format", "md"
    )
