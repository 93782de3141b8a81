"""Benchmark: many case managers at once on one `casework up` (SQLite store, local server).

N intakes in parallel, then N assessment forms (each with a narrative) in parallel, as a
busy morning has them; prints how many succeeded, any failure's first line, the rates,
and how long until every case had moved on. A probe of an older build saw 5 of 20
parallel intakes crash with "database is locked".

    .venv/bin/python bench/parallel.py [--cases 20] [--port P]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    cases: list[str] = field(default_factory=list)
    narratives: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    submit_failures: int = 0
    intake_seconds: float = 0.0
    submit_seconds: float = 0.0
    moved_seconds: float = 0.0


def _attempt(call: Callable[[], Any]) -> tuple[Any, str | None]:
    try:
        return call(), None
    except Exception:  # noqa: BLE001 - every failure is what is being counted
        return None, traceback.format_exc()


def intakes_then_submits(clients: list[Any], timeout: float = 600) -> Outcome:
    """Intake every client at once, then submit every case's assessment at once, then wait
    (bounded) until every case is at plan. Real operations, real flow runs."""
    from sqlalchemy import select

    from casework import services
    from casework.core.db import session_scope
    from casework.models.codes import Program, Stage
    from casework.models.orm import Case
    from tests import factories

    outcome = Outcome()
    started = time.monotonic()
    with ThreadPoolExecutor(len(clients)) as pool:
        opened = list(
            pool.map(
                lambda c: _attempt(
                    lambda: services.cases.intake(c, Program.HOUSING, "cm.bench", "bench")
                ),
                clients,
            )
        )
    outcome.intake_seconds = time.monotonic() - started
    outcome.failures += [error for _, error in opened if error]
    outcome.cases = [result.case_number for result, _ in opened if result]
    outcome.narratives = {n: f"Narrative {factories.unique_word('n')}" for n in outcome.cases}

    def submit(number: str) -> tuple[Any, str | None]:
        return _attempt(
            lambda: services.stages.submit(
                number,
                Stage.ASSESSMENT,
                factories.assessment(),
                narrative=outcome.narratives[number],
                actor="bench",
                timeout=timeout,
            )
        )

    started = time.monotonic()
    with ThreadPoolExecutor(max(len(outcome.cases), 1)) as pool:
        submitted = list(pool.map(submit, outcome.cases))
    outcome.submit_seconds = time.monotonic() - started
    outcome.submit_failures = sum(1 for _, error in submitted if error)
    outcome.failures += [error for _, error in submitted if error]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(read_only=True) as session:
            stages = set(
                session.scalars(select(Case.stage).where(Case.case_number.in_(outcome.cases)))
            )
        if stages == {Stage.PLAN.value}:
            break
        time.sleep(1)
    outcome.moved_seconds = time.monotonic() - started
    return outcome


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    port = args.port or _free_port()
    os.umask(0o077)  # as casework's own processes: `up` refuses a data directory others can read
    data_dir = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASEWORK_", "PREFECT_"))}
    env |= {"CASEWORK_DATA_DIR": str(data_dir), "CASEWORK_SCHEDULES": "off"}
    log = (data_dir / "up.log").open("w")
    up = subprocess.Popen(
        [sys.executable, "-m", "casework", "up", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 180
        while "Dashboard:" not in (data_dir / "up.log").read_text():
            if up.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"casework up did not start; see {data_dir / 'up.log'}")
            time.sleep(0.5)
        os.environ.update(env | {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"})
        from casework.cli.options import bootstrap

        bootstrap("cases", None)
        from tests import factories

        clients = [factories.client_in() for _ in range(args.cases)]
        outcome = intakes_then_submits(clients)
    finally:
        up.send_signal(2)
        up.wait(60)
    n = args.cases
    print(f"parallel case managers: {n}")
    print(f"  intakes succeeded: {len(outcome.cases)}/{n}, in {outcome.intake_seconds:.1f} s")
    submitted = len(outcome.cases) - outcome.submit_failures
    print(
        f"  submits succeeded: {submitted}/{len(outcome.cases)}, all accepted within "
        f"{outcome.submit_seconds:.1f} s (each waits for its run to reach assessment first)"
    )
    print(f"  failures of any kind: {len(outcome.failures)}")
    print(f"  all {n} cases at plan {outcome.moved_seconds:.1f} s after the submits began")
    for failure in outcome.failures[:3]:
        print("  failure:", failure.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
