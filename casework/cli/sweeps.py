"""Sweeps and what they find: the sweeps run now (here or on the work pool), the
escalations they raised, and the program manager's report."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from casework.cli.options import EXIT_ERROR, JSON, AsOf, Count, choice_of, command, emit
from casework.models.codes import Watch

commands = click.Group()


@command(commands, "sweep", "run the sweeps now (as of a date, for time travel)")
@click.option("--as-of", type=AsOf(), help="date or ISO time (default: now, UTC)")
@click.option(
    "--watch",
    "watch",
    multiple=True,
    type=choice_of(Watch),
    help="which sweep (repeatable; default: all)",
)
@click.option(
    "--case",
    "case_number",
    help="sweep one case: for stalls (as a crisis does) and with the benefits watch (as a "
    "notice does); --watch picks one",
)
@click.option(
    "--on-pool",
    is_flag=True,
    help="run each sweep as a deployment run on the work pool and wait for it (default: "
    "here, in this process)",
)
@JSON
def sweep(
    as_of: datetime | None,
    watch: tuple[str, ...],
    case_number: str | None,
    on_pool: bool,
    as_json: bool,
) -> int:
    from casework import services

    watches = [Watch(w) for w in watch] if watch else list(Watch)
    if case_number and not watch:
        watches = [Watch.STALLED_CASES, Watch.BENEFITS]
    if on_pool:
        said, completed = services.sweeps.sweep_on_pool(watches, as_of, case_number)
        emit(said, as_json, lambda: "\n".join(f"{w}: {line}" for w, line in said.items()))
        return 0 if completed else EXIT_ERROR
    totals = sweep_here(watches, as_of, case_number)
    emit(
        totals,
        as_json,
        lambda: "\n".join(sweep_line(name, counts) for name, counts in totals.items()),
    )
    return 0


def sweep_here(
    watches: list[Watch], as_of: datetime | None, case_number: str | None
) -> dict[str, Any]:
    """Run sweeps here and now, as flow runs on the dashboard (with their artifacts)."""
    from casework.core import prefect_api
    from casework.flows.sweeps import SWEEPS
    from casework.services.sweeps import one_case

    prefect_api.check_ready(prefect_api.SWEEP_DEPLOYMENT)
    if case_number is not None:
        case_number = one_case(watches, case_number)
        return {w.value: SWEEPS[w](as_of, case_number) for w in watches}
    return {w.value: SWEEPS[w](as_of) for w in watches}


def sweep_line(watch: str, counts: dict[str, Any]) -> str:
    """One watch's totals; a preview (a future --as-of) says so first."""
    shown = {k: v for k, v in counts.items() if k != "preview"}
    head = f"{watch} (preview: nothing written or sent)" if counts.get("preview") else watch
    return f"{head}: " + ", ".join(f"{k} {v}" for k, v in shown.items())


@command(commands, "escalations", "list escalations and warnings")
@click.option("--open", "open_only", is_flag=True, help="unresolved only")
@click.option("--case", "case_number", help="one case only")
@JSON
def escalations(open_only: bool, case_number: str | None, as_json: bool) -> int:
    from casework import services
    from casework.cli.views import escalations_text

    rows = services.sweeps.escalation_list(open_only, case_number)
    emit([row.model_dump(mode="json") for row in rows], as_json, lambda: escalations_text(rows))
    return 0


@command(commands, "report", "the program manager's figures")
@click.option("--as-of", type=AsOf(), help="date or ISO time (default: now, UTC)")
@click.option(
    "--html", type=click.Path(path_type=Path), metavar="FILE", help="also write the HTML report"
)
@click.option(
    "--pdf", type=click.Path(path_type=Path), metavar="FILE", help="also write it as PDF, to print"
)
@click.option(
    "--weeks",
    type=Count(1, 104),
    default=12,
    show_default=True,
    help="weeks of weekly trends, ending with the week of --as-of",
)
@click.option("--force", is_flag=True, help="replace an existing --html or --pdf file")
@JSON
def report(
    as_of: datetime | None,
    html: Path | None,
    pdf: Path | None,
    weeks: int,
    force: bool,
    as_json: bool,
) -> int:
    from dataclasses import asdict

    from casework.core.files import protected_paths, write_out
    from casework.services.reports import caseload_report, to_html, to_pdf, to_text

    found = caseload_report(as_of or datetime.now(UTC), weeks)
    for option, path, content, what in (
        ("--html", html, lambda: to_html(found), "HTML report"),
        ("--pdf", pdf, lambda: to_pdf(found), "PDF report"),
    ):
        if path is not None:
            written = write_out(
                path, content(), option=option, force=force, protected=protected_paths()
            )
            # On stderr: stdout stays the report itself (or its JSON).
            print(f"{what} written to {written}", file=sys.stderr)
    emit(asdict(found), as_json, lambda: to_text(found))
    return 0
