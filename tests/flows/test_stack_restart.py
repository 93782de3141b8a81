"""Stopping `casework up` loses nothing: while it is down the CLI says so and writes
nothing; once it is back, a suspended case resumes where it was. It comes back with its
schedules on, as users run it, for the live-schedule tests that follow."""

from __future__ import annotations

import pytest

from casework import operations, orchestration
from models.codes import Program, Stage
from tests import factories
from tests.conftest import Stack

pytestmark = [pytest.mark.prefect, pytest.mark.restarts_stack]


def test_suspended_case_resumes_after_the_stack_restarts(running_stack: Stack) -> None:
    opened = operations.intake(factories.client_in(), Program.HOUSING, "cm.tester", "tester")
    moved = operations.submit(
        opened.case_number, Stage.ASSESSMENT, factories.assessment(), actor="tester", wait=True
    )
    assert moved.stage == "plan"

    output = running_stack.stop()
    assert "Dashboard:" in output
    before = operations.show(opened.case_number)
    with pytest.raises(orchestration.OrchestratorUnavailable, match="not answering"):
        operations.submit(opened.case_number, Stage.PLAN, factories.plan(), actor="tester")
    with pytest.raises(orchestration.OrchestratorUnavailable, match="not answering"):
        operations.intake(factories.client_in(), Program.HOUSING, "cm.tester", "tester")
    assert operations.show(opened.case_number) == before

    running_stack.start(schedules=True)
    result = operations.submit(
        opened.case_number, Stage.PLAN, factories.plan(), actor="tester", wait=True
    )
    assert (result.outcome, result.stage) == ("moved", "referral")
