"""Clients across cases: likely duplicates, and merging two records of one person."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import click

from casework.cli.options import CLIENT_NUMBER, JSON, Count, command, emit, signed_in

commands = click.Group()


@command(
    commands,
    "duplicates",
    "likely duplicate clients across the store (client numbers and scores only)",
)
@click.option("--min-score", type=Count(1, 100), default=None, help="default: intake's threshold")
@JSON
def duplicates(min_score: int | None, as_json: bool) -> int:
    from casework import services
    from casework.models.matching import LIKELY

    pairs = services.clients.duplicates(signed_in(), min_score or LIKELY)
    emit(
        [
            {"clients": [p.first, p.second], "score": p.match.score, "signals": p.match.signals}
            for p in pairs
        ],
        as_json,
        lambda: (
            "\n".join(
                f"{p.first}  {p.second}  score {p.match.score}  ({', '.join(p.match.signals)})"
                for p in pairs
            )
            or "no likely duplicates"
        ),
    )
    return 0


@command(commands, "merge", "merge the second client into the first (supervisors)")
@click.argument("kept", type=CLIENT_NUMBER, metavar="CLIENT_KEPT")
@click.argument("merged", type=CLIENT_NUMBER, metavar="CLIENT_MERGED")
def merge(kept: str, merged: str) -> int:
    from casework import services

    moved = services.clients.merge(kept.upper(), merged.upper(), signed_in())
    print(f"{merged.upper()} merged into {kept.upper()}: {moved} case(s) moved")
    return 0


@command(
    commands,
    "client-record",
    "everything held about a client, for their own copy (supervisors; in the access log)",
)
@click.argument("client", type=CLIENT_NUMBER, metavar="CLIENT")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="the copy: .pdf, .html or .md",
)
@click.option("--force", is_flag=True, help="replace an existing --out file")
def client_record(client: str, out: Path, force: bool) -> int:
    from casework import services
    from casework.core.errors import InputError
    from casework.core.files import protected_paths, write_out

    fmt = out.suffix.lower().lstrip(".")
    if fmt not in services.clients.RECORD_FORMATS:
        raise InputError(f"--out: {out.name} must end in .pdf, .html or .md", field="out")
    made: list[Any] = []

    def write(handle: BinaryIO) -> None:
        record, content = services.clients.own_copy(client.upper(), signed_in(), fmt)
        made.append(record)
        handle.write(content)

    target = write_out(out, write, option="--out", force=force, protected=protected_paths())
    record = made[0]
    print(
        f"{record.client_number}: everything held about them in {len(record.cases)} case(s) "
        f"-> {target} (in the access log)"
    )
    for number, program in record.not_covered:
        print(f"  not in this copy: {number} ({program}), for its program's supervisor")
    return 0
