"""A mistake in a run an operator starts by hand (the Prefect UI's run form, or any API
client) ends the run Failed with one line naming what is wrong, and no traceback."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.deployments import run_deployment

from casework import services
from casework.models.codes import Program
from tests import factories
from tests.polling import wait_for
from tests.prefect_surfaces import api_post

pytestmark = pytest.mark.prefect


def _logs(stack: str, run_id: str) -> list[dict[str, Any]]:
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 50}
    return list(api_post(stack, "logs/filter", body))


def _case_at_assessment() -> str:
    return services.cases.intake(
        factories.client_in(), Program.HOUSING, "cm.tester", "tester"
    ).case_number


@pytest.mark.parametrize(
    ("deployment", "parameters", "message"),
    [
        (
            "reassess-case/reassess-case",
            {"case_number": "CASE-999999", "reason": "Crisis", "requested_by": "sup.housing"},
            "refused: case_number: no case CASE-999999",
        ),
        (
            "reassess-case/reassess-case",
            {"case_number": "AT-ASSESSMENT", "reason": "Crisis", "requested_by": "sup.housing"},
            "a case goes back to assessment from plan, referral, monitoring",
        ),
        (
            "stalled-case-sweep/stalled-case-sweep",
            {"as_of": "9999-12-31T00:00:00+00:00"},
            "refused: as_of: 9999-12-31 is out of range",
        ),
        (
            "escalation-brief/escalation-brief",
            {"case_number": "CASE-999998"},
            "refused: case_number: no case CASE-999998",
        ),
    ],
)
def test_an_operators_mistake_ends_failed_in_one_line(
    stack: str, deployment: str, parameters: dict[str, Any], message: str
) -> None:
    if parameters.get("case_number") == "AT-ASSESSMENT":
        parameters = {**parameters, "case_number": _case_at_assessment()}
    run = run_deployment(deployment, parameters=parameters, timeout=120, as_subflow=False)
    state = run.state  # type: ignore[union-attr]
    assert state is not None
    assert state.is_failed(), state
    assert message in (state.message or "")
    assert "\n" not in (state.message or "")

    run_id = str(run.id)  # type: ignore[union-attr]
    logs = wait_for(
        "the run's closing log line",
        lambda: (
            [entry for entry in _logs(stack, run_id) if "Finished in state" in entry["message"]]
            and _logs(stack, run_id)
        ),
        30,
    )
    assert [entry["message"] for entry in logs if "Traceback" in entry["message"]] == []
    assert any(message in entry["message"] for entry in logs if entry["level"] >= 40)
