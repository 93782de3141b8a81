"""`casework status` and `casework repair` against the session's stack: a case run whose
process is killed mid-transition recovers by itself; one that crashes again is listed with
the command that repairs it; the form the case manager gave is applied once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from casework import services, status
from casework.automations import RESCHEDULED
from casework.cli.views import case_text, caseload_text
from casework.core import prefect_api
from casework.core.db import session_scope
from casework.models import cases, stage_events
from casework.models.codes import Stage, Trigger
from casework.stack import UPKEEP_SECONDS
from casework.status import flow_run_processes
from tests import factories
from tests.casework.test_transfers import prefect_away
from tests.conftest import SESSION_DIR
from tests.polling import wait_for

pytestmark = pytest.mark.prefect


def casework(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "casework", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"},
    )


def _status() -> tuple[int, dict[str, Any]]:
    shown = casework("status", "--json")
    return shown.returncode, json.loads(shown.stdout)


def _listed(status: dict[str, Any], case_number: str) -> list[dict[str, Any]]:
    return [row for row in status["case_runs"] if row["case_number"] == case_number]


def _kill_its_transition(run_id: str, earlier: int | None) -> int:
    """kill -9 of the process applying the form (not the `earlier` one, which suspended
    the run and may still be exiting), once it exists; then the run is Crashed. Its pid."""

    def new_process() -> int | None:
        pid = flow_run_processes().get(run_id)
        return pid if pid != earlier else None

    pid = wait_for("the transition's process", new_process, 60, every=0.02)
    os.kill(pid, signal.SIGKILL)
    wait_for(
        "the worker to report the run crashed",
        lambda: prefect_api.read_run(run_id).state_type == "CRASHED",
        every=0.02,
    )
    return pid


def _rescheduled_after_a_crash(run_id: str) -> int:
    states = prefect_api.rest_api("GET", f"/flow_run_states/?flow_run_id={run_id}")
    return sum(1 for s in states if (s["message"] or "").startswith(RESCHEDULED))


def test_a_killed_case_run_recovers_by_itself_and_a_second_crash_is_listed(stack: str) -> None:
    """kill -9 of the process applying a form: the crashed-case-run automation schedules the
    run again at once, with no command and no restart. Killed again within the automation's
    window, the run stays Crashed: `casework status` lists it with the command that repairs
    it, and `up`'s upkeep puts it back. The form is applied once, and the `submit --wait`
    that was waiting all along reports the move."""
    case_number = factories.case_in_monitoring()
    key, episode, run_id = factories.where_it_waits(case_number)
    form = factories.monitoring(Trigger.CONTINUE)
    earlier = flow_run_processes().get(run_id)
    given = services.stages.submit(case_number, Stage.MONITORING, form, actor="tester")
    assert given.outcome == "submitted"
    with ThreadPoolExecutor(1) as pool:  # what `submit --wait` does once the form is in
        waiting = pool.submit(
            services.stages.wait_for_stage,
            case_number,
            episode,
            key,
            run_id,
            status.CRASH_GRACE_SECONDS + UPKEEP_SECONDS + 150,
        )
        first = _kill_its_transition(run_id, earlier)
        wait_for(
            "the automation to schedule the crashed run again",
            lambda: _rescheduled_after_a_crash(run_id) == 1,
            every=0.02,
        )
        _kill_its_transition(run_id, first)
        # The automation acts once per run in its window: this crash waits for `up`, which
        # leaves it a while for an operator to see.
        shown = status.check(SESSION_DIR).as_json()
        assert shown["ok"] is False
        [row] = _listed(shown, case_number)
        assert row["repair"] == f"casework repair {case_number}"
        assert row["problem"].startswith("its run Crashed at "), row
        assert f"run `casework repair {case_number}`" in " ".join(shown["actions"])
        # What a case manager sees of it: the run's state beside the stage.
        detail = services.cases.show(case_number)
        assert detail.run_state == "Crashed"
        assert "stage monitoring (run Crashed)" in case_text(detail)
        listing = services.cases.caseload(Stage.MONITORING)
        [listed] = [r for r in listing if r.case_number == case_number]
        assert caseload_text([listed]).endswith("  run Crashed")
        result = waiting.result()
    assert (result.outcome, result.stage) == ("moved", "monitoring"), result
    assert _rescheduled_after_a_crash(run_id) == 1
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        recorded = [e for e in stage_events.history(session, case) if e.stage_key == key]
        assert [e.episode for e in recorded] == [episode], "the form is applied once"
    wait_for("the run to wait at the next visit", lambda: prefect_api.read_run(run_id).waiting)
    after = status.check(SESSION_DIR)
    assert [p for p in after.case_runs if p.case_number == case_number] == []
    assert f"casework repair {case_number}" not in status.to_text(after)
    assert status.repair(case_number) == f"{case_number}: its run needs no repair"
    waiting_again = services.cases.show(case_number)
    assert waiting_again.run_state is None
    assert "(run " not in case_text(waiting_again)
    with prefect_away():
        unknown = services.cases.show(case_number)
        rows = [
            r for r in services.cases.caseload(Stage.MONITORING) if r.case_number == case_number
        ]
    assert unknown.run_state == "unknown"
    assert caseload_text(rows).splitlines()[-1] == (
        "run states unknown: the Prefect server did not answer"
    )


def test_repair_starts_the_run_of_a_case_whose_start_failed(stack: str) -> None:
    """Intake commits the case before it asks Prefect to start its run; if that call fails,
    the case is kept, and `casework repair` starts its run where it stands."""
    with session_scope() as session:
        case_number = factories.new_case(session).case_number or ""
    assert "started at its stage" in status.repair(case_number)

    def run_waits() -> bool:
        run_id = factories.where_it_waits(case_number).flow_run_id
        return bool(run_id) and prefect_api.read_run(run_id).waiting

    wait_for("the started run to wait at assessment", run_waits)
    assert services.cases.show(case_number).stage == "assessment"
    assert status.repair(case_number) == f"{case_number}: its run needs no repair"


def test_status_and_repair_refuse_bad_input_in_one_line(stack: str) -> None:
    unknown = casework("repair", "CASE-999999")
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "casework: error: case_number: no case CASE-999999\n",
    )
    down = subprocess.run(
        [sys.executable, "-m", "casework", "status"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
    )
    assert down.returncode == 1
    assert "Prefect server at http://127.0.0.1:9/api is not answering" in down.stdout
    assert down.stderr == ""


def test_a_worker_is_reported_gone_by_its_heartbeat_not_by_a_late_poll(
    stack: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a shared server (not this data directory's `up`): a deployment nobody has polled
    is refused while its pool has no live worker, and accepted once a worker of the pool
    sends Prefect its heartbeat, however late its polls (a busy host)."""
    from uuid import uuid4

    from casework.core.settings import get_settings

    monkeypatch.setenv("CASEWORK_DATA_DIR", str(tmp_path))  # no stack file: a shared server
    get_settings.cache_clear()
    try:
        assert not prefect_api.own_stack()
        pool = f"busy-{uuid4().hex[:8]}"
        prefect_api.rest_api("POST", "/work_pools/", {"name": pool, "type": "process"})
        flow_id = prefect_api.rest_api("POST", "/flows/", {"name": "late-poll"})["id"]
        body = {"name": pool, "flow_id": flow_id, "work_pool_name": pool}
        prefect_api.rest_api("POST", "/deployments/", body)
        name = f"late-poll/{pool}"
        gone = f"no worker is serving {name} \\(never seen, and no worker of its pool {pool}"
        with pytest.raises(prefect_api.OrchestratorUnavailable, match=gone):
            prefect_api.check_ready(name)

        heartbeat = {"name": "on-a-busy-host", "heartbeat_interval_seconds": 30}
        prefect_api.rest_api("POST", f"/work_pools/{pool}/workers/heartbeat", heartbeat)
        prefect_api.check_ready(name)  # never polled, but its worker is alive
        health = status.deployment_health(name)
        assert health.problem is None, health
        assert "its worker online" in health.served
    finally:
        get_settings.cache_clear()


def test_status_reads_the_server_without_importing_prefect(stack: str) -> None:
    shown = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "casework", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    status = json.loads(shown.stdout)
    assert status["server_version"]
    assert status["server_problem"] is None
    assert [d["name"] for d in status["deployments"]] == [
        name.split("/")[0] for name in prefect_api.DEPLOYMENTS
    ]
    assert all(d["served"] != "not registered" for d in status["deployments"])
    imported = [line.rsplit("|", 1)[-1].strip() for line in shown.stderr.splitlines()]
    assert "prefect" not in imported, "`casework status` imported Prefect"
