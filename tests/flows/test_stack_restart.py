"""The Prefect server dies under `casework up` (kill -9): `up` says so in one line and
stops. While it is down the CLI refuses what needs it and writes nothing; a partner's
answer recorded by hand says the case moves once the server is back. Once `up` is back,
a suspended case resumes where it was, and the answered case moves on by itself. It comes
back with its schedules on, as users run it, for the live-schedule tests that follow."""

from __future__ import annotations

import pytest

from casework import services
from casework.core import prefect_api
from casework.models.codes import Program, ReferralStatus, Stage
from casework.stack import UPKEEP_SECONDS
from tests import factories
from tests.conftest import Stack
from tests.partners import stage_and_waiting as where
from tests.polling import wait_for

pytestmark = [pytest.mark.prefect, pytest.mark.restarts_stack]


def test_a_dead_server_stops_up_in_one_line_and_nothing_is_lost(running_stack: Stack) -> None:
    opened = services.cases.intake(factories.client_in(), Program.HOUSING, "cm.tester", "tester")
    moved = services.stages.submit(
        opened.case_number, Stage.ASSESSMENT, factories.assessment(), actor="tester", wait=True
    )
    assert moved.stage == "plan"
    waiting, reference = factories.case_waiting_on_partner(
        factories.unique_word("p").lower(), "http://127.0.0.1:9/agency"
    )

    code, said = running_stack.kill_server()
    assert code == 1, said
    assert "Traceback" not in said, said
    [last] = said.strip().splitlines()[-1:]
    assert last.startswith("casework: error: the Prefect server at "), said
    assert "exited" in last

    before = services.cases.show(opened.case_number)
    with pytest.raises(prefect_api.OrchestratorUnavailable, match="not answering"):
        services.stages.submit(opened.case_number, Stage.PLAN, factories.plan(), actor="tester")
    with pytest.raises(prefect_api.OrchestratorUnavailable, match="not answering"):
        services.cases.intake(factories.client_in(), Program.HOUSING, "cm.tester", "tester")
    assert services.cases.show(opened.case_number) == before
    number, moved_on = services.referrals.record_referral_status(
        reference, ReferralStatus.ACCEPTED, None, "cm.tester"
    )
    assert (number, moved_on) == (waiting, None), "recorded; the case moves once it is back"
    assert where(waiting) == ("referral", True)

    running_stack.start(True, "--verbose")  # as an operator watching it: the runner's lines too
    result = factories.submit_approved(opened.case_number, Stage.PLAN, factories.plan(), "tester")
    assert (result.outcome, result.stage) == ("moved", "referral")
    wait_for(
        "the answered case to move on with no command",
        lambda: where(waiting) == ("monitoring", False),
        timeout=UPKEEP_SECONDS * 4 + 60,
    )
