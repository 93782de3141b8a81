"""The template process of the Casework worker: imports Prefect, SQLAlchemy and the project
once, warms what every flow run would otherwise build, and then forks one child per flow
run. A child is a real process (its own pid, exit code and crash isolation) that starts
with everything already imported: it reads its run, runs the flow and exits.

Run by the worker, never by hand: `python -m casework.template REQUEST_FD REPLY_FD`.
Requests and replies are JSON lines on two pipes:

    worker -> template   {"run": "<flow run id>", "env": {...}}
    template -> worker   {"ready": <template pid>}
                         {"started": "<flow run id>", "pid": <child pid>}
                         {"exited": <child pid>, "code": <exit code, -signal if killed>}

The template holds no thread, socket or event loop when it forks. It ends once the worker
closes the request pipe (a retirement, or the worker is gone) and its children have ended.
"""

from __future__ import annotations

import json
import os
import select
import signal
import ssl
import sys
import threading
from collections.abc import Callable
from contextlib import nullcontext
from functools import wraps
from pathlib import Path
from typing import Any

from casework.core.prefect_private import (
    know_related,
    leave_heartbeats_behind,
    no_outside_suspension_watch,
)
from casework.core.settings import default_data_dir


def reuse_ssl_contexts() -> None:
    """Every Prefect client builds an SSL context from certifi's bundle (about 17% of a
    stock flow run's CPU, even for an http:// API). Build each distinct one once, here,
    before the fork; the children share them. Only contexts made from a CA file alone
    are reused: nobody changes those after building them."""
    original: Callable[..., ssl.SSLContext] = ssl.create_default_context
    built: dict[str, ssl.SSLContext] = {}

    @wraps(original)
    def create_default_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        cafile = kwargs.get("cafile")
        if args or set(kwargs) != {"cafile"} or not isinstance(cafile, str):
            return original(*args, **kwargs)
        if cafile not in built:
            built[cafile] = original(cafile=cafile)
        return built[cafile]

    ssl.create_default_context = create_default_context


def warm() -> None:
    """Import and build, once, what each flow run would otherwise spend its CPU on."""
    reuse_ssl_contexts()
    import certifi
    import prefect.engine  # noqa: F401 - the engine, its client, its settings
    import prefect.flow_engine  # noqa: F401
    import prefect.flow_runs  # noqa: F401 - suspend, and the run input models
    import prefect.input  # noqa: F401
    import prefect.logging.handlers  # noqa: F401
    import prefect.results  # noqa: F401
    import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401 - the store's dialects
    import sqlalchemy.dialects.sqlite.pysqlite  # noqa: F401

    import casework.deployments  # every flow, and through them the tasks and the models

    ssl.create_default_context(cafile=certifi.where())
    assert casework.deployments.DECLARED
    no_outside_suspension_watch()  # in every run forked from here


RUNS_DIR = "flow-run-processes"  # under the data directory: one file per child, its run id


def runs_dir() -> Path:
    """Where the template notes which child runs which flow run (`casework status` looks)."""
    return default_data_dir() / RUNS_DIR


def is_template_process(pid: int) -> bool:
    try:
        return b"casework.template" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def forked_flow_runs() -> dict[str, int]:
    """The flow runs forked children on this host are running: flow run id -> pid."""
    found = {}
    for entry in runs_dir().glob("[0-9]*"):
        try:
            flow_run_id = entry.read_text().strip()
        except OSError:
            continue
        if is_template_process(int(entry.name)):
            found[flow_run_id] = int(entry.name)
    return found


class Template:
    def __init__(self, requests: int, replies: int) -> None:
        self.requests = os.fdopen(requests, "rb", buffering=0)
        self.replies = replies
        self.children: set[int] = set()
        self.pending = b""
        self.worker_gone = False
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_write, False)

    def reply(self, **message: Any) -> None:
        if self.worker_gone:
            return
        try:
            os.write(self.replies, json.dumps(message).encode() + b"\n")
        except BrokenPipeError:  # the worker is gone: still reap the children, then end
            self.worker_gone = True

    def serve(self) -> None:
        # SIGCHLD only writes a byte to the wake pipe: the loop below reaps.
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        open_requests = True
        self.reply(ready=os.getpid())
        while open_requests or self.children:
            watched = [self.wake_read] + ([self.requests.fileno()] if open_requests else [])
            try:
                readable, _, _ = select.select(watched, [], [], 5.0)
            except InterruptedError:
                readable = []
            if self.wake_read in readable:
                os.read(self.wake_read, 4096)
            self.reap()
            if open_requests and self.requests.fileno() in readable:
                open_requests = self.read_requests()

    def read_requests(self) -> bool:
        data = self.requests.read(65536)
        if not data:
            return False
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            if line.strip():
                request = json.loads(line)
                self.fork(str(request["run"]), dict(request.get("env") or {}), request)
        return True

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            (runs_dir() / str(pid)).unlink(missing_ok=True)
            self.reply(exited=pid, code=os.waitstatus_to_exitcode(status))

    def fork(self, flow_run_id: str, env: dict[str, str], request: dict[str, Any]) -> None:
        if threading.active_count() != 1:  # a fork with threads can deadlock the child
            raise RuntimeError(f"template holds {threading.active_count()} threads; not forking")
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for fd in (self.requests.fileno(), self.replies, self.wake_read, self.wake_write):
                os.close(fd)
            os._exit(
                run_flow_run(flow_run_id, env, request.get("flow_run"), request.get("related"))
            )
        self.children.add(pid)
        (runs_dir() / str(pid)).write_text(flow_run_id)
        self.reply(started=flow_run_id, pid=pid)


def run_flow_run(
    flow_run_id: str,
    env: dict[str, str],
    given: dict[str, Any] | None,
    related: dict[str, dict[str, Any]] | None = None,
) -> int:
    """In the child: what `python -m prefect.engine` does, minus its imports and, when the
    worker handed over the run it read, minus reading it again. Returns the exit code; the
    logs and events the run made are sent before the child exits."""
    from uuid import UUID

    from prefect.client.schemas.objects import FlowRun
    from prefect.context import refresh_global_settings_context
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import load_flow, load_flow_run, run_flow
    from prefect.logging.loggers import flow_run_logger
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY as HEARTBEAT
    from prefect.settings import temporary_settings

    from casework.core.settings import get_settings

    # Prefect's settings are built again (about 15% of a transition's CPU in the run's
    # process) only when the run's environment changes one of them: the worker hands
    # each run the environment the template already has, but for the run's own ids.
    changed = any(
        k.startswith("PREFECT_") and not k.startswith("PREFECT__") and os.environ.get(k) != v
        for k, v in env.items()
    )
    os.environ.update(env)
    if changed:
        refresh_global_settings_context()
    get_settings.cache_clear()
    # The worker sets the run's heartbeat (PREFECT_FLOWS_HEARTBEAT_FREQUENCY); without
    # one (a template started by hand), none: a lost run is then found by `casework status`.
    quiet = (
        nullcontext()
        if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in os.environ
        else temporary_settings(updates={HEARTBEAT: None})
    )
    code = 0
    try:
        know_related(related or {})
        leave_heartbeats_behind()
        with quiet, handle_engine_signals(UUID(flow_run_id)):
            if given is not None:
                flow_run = FlowRun.model_validate(given)
            else:
                flow_run = load_flow_run(UUID(flow_run_id))
            logger = flow_run_logger(flow_run=flow_run)
            flow = load_flow(flow_run)  # PREFECT__FLOW_ENTRYPOINT: imported in the template
            run_flow(flow, flow_run=flow_run, error_logger=logger.logger)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the engine logged it; the exit code says it
        code = 1
    send_logs_and_events(timeout=10)
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def send_logs_and_events(timeout: float) -> None:
    """Send the logs and events this process has queued for the Prefect server, waiting at
    most `timeout` seconds for each queue (a process that exits leaves none behind)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)


def main() -> None:
    requests, replies = int(sys.argv[1]), int(sys.argv[2])
    os.umask(0o077)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the worker; it retires us
    warm()
    runs_dir().mkdir(parents=True, exist_ok=True)
    for entry in runs_dir().glob("[0-9]*"):  # left by a template that was killed
        if not is_template_process(int(entry.name)):
            entry.unlink(missing_ok=True)
    Template(requests, replies).serve()


if __name__ == "__main__":
    main()
