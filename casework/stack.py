"""`casework up`: the whole local stack in one process tree. A Prefect server on SQLite
(unless PREFECT_API_URL already answers, or on PostgreSQL when one is given), the case
store migrated, and one Casework worker on the local work pool running every deployment.
Ctrl-C stops what it started."""

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from casework.core.errors import ServerGone, StackError
from casework.core.settings import (
    CREDENTIAL_FILE,
    SERVER_LOG,
    SERVER_STARTING,
    STACK_FILE,
    prefect_credential,
    prefect_server_env,
)

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

    from casework.partner import PartnerAgency
    from casework.status import StackStatus

RESEAT = "reseat-case-runs"  # left by `casework restore` for the next `up`
RUNNER_LOG = "runner.log"  # the worker's and every flow-run process's output
LOG_KEEP_BYTES = 20_000_000  # a log past this is moved to NAME.1 when `up` starts


_console: TextIO = sys.stdout


def say(text: str) -> None:
    """A line for the person who started `up`: on the terminal, even while this process's
    own output goes to the runner log."""
    print(text, file=_console, flush=True)


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr to `log`, and with them the output of every
    flow-run process the worker starts (they inherit both); `say` still reaches the
    terminal. Put back on the way out, so that a last error is seen where `up` was run."""
    global _console
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    rotate(log)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    _console = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        _console = sys.stdout


def rotate(log: Path) -> None:
    """Keep a log from growing for years: past LOG_KEEP_BYTES it becomes NAME.1 (replacing
    the one before)."""
    if log.exists() and log.stat().st_size > LOG_KEEP_BYTES:
        log.replace(log.with_name(log.name + ".1"))


def api_is_healthy(api_url: str) -> bool:
    # Imported here: `casework status` reads this module's file names, and should not pay
    # for the case store's models to do so unless it asks the server.
    from casework.core.prefect_api import api_is_healthy as healthy

    return healthy(api_url)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "::") else host, port)) != 0


# The server dies with `up`, however `up` ends (even kill -9): the kernel sends it SIGTERM
# when its parent goes (prctl PR_SET_PDEATHSIG, kept across exec). Linux only, like /proc.
_SERVER_TRAMPOLINE = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)  # `up` is already gone
os.execv(sys.argv[2], sys.argv[2:])
"""


def tied_to_this_process(python_args: list[str]) -> list[str]:
    """The command line that runs `python *python_args` and ends it when this process ends."""
    return tied([sys.executable, *python_args])


def tied(argv: list[str]) -> list[str]:
    """The command line that runs `argv` (its first item a program's path) and ends it,
    with SIGTERM, when this process ends."""
    return [sys.executable, "-c", _SERVER_TRAMPOLINE, str(os.getpid()), *argv]


def start_server(data_dir: Path, port: int, timeout: float = 120) -> subprocess.Popen[bytes]:
    if not 1 <= port <= 65535:
        raise StackError(f"{port} is not a TCP port (1-65535)", field="port")
    end_orphan(data_dir)
    if not port_is_free(port):
        raise StackError(f"127.0.0.1:{port} is already in use; choose another port", field="port")
    rotate(data_dir / SERVER_LOG)
    log = (data_dir / SERVER_LOG).open("ab")
    log.write(f"{SERVER_STARTING} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode())
    log.flush()
    from casework.core.settings import get_settings

    env = os.environ.copy()
    # Protected: run with the data directory's credential, which the clients sign in with.
    env["PREFECT_SERVER_API_AUTH_STRING"] = str(prefect_credential(data_dir, create=True))
    env = {**prefect_server_env(), **env}  # an operator's own setting wins
    if database := get_settings().prefect_database_url:  # else SQLite under PREFECT_HOME
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
    server = subprocess.Popen(
        tied_to_this_process(  # on SQLite, through one connection: see casework.prefect_server
            ["-m", "casework.prefect_server", "start", "--host", "127.0.0.1", "--port", str(port)]
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C reaches `up`, which stops the server in order
    )
    write_stack_file(data_dir, f"http://127.0.0.1:{port}/api", server.pid)
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


def write_stack_file(data_dir: Path, api_url: str, server_pid: int | None) -> None:
    (data_dir / STACK_FILE).write_text(
        json.dumps({"api_url": api_url, "pid": os.getpid(), "server_pid": server_pid})
    )


def _serves(pid: int, data_dir: Path) -> bool:
    """Whether process `pid` is alive and is a Prefect server for this data directory (its
    environment, fixed when it started, names the data directory's Prefect home)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"PREFECT_HOME={data_dir / 'prefect'}".encode() in environ


def _is_up(pid: int) -> bool:
    """Whether process `pid` is alive and is a `casework up`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"up" in argv and any(b"casework" in part for part in argv)


def end_orphan(data_dir: Path) -> None:
    """A Prefect server left by an `up` that is gone (killed before it could stop it) is
    ended; an `up` still running for this data directory is a reason to stop instead."""
    try:
        recorded = json.loads((data_dir / STACK_FILE).read_text())
    except (OSError, ValueError):
        return
    up_pid, server_pid = recorded.get("pid"), recorded.get("server_pid")
    if isinstance(up_pid, int) and up_pid != os.getpid() and _is_up(up_pid):
        raise StackError(
            f"casework up is already running for {data_dir} (pid {up_pid}); stop it first"
        )
    if not isinstance(server_pid, int) or not _serves(server_pid, data_dir):
        return
    say(f"Ending the Prefect server (pid {server_pid}) a stopped `up` left behind.")
    os.kill(server_pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _serves(server_pid, data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _serves(server_pid, data_dir):
        os.kill(server_pid, signal.SIGKILL)


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
    announce: Callable[[StackStatus, list[str]], None],
    sole_runner: bool,
    data_dir: Path,
    server: subprocess.Popen[bytes] | None,
) -> None:
    from casework.worker import CaseworkWorker, register

    pool, _ = await register(deployments)
    worker = CaseworkWorker(work_pool_name=pool, limit=limit, name=f"casework-up-{os.getpid()}")
    # Ctrl-C and SIGTERM stop the worker in order; asyncio's default (raising
    # KeyboardInterrupt wherever the loop happens to be) can land inside the worker's
    # task group and end in a traceback.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    serving = asyncio.create_task(worker.start(printer=lambda *_: None))
    stopping = asyncio.create_task(stop.wait())
    # Announce only once the worker has polled: then every deployment is really served.
    await asyncio.to_thread(
        _wait_until_served, [f"{d.flow_name}/{d.name}" for d in deployments], serving
    )
    from casework.automations import describe, ensure_automations

    print(describe(await asyncio.to_thread(ensure_automations)), flush=True)
    if sole_runner:
        from casework.core.prefect_api import revive_interrupted_runs

        if revived := await asyncio.to_thread(revive_interrupted_runs):
            say(f"Resumed {revived} case run(s) interrupted when the stack last stopped.")
    if (data_dir / RESEAT).exists():  # restored from a backup: every run from the store
        from casework.services.record_retention import reapply
        from casework.status import reseat_waiting

        # What retention masked after the backup was made is masked again first, from the
        # masking log (CASEWORK_MASKING_LOG, kept outside the store and its backups).
        records, identities = await asyncio.to_thread(reapply)
        if records or identities:
            say(
                f"Restored: masked again from the masking log: {records} case(s)' records, "
                f"{identities} client(s)' identities."
            )
        say(f"Restored: {await asyncio.to_thread(reseat_waiting)} waiting case run(s) re-seated.")
        (data_dir / RESEAT).unlink()
    scheduled = [f"{d.flow_name}/{d.name}" for d in deployments if d.schedules]
    await asyncio.to_thread(_wait_for_upcoming_runs, scheduled, serving)
    from casework.status import check, repair_all, to_text

    found = await asyncio.to_thread(check, data_dir)
    if sole_runner and found.case_runs:  # no other runner: what is stuck is ours to repair
        say("\n".join(await asyncio.to_thread(repair_all, found.case_runs)))
        found = await asyncio.to_thread(check, data_dir)
    print(to_text(found), flush=True)  # the whole health check, in the runner log
    announce(found, [d.name for d in deployments if d.schedules])
    watching = asyncio.create_task(_watch_server(server, os.environ["PREFECT_API_URL"], data_dir))
    upkeep = asyncio.create_task(_keep_cases_moving(data_dir)) if sole_runner else None
    await _until_stopped(serving, stopping, watching, upkeep, server, data_dir)


async def _until_stopped(
    serving: asyncio.Task[None],
    stopping: asyncio.Task[Any],
    watching: asyncio.Task[str],
    upkeep: asyncio.Task[None] | None,
    server: subprocess.Popen[bytes] | None,
    data_dir: Path,
) -> None:
    """Serve until Ctrl-C, the worker stops by itself, or the server goes (one line)."""
    await asyncio.wait({serving, stopping, watching}, return_when=asyncio.FIRST_COMPLETED)
    for task in (stopping, watching, upkeep):
        if task is not None and not task.done():
            task.cancel()
    if serving.done() and not watching.done():
        try:
            serving.result()  # the worker stopped by itself: say why
        except Exception:
            if server_down := await asyncio.to_thread(_server_down, server, data_dir):
                raise ServerGone(server_down) from None
            raise
        return
    serving.cancel()
    try:
        await serving
    except BaseException as exc:  # noqa: BLE001 - the cancellation we asked for, in any wrapping
        if not isinstance(exc, (asyncio.CancelledError, BaseExceptionGroup)):
            raise
    if watching.done() and not watching.cancelled():
        raise ServerGone(watching.result())


SERVER_CHECK_SECONDS = 5
# A server we did not start is given up on only after this long without an answer: a busy
# server (a long SQLite write, a loaded machine) can miss several health checks in a row.
EXTERNAL_SERVER_PATIENCE_SECONDS = 120
UPKEEP_SECONDS = 10


def _server_down(server: subprocess.Popen[bytes] | None, data_dir: Path) -> str | None:
    """One line saying the Prefect server is gone, or None if it answers."""
    api_url = os.environ["PREFECT_API_URL"]
    if server is not None and server.poll() is not None:
        return (
            f"the Prefect server at {api_url} exited (code {server.returncode}); "
            f"see {data_dir / SERVER_LOG}, then start `casework up` again"
        )
    if api_is_healthy(api_url):
        return None
    return f"the Prefect server at {api_url} stopped answering"


async def _watch_server(
    server: subprocess.Popen[bytes] | None, api_url: str, data_dir: Path
) -> str:
    """Returns (the one line to print) once the server has gone. Our own server is gone
    when its process has exited (seen within a second); a busy one is not gone. A server
    we did not start is gone once it has not answered for EXTERNAL_SERVER_PATIENCE_SECONDS."""
    silent_since: float | None = None
    while True:
        if server is not None:
            await asyncio.sleep(1)
            if server.poll() is not None:
                return _server_down(server, data_dir) or "the Prefect server exited"
            continue
        await asyncio.sleep(SERVER_CHECK_SECONDS)
        down = await asyncio.to_thread(_server_down, server, data_dir)
        if down is None:
            silent_since = None
            continue
        silent_since = silent_since or time.monotonic()
        if time.monotonic() - silent_since >= EXTERNAL_SERVER_PATIENCE_SECONDS:
            return f"{down} for {EXTERNAL_SERVER_PATIENCE_SECONDS} s"


async def _keep_cases_moving(data_dir: Path) -> None:
    """While `up` is the only worker: put back to wait the case runs that crashed or lost
    their process (a form they were given is applied once, from the run's stored input),
    and catch Prefect up with the store (`casework.services.sweeps.catch_up`, which a work
    pool's stalled-case sweep runs too)."""
    from casework.services.sweeps import catch_up
    from casework.status import repair_stuck

    def once() -> list[str]:
        return repair_stuck(data_dir) + catch_up()

    while True:
        await asyncio.sleep(UPKEEP_SECONDS)
        try:
            lines = await asyncio.to_thread(once)
        except Exception as exc:  # noqa: BLE001 - the next round tries again; the watchdog stops us
            lines = [f"casework: upkeep skipped a round ({type(exc).__name__})"]
        if lines:
            say("\n".join(lines))


def _wait_until_served(names: list[str], serving: asyncio.Task[None], timeout: float = 60) -> None:
    from casework.core.prefect_api import OrchestratorUnavailable, check_ready

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


def up(data_dir: Path, start_own_server: bool, port: int, demo_cases: int, verbose: bool) -> int:
    """Run the stack until interrupted. The environment was prepared by `prefect_env`.
    The terminal gets a short summary; the worker's and the flow runs' output goes to the
    runner log in the data directory (`verbose`: to the terminal instead, as it comes)."""
    from casework.core.files import check_private
    from casework.models.notices import notice_rules
    from casework.models.programs import programs

    check_private(data_dir)
    programs(), notice_rules()  # a bad configuration file stops `up` here, in one line
    if verbose:
        return _up(data_dir, start_own_server, port, demo_cases, verbose)
    with output_to(data_dir / RUNNER_LOG):
        return _up(data_dir, start_own_server, port, demo_cases, verbose)


def _beside(
    data_dir: Path, demo_cases: int
) -> tuple[PartnerAgency | None, subprocess.Popen[bytes] | None, str]:
    """What runs beside the worker: the demo's partner agency, and the desk (with the demo's
    sign-ins, for `--demo`); and the summary's line for the desk."""
    from casework.demo import demo_partner

    partner = None
    try:
        partner = demo_partner(data_dir, create=bool(demo_cases))
    except OSError as exc:  # its port, kept since the demo, is taken by something else
        say(f"The demo partner agency could not start ({exc.strerror}); referrals to it fail.")
    if demo_cases:
        from casework.demo import demo_sign_ins

        demo_sign_ins(data_dir / DEMO_SIGN_INS)
    desk, said = start_desk(data_dir)
    return partner, desk, said


def _up(data_dir: Path, start_own_server: bool, port: int, demo_cases: int, verbose: bool) -> int:
    from casework.core.db import migrate
    from casework.core.settings import get_settings
    from casework.deployments import all_deployments

    api_url = os.environ["PREFECT_API_URL"]
    server = start_server(data_dir, port) if start_own_server else None
    if server is None and not api_is_healthy(api_url):
        raise StackError(f"PREFECT_API_URL: {api_url} is not answering")
    partner: PartnerAgency | None = None
    desk: subprocess.Popen[bytes] | None = None
    try:
        migrate()
        from casework.services.stages import register_instruments

        register_instruments()  # a file changed without a new version stops `up` here
        partner, desk, desk_said = _beside(data_dir, demo_cases)

        def announce(found: StackStatus, scheduled: list[str]) -> None:
            if server is None:  # our own server's start wrote it already
                write_stack_file(data_dir, api_url, None)
            said = desk_said if desk is None or desk.poll() is None else desk_gone(data_dir)
            say(summary(found, scheduled, data_dir, partner, verbose, said))
            if demo_cases and partner is not None:
                threading.Thread(target=_demo, args=(demo_cases, partner), daemon=True).start()

        settings = get_settings()
        deployments = all_deployments()  # built outside the event loop: to_deployment is sync here
        from casework.core.error_log import keep_tracebacks_off_the_console

        keep_tracebacks_off_the_console()
        asyncio.run(
            _serve(
                deployments,
                settings.runner_limit,
                announce,
                sole_runner=server is not None,  # our own server: no other runner can exist
                data_dir=data_dir,
                server=server,
            )
        )
    except KeyboardInterrupt:
        pass
    finally:
        if desk is not None:
            stop_server(desk)
        if partner is not None:
            partner.stop()
        if server is not None:
            # What the worker logged as it stopped goes out while the server can take it:
            # once the server is gone, sending it would hold this process at exit.
            from casework.template import send_logs_and_events

            send_logs_and_events(timeout=10)
            stop_server(server)
        say("Casework stopped.")
    return 0


DESK_LOG = "desk.log"  # the desk's own output: its requests (paths only) and its errors
DEMO_SIGN_INS = "desk-demo-sign-ins"  # `up --demo`: the demo staff's desk passwords (0600)


def start_desk(data_dir: Path, timeout: float = 60) -> tuple[subprocess.Popen[bytes] | None, str]:
    """The desk, in a process of its own tied to this one (`casework desk`); and the line
    the summary gives it: its address, or why it is not there."""
    from casework.core.settings import get_settings

    settings = get_settings()
    if not port_is_free(settings.desk_port, settings.desk_host):
        return None, (
            f"not started: {settings.desk_host}:{settings.desk_port} is already in use "
            "(CASEWORK_DESK_PORT chooses another)"
        )
    rotate(data_dir / DESK_LOG)
    log = (data_dir / DESK_LOG).open("ab")
    import httpx

    desk = subprocess.Popen(
        tied_to_this_process(["-m", "casework", "desk"]),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    host = f"[{settings.desk_host}]" if ":" in settings.desk_host else settings.desk_host
    local = f"http://{host}:{settings.desk_port}/sign-in"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and desk.poll() is None:
        try:
            if httpx.get(local, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    if desk.poll() is not None:
        return None, desk_gone(data_dir)
    signs_in = (
        f"demo staff sign in with {data_dir / DEMO_SIGN_INS}"
        if (data_dir / DEMO_SIGN_INS).exists()
        else "staff sign in with the password `casework staff password STAFF_ID` sets"
    )
    return desk, f"{settings.desk_address}/ ({signs_in})"


def desk_gone(data_dir: Path) -> str:
    return f"stopped; see {data_dir / DESK_LOG}"


def summary(
    found: StackStatus,
    scheduled: list[str],
    data_dir: Path,
    partner: PartnerAgency | None,
    verbose: bool,
    desk: str | None = None,
) -> str:
    """What `up` says once it is ready: where to look, and whether anything needs action."""
    from casework.core.settings import get_settings

    settings = get_settings()
    credential = os.environ.get("PREFECT_API_AUTH_STRING")
    if not credential:
        sign_in = (
            "none asked: this Prefect server is not protected "
            "(docs/operators.md, 'Who may do what')"
        )
    elif credential == prefect_credential(data_dir, create=False):
        sign_in = f"with the whole line in {data_dir / CREDENTIAL_FILE}"
    else:
        sign_in = "with the shared server's credential (PREFECT_API_AUTH_STRING)"
    dashboard = f"{found.api_url.removesuffix('/api')}/runs"
    if settings.sso_issuer:  # people come in through the gate; machines keep the credential
        dashboard = f"{settings.dashboard_address}/runs"
        sign_in = "with your agency account (single sign-on; docs/operators.md)"
    served = sum(1 for d in found.deployments if not d.problem)
    if scheduled:
        due = sum(1 for d in found.deployments if d.name in scheduled and d.next_run)
        schedules = f"{due} of {len(scheduled)} schedules have their next run"
    else:
        schedules = "schedules off (CASEWORK_SCHEDULES): sweeps run when started"
    lines = [
        "Casework is up.",
        f"  Dashboard:   {dashboard}",
        f"  Sign in:     {sign_in}",
        *([f"  Desk:        {desk}"] if desk else []),
        f"  Case store:  {settings.store_url}",
        f"  Worker:      {served} of {len(found.deployments)} deployments served on work pool "
        f"{settings.work_pool}; {schedules}",
    ]
    if partner is not None:
        lines.append(f"  Partner:     the demo partner agency listens at {partner.url}")
    if verbose:
        logs = f"the runner's here, the server's in {data_dir / SERVER_LOG}"
    else:
        logs = f"{data_dir / RUNNER_LOG}, {data_dir / SERVER_LOG} (--verbose: the runner's here)"
    lines.append(f"  Logs:        {logs}")
    actions = found.actions
    lines += [f"  Needs action: {action}" for action in actions] or ["  All is well."]
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


def _demo(count: int, partner: PartnerAgency) -> None:
    from casework.core.prefect_api import OrchestratorUnavailable, check_ready
    from casework.demo import run_demo

    for _ in range(60):
        try:
            check_ready()
            break
        except OrchestratorUnavailable:
            time.sleep(1)
    say(f"Demo: opening {count} cases and moving each, a step at a time, along its route...")
    try:
        say(f"Demo cases:\n{run_demo(count, partner.url, partner.token)}")
    except Exception as exc:  # noqa: BLE001 - the stack goes on; the traceback is in the log
        from casework.core.error_log import record_unexpected

        reference, log = record_unexpected(exc, "up --demo")
        say(f"Demo stopped: unexpected {type(exc).__name__} (reference {reference}; see {log})")
