"""Every place Casework reaches into Prefect's private parts, in one module.

Each is something Prefect's public API does not offer and Casework needs; each has a test
in `tests/test_prefect_private.py` that fails, naming the part, when a Prefect upgrade
moves or changes it (rather than Casework quietly losing what the part gave):

1. `form_schema`: the JSON schema Prefect's own run-input code builds for a form
   (`prefect._internal.pydantic.v2_schema.create_v2_schema`), which the Resume dialog
   shows; Casework stores it itself with the dialog's own additions.
2. `leave_heartbeats_behind`: the sync engine's heartbeat context
   (`prefect.flow_engine._send_heartbeats`), told not to join its thread as a run ends.
3. `know_related`: the cache of related resources of Prefect's events
   (`prefect.events.related.RESOURCE_CACHE`), filled with what the worker already read.
4. `FilteredSubmission`: the worker's submission step
   (`BaseWorker._submit_scheduled_flow_runs`), its pool (`BaseWorker._work_pool`), and its
   labelling of each run it submits (`BaseWorker._give_worker_labels_to_flow_run`).
5. `use_single_connection_sqlite`: the server's database configuration
   (`prefect.server.database.dependencies.MODELS_DEPENDENCIES` and
   `prefect.server.database.configurations.ENGINES`), one SQLite connection.
6. `no_outside_suspension_watch`: the sync engine's watch for a suspension asked from
   outside the run (`prefect.flow_engine.observe_flow_run_suspension`), not started.

Prefect is imported inside each function: the floor must stay cheap for store-only
commands, which never import Prefect."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.client.schemas.objects import FlowRun
    from prefect.client.schemas.responses import WorkerFlowRunResponse
    from pydantic import BaseModel


def form_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The schema Prefect's Resume form is built from, as Prefect builds it for `model`."""
    from prefect._internal.pydantic.v2_schema import create_v2_schema

    return create_v2_schema(model.__name__, model_base=model)


def leave_heartbeats_behind() -> None:
    """Prefect's sync engine, as a run ends, waits for its heartbeat thread, which sleeps in
    one-second steps: up to a second more per run, and a case resumed at once waits for that
    process to exit. This process ends right after the run (its events sent first), so the
    thread, told to stop, is left behind as Prefect's async engine leaves it."""
    import prefect.flow_engine as engine_module

    original = engine_module._send_heartbeats
    if getattr(original, "casework_unjoined", False):
        return

    def unjoined(engine: Any, join_on_exit: bool = True) -> Any:
        return original(engine, join_on_exit=False)

    unjoined.casework_unjoined = True  # type: ignore[attr-defined]
    engine_module._send_heartbeats = unjoined


def no_outside_suspension_watch() -> None:
    """Prefect 3.8's engine, for every deployed run, starts a thread with its own event
    loop and client that subscribes to the server's event stream (a websocket) and reads
    the run twice, to notice the run being suspended from outside (the UI's Suspend on a
    running run) and stop it at its next task. A case run suspends itself, within a second
    of starting, and runs no tasks: the watch costs each transition two reads, a
    subscription the server filters every event for, and a thread's start-up in the run's
    process, and would stop nothing. In the worker's runs (the template's children) it is
    not started: a Suspend asked from outside while a case run runs is not noticed by the
    run, which goes on to its own suspension at its stage."""
    from contextlib import nullcontext

    import prefect.flow_engine as engine_module

    def unwatched(flow_run_id: Any, suspension_request: Any, *args: Any, **kwargs: Any) -> Any:
        return nullcontext()

    unwatched.casework_unwatched = True  # type: ignore[attr-defined]
    engine_module.observe_flow_run_suspension = unwatched  # type: ignore[attr-defined]


RELATED_MODELS = {
    "flow": "prefect.client.schemas.objects:Flow",
    "deployment": "prefect.client.schemas.responses:DeploymentResponse",
    "work-queue": "prefect.client.schemas.objects:WorkQueue",
    "work-pool": "prefect.client.schemas.objects:WorkPool",
}


def know_related(related: dict[str, dict[str, Any]]) -> None:
    """Put the run's flow, deployment, work queue and pool, as the worker read them, where
    Prefect's events look for them first (its cache of related resources): the run's
    events, its heartbeats among them, then name them without four reads of their own."""
    import importlib

    from prefect.events.related import RESOURCE_CACHE
    from prefect.types._datetime import now

    for key, value in related.items():
        kind = key.partition(".")[0]
        if kind not in RELATED_MODELS:
            continue
        module, _, name = RELATED_MODELS[kind].partition(":")
        model = getattr(importlib.import_module(module), name)
        try:
            entry: dict[str, Any] = {"kind": kind, "object": model.model_validate(value)}
        except ValueError:  # another Prefect's shape: the run reads it itself
            continue
        RESOURCE_CACHE[key] = cast(Any, (entry, now("UTC")))  # as Prefect stores it


class FilteredSubmission:
    """Mixed into a Prefect worker class (before `BaseWorker`): the runs Prefect's worker
    would submit pass through `runs_to_submit` first; `pool_id` is the pool's, once read;
    a run is given the worker's labels only if `labels_given` says it lacks them (a case
    run resumed six times by one worker is labelled once, not six times)."""

    async def _give_worker_labels_to_flow_run(self, flow_run_id: UUID) -> None:
        if not self.labels_given(flow_run_id):
            give = super()._give_worker_labels_to_flow_run  # type: ignore[misc]
            await give(flow_run_id)

    def labels_given(self, flow_run_id: UUID) -> bool:
        return False

    async def _submit_scheduled_flow_runs(
        self, flow_run_response: list[WorkerFlowRunResponse]
    ) -> list[FlowRun]:
        submit = super()._submit_scheduled_flow_runs  # type: ignore[misc]
        return cast("list[FlowRun]", await submit(self.runs_to_submit(flow_run_response)))

    def runs_to_submit(
        self, flow_run_response: Sequence[WorkerFlowRunResponse]
    ) -> list[WorkerFlowRunResponse]:
        return list(flow_run_response)

    @property
    def pool_id(self) -> str | None:
        pool = getattr(self, "_work_pool", None)
        return None if pool is None else str(pool.id)


def use_single_connection_sqlite() -> None:
    """On a SQLite server database, every session of Prefect's server through one
    connection (see `casework.prefect_server` for why)."""
    from prefect.server.database import dependencies
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

    url = PREFECT_API_DATABASE_CONNECTION_URL.value()
    if url.startswith("sqlite"):
        dependencies.MODELS_DEPENDENCIES["database_config"] = _single_connection_sqlite()(
            connection_url=url
        )


SINGLE_CONNECTION_WAIT_SECONDS = 60.0  # a session waits this long for the connection


@lru_cache(maxsize=1)
def _single_connection_sqlite() -> type[Any]:
    """Prefect's SQLite configuration with a pool of exactly one connection (a class made
    on first use: defining it imports Prefect's server)."""
    from asyncio import get_running_loop

    import sqlalchemy as sa
    from prefect.server.database import configurations
    from prefect.server.database.configurations import AioSqliteConfiguration
    from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

    class SingleConnectionSqlite(AioSqliteConfiguration):
        async def engine(self) -> AsyncEngine:
            key = (get_running_loop(), self.connection_url, self.echo, self.timeout)
            if key not in configurations.ENGINES:
                engine = create_async_engine(
                    self.connection_url,
                    echo=self.echo,
                    connect_args={"timeout": self.timeout} if self.timeout is not None else {},
                    paramstyle="named",  # as Prefect has it (see its AioSqliteConfiguration)
                    poolclass=sa.pool.AsyncAdaptedQueuePool,
                    pool_size=1,
                    max_overflow=0,
                    pool_timeout=SINGLE_CONNECTION_WAIT_SECONDS,
                )
                sa.event.listen(engine.sync_engine, "connect", self.setup_sqlite)
                sa.event.listen(engine.sync_engine, "begin", self.begin_sqlite_stmt)
                configurations.ENGINES[key] = engine
                await self.schedule_engine_disposal(key)
            return configurations.ENGINES[key]

    return SingleConnectionSqlite
