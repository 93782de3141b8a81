"""The daily `prefect-retention` run on the session's Prefect server: Casework's finished
runs older than the age are deleted with their logs; an open case's run is kept whatever
its state; a run of a flow that is not Casework's is never touched."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from casework.core import prefect_api
from casework.core.db import session_scope
from casework.flows.retention import prefect_retention
from casework.models import cases
from casework.models.orm import Case
from tests import factories
from tests.conftest import SESSION_DIR
from tests.polling import wait_for

pytestmark = pytest.mark.prefect


def _run(flow: str, state: str, ended_days_ago: float) -> str:
    """A run of `flow` that reached `state` that many days ago, with a log line. Prefect's
    API stamps a state with the time it is set, so the run's end is moved back in the
    server's own database (SQLite, the session's `casework up`)."""
    flow_id = prefect_api.rest_api("POST", "/flows/", {"name": flow})["id"]
    run = prefect_api.rest_api("POST", "/flow_runs/", {"flow_id": flow_id, "name": f"old-{flow}"})
    for kind in ("RUNNING", state):
        body = {"state": {"type": kind}, "force": True}
        prefect_api.rest_api("POST", f"/flow_runs/{run['id']}/set_state", body)
    log = {"name": "prefect.flow_runs", "level": 20, "message": "done"}
    at = datetime.now(UTC) - timedelta(days=ended_days_ago)
    prefect_api.rest_api(
        "POST", "/logs/", [{**log, "timestamp": at.isoformat(), "flow_run_id": run["id"]}]
    )
    with sqlite3.connect(SESSION_DIR / "prefect" / "prefect.db", timeout=60) as db:
        db.execute(
            "UPDATE flow_run SET end_time = ? WHERE id = ?",
            (at.strftime("%Y-%m-%d %H:%M:%S.%f"), run["id"]),
        )
    return str(run["id"])


def _exists(run_id: str) -> bool:
    try:
        prefect_api.rest_api("GET", f"/flow_runs/{run_id}")
    except prefect_api.ObjectNotFound:
        return False
    return True


def _logs(run_id: str) -> list[Any]:
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}}
    return list(prefect_api.rest_api("POST", "/logs/filter", body))


def _case_driven_by(run_id: str, closed: bool) -> str:
    with session_scope() as session:
        case = factories.new_case(session)
        cases.set_flow_run(session, case, run_id)
        if closed:
            session.execute(update(Case).where(Case.id == case.id).values(status="closed"))
        return str(case.case_number)


def test_retention_deletes_finished_history_and_keeps_every_open_case_run(stack: str) -> None:
    old_sweep = _run("stalled-case-sweep", "COMPLETED", 3)
    young_sweep = _run("stalled-case-sweep", "COMPLETED", 0.5)
    old_failed_report = _run("caseload-report", "FAILED", 3)
    # A Failed case run waits for an operator's `casework repair` (a Crashed one is
    # rescheduled at once by the automation).
    failed_open = _run("case-lifecycle", "FAILED", 3)
    closed = _run("case-lifecycle", "COMPLETED", 3)
    not_ours = _run("someone-elses-flow", "COMPLETED", 3)
    _case_driven_by(failed_open, closed=False)
    _case_driven_by(closed, closed=True)
    assert _logs(old_sweep)

    said = prefect_retention(days=2)

    assert not _exists(old_sweep), "a sweep run older than the age"
    assert not _exists(old_failed_report), "failed, but history all the same"
    assert not _exists(closed), "a closed case's run"
    assert _exists(young_sweep), "younger than the age"
    assert _exists(failed_open), "an open case's run, though Failed and old"
    assert _exists(not_ours), "not a Casework flow"
    wait_for("the deleted run's logs to go with it", lambda: not _logs(old_sweep))
    assert "kept 1 finished run(s) of open cases" in said
    with pytest.raises(ValueError, match="days: 0 is not a number of days"):
        prefect_retention(days=0)
