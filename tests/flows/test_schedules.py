"""The schedules as `casework up` serves them on a new machine: schedules on, Prefect's own
scheduler creating the runs, the runner running them, and nobody starting a sweep or a sync
by hand. These go last: they restart the session's stack with its schedules on.

A broken scheduler (SQLAlchemy 2.1 under Prefect 3.8, for one) fails every test here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import httpx
import pytest
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from sqlalchemy import select

from casework import services
from casework.core.db import session_scope
from casework.core.prefect_api import prefect_client
from casework.deployments import SCHEDULES
from casework.models.orm import Escalation
from casework.partner import PartnerAgency
from casework.status import scheduler_errors
from tests import factories
from tests.conftest import DESK_PORT, SESSION_DIR, Stack
from tests.partners import TOKEN, case_at_referral, provider, send, stage_and_waiting
from tests.polling import wait_for
from tests.prefect_surfaces import case_events

pytestmark = [pytest.mark.prefect, pytest.mark.live_schedules]

# What an operator adds in the Prefect UI to run a sweep more often; Prefect's scheduler
# (not the test) then creates the runs, within its own loop of about a minute.
EVERY = timedelta(seconds=10)
SCHEDULER_LOOP = 150  # seconds: Prefect's scheduler loop is 60 s; a busy machine is slower
RUN_NAME = re.compile(r"^[a-z-]+-\d{4}-\d\d-\d\dT\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def live_stack(running_stack: Stack) -> str:
    if not running_stack.schedules:  # test_stack_restart, just before, restarts it so
        running_stack.stop()
        running_stack.start(True, "--verbose")
    return running_stack.api_url


def _deployment_id(name: str) -> UUID:
    return prefect_client().read_deployment_by_name(f"{name}/{name}").id


def _runs(name: str, *states: StateType) -> list[FlowRun]:
    return prefect_client().read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[_deployment_id(name)])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states)))
        ),
    )


def _scheduled_run_completes(name: str) -> None:
    """A run Prefect's scheduler started (earlier tests ran some by hand) completes, under
    a dated run name."""
    scheduled = wait_for(
        f"a scheduled {name} run to complete",
        lambda: [run for run in _runs(name, StateType.COMPLETED) if run.auto_scheduled],
        60,
    )
    assert all(RUN_NAME.match(run.name) for run in scheduled), [run.name for run in scheduled]


@pytest.fixture(scope="module")
def every_ten_seconds(live_stack: str) -> Iterator[None]:
    """The stalled-case sweep and the referral sync, each given a 10-second schedule."""
    client = prefect_client()
    added = []
    for name in ("stalled-case-sweep", "referral-status-sync"):
        deployment_id = _deployment_id(name)
        schedules = client.create_deployment_schedules(
            deployment_id, [(IntervalSchedule(interval=EVERY), True)]
        )
        added += [(deployment_id, schedule.id) for schedule in schedules]
        # An unchanged description saved again marks the deployment as just updated, so
        # Prefect's "recent deployments" scheduler (every 5 s) takes the new schedule
        # rather than its main loop (every 60 s). The same scheduler creates the runs.
        client.update_deployment(
            deployment_id,
            DeploymentUpdate(description=client.read_deployment(deployment_id).description),
        )
    yield
    for deployment_id, schedule_id in added:
        client.delete_deployment_schedule(deployment_id, schedule_id)


def test_every_cron_deployment_up_serves_has_upcoming_runs(
    live_stack: str, running_stack: Stack
) -> None:
    for name, cron in SCHEDULES.items():
        deployment = prefect_client().read_deployment_by_name(f"{name}/{name}")
        assert [
            s.schedule.cron for s in deployment.schedules if isinstance(s.schedule, CronSchedule)
        ] == [cron]
        upcoming = wait_for(
            f"Prefect's scheduler to put runs on {name}",
            lambda name=name: _runs(name, StateType.SCHEDULED),  # type: ignore[misc]
            timeout=SCHEDULER_LOOP,
        )
        assert all(run.auto_scheduled for run in upcoming)
    assert scheduler_errors(SESSION_DIR) == (0, None)

    # `up` said so when it was ready, and `casework status` says so now.
    said = running_stack.log_path.read_text()
    # The desk `up` serves, as users run it: signed in, a case manager's day.
    assert f"Desk:        http://127.0.0.1:{DESK_PORT}/" in said
    services.sign_in.set_password("cm.busy", "schedules on, desk up", "cm.busy", temporary=False)
    desk = httpx.Client(base_url=f"http://127.0.0.1:{DESK_PORT}", timeout=60)
    token = re.search(r'name="pre" value="([^"]+)"', desk.get("/sign-in").text)
    assert token
    form = {"pre": token.group(1), "staff_id": "cm.busy", "password": "schedules on, desk up"}
    assert desk.post("/sign-in", data=form).headers["location"] == "/"
    assert "Due from me" in desk.get("/day").text
    assert f"{len(SCHEDULES)} of {len(SCHEDULES)} schedules have their next run" in said, said
    # Started with --verbose (test_stack_restart), so the runner's output came to the
    # terminal too: the whole health check, a line per deployment, besides the summary.
    for name in SCHEDULES:
        lines = [line for line in said.splitlines() if line.startswith(f"  {name} ")]
        assert lines, said
        assert "; next " in lines[-1], lines
    shown = subprocess.run(
        [sys.executable, "-m", "casework", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"},
    )
    status = json.loads(shown.stdout)
    scheduled = [d for d in status["deployments"] if d["name"] in SCHEDULES]
    assert len(scheduled) == len(SCHEDULES)
    assert all(d["next_run"] and not d["problem"] for d in scheduled), scheduled
    assert status["scheduler_errors"] == 0
    # Case runs the earlier tests left broken on purpose may be listed, and the message
    # tests/flows/test_messages.py failed on purpose; nothing else is.
    left = ("CASE-", "1 sms message(s) to clients failed this week")
    assert [a for a in status["actions"] if not a.startswith(left)] == [], shown.stderr


def test_a_stalled_case_is_escalated_by_a_sweep_nobody_started(
    live_stack: str, every_ten_seconds: None
) -> None:
    case_number, _ = factories.stalled_case(days_ago=10)

    def escalations() -> list[Escalation]:
        with session_scope() as session:
            query = select(Escalation).where(Escalation.case_number == case_number)
            return list(session.scalars(query))

    [row] = wait_for("a scheduled sweep to escalate the case", escalations, SCHEDULER_LOOP)
    assert (row.rule, row.level) == ("stage_overdue", 1)
    events = wait_for("the escalation event", lambda: case_events(live_stack, case_number), 60)
    assert [e["event"] for e in events] == ["casework.case.escalated"]

    # The sweep that escalated it finishes (its artifacts) a moment after the event.
    _scheduled_run_completes("stalled-case-sweep")


def test_a_partners_answer_moves_the_case_with_no_manual_trigger(
    live_stack: str, every_ten_seconds: None
) -> None:
    agency = PartnerAgency(TOKEN).start()
    try:
        case_number, _ = case_at_referral()
        accepting = provider(agency, "accept")
        services.referrals.give_consent(case_number, accepting, factories.now().date(), "cm.tester")
        assert send(case_number, accepting).stage == "referral"  # waiting on the partner

        wait_for(
            "a scheduled referral sync to move the case on",
            lambda: stage_and_waiting(case_number) == ("monitoring", False),
            SCHEDULER_LOOP,
        )
    finally:
        agency.stop()
    _scheduled_run_completes("referral-status-sync")
