"""Files kept with a case, by `casework attach`, `attachments` and `attachment`: sealed in
the store (their bytes not findable in its file), typed by their content, refused when too
large or not a document, image or recording, scanned by a real ClamAV daemon where one runs
(Debian's clamav-daemon, with a signature database of the EICAR test file alone), opened
into a file by those who read the client's record, every listing and opening in the access
log; the keys rotated with every file still opening; a merged client's cases keep theirs.
On PostgreSQL, as each role: tests/casework/test_access.py."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from casework.core import vault
from casework.core.db import migrate, session_scope
from casework.core.settings import get_settings
from casework.models import audit, cases
from casework.models.orm import Attachment, Case
from tests import factories
from tests.casework.test_cli import run_cli
from tests.conftest import SESSION_DIR, acting_as, environment
from tests.on_disk import bytes_on_disk
from tests.polling import wait_for

SECRET = b"Passport GB 533380006 of Maria Quennell, valid until 2031"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


def pdf(text: bytes = SECRET) -> bytes:
    """A small PDF carrying `text` in the clear (as a scan's text layer would)."""
    return b"%PDF-1.4\n1 0 obj <<>> stream\n" + text + b"\nendstream endobj\n%%EOF\n"


def _case() -> str:
    with session_scope() as session:
        return factories.new_case(session).case_number or ""


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _stored() -> list[Attachment]:
    with session_scope() as session:
        return list(session.scalars(select(Attachment)))


def _store_bytes() -> bytes:
    """Every byte of the SQLite store as it lies on disk (its write-ahead log too)."""
    store = Path(get_settings().store_url.split("///", 1)[1])
    return bytes_on_disk(store, Path(f"{store}-wal"))


def _accesses(case_number: str) -> list[str]:
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        return [e.what for e, _ in audit.accesses(session, case)]


def test_a_file_is_kept_sealed_listed_and_opened_by_its_case_manager(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    number = _case()
    given = _file(tmp_path, "passport scan.pdf", pdf())
    code, out, err = run_cli(
        capsys, "attach", number, str(given), "--kind", "id_document", "--note", "Front page"
    )
    assert code == 0, err
    assert "no ClamAV is configured (CASEWORK_CLAMD)" in err  # said, not hidden
    assert "application/pdf" in out
    assert SECRET not in _store_bytes()  # sealed before it reached the store

    code, out, _ = run_cli(capsys, "attachments", number)
    assert code == 0
    [line] = out.strip().splitlines()
    attachment = line.split()[0]
    assert "id_document" in line
    assert "passport scan.pdf" in line
    assert "(not scanned)" in line
    assert "Front page" in line

    opened = tmp_path / "opened.pdf"
    code, out, err = run_cli(capsys, "attachment", number, attachment, "--out", str(opened))
    assert code == 0, err
    assert opened.read_bytes() == pdf()
    assert opened.stat().st_mode & 0o077 == 0  # written for its reader only
    assert _accesses(number)[:2] == [f"attachment:{attachment}", "attachments"]

    from casework.tasks.case_card import card_markdown

    card = card_markdown(number)
    assert "- attachments: 1 (id document 1)" in card
    assert "passport" not in card.lower()
    assert "Front page" not in card


def test_bad_files_are_refused_in_one_line_and_nothing_is_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = _case()
    before = len(_stored())
    disguised = _file(tmp_path, "payslip.pdf", b"#!/bin/sh\necho not a payslip\n" * 20)
    zipped = _file(tmp_path, "payslip.pdf.zip", b"PK\x03\x04" + b"\0" * 200)
    refusals = [
        (("attach", number, str(disguised), "--kind", "income_proof"), "payslip.pdf: its"),
        (("attach", number, str(zipped), "--kind", "income_proof"), "application/zip content"),
        (("attach", number, str(tmp_path / "nothing.pdf"), "--kind", "other"), "cannot read"),
        (("attach", number, str(disguised), "--kind", "passport"), "--kind"),
        (("attach", "CASE-999999", str(disguised), "--kind", "other"), "no case CASE-999999"),
        (("attachment", number, "ATT-999999", "--out", str(tmp_path / "x")), "no attachment"),
        (("attachment", number, "nonsense", "--out", str(tmp_path / "x")), "not an attachment"),
    ]
    for argv, said in refusals:
        code, out, err = run_cli(capsys, *argv)
        assert code != 0, argv
        assert err.strip().count("\n") == 0, err
        assert said in err, (argv, err)
    monkeypatch.setenv("CASEWORK_ATTACHMENT_MAX_BYTES", "2048")
    get_settings.cache_clear()
    try:
        big = _file(tmp_path, "big.pdf", pdf(b"x" * 4096))
        code, _, err = run_cli(capsys, "attach", number, str(big), "--kind", "other")
        assert code != 0
        assert "big.pdf: it is larger than an attachment may be (2 KB" in err
    finally:
        monkeypatch.delenv("CASEWORK_ATTACHMENT_MAX_BYTES")
        get_settings.cache_clear()
    assert len(_stored()) == before


def test_a_program_manager_neither_lists_nor_opens_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    number = _case()
    run_cli(capsys, "attach", number, str(_file(tmp_path, "a.pdf", pdf())), "--kind", "other")
    [row] = [a for a in _stored() if a.case_id == _case_id(number)]
    with signed_in_as("pm.housing", tmp_path):
        for argv in (
            ("attachments", number),
            ("attachment", number, f"ATT-{row.id:06d}", "--out", str(tmp_path / "o.pdf")),
        ):
            code, _, err = run_cli(capsys, *argv)
            assert code != 0
            assert "read and added by case managers and supervisors" in err
    assert not (tmp_path / "o.pdf").exists()


def signed_in_as(staff_id: str, folder: Path) -> contextlib.AbstractContextManager[None]:
    """This process's commands signed in as `staff_id` (this OS login mapped to them
    alone), and the session's sign-in, settings included, as it was afterwards."""
    roster = str(_roster_with_login(staff_id, folder))
    return environment(CASEWORK_ACTOR=staff_id, CASEWORK_STAFF_FILE=roster)


def _case_id(number: str) -> int:
    with session_scope() as session:
        return cases.get_case(session, number).id


def _roster_with_login(staff_id: str, folder: Path) -> Path:
    """The suite's roster, this OS login acting as `staff_id` only."""
    import getpass

    text = (SESSION_DIR / "staff.toml").read_text().replace(f'login = "{getpass.getuser()}"\n', "")
    text = text.replace(
        f'id = "{staff_id}"\n', f'id = "{staff_id}"\nlogin = "{getpass.getuser()}"\n'
    )
    path = folder / "staff.toml"
    path.write_text(text)
    return path


def test_rotating_the_key_reseals_every_file_and_each_still_opens(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    number = _case()
    run_cli(capsys, "attach", number, str(_file(tmp_path, "r.pdf", pdf())), "--kind", "other")
    before = {a.id: a.content for a in _stored()}
    code, out, err = run_cli(capsys, "attachment-keys", "--rotate")
    assert code == 0, err
    assert f"{len(before)} attachment(s) sealed again" in out
    after = {a.id: a.content for a in _stored()}
    assert all(after[i] != before[i] for i in before)
    # The old key removed, as the operator does once every copy of the file is rotated:
    # every file still opens with the new one alone.
    vault.keys_path().write_bytes(vault.keys_path().read_bytes().split(b"\n", 1)[0] + b"\n")
    row = max(before)
    code, _, err = run_cli(
        capsys, "attachment", number, f"ATT-{row:06d}", "--out", str(tmp_path / "back.pdf")
    )
    assert code == 0, err
    assert (tmp_path / "back.pdf").read_bytes() == pdf()


def test_a_merged_clients_cases_keep_their_attachments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with session_scope() as session:
        kept = factories.new_case(session)
        merged = factories.new_case(session, factories.Program.GERIATRIC)
        kept_client, merged_client = kept.client.client_number, merged.client.client_number
        number = merged.case_number or ""
    run_cli(capsys, "attach", number, str(_file(tmp_path, "m.pdf", pdf())), "--kind", "other")
    with acting_as("sup.tester"):
        code, _, err = run_cli(capsys, "merge", kept_client or "", merged_client or "")
    assert code == 0, err
    with session_scope() as session:
        moved = session.scalars(select(Case).where(Case.case_number == number)).one()
        assert moved.client.client_number == kept_client
    code, out, _ = run_cli(capsys, "attachments", number)
    assert "m.pdf" in out
    attachment = out.split()[0]
    code, _, err = run_cli(capsys, "attachment", number, attachment, "--out", str(tmp_path / "m"))
    assert code == 0, err
    assert (tmp_path / "m").read_bytes() == pdf()


# -- a real ClamAV daemon ----------------------------------------------------------------


@pytest.fixture(scope="module")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's clamd on a socket of its own, its signature database the EICAR test file's
    hash alone (made by ClamAV's own sigtool): the machine has no internet for freshclam."""
    if shutil.which("clamd") is None and not Path("/usr/sbin/clamd").exists():
        pytest.skip("no ClamAV daemon (Debian's clamav-daemon) on this machine")
    folder = tmp_path_factory.mktemp("clamd")
    (folder / "db").mkdir()
    (folder / "eicar.com").write_bytes(EICAR)
    signature = subprocess.run(
        ["sigtool", "--md5", str(folder / "eicar.com")], capture_output=True, check=True
    ).stdout
    (folder / "db" / "eicar.hdb").write_bytes(signature)
    socket = folder / "clamd.sock"
    (folder / "clamd.conf").write_text(
        f"LocalSocket {socket}\nDatabaseDirectory {folder / 'db'}\nForeground yes\n"
        f"LogFile {folder / 'clamd.log'}\nUser {__import__('getpass').getuser()}\n"
    )
    daemon = subprocess.Popen(
        [shutil.which("clamd") or "/usr/sbin/clamd", "-c", str(folder / "clamd.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("clamd to listen", socket.exists, timeout=60, every=0.2)
        yield f"unix:{socket}"
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def test_the_eicar_file_is_refused_where_clamav_runs(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    clamd: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    number = _case()
    before = len(_stored())
    monkeypatch.setenv("CASEWORK_CLAMD", clamd)
    get_settings.cache_clear()
    try:
        code, _, err = run_cli(
            capsys, "attach", number, str(_file(tmp_path, "x.pdf", EICAR)), "--kind", "other"
        )
        assert code != 0
        assert err.strip().count("\n") == 0
        assert "the malware scanner found eicar" in err
        assert "nothing was attached" in err
        assert len(_stored()) == before
        code, out, err = run_cli(
            capsys, "attach", number, str(_file(tmp_path, "ok.pdf", pdf())), "--kind", "other"
        )
        assert code == 0, err
        assert "scanned: clean" in out
        assert "no ClamAV" not in err
        # A scanner configured and not answering: nothing is kept unscanned.
        monkeypatch.setenv("CASEWORK_CLAMD", f"unix:{tmp_path / 'gone.sock'}")
        get_settings.cache_clear()
        code, _, err = run_cli(
            capsys, "attach", number, str(_file(tmp_path, "ok2.pdf", pdf())), "--kind", "other"
        )
        assert code != 0
        assert "did not answer" in err
        assert len(_stored()) == before + 1
    finally:
        monkeypatch.delenv("CASEWORK_CLAMD")
        get_settings.cache_clear()
