"""Exports for analysts: the caseload's records as CSV or as a spreadsheet."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from casework.cli.options import Choice, choice_of, command, signed_in
from casework.models.codes import Program
from casework.models.exports import KINDS

commands = click.Group()


@command(commands, "export", "cases, referrals, escalations, notices or assessments, for analysts")
@click.argument("kind", type=Choice(KINDS))
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
    fmt: str,
    with_labels: bool,
    identity: bool,
    program: str | None,
    out: Path | None,
    force: bool,
) -> int:
    from casework.services import exports

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
