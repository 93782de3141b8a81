"""Each of Prefect's private parts Casework reaches into (casework.core.prefect_private),
checked against the Prefect installed: a Prefect upgrade that moves or changes one fails
here, by name, instead of Casework quietly losing what the part gave it (a Resume form
without its schema, a second per run, four reads per run, a run in two processes, a locked
server database)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from casework.core import prefect_private
from casework.models.forms import AssessmentForm


def test_the_resume_form_schema_is_the_one_prefect_builds_for_a_run_input() -> None:
    import prefect.input.run_input as run_input

    schema = prefect_private.form_schema(AssessmentForm)
    assert schema["title"] == "AssessmentForm"
    assert set(AssessmentForm.model_fields) <= set(schema["properties"])
    # Prefect stores the same schema when a run suspends for input: ours replaces it.
    assert "create_v2_schema(cls.__name__, model_base=cls)" in inspect.getsource(run_input)


@pytest.fixture
def heartbeats_restored() -> Iterator[None]:
    import prefect.flow_engine as engine

    original = engine._send_heartbeats
    yield
    engine._send_heartbeats = original


@pytest.mark.usefixtures("heartbeats_restored")
def test_the_sync_engine_leaves_its_heartbeat_thread_behind() -> None:
    import prefect.flow_engine as engine

    original = engine._send_heartbeats
    assert "join_on_exit" in inspect.signature(original).parameters
    # The sync engine looks the function up in its module on each run: the patch is seen.
    assert "with _send_heartbeats(self):" in inspect.getsource(engine.FlowRunEngine)
    seen: list[bool] = []

    def spy(run_engine: Any, join_on_exit: bool = True) -> Any:
        seen.append(join_on_exit)
        return original(run_engine, join_on_exit=join_on_exit)

    engine._send_heartbeats = spy
    prefect_private.leave_heartbeats_behind()
    prefect_private.leave_heartbeats_behind()  # twice: wrapped once
    engine._send_heartbeats(SimpleNamespace(), join_on_exit=True)
    assert seen == [False]


def test_the_worker_s_runs_start_no_watch_for_an_outside_suspension() -> None:
    import prefect.flow_engine as engine

    original = engine.observe_flow_run_suspension
    assert list(inspect.signature(original).parameters)[:2] == [
        "flow_run_id",
        "suspension_request",
    ]
    # The engine looks the function up in its module as a deployed run starts: the
    # replacement is seen.
    assert "observe_flow_run_suspension(" in inspect.getsource(engine.BaseFlowRunEngine)
    try:
        prefect_private.no_outside_suspension_watch()
        watch = engine.observe_flow_run_suspension(uuid4(), SimpleNamespace())
        threads = threading.active_count()
        with watch:
            assert threading.active_count() == threads  # no observer thread started
    finally:
        engine.observe_flow_run_suspension = original


def test_related_resources_the_worker_read_are_not_read_again() -> None:
    from prefect.events.related import RESOURCE_CACHE, _get_and_cache_related_object

    flow_id = uuid4()
    flow = {"id": str(flow_id), "name": "case-lifecycle", "created": None, "updated": None}
    prefect_private.know_related({f"flow.{flow_id}": flow})

    async def not_read(obj_id: Any) -> Any:
        raise AssertionError(f"Prefect read flow {obj_id} the worker had already read")

    try:
        entry = asyncio.run(
            _get_and_cache_related_object("flow", "flow", not_read, flow_id, RESOURCE_CACHE)
        )
    finally:
        RESOURCE_CACHE.pop(f"flow.{flow_id}", None)
    assert entry["object"].name == "case-lifecycle"  # type: ignore[union-attr]


def called_as(caller: Any, part: Any, call: str, parameters: list[str]) -> None:
    """Prefect's `caller` still calls its private `part` as `call`, with these parameters
    (what Casework's override of it relies on)."""
    assert call in inspect.getsource(caller)
    assert list(inspect.signature(part).parameters) == parameters


def test_the_worker_submits_only_what_runs_to_submit_lets_through() -> None:
    from prefect.workers.base import BaseWorker

    from casework.worker import CaseworkWorker

    called_as(
        BaseWorker.get_and_submit_flow_runs,
        BaseWorker._submit_scheduled_flow_runs,
        "await self._submit_scheduled_flow_runs(",
        ["self", "flow_run_response"],
    )
    worker = CaseworkWorker(work_pool_name="casework")
    assert worker.pool_id is None  # read from the server on setup, into BaseWorker._work_pool
    worker._work_pool = SimpleNamespace(id="pool-1", name="casework")
    assert worker.pool_id == "pool-1"
    in_flight, fresh = uuid4(), uuid4()
    worker._in_flight = {in_flight}
    offered = [
        SimpleNamespace(flow_run=SimpleNamespace(id=i, labels={})) for i in (in_flight, fresh)
    ]
    assert [e.flow_run.id for e in worker.runs_to_submit(offered)] == [fresh]  # type: ignore[arg-type]
    assert worker._due_again == {in_flight}
    passed: list[Any] = []

    def nothing_now(flow_run_response: Any) -> Any:
        passed.extend(flow_run_response)
        return []

    worker.runs_to_submit = nothing_now  # type: ignore[method-assign]
    assert asyncio.run(worker._submit_scheduled_flow_runs(offered)) == []  # type: ignore[arg-type]
    assert passed == offered


def test_the_server_database_on_sqlite_is_one_connection(tmp_path: Path) -> None:
    from prefect.server.database import dependencies
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}"
    before = dict(dependencies.MODELS_DEPENDENCIES)
    try:
        with temporary_settings(updates={PREFECT_API_DATABASE_CONNECTION_URL: url}):
            prefect_private.use_single_connection_sqlite()
            # What Prefect's server asks for its database goes through our configuration.
            config = dependencies.provide_database_interface().database_config

            async def pool_size() -> int:
                engine = await config.engine()
                try:
                    return int(engine.pool.size())
                finally:
                    await engine.dispose()

            assert asyncio.run(pool_size()) == 1
    finally:
        dependencies.MODELS_DEPENDENCIES.clear()
        dependencies.MODELS_DEPENDENCIES.update(before)


def test_the_worker_labels_a_run_only_when_it_lacks_the_worker_s_labels() -> None:
    from prefect.workers.base import BaseWorker

    from casework.worker import CaseworkWorker

    called_as(
        BaseWorker._submit_run_and_capture_errors,
        BaseWorker._give_worker_labels_to_flow_run,
        "await self._give_worker_labels_to_flow_run(flow_run.id)",
        ["self", "flow_run_id"],
    )
    worker = CaseworkWorker(work_pool_name="casework")
    worker._work_pool = SimpleNamespace(id="pool-1", name="casework")
    resumed, new = uuid4(), uuid4()  # a case run this worker ran before; a run never run
    offered = [
        SimpleNamespace(flow_run=SimpleNamespace(id=resumed, labels=worker.worker_labels())),
        SimpleNamespace(flow_run=SimpleNamespace(id=new, labels={"prefect.flow.id": "f"})),
    ]
    worker.runs_to_submit(offered)  # type: ignore[arg-type]
    labelled: list[Any] = []

    class Client:
        async def update_flow_run_labels(self, flow_run_id: Any, labels: Any) -> None:
            labelled.append((flow_run_id, labels["prefect.work-pool.name"]))

    worker._client = Client()  # type: ignore[assignment]
    for run_id in (resumed, new, resumed):  # offered once: the third time, labelled again
        asyncio.run(worker._give_worker_labels_to_flow_run(run_id))
    assert labelled == [(new, "casework"), (resumed, "casework")]
