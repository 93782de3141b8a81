"""Clients across cases: likely duplicates, and merging two records of one person."""

from __future__ import annotations

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
