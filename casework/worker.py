"""The Casework worker: a Prefect worker type (`casework`) that runs each flow run in a child
forked from a template process that has already imported Prefect and the project.

A stock process worker or runner starts `python -m prefect.engine` for every run, and about
three quarters of that process's CPU goes to imports. Here the imports happen once per
template; each child is still a real process, so a crash ends one run, Prefect's crash
detection sees its exit code, and a cancelled run's process is ended.

The same worker runs everywhere: `casework up` starts one on a local work pool, and on any
other machine `casework worker --pool casework` (or `prefect worker start --pool casework`,
the pool being of type `casework`) does the same job.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio.abc
import httpx
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import InfrastructureNotFound
from prefect.states import Cancelled
from prefect.workers.base import (
    BaseJobConfiguration,
    BaseVariables,
    BaseWorker,
    BaseWorkerResult,
)
from pydantic import Field

from casework.core.prefect_private import FilteredSubmission

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from prefect.client.schemas.objects import Flow as APIFlow
    from prefect.client.schemas.objects import WorkPool
    from prefect.client.schemas.responses import DeploymentResponse, WorkerFlowRunResponse

WORKER_TYPE = "casework"
RUNS_PER_TEMPLATE = 500
CANCEL_CHECK_SECONDS = 2.0  # how often a run still going is checked for a cancellation
CANCEL_GRACE_SECONDS = 30
PROJECT_PACKAGES = (
    "casework",  # its folders below are links, which a walk of casework does not follow
    "casework.flows",
    "casework.tasks",
    "casework.models",
    "casework.deployments",
)
WAKE_ON = ("Scheduled", "Resuming", "AwaitingRetry")  # a run in our pool that is due now
WAKE_RETRY_SECONDS = 10
WAKE_MIN_SECONDS = 0.25  # between two requests for runs woken by events
TEMPLATE_END_SECONDS = 10
STOP_GRACE_SECONDS = 10  # for the runs in flight when the worker stops
RELATED_FRESH_SECONDS = 300  # how long the worker reuses a run's flow, deployment, queue, pool


class CaseworkJobConfiguration(BaseJobConfiguration):
    runs_per_template: int = Field(default=RUNS_PER_TEMPLATE, ge=1)

    def prepare_for_flow_run(
        self,
        flow_run: FlowRun,
        deployment: DeploymentResponse | None = None,
        flow: APIFlow | None = None,
        work_pool: WorkPool | None = None,
        worker_name: str | None = None,
        worker_id: UUID | None = None,
    ) -> None:
        super().prepare_for_flow_run(
            flow_run, deployment, flow, work_pool, worker_name, worker_id=worker_id
        )
        if deployment is not None and deployment.entrypoint:
            # The child takes its flow from the modules the template imported, instead of
            # reading the deployment again to find it.
            self.env["PREFECT__FLOW_ENTRYPOINT"] = deployment.entrypoint


class CaseworkVariables(BaseVariables):
    runs_per_template: int = Field(
        default=RUNS_PER_TEMPLATE,
        ge=1,
        title="Runs per template",
        description=(
            "The template process is replaced after this many runs (and whenever the "
            "project's code changes), so what it holds stays fresh."
        ),
    )


class CaseworkWorkerResult(BaseWorkerResult):
    """How one flow run's process ended."""


def code_fingerprint() -> tuple[int, int]:
    """(newest modification time, number of files) of the project's Python source: it
    changes when a deploy changes the code, and then a new template is started."""
    newest, count = 0, 0
    for package in PROJECT_PACKAGES:
        module = sys.modules.get(package) or importlib.import_module(package)
        for root in getattr(module, "__path__", []):
            for path in Path(root).rglob("*.py"):
                newest = max(newest, path.stat().st_mtime_ns)
                count += 1
    return newest, count


async def end_process(pid: int, exited: asyncio.Future[int], grace: float) -> None:
    """End a flow-run child: SIGTERM, then SIGKILL if it has not exited after `grace` s."""
    try:
        os.kill(pid, signal.SIGTERM)
        await asyncio.wait_for(asyncio.shield(exited), grace)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        await exited
    except ProcessLookupError:
        pass


class TemplateProcess:
    """One template process, seen from the worker: asks it to fork a child per run, and
    learns each child's pid and exit code from it."""

    def __init__(self, fingerprint: tuple[int, int], settings: dict[str, str]) -> None:
        self.fingerprint = fingerprint
        self.settings = settings  # what each run's environment sets: the template has it too
        self.runs = 0
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: int | None = None
        self._ready: asyncio.Future[int] | None = None
        self._started: dict[str, asyncio.Future[tuple[int, asyncio.Future[int]]]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        request_read, self._requests = os.pipe()
        reply_read, reply_write = os.pipe()
        self._ready = loop.create_future()
        # Not an asyncio subprocess: the template outlives the worker's event loop by as long
        # as its last children run, and ends by itself once the request pipe closes.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "casework.template", str(request_read), str(reply_write)],
            pass_fds=(request_read, reply_write),
            env={**os.environ, **self.settings},
        )
        os.close(request_read)
        os.close(reply_write)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(reply_read, "rb")
        )
        self._reading = asyncio.create_task(self._read(reader))
        self.pid = await self._ready

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            message = json.loads(line)
            if "ready" in message and self._ready is not None:
                self._ready.set_result(int(message["ready"]))
            elif "started" in message:
                pid = int(message["pid"])
                exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                self._exits[pid] = exited
                self._started.pop(message["started"]).set_result((pid, exited))
            elif "exited" in message:
                self._exits.pop(int(message["exited"])).set_result(int(message["code"]))
        # The template has ended: whatever it had not answered will never be answered.
        while self._process is not None and self._process.poll() is None:
            await asyncio.sleep(0.1)  # no thread waits on it: a thread would hold up exit
        code = self._process.returncode if self._process is not None else -1
        gone = RuntimeError(f"the template process ended (code {code})")
        for future in [self._ready, *self._started.values(), *self._exits.values()]:
            if future is not None and not future.done():
                future.set_exception(gone)

    async def fork(
        self, flow_run: FlowRun, env: dict[str, str], related: dict[str, dict[str, Any]]
    ) -> tuple[int, asyncio.Future[int]]:
        """Start the flow run in a new child; returns its pid and a future of its exit code.
        The child is handed the run as the worker read it, and the objects its events name
        (`related`), and does not read them again."""
        flow_run_id = str(flow_run.id)
        if self._requests is None:
            raise RuntimeError("the template process is retired")
        started: asyncio.Future[tuple[int, asyncio.Future[int]]]
        started = asyncio.get_running_loop().create_future()
        self._started[flow_run_id] = started
        self.runs += 1
        request = {
            "run": flow_run_id,
            "env": env,
            "flow_run": flow_run.model_dump(mode="json"),
            "related": related,
        }
        os.write(self._requests, json.dumps(request).encode() + b"\n")
        return await started  # its exit may be read before this returns: the future has it

    def children(self) -> set[int]:
        return set(self._exits)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_of(self, pid: int) -> asyncio.Future[int] | None:
        """The future exit code of child `pid`, if it is one of ours and still going."""
        return self._exits.get(pid)

    async def end_children(self, grace: float) -> None:
        """Give the runs in flight `grace` seconds to finish, then end their processes
        (SIGTERM, and SIGKILL 5 s later). Their runs are Crashed, and `casework up` puts
        them back to wait at their stage; a form they were given is kept by Prefect."""
        exits = list(self._exits.items())
        if not exits:
            return
        await asyncio.wait([future for _, future in exits], timeout=grace)
        left = [(pid, future) for pid, future in exits if not future.done()]
        ending = (end_process(pid, future, 5.0) for pid, future in left)
        await asyncio.gather(*ending, return_exceptions=True)  # a template that died: gone too

    def retire(self) -> None:
        """Take no more runs; the template ends once its children have."""
        if self._requests is not None:
            os.close(self._requests)
            self._requests = None

    async def ended(self) -> None:
        if self._reading is not None:
            await self._reading


class CaseworkWorker(
    FilteredSubmission,
    BaseWorker[CaseworkJobConfiguration, CaseworkVariables, CaseworkWorkerResult],
):
    type = WORKER_TYPE
    job_configuration = CaseworkJobConfiguration
    job_configuration_variables = CaseworkVariables
    _description = (
        "Runs each flow run in a child forked from a template process that has already "
        "imported Prefect and the Casework project: a real process per run, without the "
        "cost of starting Python and importing Prefect for each one."
    )
    _display_name = "Casework"
    _documentation_url = "https://docs.prefect.io/v3/concepts/workers"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._template: TemplateProcess | None = None
        self._retired: list[TemplateProcess] = []
        self._template_lock = asyncio.Lock()
        self._child_settings: dict[str, str] = {}
        self._waking: asyncio.Task[None] | None = None
        self._due = asyncio.Event()  # set: ask the server for runs now
        self._in_flight: set[UUID] = set()  # runs whose child has not yet exited
        self._read: dict[str, tuple[float, Any]] = {}  # "kind.id" -> (read at, it)
        self._due_again: set[UUID] = set()  # of those, runs scheduled again meanwhile
        self._labelled: set[UUID] = set()  # runs offered that carry this worker's labels

    async def setup(self) -> None:
        await super().setup()
        # Prefect's worker reads each run's deployment twice and its flow once as it
        # submits it: three requests per transition for what seldom changes. Read here
        # once in a while instead (a deployment changed by `casework deploy` is seen
        # within RELATED_FRESH_SECONDS).
        client = self.client
        read_deployment, read_flow = client.read_deployment, client.read_flow
        client.read_deployment = partial(self._read_fresh, "deployment", read_deployment)  # type: ignore[method-assign]
        client.read_flow = partial(self._read_fresh, "flow", read_flow)  # type: ignore[method-assign]
        self._child_settings = await self._settings_for_children()
        await self._current_template(RUNS_PER_TEMPLATE)  # the first run does not wait for it
        self._waking = asyncio.create_task(self._wake_on_new_runs())

    async def _wake_on_new_runs(self) -> None:
        """Ask for runs as soon as one in our pool is scheduled (a case resumed, a sweep
        started), instead of at the next poll: the poll stays, as the fallback, and can be
        slow, which spares the server (each poll is a write on its database)."""
        from prefect.events.clients import get_events_subscriber
        from prefect.events.filters import EventAnyResourceFilter, EventFilter, EventNameFilter

        while self.pool_id is None:
            await asyncio.sleep(0.5)
        wanted = EventFilter(
            event=EventNameFilter(name=[f"prefect.flow-run.{name}" for name in WAKE_ON]),
            any_resource=EventAnyResourceFilter(id=[f"prefect.work-pool.{self.pool_id}"]),
        )
        asking = asyncio.create_task(self._ask_when_due())
        try:
            while True:
                try:
                    async with get_events_subscriber(filter=wanted) as subscriber:
                        async for _ in subscriber:
                            self._due.set()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the poll goes on; subscribe again
                    self._logger.debug("Run events unavailable (%s); polling only", exc)
                    await asyncio.sleep(WAKE_RETRY_SECONDS)
        finally:
            asking.cancel()

    async def _ask_when_due(self) -> None:
        """One request for runs at a time, however many events came in meanwhile: a burst
        of intakes is one or two polls, not one each (each poll writes on the server's
        database, and concurrent writes are what lock an SQLite server)."""
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await self.get_and_submit_flow_runs()
            except Exception as exc:  # noqa: BLE001 - the regular poll will ask again
                self._logger.debug("Asking for runs failed (%s)", exc)
            await asyncio.sleep(WAKE_MIN_SECONDS)

    def runs_to_submit(
        self, flow_run_response: Sequence[WorkerFlowRunResponse]
    ) -> list[WorkerFlowRunResponse]:
        """Prefect's submission, less the runs whose previous child is still exiting. A case
        resumed within a second of suspending is Scheduled again before the child that
        suspended it has exited and freed its slot; Prefect's worker would take a second
        slot for the same run, which raises and stops the worker (and with it `casework
        up`), or with no limit would run one flow run in two processes. Such a run is asked
        for again as soon as its child has exited."""
        again = {entry.flow_run.id for entry in flow_run_response} & self._in_flight
        self._due_again |= again
        wanted = self.worker_labels().items()
        self._labelled |= {
            entry.flow_run.id
            for entry in flow_run_response
            if wanted <= (entry.flow_run.labels or {}).items()
        }
        return [entry for entry in flow_run_response if entry.flow_run.id not in again]

    def worker_labels(self) -> dict[str, str]:
        """The labels Prefect's worker gives each run it submits (`labels_given`)."""
        labels = {"prefect.worker.name": self.name, "prefect.worker.type": self.type}
        if self._work_pool is not None:
            labels["prefect.work-pool.name"] = self._work_pool.name
            labels["prefect.work-pool.id"] = str(self._work_pool.id)
        return labels

    def labels_given(self, flow_run_id: UUID) -> bool:
        """Whether the run, as offered, already carried this worker's labels (a case run
        this worker ran before): then they are not given again."""
        if flow_run_id in self._labelled:
            self._labelled.discard(flow_run_id)
            return True
        return False

    async def _settings_for_children(self) -> dict[str, str]:
        """Prefect settings for each run: its heartbeat, and what spares it requests whose
        answer the worker already has: the server's API version (checked by this worker's
        own client as it started; its children run the same Prefect), and, when the server
        does not enforce CSRF protection, the CSRF token each client would otherwise ask
        for first."""
        from casework.core.settings import get_settings, prefect_auth_headers

        settings = {"PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED": "false"}
        # Heartbeats: a run whose host is lost falls silent, and the lost-run automation
        # (casework.automations) crashes it, and reschedules a case run, after
        # CASEWORK_LOST_RUN_SECONDS. A PREFECT_FLOWS_HEARTBEAT_FREQUENCY set here wins.
        settings["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = os.environ.get(
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(get_settings().heartbeat_seconds)
        )

        async with httpx.AsyncClient(
            base_url=str(self.client.api_url), timeout=30, headers=prefect_auth_headers()
        ) as http:
            response = await http.get("csrf-token", params={"client": "casework-worker"})
        if response.status_code == 422 and "CSRF protection is disabled" in response.text:
            settings["PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"] = "false"
        return settings

    async def teardown(self, *exc_info: Any) -> None:
        if self._waking is not None:
            self._waking.cancel()
        templates = [t for t in [self._template, *self._retired] if t is not None]
        for template in templates:
            template.retire()
        await asyncio.gather(*(t.end_children(STOP_GRACE_SECONDS) for t in templates))
        await super().teardown(*exc_info)
        for template in templates:  # each ends once its children have
            try:
                await asyncio.wait_for(template.ended(), TEMPLATE_END_SECONDS)
            except TimeoutError:
                self._logger.warning("Template process %s is still ending.", template.pid)

    async def _current_template(self, runs_per_template: int) -> TemplateProcess:
        async with self._template_lock:
            fingerprint = code_fingerprint()  # about a millisecond: looked at for every run
            template = self._template
            if template is not None and (
                template.runs >= runs_per_template
                or template.fingerprint != fingerprint
                or not template.alive()
            ):
                why = (
                    "it ended"
                    if not template.alive()
                    else "its code changed"
                    if template.fingerprint != fingerprint
                    else "its runs"
                )
                self._logger.info("Replacing the template process (%s).", why)
                template.retire()
                self._retired.append(template)
                template = None
            if template is None:
                template = TemplateProcess(fingerprint, self._child_settings)
                await template.start()
                self._template = template
            self._retired = [t for t in self._retired if t.children()]
            return template

    async def run(
        self,
        flow_run: FlowRun,
        configuration: CaseworkJobConfiguration,
        task_status: anyio.abc.TaskStatus[int] | None = None,
    ) -> CaseworkWorkerResult:
        self._in_flight.add(flow_run.id)
        try:
            template = await self._current_template(configuration.runs_per_template)
            env = {key: value for key, value in configuration.env.items() if value is not None}
            env = {**self._child_settings, **env}  # the pool's or deployment's env wins
            pid, exited = await template.fork(flow_run, env, await self._related_to(flow_run))
            if task_status is not None:
                task_status.started(pid)
            code = await self._until_exited(flow_run, pid, exited)
            return CaseworkWorkerResult(identifier=str(pid), status_code=code)
        finally:
            # Prefect frees the run's slot as this returns, before the loop runs again: the
            # request this wakes finds it free.
            self._in_flight.discard(flow_run.id)
            if flow_run.id in self._due_again:
                self._due_again.discard(flow_run.id)
                self._due.set()

    async def _related_to(self, flow_run: FlowRun) -> dict[str, dict[str, Any]]:
        """The run's flow, deployment, work queue and pool, as its events name them (its
        heartbeats among them): read here once in a while, not by every run's process."""
        client = self.client
        wanted: dict[str, Callable[[UUID], Awaitable[Any]]] = {
            f"flow.{flow_run.flow_id}": client.read_flow,  # read fresh (see setup)
            f"deployment.{flow_run.deployment_id}": client.read_deployment,
            f"work-queue.{flow_run.work_queue_id}": partial(
                self._read_fresh, "work-queue", client.read_work_queue
            ),
        }
        found = {}
        if self._work_pool is not None:  # the worker's own, kept fresh by Prefect's worker
            pool = self._work_pool
            found[f"work-pool.{pool.name}"] = pool.model_dump(mode="json")
        for key, read in wanted.items():
            ident = key.partition(".")[2]
            if ident == "None":
                continue
            try:
                found[key] = (await read(UUID(ident))).model_dump(mode="json")
            except Exception:  # noqa: BLE001 - the run's process reads it itself
                continue
        return found

    async def _read_fresh(
        self, kind: str, read: Callable[[UUID], Awaitable[Any]], ident: UUID
    ) -> Any:
        """`read(ident)`, or what it gave less than RELATED_FRESH_SECONDS ago (a copy: the
        caller may change it). What is not there (a deleted deployment) is read each time."""
        key = f"{kind}.{ident}"
        read_at, value = self._read.get(key, (0.0, None))
        if value is None or time.monotonic() - read_at > RELATED_FRESH_SECONDS:
            value = await read(ident)
            self._read[key] = (time.monotonic(), value)
        return value.model_copy(deep=True)

    async def _until_exited(self, flow_run: FlowRun, pid: int, exited: asyncio.Future[int]) -> int:
        """The child's exit code. A run cancelled while it is going has its process ended
        (SIGTERM, then SIGKILL after a grace period) and is marked Cancelled."""
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(exited), CANCEL_CHECK_SECONDS)
            except TimeoutError:
                pass
            state = (await self.client.read_flow_run(flow_run.id)).state
            if state is not None and state.is_cancelling():
                await end_process(pid, exited, CANCEL_GRACE_SECONDS)
                await self.client.set_flow_run_state(
                    flow_run.id,
                    Cancelled(message="Cancelled: the worker ended the run's process."),
                    force=True,
                )
                self.get_flow_run_logger(flow_run).info("Cancelled; process %s ended.", pid)
                return 0  # cancelled, not crashed

    async def kill_infrastructure(
        self,
        infrastructure_pid: str,
        configuration: CaseworkJobConfiguration,
        grace_seconds: int = 30,
    ) -> None:
        """Used by Prefect to cancel a run that had been handed to a child but not begun."""
        pid = int(infrastructure_pid)
        for template in [t for t in [self._template, *self._retired] if t is not None]:
            if (exited := template.exit_of(pid)) is not None:
                await end_process(pid, exited, grace_seconds)
                return
        raise InfrastructureNotFound(f"no flow-run process {infrastructure_pid} on this worker")


async def ensure_pool(name: str) -> str:
    """Create work pool `name` of our type if it is not there, or bring its base job
    template up to date; refuse one of another type. Returns what it did."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound

    template = CaseworkWorker.get_default_base_job_template()
    async with get_client() as client:
        try:
            pool = await client.read_work_pool(name)
        except ObjectNotFound:
            await client.create_work_pool(
                WorkPoolCreate(name=name, type=WORKER_TYPE, base_job_template=template),
                overwrite=False,
            )
            return "created"
        if pool.type != WORKER_TYPE:
            from casework.core.errors import StackError

            raise StackError(
                f"CASEWORK_WORK_POOL: work pool {name!r} is of type {pool.type!r}, not "
                f"{WORKER_TYPE!r}; name another pool"
            )
        if pool.base_job_template == template:
            return "up to date"
        await client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
        return "updated"


async def register(deployments: list[Any]) -> tuple[str, str]:
    """Put every deployment on the work pool (created if missing, its job template brought
    up to date). Deployed from code, each runs its flow from the installed package (a
    module path): no pull step names the deploying machine's directories. Returns the
    pool's name and what was done to it."""
    from casework.core.settings import get_settings

    pool = get_settings().work_pool
    done = await ensure_pool(pool)
    for deployment in deployments:
        await deployment.aapply(work_pool_name=pool)
    return pool, done


def deploy() -> list[str]:
    """`casework deploy`: against the Prefect server PREFECT_API_URL names, in order: the
    work pool, every deployment on it, and the automations (which need the deployments,
    not a worker). Idempotent: run again after an upgrade. What it did, line by line."""
    from casework.automations import describe, ensure_automations
    from casework.deployments import all_deployments

    deployments = all_deployments()
    pool, done = asyncio.run(register(deployments))
    scheduled = sum(1 for d in deployments if d.schedules)
    return [
        f"Work pool {pool} (type {WORKER_TYPE}): {done}.",
        f"Deployments: {len(deployments)} on {pool} ({scheduled} on their schedules).",
        describe(ensure_automations()),
        f"Start a worker on each host: `casework worker --pool {pool}`.",
    ]


async def check_served_versions(name: str) -> None:
    """Refuse to serve a pool whose deployments another installation put there (another
    version of the package, of its locked dependencies, or of the store's migrations): its
    runs would run this machine's code against that one's expectations. Deployments with
    no version (`prefect deploy` from prefect.yaml) are not checked."""
    from prefect import get_client
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    from casework.core.errors import StackError
    from casework.deployments import build_version

    mine = build_version()
    async with get_client() as client:
        found = await client.read_deployments(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[name]))
        )
    other = sorted((d for d in found if d.version and d.version != mine), key=lambda d: d.name)
    if other:
        names = ", ".join(d.name for d in other[:3]) + (", ..." if len(other) > 3 else "")
        raise StackError(
            f"work pool {name}: {names} deployed from {other[0].version}, and this worker is "
            f"{mine}; install the same version here, or run `casework deploy` from this one"
        )


def serve(pool: str | None, limit: int | None) -> int:
    """`casework worker`: poll `pool` and run its flow runs until Ctrl-C."""
    from casework.core.settings import get_settings

    settings = get_settings()
    name = pool or settings.work_pool

    async def work() -> None:
        await ensure_pool(name)  # a pool nobody deployed to yet: made, so the worker polls
        await check_served_versions(name)
        worker = CaseworkWorker(work_pool_name=name, limit=limit or settings.runner_limit)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        serving = asyncio.create_task(worker.start())
        await asyncio.wait(
            {serving, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if not serving.done():
            serving.cancel()
        try:
            await serving
        except asyncio.CancelledError:
            pass

    asyncio.run(work())
    return 0
