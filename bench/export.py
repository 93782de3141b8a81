"""Benchmark: analysts' exports of a large caseload, their rate and their peak memory.

Fills a fresh store with N synthetic cases (bench/sweep.py's fill, in a child process so
this one's memory is the export's alone), then exports every case as an operator would
(`casework export cases --with-labels`, coded) to CSV and to a spreadsheet, and the
referrals to CSV, through the same service the CLI calls, and prints from one run:
  * rows written per second, and the file's size,
  * the peak resident memory above this process's own before the export,
  * at N/10 and at N cases, the ratio of the peaks (constant memory: about 1; the export
    holding every row: about 10),
on SQLite, and on PostgreSQL when one answers. Then HUD's HMIS CSV export of the housing
program's cases of the last 1,000 days (`casework export hmis-csv`), whose rows are held
in memory until its ZIP is written: its ratio says what that costs.

    .venv/bin/python bench/export.py [--cases 100000] [--database-url URL]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sweep import Peak, _drop_pg, _fill_in_child, fresh_pg, sizes  # noqa: E402

OPERATOR = "op.bench"
EXPORTS = (("cases", "csv"), ("cases", "xlsx"), ("referrals", "csv"), ("hmis", "zip"))


def _environment(url: str, work: Path) -> None:
    from casework.core.db import engine_for
    from casework.core.settings import get_settings

    roster = work / "staff.toml"
    roster.write_text(
        (ROOT / "models" / "staff.toml").read_text()
        + f'\n[[staff]]\nid = "{OPERATOR}"\nrole = "operator"\nprograms = ["housing"]\n'
    )
    os.environ.update(
        {
            "CASEWORK_DATABASE_URL": url,
            "CASEWORK_DATA_DIR": str(work / "data"),
            "CASEWORK_STAFF_FILE": str(roster),
            "CASEWORK_AGENCY_NAME": "Bench Family Services",
        }
    )
    get_settings.cache_clear()
    engine_for.cache_clear()


def _one(kind: str, fmt: str, out: Path) -> dict[str, float]:
    """One export in a child forked from this process (the code imported, nothing of an
    earlier export's memory left to reuse): its rows, time and peak memory above the
    child's own at the start."""
    import multiprocessing

    from casework.services import exports, hmis

    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()

    def run() -> int:
        if kind == "hmis":
            today = date.today()
            done = hmis.export(OPERATOR, today - timedelta(days=1000), today, "housing", out, True)
            return done.files["Enrollment"]
        return exports.export(
            kind, fmt, OPERATOR, exports.write_to(out, fmt, force=True), labels=True
        ).rows

    def child() -> None:
        started = time.perf_counter()
        with Peak() as peak:
            rows = run()
        queue.put(
            {
                "rows": rows,
                "seconds": time.perf_counter() - started,
                "peak_mb": (peak.peak - peak.base) / 2**20,
                "size_mb": out.stat().st_size / 2**20,
            }
        )

    process = context.Process(target=child)
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"the {kind} export failed (exit {process.exitcode})")
    found: dict[str, float] = queue.get()
    return found


def measure(url: str, count: int, work: Path) -> dict[str, dict[str, float]]:
    from casework.services import exports  # noqa: F401 - imported before the children fork

    fill = _fill_in_child(url, count)
    print(f"  filled {count} cases in {fill:.1f} s")
    _environment(url, work)
    return {
        f"{kind}.{fmt}": _one(kind, fmt, work / f"{kind}-{count}.{fmt}") for kind, fmt in EXPORTS
    }


def report(backend: str, count: int, found: dict[str, dict[str, float]]) -> None:
    for name, got in found.items():
        print(
            f"{backend:<10} {count:>7} cases  {name:<14} {got['rows']:>7.0f} rows in "
            f"{got['seconds']:6.2f} s = {got['rows'] / got['seconds']:>8,.0f} rows/s; "
            f"file {got['size_mb']:5.1f} MB; peak +{got['peak_mb']:5.1f} MB"
        )


def main() -> None:
    cases, small, pg = sizes(__doc__.splitlines()[0])
    backends: list[tuple[str, Any]] = [
        ("sqlite", lambda n, work: f"sqlite:///{work}/export-{n}.db"),
        ("postgresql", lambda n, work: fresh_pg(pg, f"casework_export_{n}")),
    ]
    print(f"load: {os.getloadavg()[0]:.2f} (1-minute average, {os.cpu_count()} cores)")
    for backend, url_for in backends:
        results: dict[int, dict[str, dict[str, float]]] = {}
        for count in (small, cases):
            work = Path(tempfile.mkdtemp(prefix="casework-export-"))
            url = url_for(count, work)
            if url is None:
                break
            results[count] = measure(url, count, work)
            report(backend, count, results[count])
        if backend == "postgresql":
            _drop_pg(pg, [f"casework_export_{count}" for count in results])
        if len(results) == 2:
            for name in results[small]:
                ratio = results[cases][name]["peak_mb"] / max(results[small][name]["peak_mb"], 0.1)
                print(
                    f"{backend:<10} {name:<14} peak at {cases} / at {small} cases: "
                    f"x{ratio:.1f} (constant memory: about 1; holding every row: about 10)"
                )


if __name__ == "__main__":
    main()
