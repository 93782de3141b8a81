"""Consent the client signs, as case managers give it: `casework consent` with its scope
and end, the consent form printed to sign (`casework doc CASE consent CON-…`, a PDF looked
at as a picture), a signed scan attached (`--signed-scan`, or `--sign CON-…` later), and a
consent signed on the desk's signature box (the service the desk calls: the client's typed
name and drawn signature, the witnessing staff member, on a PDF kept as an attachment).
Bad input gets one line and changes nothing. The desk's own test: tests/ui/."""

from __future__ import annotations

import base64
import io
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader
from sqlalchemy import func, select

from casework import services
from casework.core.db import migrate, session_scope
from casework.core.errors import InputError
from casework.models.orm import Attachment, Consent
from tests import factories
from tests.casework.test_attachments import pdf
from tests.casework.test_cli import run_cli
from tests.casework.test_documents import SHOTS, _ink


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


def _case() -> tuple[str, str]:
    with session_scope() as session:
        case = factories.new_case(session)
        return case.case_number or "", case.client.family_name


def drawn(blank: bool = False) -> str:
    """A signature as the desk's box posts it: a PNG data URL (a scrawl, or nothing)."""
    image = Image.new("RGBA", (600, 160), (0, 0, 0, 0))
    if not blank:
        ImageDraw.Draw(image).line([(20, 120), (140, 30), (260, 130), (420, 40)], "black", 4)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _counts() -> tuple[int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(Consent)) or 0,
            session.scalar(select(func.count()).select_from(Attachment)) or 0,
        )


def test_a_consent_recorded_printed_and_signed_on_paper(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    number, family = _case()
    ends = date.today() + timedelta(days=180)
    code, out, err = run_cli(
        capsys, "consent", number, "--provider", "*", "--scope", "case_record",
        "--kind", "release_of_information", "--expires", ends.isoformat(),
    )  # fmt: skip
    assert code == 0, err
    consent = out.split()[1].rstrip(",")
    assert consent.startswith("CON-")
    assert f"until {ends}" in out

    form = tmp_path / "consent.pdf"
    code, _, err = run_cli(capsys, "doc", number, "consent", consent, "--out", str(form))
    assert code == 0, err
    text = " ".join(page.extract_text() for page in PdfReader(form).pages)
    assert "Release of information" in text
    assert family in text  # the client, named as they sign
    assert "The case record" in text
    assert f"Until: {ends}" in text
    assert "I may withdraw this consent at any time" in text
    if shutil.which("pdftoppm"):  # looked at as a picture: a page with writing on it
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert 0.005 < _ink(form, SHOTS / "consent-form-pdf") < 0.2

    scan = tmp_path / "signed.pdf"
    scan.write_bytes(pdf(b"signed on paper"))
    code, out, err = run_cli(
        capsys, "consent", number, "--sign", consent, "--signed-scan", str(scan)
    )
    assert code == 0, err
    assert f"{consent} signed (ATT-" in out
    code, out, _ = run_cli(capsys, "show", number)
    [line] = [x for x in out.splitlines() if x.startswith(f"consent {consent}")]
    assert "signed" in line
    assert "witness tester" in line
    assert "[in_force]" in line


def test_a_consent_signed_on_the_desks_box_is_kept_as_its_signed_form(
    tmp_path: Path,
) -> None:
    number, family = _case()
    consent = services.referrals.give_consent(number, "*", date.today(), "tester")
    before = _counts()
    for name, signature, said in (
        ("", drawn(), "Type the client's name"),
        ("Maria Quennell", drawn(blank=True), "sign in the box"),
        ("Maria Quennell", "data:image/png;base64,not-base64!", "sign in the box"),
        ("Maria Quennell", "data:image/gif;base64,R0lGOD", "sign in the box"),
    ):
        with pytest.raises(InputError, match=said):
            services.referrals.sign_consent(number, consent, name, signature, "tester")
    assert _counts() == before

    kept = services.referrals.sign_consent(number, consent, "Maria Quennell", drawn(), "tester")
    opened = services.attachments.open_attachment(number, kept, "tester")
    assert opened.media_type == "application/pdf"
    (tmp_path / "signed.pdf").write_bytes(opened.content)
    text = " ".join(p.extract_text() for p in PdfReader(tmp_path / "signed.pdf").pages)
    assert "Name: Maria Quennell" in text
    assert "Witnessed by (staff): tester" in text
    assert "drawn above" in text
    if shutil.which("pdftoppm"):
        assert 0.005 < _ink(tmp_path / "signed.pdf", SHOTS / "consent-signed-pdf") < 0.2
    with pytest.raises(InputError, match="signed already"):
        services.referrals.sign_consent(number, consent, "Maria Quennell", drawn(), "tester")


def test_bad_consents_are_refused_in_one_line_and_change_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    number, _ = _case()
    before = _counts()
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    for argv, said in (
        (("consent", number, "--provider", "*", "--expires", yesterday), "is not after today"),
        (("consent", number, "--provider", "*", "--scope", "everything"), "--scope"),
        (("consent", number, "--sign", "CON-000001"), "--signed-scan"),
        (("consent", number), "--provider"),
        (("consent", number, "--sign", "CON-999999", "--signed-scan", __file__), "no consent"),
        (("doc", number, "consent"), "needs the consent (CON-"),
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code != 0, argv
        assert err.strip().count("\n") == 0, err
        assert said in err, (argv, err)
    assert _counts() == before
