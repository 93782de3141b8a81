"""Benchmark: attachments kept and opened, and what they cost the case store.

Attaches N files of S MB each (a PDF header over random bytes: incompressible, as scans
are) to one case through the service `casework attach` and the desk call (size check,
type read from the content, sealed with Fernet, written to the store; no malware scanner),
then opens each (the access log written, the file unsealed), and prints from one run:
  * MB attached per second and MB opened per second,
  * the ratio of those rates to writing and reading the same bytes as plain files (what
    sealing and the store add),
  * how much the store grew per MB attached (Fernet's base64 is 4/3, plus its header),
on SQLite, and on PostgreSQL when one answers.

    .venv/bin/python bench/attachments.py [--files 40] [--mb 1] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sweep import PG_DEFAULT, _drop_pg, fresh_pg  # noqa: E402

STAFF = "cm.bench"


def _environment(url: str, work: Path) -> None:
    import getpass

    from casework.core.db import engine_for
    from casework.core.settings import get_settings

    roster = work / "staff.toml"
    roster.write_text(
        (ROOT / "models" / "staff.toml").read_text()
        + f'\n[[staff]]\nid = "{STAFF}"\nrole = "case_manager"\nprograms = ["housing"]\n'
        f'login = "{getpass.getuser()}"\n'
    )
    os.environ.update(
        {
            "CASEWORK_DATABASE_URL": url,
            "CASEWORK_DATA_DIR": str(work / "data"),
            "CASEWORK_STAFF_FILE": str(roster),
            "CASEWORK_ACTOR": STAFF,
            "CASEWORK_ATTACHMENT_MAX_BYTES": str(100 * 1024 * 1024),
        }
    )
    os.environ.pop("CASEWORK_CLAMD", None)
    get_settings.cache_clear()
    engine_for.cache_clear()


def _store_bytes(url: str) -> int:
    from sqlalchemy import text

    from casework.core.db import session_scope

    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with session_scope() as session:
        return int(session.scalar(text("SELECT pg_total_relation_size('attachments')")) or 0)


def run(label: str, url: str, files: int, size: int, work: Path) -> None:
    from casework import services
    from casework.core.db import migrate, session_scope
    from casework.models import cases
    from casework.models.clients import create_client
    from casework.models.codes import AttachmentKind, Program
    from casework.models.schemas import ClientIn

    _environment(url, work)
    migrate()
    with session_scope() as session:
        client = create_client(
            session, ClientIn(given_name="Bench", family_name="Mark", date_of_birth="1980-01-01")
        )
        case = cases.open_case(session, client, Program.HOUSING, STAFF, STAFF, cases_now())
        number = case.case_number or ""
    payloads = [b"%PDF-1.4\n" + os.urandom(size - 9) for _ in range(files)]
    megabytes = files * size / 1024 / 1024
    services.attachments.attach(number, payloads[0], "warm.pdf", AttachmentKind.OTHER, STAFF)
    before = _store_bytes(url)

    started = time.perf_counter()
    kept = [
        services.attachments.attach(number, data, f"{i}.pdf", AttachmentKind.OTHER, STAFF).number
        for i, data in enumerate(payloads)
    ]
    attach_seconds = time.perf_counter() - started
    grown = _store_bytes(url) - before
    started = time.perf_counter()
    for attachment in kept:
        services.attachments.open_attachment(number, attachment, STAFF)
    open_seconds = time.perf_counter() - started

    plain = work / "plain"
    plain.mkdir()
    started = time.perf_counter()
    for i, data in enumerate(payloads):
        (plain / f"{i}.pdf").write_bytes(data)
        os.fsync(os.open(plain / f"{i}.pdf", os.O_RDONLY))
    write_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(files):
        (plain / f"{i}.pdf").read_bytes()
    read_seconds = time.perf_counter() - started

    print(
        f"{label}: {files} files of {size / 1024 / 1024:.1f} MB; "
        f"attached {megabytes / attach_seconds:.1f} MB/s "
        f"(plain files {megabytes / write_seconds:.1f} MB/s, ratio "
        f"{write_seconds / attach_seconds:.2f}); opened {megabytes / open_seconds:.1f} MB/s "
        f"(plain {megabytes / read_seconds:.1f} MB/s, ratio {read_seconds / open_seconds:.3f}); "
        f"store grew {grown / (files * size):.2f} bytes per byte attached"
    )


def cases_now():  # type: ignore[no-untyped-def]
    from casework.core.clock import now

    return now()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--database-url", default=os.environ.get("CASEWORK_TEST_DATABASE_URL"))
    args = parser.parse_args()
    size = int(args.mb * 1024 * 1024)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load {load:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench-attachments-") as folder:
        work = Path(folder) / "sqlite"
        work.mkdir()
        run("sqlite", f"sqlite:///{work / 'casework.db'}", args.files, size, work)
    pg = fresh_pg(args.database_url or PG_DEFAULT, "bench_attachments")
    if pg is not None:
        with tempfile.TemporaryDirectory(prefix="bench-attachments-") as folder:
            try:
                run("postgresql", pg, args.files, size, Path(folder))
            finally:
                _drop_pg(args.database_url or PG_DEFAULT, ["bench_attachments"])


if __name__ == "__main__":
    main()
