"""The HMIS CSV export (`casework export hmis-csv`) and the APR's headline counts
(`casework apr`), both from the same rows (models.hmis_export), as the exporter sees the
caseload.

- Who: any active staff member on the roster, for the cases they see. Those who read
  identity (case managers, supervisors) get every file; anyone else gets the files without
  identity: no Client, Disabilities or HealthAndDV file, and the message says so.
- The access log: every case the export draws on gets an entry (`export:hmis-csv`, or
  `export:hmis-csv-identity` when the identity-bearing files went out with it).
- The file: a ZIP of the CSV files, as HMIS systems import them, written beside its target
  and put in place whole (core.files.write_out): a refused or failed export leaves nothing.
- Each file's columns are the specification's (models/hmis_data/csv_fy2026.json), in its
  order; dates YYYY-MM-DD, times YYYY-MM-DD hh:mm:ss (UTC), amounts with two decimals. A
  value longer than its column allows is refused rather than cut."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.settings import get_settings
from casework.models import apr, hmis, hmis_export
from casework.models.access import seen_cases, sees_identity
from casework.models.codes import Program
from casework.models.orm import AccessEntry
from casework.services.exports import ExportError, exporter

MAX_DAYS = 3 * 366  # the longest period one export covers
LOGGED_AT_ONCE = 1000


@dataclass(frozen=True)
class HmisExport:
    files: dict[str, int]  # file name -> rows written
    left_out: tuple[str, ...]  # identity-bearing files the exporter may not have
    cases_logged: int


def period(start: date | None, end: date | None) -> tuple[date, date]:
    if start is None or end is None:
        raise ExportError("--from and --to: give the period's first and last day (YYYY-MM-DD)")
    if end < start:
        raise ExportError(f"--to: {end} is before --from {start}", field="to")
    if (end - start).days > MAX_DAYS:
        raise ExportError(f"--to: a period is {MAX_DAYS} days at most; export it in parts")
    return start, end


def rows(
    actor: str,
    start: date,
    end: date,
    program: str | None,
    *,
    identity: bool,
    then: Callable[[hmis_export.Rows, bool], None] | None = None,
) -> tuple[hmis_export.Rows, bool]:
    """The export's rows as `actor` sees the caseload, and whether identity is in them
    (asked for, and `actor` reads it). With `then` (the file written from them), each case
    they draw on goes in the access log in the same transaction: a file refused or failed
    leaves no entry, and no file goes out unlogged."""
    member = exporter(actor, program)
    projects = hmis_export.hud_programs(Program(program) if program else None)
    if not projects:
        which = f"{program} is not" if program else "no program is"
        raise ExportError(
            f"--program: {which} HUD-funded (a program declares it with an `hmis` table in "
            "the programs file)",
            field="program",
        )
    settings = get_settings()
    if not settings.agency_name:
        raise ExportError(
            "CASEWORK_AGENCY_NAME: the HMIS export names the agency (its Organization file); set it"
        )
    identity = identity and sees_identity(member)
    with session_scope(read_only=then is None) as session:
        found = hmis_export.collect(
            session,
            start=start,
            end=end,
            projects=projects,
            seen=seen_cases(member),
            identity=identity,
            exported_at=now().replace(microsecond=0),
            agency=settings.agency_name,
            implementation=f"casework:{settings.agency_name}"[:200],
        )
        if then is not None:
            what = "export:hmis-csv-identity" if identity else "export:hmis-csv"
            entries = [
                {"staff": actor, "case_id": case_id, "what": what, "at": now()}
                for case_id in sorted(found.cases)
            ]
            for at in range(0, len(entries), LOGGED_AT_ONCE):
                session.execute(insert(AccessEntry), entries[at : at + LOGGED_AT_ONCE])
            then(found, identity)
    return found, identity


def export(
    actor: str,
    start: date | None,
    end: date | None,
    program: str | None,
    dest: Path,
    force: bool,
) -> HmisExport:
    """Write the HMIS CSV export of `start`..`end` to the ZIP file `dest`."""
    from casework.core.files import protected_paths, write_out

    start, end = period(start, end)
    spec = hmis.csv_spec()
    counted: dict[str, int] = {}

    def write(found: hmis_export.Rows, identity: bool) -> None:
        written = [name for name in spec if identity or name not in hmis_export.IDENTITY_FILES]
        tables = {n: [csv_row(n, row) for row in found.files.get(n, [])] for n in written}

        def fill(handle: IO[bytes]) -> None:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name in written:
                    archive.writestr(f"{name}.csv", to_csv(name, tables[name]))

        write_out(dest, fill, option="DEST", force=force, protected=protected_paths())
        counted.update({name: len(tables[name]) for name in written})

    found, _ = rows(actor, start, end, program, identity=True, then=write)
    return HmisExport(
        files=counted,
        left_out=tuple(n for n in spec if n not in counted),
        cases_logged=len(found.cases),
    )


def csv_row(file: str, row: dict[str, Any]) -> list[str]:
    """One row of `file` as the specification lays it out: every column, in order."""
    columns = hmis.csv_spec()[file]
    unknown = set(row) - {c["name"] for c in columns}
    if unknown:  # a mistake of ours, never the user's: the specification has no such column
        raise ValueError(f"{file}: no column {', '.join(sorted(unknown))} in the specification")
    return [_cell(file, column, row.get(column["name"])) for column in columns]


def _cell(file: str, column: dict[str, Any], value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    limit = column.get("limit")
    if limit is not None and len(text) > limit:
        raise ExportError(
            f"{file}.{column['name']}: {len(text)} characters where HMIS allows {limit}"
        )
    return text


def to_csv(file: str, rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column["name"] for column in hmis.csv_spec()[file]])
    writer.writerows(rows)
    return out.getvalue()


def apr_counts(actor: str, start: date | None, end: date | None, program: str | None) -> apr.Counts:
    """The APR's headline counts of `start`..`end`, from the export's own rows (read
    without identity: the counts need none, so anyone who may export may count)."""
    start, end = period(start, end)
    found, _ = rows(actor, start, end, program, identity=False)
    return apr.count(found, start, end)
