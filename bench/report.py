"""Benchmark: the caseload report over a large caseload, as the daily `caseload-report` run
and `casework report` compute it.

Fills a fresh store with N synthetic cases (bench/sweep.py's fill, in a child process),
runs its stalled-case sweep once at the caseload's own day (about 1% of cases in breach
then; bench/sweep.py's as_of), then times
the report's figures (`models.report.build`) with 12 and with 104 weeks of weekly trends,
and the dashboard page made from them, and prints from one run, on SQLite and on
PostgreSQL when one answers:
  * seconds per report, and the share of it the weekly trends take,
  * time at N / time at N/10 (linear growth: 10 or less).

    .venv/bin/python bench/report.py [--cases 100000] [--database-url URL]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sweep import AS_OF, _fill_in_child, on_both_stores  # noqa: E402
from casework.core.db import make_engine, session_scope  # noqa: E402
from casework.models import escalations  # noqa: E402
from casework.models.codes import Watch  # noqa: E402
from casework.models.programs import programs  # noqa: E402
from casework.models.report import build  # noqa: E402
from casework.models.rules import Scope  # noqa: E402


def measure(url: str, count: int) -> dict[str, float]:
    fill = _fill_in_child(url, count)
    engine = make_engine(url)
    now = AS_OF  # the caseload's own day: about 1% of its cases in breach then
    with session_scope(engine) as session:
        escalations.sweep(session, Watch.STALLED_CASES, Scope(now), programs())
    found: dict[str, float] = {"fill": fill}
    for weeks in (1, 12, 104):
        started = time.perf_counter()
        with session_scope(engine, read_only=True) as session:
            report = build(session, now, programs(), weeks)
        found[f"weeks_{weeks}"] = time.perf_counter() - started
    from casework.services.reports import to_markdown

    started = time.perf_counter()
    page = to_markdown(report)
    found["markdown"] = time.perf_counter() - started
    found["attention"] = len(report.needs_attention)
    found["page_kb"] = len(page.encode()) / 1024
    engine.dispose()
    return found


def main() -> None:
    on_both_stores(
        __doc__.splitlines()[0],
        "report",
        measure,
        lambda count, got: (
            "report with 1 / 12 / 104 weeks of trends "
            f"{got['weeks_1']:.2f} / {got['weeks_12']:.2f} / {got['weeks_104']:.2f} s; "
            f"dashboard page {got['markdown'] * 1000:.0f} ms, {got['page_kb']:.0f} KB, "
            f"{got['attention']:.0f} needing attention"
        ),
        "weeks_12",
    )


if __name__ == "__main__":
    main()
