"""A case outlives the code: case runs waiting as an earlier release left them (no `wait:`
tag, as 0.1.0's runs) are named by `casework status`, carried over by repair (as `up` and
`deploy` do by themselves), and wait again as this release has it; a form handed to one
before the upgrade is applied once, in today's terms; the case's history is untouched.
deploy/upgrade.py does the same from a real 0.1.0 installation."""

from __future__ import annotations

from typing import Any

import pytest

from casework import services, status
from casework.core import prefect_api
from casework.core.db import session_scope
from casework.models import audit, cases, stage_events
from casework.models.codes import Program, Stage
from casework.models.lifecycle import STALE_WAIT, WAIT_TAG, wait_tag
from tests import factories
from tests.flows.test_case_lifecycle import _open, _submit, _wait_for_state
from tests.polling import wait_for

pytestmark = pytest.mark.prefect


def _as_an_earlier_release_left_it(flow_run_id: str) -> list[str]:
    """The run's tags without its wait: tag (0.1.0's runs carry none)."""
    run = prefect_api.read_run(flow_run_id)
    assert wait_tag(Stage.PLAN, Program.HOUSING) in run.tags
    old = [t for t in run.tags if not t.startswith(WAIT_TAG)]
    prefect_api.rest_api("PATCH", f"/flow_runs/{flow_run_id}", {"tags": old})
    return old


def _waiting_as_this_release_has_it(flow_run_id: str) -> prefect_api.RunView:
    def waiting() -> prefect_api.RunView | None:
        run = prefect_api.read_run(flow_run_id)
        return run if run.waiting and wait_tag(Stage.PLAN, Program.HOUSING) in run.tags else None

    return wait_for("the run waiting again, as this release has it", waiting)


def _history(case_number: str) -> list[tuple[Any, ...]]:
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        return [
            (e.stage_key, e.from_stage, e.to_stage, e.outcome)
            for e in stage_events.history(session, case, refused=True)
        ]


def test_a_run_waiting_as_an_earlier_release_left_it_is_carried_over(stack: str) -> None:
    case_number, flow_run_id, _ = _open()
    _submit(case_number, Stage.ASSESSMENT, factories.assessment(housing=1))
    _wait_for_state(flow_run_id, "PAUSED")
    _as_an_earlier_release_left_it(flow_run_id)
    before = _history(case_number)

    found = status.check()
    [problem] = [p for p in found.case_runs if p.case_number == case_number]
    assert problem.problem.startswith(STALE_WAIT)
    assert f"{case_number}: {problem.problem}; run `casework repair {case_number}`" in (
        found.actions
    )
    assert "All is well." not in status.to_text(found)

    # What `casework deploy` does on a pool (and `up`, through the same repair).
    assert f"{case_number}: carried over ({problem.problem})" in status.carry_over()
    assert _waiting_as_this_release_has_it(flow_run_id).pause_key == "plan-3-retry1"
    # And by hand, as `casework status` says.
    _as_an_earlier_release_left_it(flow_run_id)
    assert "its run was put back to wait at its stage" in status.repair(case_number)
    assert _waiting_as_this_release_has_it(flow_run_id).pause_key == "plan-3-retry2"
    assert _history(case_number) == before, "no stage event for a carry-over"
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        actions = [row.action for row in audit.for_case(session, case)]
    assert actions[-1] == "form_awaited_again"
    _submit(case_number, Stage.PLAN, factories.plan())
    assert not [p for p in status.check().case_runs if p.case_number == case_number]


def test_a_form_handed_to_an_earlier_releases_run_is_applied_once(stack: str) -> None:
    """0.1.0's dialog gave choices by label; its run, run by this release, reads the form
    as version 0 and records it once."""
    case_number, flow_run_id, _ = _open()
    _submit(case_number, Stage.ASSESSMENT, factories.assessment(housing=1))
    run = _wait_for_state(flow_run_id, "PAUSED")
    _as_an_earlier_release_left_it(flow_run_id)
    form = factories.plan()

    def handed_over() -> bool:
        try:
            prefect_api.resume_with_form(flow_run_id, "plan-3", services.stages.run_input(form))
        except prefect_api.FormNotAwaitedYet:  # suspended a moment before its dialog
            return False
        return True

    wait_for("the run taking the form", handed_over)
    # Recorded once, as any plan given now is: held for housing's supervisor's approval.
    wait_for(
        "the held plan recorded",
        lambda: _history(case_number)[-1] == ("plan-3", "plan", "referral", "awaiting_approval"),
    )
    assert [h[0] for h in _history(case_number)].count("plan-3") == 1
    assert run.pause_key == "plan-3"
    assert (
        services.approvals.decide(case_number, "sup.housing", True, wait=True).stage == "referral"
    )
