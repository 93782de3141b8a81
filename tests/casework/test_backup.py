"""`casework backup` and `casework restore` as an operator runs them on an embedded stack:
a copy with its manifest and checksums, restored into a new data directory that holds the
same cases; and every way a restore could go wrong refused in one line, writing nothing."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from casework.core.db import migrate, session_scope
from casework.core.settings import get_settings
from tests import factories
from tests.casework.test_cli import run_cli


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


@pytest.fixture(autouse=True)
def _own_environment() -> Iterator[None]:
    """`--data-dir` points this process's environment at another data directory, as it
    does a command's: put the session's back after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def _cases(store: Path) -> list[str]:
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        return [row[0] for row in db.execute("SELECT case_number FROM cases ORDER BY id")]


@pytest.fixture
def backed_up(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    from tests.casework.test_attachments import pdf

    with session_scope() as session:
        number = factories.new_case(session).case_number or ""
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(pdf())
    code, out, err = run_cli(capsys, "attach", number, str(scan), "--kind", "id_document")
    assert code == 0, err
    (tmp_path / "attached").write_text(f"{number} {out.split()[1]}")
    dest = tmp_path / "backup"
    code, out, err = run_cli(capsys, "backup", str(dest))
    assert (code, err) == (0, "")
    assert out.startswith(f"backed up to {dest}: Casework ")
    return dest


def test_a_backup_restores_into_a_new_data_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, backed_up: Path
) -> None:
    store = Path(get_settings().store_url.removeprefix("sqlite:///"))
    manifest = json.loads((backed_up / "manifest.json").read_text())
    assert {"casework.db", "prefect-credential"} <= set(manifest["files"])
    assert manifest["schema"] == _schema(store)
    assert oct(backed_up.stat().st_mode & 0o777) == "0o700"
    assert all(oct((backed_up / n).stat().st_mode & 0o777) == "0o600" for n in manifest["files"])
    assert (
        _cases(backed_up / "casework.db") == _cases(store)[: len(_cases(backed_up / "casework.db"))]
    )

    restored = tmp_path / "restored"
    code, out, err = run_cli(capsys, "restore", str(backed_up), "--data-dir", str(restored))
    assert (code, err) == (0, "")
    assert f"start it with `casework up --data-dir {restored}`" in out
    assert _cases(restored / "casework.db") == _cases(backed_up / "casework.db")
    assert (restored / "reseat-case-runs").exists(), "the first up re-seats every waiting run"
    assert (restored / "prefect-credential").read_text() == (
        get_settings().data_dir / "prefect-credential"
    ).read_text()
    # The keys came with the store: an attachment opens from the restored directory.
    number, attachment = (tmp_path / "attached").read_text().split()
    opened = tmp_path / "opened.pdf"
    argv = ["attachment", number, attachment, "--out", str(opened), "--data-dir", str(restored)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert opened.read_bytes() == (tmp_path / "scan.pdf").read_bytes()


def _schema(store: Path) -> str:
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        return str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (1, ""), err
    assert err.count("\n") == 1, err
    return err.removeprefix("casework: error: ").strip()


def test_a_backup_goes_only_where_nothing_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("mine\n")
    assert _refused(capsys, "backup", str(full)) == (
        f"DEST: {full} exists and is not an empty folder; name a new one"
    )
    inside = get_settings().data_dir.resolve() / "backups"
    assert _refused(capsys, "backup", str(inside)) == (
        f"DEST: {inside} is inside the data directory; back up elsewhere"
    )
    assert not inside.exists()
    assert (full / "mine.txt").read_text() == "mine\n"
    assert _refused(capsys, "backup", "/proc/casework-backup").startswith(
        "DEST: cannot write the backup in /proc/casework-backup: "
    )


def test_a_postgresql_store_is_backed_up_with_pg_dump(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from casework.backup import BackupError, backup

    monkeypatch.setenv("CASEWORK_DATABASE_URL", "postgresql+psycopg://casework@127.0.0.1/db")
    get_settings.cache_clear()
    try:
        with pytest.raises(BackupError, match="back it up with pg_dump, as docs/operators.md says"):
            backup(tmp_path / "backup")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert not (tmp_path / "backup").exists()


def test_a_restore_that_cannot_be_whole_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, backed_up: Path
) -> None:
    target = tmp_path / "target"

    not_a_backup = tmp_path / "empty"
    not_a_backup.mkdir()
    assert _refused(capsys, "restore", str(not_a_backup), "--data-dir", str(target)).endswith(
        "not a Casework backup (no readable manifest.json; a backup that stopped half-way has none)"
    )

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "casework.db").write_text("someone's store")
    assert _refused(capsys, "restore", str(backed_up), "--data-dir", str(occupied)) == (
        f"--data-dir: {occupied} is not empty; restore into a new data directory"
    )
    assert (occupied / "casework.db").read_text() == "someone's store"

    running = tmp_path / "running"
    running.mkdir()
    (running / "stack.json").write_text(json.dumps({"pid": os.getpid()}))
    assert _refused(capsys, "restore", str(backed_up), "--data-dir", str(running)) == (
        f"--data-dir: casework up is running on {running}; stop it first"
    )

    manifest = json.loads((backed_up / "manifest.json").read_text())
    newer = dict(manifest, casework="99.0.0")
    (backed_up / "manifest.json").write_text(json.dumps(newer))
    assert "newer than this code" in _refused(
        capsys, "restore", str(backed_up), "--data-dir", str(target)
    )
    (backed_up / "manifest.json").write_text(json.dumps(manifest))

    for outside in ("../../etc/cron.d/x", "/etc/cron.d/x"):
        (backed_up / "manifest.json").write_text(
            json.dumps(dict(manifest, files={**manifest["files"], outside: "0" * 64}))
        )
        assert _refused(capsys, "restore", str(backed_up), "--data-dir", str(target)) == (
            f"SRC: {outside} is not a file of the backup; it is not restored"
        )
    (backed_up / "manifest.json").write_text(json.dumps(manifest))

    with (backed_up / "casework.db").open("r+b") as store:
        store.seek(200)
        store.write(b"\x00damaged\x00")
    assert _refused(capsys, "restore", str(backed_up), "--data-dir", str(target)) == (
        "SRC: casework.db does not match its checksum; the backup is damaged"
    )
    assert not target.exists(), "nothing written"
