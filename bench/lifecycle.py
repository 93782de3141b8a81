"""Benchmark: what a stage transition costs next to a trivial served flow run.

One process, one local Prefect server (on SQLite), one runner serving both deployments
with the same poll interval and process limit. Prints, from one run:
  * trivial one-task flow runs per minute (N started at once),
  * case stage transitions per minute (N cases moved through every stage, a wave per stage),
  * their ratio (target >= 0.8),
  * the latency of one case's 2nd and 12th transition (resume cost must not grow).

    .venv/bin/python bench/lifecycle.py [--cases N] [--port P]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _environment(port: int) -> Path:
    data_dir = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    from casework.stack import prefect_env

    os.environ.update(prefect_env(data_dir, f"http://127.0.0.1:{port}/api", 1.0))
    os.environ.update({"CASEWORK_ACTOR": "bench", "PREFECT_LOGGING_LEVEL": "WARNING"})
    return data_dir


def _serve_in_background() -> None:
    from prefect.runner import Runner

    from bench.trivial import trivial
    from casework.settings import get_settings
    from deployments import all_deployments

    deployments = [*all_deployments(), trivial.to_deployment(name="bench-trivial")]
    settings = get_settings()
    ready = threading.Event()

    async def serve() -> None:
        runner = Runner(
            name="bench", limit=settings.runner_limit, query_seconds=1.0, pause_on_shutdown=False
        )
        for deployment in deployments:
            await runner.aadd_deployment(deployment)
        ready.set()
        await runner.start()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    ready.wait(60)


def _trivial_rate(count: int) -> float:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.deployments import run_deployment

    started = time.monotonic()
    runs = [
        run_deployment("bench-trivial/bench-trivial", timeout=0, as_subflow=False)
        for _ in range(count)
    ]
    ids = [run.id for run in runs]  # type: ignore[union-attr]
    flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=ids))
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_flow_runs(flow_run_filter=flow_runs, limit=len(ids))
            if all(run.state is not None and run.state.is_final() for run in found):
                break
            time.sleep(0.25)
    return count / (time.monotonic() - started) * 60


def _case_rate(count: int) -> float:
    from casework import operations
    from models.codes import Program, Stage, Trigger
    from tests import factories

    steps = [
        (Stage.ASSESSMENT, factories.assessment(housing=1)),
        (Stage.PLAN, factories.plan()),
        (Stage.REFERRAL, factories.referral()),
        (Stage.MONITORING, factories.monitoring(Trigger.CLOSE)),
        (Stage.CLOSURE, factories.closure()),
    ]

    def move(index: int) -> None:
        client = factories.client_in()
        number = operations.intake(
            client, list(Program)[index % 6], "cm.bench", "bench"
        ).case_number
        for stage, form in steps:
            result = operations.submit(number, stage, form, actor="bench", wait=True, timeout=300)
            assert result.outcome == "moved", result

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(move, range(count)))
    transitions = count * (1 + len(steps))  # intake moves on by itself, then one per form
    return transitions / (time.monotonic() - started) * 60


def _transition_latencies(transitions: int) -> list[float]:
    """Seconds from submit to recorded, for each transition of one case, in order."""
    from casework import operations
    from models.codes import Program, Stage, Trigger
    from tests import factories

    started = time.monotonic()
    number = operations.intake(
        factories.client_in(), Program.HOUSING, "cm.bench", "bench"
    ).case_number
    while operations.show(number).stage == "intake":
        time.sleep(0.05)
    latencies = [time.monotonic() - started]
    steps = [
        (Stage.ASSESSMENT, factories.assessment()),
        (Stage.PLAN, factories.plan()),
        (Stage.REFERRAL, factories.referral()),
    ]
    steps += [(Stage.MONITORING, factories.monitoring(Trigger.CONTINUE))] * (transitions - 4)
    for stage, form in steps:
        begun = time.monotonic()
        result = operations.submit(number, stage, form, actor="bench", wait=True, timeout=300)
        assert result.outcome == "moved", result
        latencies.append(time.monotonic() - begun)
    return latencies


class CpuMeter:
    """CPU seconds spent by flow-run processes (reaped children), the Prefect server and this
    process (runner and the case managers' calls), between two readings."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.last = self._read()

    def _read(self) -> tuple[float, float, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return (children.ru_utime + children.ru_stime, server, me.ru_utime + me.ru_stime)

    def lap(self) -> tuple[float, float, float]:
        now = self._read()
        spent = tuple(b - a for a, b in zip(self.last, now, strict=True))
        self.last = now
        return spent  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--port", type=int, default=4321)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)  # the runner finds bench/trivial.py from here
    data_dir = _environment(args.port)
    from casework.db import migrate
    from casework.stack import start_server, stop_server

    server = start_server(data_dir, args.port)
    try:
        migrate()
        _serve_in_background()
        meter = CpuMeter(server.pid)
        trivial = _trivial_rate(args.cases)
        trivial_cpu = meter.lap()
        cases = _case_rate(args.cases)
        cases_cpu = meter.lap()
        latencies = _transition_latencies(12)
    finally:
        stop_server(server)
    print(f"trivial flow runs:        {trivial:6.1f} per minute ({args.cases} runs)")
    print(f"case stage transitions:   {cases:6.1f} per minute ({args.cases} cases x 6)")
    print(f"ratio (target >= 0.8):    {cases / trivial:6.2f}")
    print(
        f"one case, transition 2:   {latencies[1]:6.2f} s;  transition 12: {latencies[11]:6.2f} s"
    )
    for label, cpu, units in (
        ("trivial run", trivial_cpu, args.cases),
        ("transition", cases_cpu, args.cases * 6),
    ):
        flow_runs, server_cpu, here = (value / units for value in cpu)
        print(
            f"CPU s per {label:<11}: flow-run processes {flow_runs:.2f}, "
            f"server {server_cpu:.2f}, runner+callers {here:.2f}"
        )
    early, late = statistics.median(latencies[1:5]), statistics.median(latencies[8:12])
    print(
        f"median of 2nd-5th: {early:.2f} s; 9th-12th: {late:.2f} s; late/early {late / early:.2f}"
    )


if __name__ == "__main__":
    main()
