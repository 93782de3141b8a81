"""`casework status` and `casework repair` against the session's stack: a case run whose
process is killed mid-transition is listed with the command that repairs it, and the repair
applies the form the case manager gave, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from casework import operations, orchestration, status
from casework.db import session_scope
from casework.stack import UPKEEP_SECONDS
from casework.status import flow_run_processes
from models import cases, stage_events
from models.codes import Stage, Trigger
from tests import factories
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


def _kill_its_transition(run_id: str, earlier: int | None) -> None:
    """kill -9 of the process applying the form (not the `earlier` one, which suspended
    the run and may still be exiting), once it exists; then the run is Crashed."""

    def new_process() -> int | None:
        pid = flow_run_processes().get(run_id)
        return pid if pid != earlier else None

    pid = wait_for("the transition's process", new_process, 60, every=0.02)
    os.kill(pid, signal.SIGKILL)
    wait_for(
        "the runner to report the run crashed",
        lambda: orchestration.read_run(run_id).state_type == "CRASHED",
    )


def test_a_killed_case_run_is_listed_then_recovers_without_a_restart(stack: str) -> None:
    """kill -9 of the process applying a form. `casework status` lists the run with the
    command that repairs it; with no command and no restart, `up` puts it back to wait,
    the form is applied once, and the `submit --wait` that was waiting reports the move."""
    case_number = factories.case_in_monitoring()
    key, episode, run_id = factories.where_it_waits(case_number)
    form = factories.monitoring(Trigger.CONTINUE)
    earlier = flow_run_processes().get(run_id)
    given = operations.submit(case_number, Stage.MONITORING, form, actor="tester")
    assert given.outcome == "submitted"
    with ThreadPoolExecutor(1) as pool:  # what `submit --wait` does once the form is in
        waiting = pool.submit(
            operations.wait_for_stage,
            case_number,
            episode,
            key,
            run_id,
            status.CRASH_GRACE_SECONDS + UPKEEP_SECONDS + 150,
        )
        _kill_its_transition(run_id, earlier)
        # In this process, well inside the while `up` leaves a crash for an operator to see.
        shown = status.check(SESSION_DIR).as_json()
        assert shown["ok"] is False
        [row] = _listed(shown, case_number)
        assert row["repair"] == f"casework repair {case_number}"
        assert (
            f"{case_number}: its run Crashed at {key}; run `casework repair {case_number}`"
            in shown["actions"]
        )
        result = waiting.result()
    assert (result.outcome, result.stage) == ("moved", "monitoring"), result
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        recorded = [e for e in stage_events.history(session, case) if e.stage_key == key]
        assert [e.episode for e in recorded] == [episode], "the form is applied once"
    wait_for("the run to wait at the next visit", lambda: orchestration.read_run(run_id).waiting)
    after = status.check(SESSION_DIR)
    assert [p for p in after.case_runs if p.case_number == case_number] == []
    assert f"casework repair {case_number}" not in status.to_text(after)
    assert status.repair(case_number) == f"{case_number}: its run needs no repair"


def test_repair_starts_the_run_of_a_case_whose_start_failed(stack: str) -> None:
    """Intake commits the case before it asks Prefect to start its run; if that call fails,
    the case is kept, and `casework repair` starts its run where it stands."""
    with session_scope() as session:
        case_number = factories.new_case(session).case_number or ""
    assert "started at its stage" in status.repair(case_number)

    def run_waits() -> bool:
        run_id = factories.where_it_waits(case_number).flow_run_id
        return bool(run_id) and orchestration.read_run(run_id).waiting

    wait_for("the started run to wait at assessment", run_waits)
    assert operations.show(case_number).stage == "assessment"
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
