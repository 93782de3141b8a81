"""`casework up`: the whole local stack in one process tree. A Prefect server on SQLite
(unless PREFECT_API_URL already answers), the case store migrated, and one runner
serving every deployment. Ctrl-C stops what it started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

STACK_FILE = "stack.json"
SERVER_LOG = "prefect-server.log"
SERVER_STARTING = "casework: starting the Prefect server at"  # marks each start in its log


class StackError(Exception):
    pass


def prefect_env(data_dir: Path, api_url: str, poll_seconds: float) -> dict[str, str]:
    """Environment shared by the CLI, the runner and every flow-run process it spawns."""
    return {
        "CASEWORK_DATA_DIR": str(data_dir),
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(data_dir / "prefect"),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOCAL_STORAGE_PATH": str(data_dir / "prefect" / "storage"),
        "PREFECT_RUNNER_POLL_FREQUENCY": str(
            max(1, round(poll_seconds))
        ),  # prefect wants whole seconds
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def api_is_healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_server(data_dir: Path, port: int, timeout: float = 120) -> subprocess.Popen[bytes]:
    if not port_is_free(port):
        raise StackError(f"--port: 127.0.0.1:{port} is already in use; choose another port")
    log = (data_dir / SERVER_LOG).open("ab")
    log.write(f"{SERVER_STARTING} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode())
    log.flush()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        start_new_session=True,
    )
    api_url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while not api_is_healthy(api_url):
        if server.poll() is not None:
            raise StackError(f"Prefect server exited; see {data_dir / SERVER_LOG}")
        if time.monotonic() > deadline:
            stop_server(server)
            raise StackError(f"Prefect server not healthy after {timeout:.0f} s")
        time.sleep(0.5)
    return server


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


async def _serve(
    deployments: list[RunnerDeployment],
    limit: int,
    poll_seconds: float,
    announce: Callable[[], None],
    sole_runner: bool,
    data_dir: Path,
) -> None:
    from prefect.runner import Runner

    runner = Runner(
        name="casework", limit=limit, query_seconds=poll_seconds, pause_on_shutdown=False
    )
    for deployment in deployments:
        await runner.aadd_deployment(deployment)
    # Ctrl-C and SIGTERM stop the runner in order; asyncio's default (raising
    # KeyboardInterrupt wherever the loop happens to be) can land inside the runner's
    # task group and end in a traceback.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    serving = asyncio.create_task(runner.start())
    stopping = asyncio.create_task(stop.wait())
    # Announce only once the runner has polled: then every deployment is really served.
    await asyncio.to_thread(
        _wait_until_served, [f"{d.flow_name}/{d.name}" for d in deployments], serving
    )
    from casework.automations import LEVEL_3_AUTOMATION, ensure_automations

    done = await asyncio.to_thread(ensure_automations)
    print(f"Automation {LEVEL_3_AUTOMATION}: {done}.", flush=True)
    if sole_runner:
        from casework.orchestration import revive_interrupted_runs

        if revived := await asyncio.to_thread(revive_interrupted_runs):
            print(f"Resumed {revived} case run(s) interrupted when the stack last stopped.")
    scheduled = [f"{d.flow_name}/{d.name}" for d in deployments if d.schedules]
    await asyncio.to_thread(_wait_for_upcoming_runs, scheduled, serving)
    from casework.status import check, repair_all, to_text

    found = await asyncio.to_thread(check, data_dir)
    if sole_runner and found.case_runs:  # no other runner: what is stuck is ours to repair
        print("\n".join(await asyncio.to_thread(repair_all, found)), flush=True)
        found = await asyncio.to_thread(check, data_dir)
    print(to_text(found), flush=True)
    announce()
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        stopping.cancel()
        serving.result()  # the runner stopped by itself: say why
        return
    serving.cancel()
    try:
        await serving
    except BaseException as exc:  # noqa: BLE001 - the cancellation we asked for, in any wrapping
        if not isinstance(exc, (asyncio.CancelledError, BaseExceptionGroup)):
            raise


def _wait_until_served(names: list[str], serving: asyncio.Task[None], timeout: float = 60) -> None:
    from casework.orchestration import OrchestratorUnavailable, check_ready

    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            try:
                check_ready(name)
                break
            except OrchestratorUnavailable:
                if serving.done() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _wait_for_upcoming_runs(
    names: list[str], serving: asyncio.Task[None], timeout: float = 90
) -> None:
    """Prefect's scheduler puts runs on a newly served deployment within seconds; wait (a
    bounded while) for them, so the summary `up` prints says whether schedules really fire."""
    from casework.status import deployment_health

    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting and not serving.done() and time.monotonic() < deadline:
        waiting = [name for name in waiting if deployment_health(name).next_run is None]
        time.sleep(1)


def up(data_dir: Path, start_own_server: bool, port: int, demo_cases: int) -> int:
    """Run the stack until interrupted. The environment was prepared by `prefect_env`."""
    from casework.db import migrate
    from casework.files import check_private
    from casework.settings import get_settings
    from deployments import all_deployments

    check_private(data_dir)
    api_url = os.environ["PREFECT_API_URL"]
    server = start_server(data_dir, port) if start_own_server else None
    if server is None and not api_is_healthy(api_url):
        raise StackError(f"PREFECT_API_URL: {api_url} is not answering")
    stack_file = data_dir / STACK_FILE
    try:
        migrate()
        dashboard = api_url.removesuffix("/api")

        def announce() -> None:
            stack_file.write_text(json.dumps({"api_url": api_url, "pid": os.getpid()}))
            print(f"Casework is up: case store {get_settings().store_url}", flush=True)
            print(f"Dashboard: {dashboard}/runs  (Ctrl-C stops everything)", flush=True)
            if demo_cases:
                threading.Thread(target=_demo, args=(demo_cases,), daemon=True).start()

        settings = get_settings()
        deployments = all_deployments()  # built outside the event loop: to_deployment is sync here
        asyncio.run(
            _serve(
                deployments,
                settings.runner_limit,
                settings.runner_poll_seconds,
                announce,
                sole_runner=server is not None,  # our own server: no other runner can exist
                data_dir=data_dir,
            )
        )
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            stop_server(server)
        print("Casework stopped.", flush=True)
    return 0


def _demo(count: int) -> None:
    from casework.demo import run_demo
    from casework.orchestration import OrchestratorUnavailable, check_ready

    for _ in range(60):
        try:
            check_ready()
            break
        except OrchestratorUnavailable:
            time.sleep(1)
    summary = run_demo(count)
    print(f"Demo: {summary}", flush=True)
