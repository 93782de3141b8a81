"""Exports for analysts: the caseload's records as CSV or as a spreadsheet."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from casework.cli.options import Choice, CliError, Day, choice_of, command, emit, signed_in
from casework.models.codes import Program
from casework.models.exports import KINDS

HMIS = "hmis-csv"

commands = click.Group()


@command(
    commands,
    "export",
    "cases, referrals, escalations, notices or assessments, for analysts; or HUD's HMIS CSV "
    "files (hmis-csv)",
)
@click.argument("kind", type=Choice([*KINDS, HMIS]))
@click.argument("dest", required=False, type=click.Path(path_type=Path), metavar="[DEST]")
@click.option(
    "--from", "start", type=Day(), metavar="DATE", help="hmis-csv: the period's first day"
)
@click.option("--to", "end", type=Day(), metavar="DATE", help="hmis-csv: last day")
@click.option("--format", "fmt", type=Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--with-labels", is_flag=True, help="each code's label in a column beside it")
@click.option(
    "--identity",
    is_flag=True,
    help="add clients' names and dates of birth (case managers and supervisors only; each "
    "case exported goes in the access log)",
)
@click.option("--program", type=choice_of(Program), help="one program's records only")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="where to write it (a spreadsheet needs one; CSV goes to standard output without)",
)
@click.option("--force", is_flag=True, help="replace an existing --out file")
def export(
    kind: str,
    dest: Path | None,
    start: date | None,
    end: date | None,
    fmt: str,
    with_labels: bool,
    identity: bool,
    program: str | None,
    out: Path | None,
    force: bool,
) -> int:
    from casework.services import exports

    if kind == HMIS:
        return _hmis(dest, start, end, program, force, fmt, with_labels, identity, out)
    if dest is not None or start is not None or end is not None:
        raise CliError(f"DEST, --from and --to belong to {HMIS}; give --out FILE for {kind}")
    done = exports.export(
        kind,
        fmt,
        signed_in(),
        exports.write_to(out, fmt, force),
        labels=with_labels,
        identity=identity,
        program=program,
    )
    where = f" to {out.expanduser().resolve()}" if out else ""
    logged = f"; {done.cases_logged} case(s) in the access log" if identity else ""
    print(f"{kind}: {done.rows} row(s) written{where}{logged}", file=sys.stderr)
    return 0


def _hmis(
    dest: Path | None,
    start: date | None,
    end: date | None,
    program: str | None,
    force: bool,
    fmt: str,
    labels: bool,
    identity: bool,
    out: Path | None,
) -> int:
    from casework.services import hmis

    if fmt != "csv" or labels or identity or out is not None:
        raise CliError(
            f"{HMIS}: HMIS's files are CSV, coded, with identity by role; drop --format, "
            "--with-labels, --identity and --out, and name the ZIP file as DEST"
        )
    if dest is None:
        raise CliError(f"DEST: name the ZIP file the {HMIS} export is written to")
    done = hmis.export(signed_in(), start, end, program, dest, force)
    where = dest.expanduser().resolve()
    print(f"{HMIS}: {len(done.files)} file(s) written to {where}", file=sys.stderr)
    for name, count in done.files.items():
        print(f"  {name}.csv: {count} row(s)", file=sys.stderr)
    if done.left_out:
        print(
            f"  not written: {', '.join(done.left_out)} (they bear identity, which your role "
            "does not read)",
            file=sys.stderr,
        )
    print(f"  {done.cases_logged} case(s) in the access log", file=sys.stderr)
    return 0


@command(commands, "apr", "the APR's headline counts for HUD-funded programs, over a period")
@click.option("--from", "start", type=Day(), metavar="DATE", help="the period's first day")
@click.option("--to", "end", type=Day(), metavar="DATE", help="the period's last day")
@click.option("--program", type=choice_of(Program), help="one HUD-funded program only")
@click.option("--json", "as_json", is_flag=True, help="the counts as JSON")
def apr(start: date | None, end: date | None, program: str | None, as_json: bool) -> int:
    from casework.services import hmis, reports

    counts = hmis.apr_counts(signed_in(), start, end, program)
    emit(
        {
            "from": counts.start.isoformat(),
            "to": counts.end.isoformat(),
            "sections": counts.sections,
        },
        as_json,
        lambda: reports.sections_text(
            f"APR headline counts, {counts.start} to {counts.end}", counts.sections
        ),
    )
    return 0
