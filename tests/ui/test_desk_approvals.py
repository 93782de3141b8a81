"""A supervisor's approval on the desk, in headless Chromium: a case manager's plan waits
for approval; the supervisor reads it on the case's page and returns it with a reason (a
return with none is refused beside the field); the case manager finds the reason and the
plan as given, corrects it and gives it again; the supervisor approves it and the case moves
on. Looked at, at 1440 and 390 px, with axe-core."""

from __future__ import annotations

import re

from casework import services
from casework.models.codes import NeedsDomain, Stage
from tests import factories
from tests.polling import wait_for
from tests.ui.conftest import MARKS
from tests.ui.desk import DESK, look, signed_in_page

pytestmark = MARKS
PASSWORD = "a long desk password 4 tests"
REASON = "Add the income goal we talked about on Tuesday."


def test_a_supervisor_returns_a_plan_and_approves_it_corrected(  # type: ignore[no-untyped-def]
    browser, stack: str
) -> None:
    number, _ = factories.case_waiting_at(Stage.PLAN)
    given = services.stages.submit(
        number, Stage.PLAN, factories.plan(NeedsDomain.HOUSING), actor="tester", wait=True
    )
    assert given.outcome == "awaiting_approval", given

    supervisor = signed_in_page(browser, "sup.tester", PASSWORD)
    supervisor.goto(f"{DESK}/cases/{number}")
    section = supervisor.locator("#approval")
    assert section.get_by_role("heading", name="Waiting for approval").is_visible()
    assert "Housing: secure permanent housing" in section.inner_text()
    assert supervisor.locator("#stage-form").count() == 0  # held: nothing to give meanwhile
    look(supervisor, "case-approval-waiting")
    section.get_by_role("button", name="Return it to the case manager").click()
    error = supervisor.locator("#approval-error")
    error.wait_for()
    assert "Say what the case manager should correct." in error.inner_text()
    supervisor.get_by_label("What the case manager should correct").fill(REASON)
    supervisor.get_by_role("button", name="Return it to the case manager").click()
    supervisor.get_by_text("Returned to the case manager with your reason.").wait_for()

    manager = signed_in_page(browser, "cm.tester", PASSWORD)
    manager.goto(f"{DESK}/cases/{number}")
    back = manager.locator("#approval")
    assert back.get_by_role("heading", name="Returned for correction").is_visible()
    assert REASON in back.inner_text()
    form = manager.locator("#stage-form")
    # The plan as it was given, to correct: its first goal's objective chosen again.
    objective = form.get_by_label(re.compile("Objective")).first
    assert objective.input_value() == "secure_permanent_housing"
    look(manager, "case-approval-returned")
    second = form.get_by_label(re.compile("Objective")).nth(1)
    second.select_option("enroll_in_benefits")
    form.get_by_label(re.compile("Target date")).nth(1).fill(
        form.get_by_label(re.compile("Target date")).first.input_value()
    )
    form.get_by_role("button", name="Record the plan").click()
    manager.get_by_text("waits for a supervisor's approval").first.wait_for()

    supervisor.goto(f"{DESK}/cases/{number}")
    supervisor.get_by_role("button", name="Approve the plan").click()
    supervisor.get_by_text(re.compile("Approved. The case is now at referral")).wait_for()
    detail = wait_for(
        "the case at referral", lambda: (d := services.cases.show(number)).stage == "referral" and d
    )
    assert detail.plan is not None
    assert len(detail.plan.goals) == 2
    supervisor.close()
    manager.close()
