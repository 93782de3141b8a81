"""`casework backup DEST` and `casework restore SRC --data-dir DIR`: a consistent copy of an
embedded (SQLite) stack while `casework up` runs, and a new data directory made from one.

A backup holds the case store and the Prefect server's database, each copied with SQLite's
online backup API (a file copy misses what is still in the write-ahead log), then the
secrets and documents of the data directory, and last a manifest: versions, the store's
migration, when, and a SHA-256 of every file. The store is copied first: a form Prefect
acknowledged before the backup began is in the store copy, or, not yet recorded, held by
its run in the Prefect copy made after it, and the run records it once when the restored
stack starts. Restoring refuses a running stack, a directory that holds a store already,
a backup newer than this code, and a file that does not match its checksum; the restored
stack's first `up` runs every waiting case run again from the top, so each waits where the
store says its case is. A PostgreSQL store (or Prefect server) is backed up with pg_dump,
as docs/operators.md ("Upgrading, backup and restore") says."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from casework import casework_version
from casework.core.db import known_revision
from casework.core.errors import UserError
from casework.core.settings import STACK_FILE, get_settings
from casework.stack import RESEAT

MANIFEST = "manifest.json"
STORE = "casework.db"
PREFECT = "prefect/prefect.db"
# What else a data directory holds that a stack cannot do without: the server's sign-in,
# partner tokens, webhook secrets, the demo partner's address, the keys attachments are
# sealed with, and the case documents.
FILES = (
    "prefect-credential",
    "partner-tokens.json",
    "webhook-secrets.json",
    "demo-partner.json",
    "attachment-keys",  # without it no attachment in the store opens
    "masking-log.jsonl",  # what retention masked (kept outside the store as well)
)
FOLDERS = ("documents",)


class BackupError(UserError):
    """A backup or restore that cannot be made; the message names why (one line)."""


@dataclass(frozen=True)
class Manifest:
    casework: str
    schema: str
    made_at: str
    files: dict[str, str]  # path in the backup -> SHA-256

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            data: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
            return cls(data["casework"], data["schema"], data["made_at"], dict(data["files"]))
        except (OSError, ValueError, KeyError, TypeError):
            raise BackupError(
                f"{folder}: not a Casework backup (no readable {MANIFEST}; a backup that "
                "stopped half-way has none)"
            ) from None


def backup(dest: Path) -> Manifest:
    """Copy the running (or stopped) embedded stack of this data directory into `dest`."""
    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    dest = dest.expanduser().resolve()
    store = _sqlite_path(settings.store_url, "CASEWORK_DATABASE_URL")
    if settings.prefect_database_url:
        raise BackupError(
            "the Prefect server keeps its data in PostgreSQL: back it up with pg_dump, as "
            "docs/operators.md says (Upgrading, backup and restore)"
        )
    if dest == data_dir or data_dir in dest.parents:
        raise BackupError(f"DEST: {dest} is inside the data directory; back up elsewhere")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"DEST: {dest} exists and is not an empty folder; name a new one")
    if not store.is_file():
        raise BackupError(f"no case store at {store} to back up")
    try:
        return _copy(data_dir, store, dest)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"DEST: cannot write the backup in {dest}: {exc}") from None


def _copy(data_dir: Path, store: Path, dest: Path) -> Manifest:
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    made_at = datetime.now(UTC).isoformat(timespec="seconds")
    _sqlite_copy(store, dest / STORE)  # first: see the module's docstring
    if (data_dir / PREFECT).is_file():
        _sqlite_copy(data_dir / PREFECT, dest / PREFECT)
    for name in FILES:
        if (data_dir / name).is_file():
            shutil.copy2(data_dir / name, dest / name)
    for name in FOLDERS:
        if (data_dir / name).is_dir():
            shutil.copytree(data_dir / name, dest / name)
    manifest = Manifest(casework_version(), _schema_of(dest / STORE), made_at, _sums(dest))
    body = json.dumps(manifest.__dict__, indent=2)
    (dest / MANIFEST).write_text(body + "\n")  # last: a backup without one is not whole
    (dest / MANIFEST).chmod(0o600)
    return manifest


def restore(src: Path, data_dir: Path) -> Manifest:
    """Make `data_dir` (new or empty) from the backup in `src`."""
    from casework.core.prefect_api import stack_alive

    src = src.expanduser().resolve()
    manifest = Manifest.read(src)
    if _newer(manifest.casework, casework_version()) or not known_revision(manifest.schema):
        raise BackupError(
            f"SRC: the backup was made by Casework {manifest.casework} (store schema "
            f"{manifest.schema}), newer than this code ({casework_version()}); install "
            f"{manifest.casework} or later to restore it"
        )
    if stack_alive(data_dir):
        raise BackupError(f"casework up is running on {data_dir}; stop it first", field="data_dir")
    if data_dir.exists() and any(p.name != STACK_FILE for p in data_dir.iterdir()):
        raise BackupError(
            f"{data_dir} is not empty; restore into a new data directory", field="data_dir"
        )
    for name, expected in manifest.files.items():
        inside = Path(name)
        if inside.is_absolute() or ".." in inside.parts or (src / inside).is_symlink():
            raise BackupError(f"SRC: {name} is not a file of the backup; it is not restored")
        if _sha256(src / name) != expected:
            raise BackupError(f"SRC: {name} does not match its checksum; the backup is damaged")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in manifest.files:
        target = data_dir / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copy2(src / name, target)
        target.chmod(0o600)
    (data_dir / RESEAT).write_text(f"restored from {src} ({manifest.made_at})\n")
    return manifest


def _sqlite_path(url: str, setting: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise BackupError(
            f"{setting}: the case store is on PostgreSQL: back it up with pg_dump, as "
            "docs/operators.md says (Upgrading, backup and restore)"
        )
    return Path(url.removeprefix("sqlite:///")).resolve()


def _sqlite_copy(source: Path, target: Path) -> None:
    """One consistent copy of a live SQLite database, write-ahead log included."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)) as reading,
        closing(sqlite3.connect(target)) as writing,
    ):
        reading.backup(writing)
    target.chmod(0o600)


def _schema_of(store: Path) -> str:
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else "none"


def _newer(theirs: str, ours: str) -> bool:
    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())

    return parts(theirs) > parts(ours)


def _sums(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): _sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "missing"
    return digest.hexdigest()
