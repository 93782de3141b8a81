"""Benchmark: records retention over a large caseload, as the weekly `records-retention`
run does it, straight on the case store.

Fills a fresh store with N synthetic cases (bench/sweep.py's fill, in a child process:
about 12% of them closed, 1 to 4 months before its day), then, eight years on, when every
closed housing case's records and every client of only closed housing cases' identity
are due (housing: records 5 years, identity 7; other programs of the example file keep
theirs), times:
  * `due()`: the whole store read for what is due (cases per second read),
  * a batch of the first 500 items opened, approved and applied (items masked per second),
and prints, from one run, on SQLite and on PostgreSQL when one answers, with
how `due()` grew from N/10 to N cases (linear: x10 or less).

    .venv/bin/python bench/retention.py [--cases 100000] [--database-url URL]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sweep import AS_OF, _fill_in_child, on_both_stores  # noqa: E402
from casework.core.db import make_engine, session_scope  # noqa: E402
from casework.models import record_retention  # noqa: E402
from casework.models.programs import programs  # noqa: E402
from casework.models.record_retention import add_years  # noqa: E402

BATCH = 500


def measure(url: str, count: int) -> dict[str, float]:
    fill = _fill_in_child(url, count)
    engine = make_engine(url)
    later = add_years(AS_OF, 8)
    started = time.perf_counter()
    with session_scope(engine, read_only=True) as session:
        found = record_retention.due(session, later, programs())
    found_in = time.perf_counter() - started
    items = found[:BATCH]
    log = Path(tempfile.mkdtemp(prefix="casework-masking-")) / "masking-log.jsonl"
    started = time.perf_counter()
    with session_scope(engine) as session:
        batch = record_retention.open_batch(
            session, items, kind="schedule", as_of=later, requested_by="bench", at=later
        )
        record_retention.decide(session, batch.number or "", "adm.bench", None, True, None, later)
        done = record_retention.apply(session, batch, later, log)
    applied_in = time.perf_counter() - started
    engine.dispose()
    return {
        "fill": fill,
        "due": float(len(found)),
        "due_seconds": found_in,
        "masked": float(done.records + done.identities),
        "apply_seconds": applied_in,
    }


def main() -> None:
    on_both_stores(
        __doc__.splitlines()[0],
        "retention",
        measure,
        lambda count, got: (
            f"due() {got['due_seconds']:.2f} s ({count / got['due_seconds']:,.0f} cases read/s; "
            f"{got['due']:.0f} items due); a batch of {got['masked']:.0f} masked in "
            f"{got['apply_seconds']:.2f} s ({got['masked'] / got['apply_seconds']:,.0f} items/s)"
        ),
        "due_seconds",
    )


if __name__ == "__main__":
    main()
