"""Exports for analysts: cases, referrals, escalations, notices or assessments as CSV or as
a spreadsheet, streamed row by row from the store into the file (a 100,000-case export is
never held whole; `bench/export.py` measures it). Coded values, with their labels beside
them when asked; the rows the exporter sees, as on the desk; no identity unless asked for
by a role that reads it, and then every case exported is in the access log.

A cell a spreadsheet would take for a formula (starting `=`, `+`, `-`, `@`) is written as
text: in CSV behind a `'`, as OWASP advises; in a spreadsheet as a string cell."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from sqlalchemy import insert

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import UserError
from casework.core.settings import get_settings
from casework.models import exports
from casework.models.access import seen_cases, sees_identity
from casework.models.codes import Program
from casework.models.orm import AccessEntry
from casework.models.staff import StaffMember
from casework.services.staff import roster

FORMATS = ("csv", "xlsx")
Fill = Callable[[IO[Any]], None]  # writes an export into an open file
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LOGGED_AT_ONCE = 1000  # access entries written together, as the export goes


class ExportError(UserError):
    """An export cannot be made as asked: the message says why; nothing is written."""


@dataclass
class Exported:
    kind: str
    rows: int = 0
    cases_logged: int = 0  # cases whose identity went out, each in the access log


def export(
    kind: str,
    fmt: str,
    actor: str,
    write: Callable[[Fill], Any],
    *,
    labels: bool = False,
    identity: bool = False,
    program: str | None = None,
) -> Exported:
    """Stream an export into the file `write` opens (it calls back with the open file),
    as `actor` sees the caseload. Refused, writing nothing: an actor not on the roster, and
    identity asked for by a role that does not read it."""
    if kind not in exports.KINDS:
        raise ExportError(f"KIND: no export of {kind} (choose from {', '.join(exports.KINDS)})")
    member = exporter(actor, program)
    reads_clients = sees_identity(member)
    if identity and not reads_clients:
        raise ExportError(
            f"--identity: a {member.role.value.replace('_', ' ')} does not read clients' "
            "identity; export the coded values without it",
            field="identity",
        )
    shown = exports.layout(kind, client_number=reads_clients, identity=identity, labels=labels)
    done = Exported(kind)

    def streamed() -> Iterator[list[Any]]:
        logged: set[int] = set()
        waiting: list[dict[str, Any]] = []
        with session_scope(read_only=not identity) as session:
            seen = seen_cases(member)
            for case_id, cells in exports.rows(session, kind, shown, seen, program):
                done.rows += 1
                if identity and case_id not in logged:
                    logged.add(case_id)
                    waiting.append(
                        {"staff": actor, "case_id": case_id, "what": f"export:{kind}", "at": now()}
                    )
                    if len(waiting) >= LOGGED_AT_ONCE:
                        session.execute(insert(AccessEntry), waiting)
                        waiting.clear()
                yield cells
            if waiting:
                session.execute(insert(AccessEntry), waiting)
            done.cases_logged = len(logged)

    writer = _csv if fmt == "csv" else _xlsx
    write(lambda handle: writer(handle, kind, shown.headers, streamed()))
    return done


def exporter(actor: str, program: str | None) -> StaffMember:
    """`actor` as the roster has them, exporting `program` (or every one they see);
    refused in one line: someone not active on the roster, a program that is not one."""
    member = roster().get(actor)
    if member is None or not member.active:
        raise ExportError(f"{actor} is not active on the staff roster; exports are for staff")
    if program is not None and program not in {p.value for p in Program}:
        raise ExportError(f"--program: no program {program}", field="program")
    return member


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return f"'{value}"
    return value


def _csv(handle: IO[Any], kind: str, headers: list[str], rows: Iterator[list[Any]]) -> None:
    """RFC 4180 CSV in UTF-8, a header row first; into a file, or standard output."""
    wrapped = (
        None
        if isinstance(handle, io.TextIOBase)
        else io.TextIOWrapper(cast(BinaryIO, handle), encoding="utf-8", newline="")
    )
    text = wrapped or handle
    writer = csv.writer(text)
    writer.writerow(headers)
    for cells in rows:
        writer.writerow([_csv_cell(value) for value in cells])
    text.flush()
    if wrapped is not None:
        wrapped.detach()  # the handle is the caller's to close


def _xlsx(handle: IO[Any], kind: str, headers: list[str], rows: Iterator[list[Any]]) -> None:
    """A one-sheet workbook, written a row at a time (XlsxWriter's constant_memory), its
    working files in a private folder of the data directory, never the system's /tmp."""
    import xlsxwriter

    work = get_settings().data_dir / "tmp"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as private:
        book = xlsxwriter.Workbook(
            handle,
            {
                "constant_memory": True,
                "tmpdir": private,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "remove_timezone": True,  # every time is UTC, as the header says
                "default_date_format": "yyyy-mm-dd hh:mm",
            },
        )
        sheet = book.add_worksheet(kind)
        sheet.write_row(0, 0, headers, book.add_format({"bold": True}))
        sheet.freeze_panes(1, 0)
        for number, cells in enumerate(rows, start=1):
            if number >= 1_048_576:  # a sheet's last row
                raise ExportError(f"{kind}: more rows than a spreadsheet holds; export as CSV")
            sheet.write_row(number, 0, cells)
        book.close()


def write_to(out: Path | None, fmt: str, force: bool) -> Callable[[Fill], Any]:
    """Where an export goes: the file `--out` names (put in place whole, never inside
    Casework's data), or for CSV standard output."""
    import sys

    from casework.core.files import protected_paths, write_out

    if out is None:
        if fmt != "csv":
            raise ExportError("--out: a spreadsheet is written to a file; name one", field="out")
        return lambda fill: fill(sys.stdout)
    return lambda fill: write_out(
        out, fill, option="--out", force=force, protected=protected_paths()
    )
