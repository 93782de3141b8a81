"""A supervisor's approval on the real stack, as people give it: a case manager's plan by
`casework submit` waits for approval (a step of its run: its tags and its case card say
so), the supervisor approves it by `casework approve` and the run moves the case; another
plan is returned by `casework return --reason`, comes back to the case manager with the
reason and what was typed, and is corrected and approved. Only a supervisor of the program
who did not give the form decides; the reason never reaches a Prefect surface."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework import services
from casework.core import prefect_api
from casework.models.codes import NeedsDomain, Stage
from tests import factories
from tests.casework.test_cli import run_cli
from tests.conftest import acting_as
from tests.polling import wait_for
from tests.prefect_surfaces import surfaces_text

pytestmark = pytest.mark.prefect
REASON = "Goal two needs a date Mrs Quennell-Abernathy agreed to"


def _plan_file(tmp_path: Path, *domains: NeedsDomain) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(factories.plan(*domains).model_dump(mode="json")))
    return path


def _plan_given(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[str, Path]:
    """A case at plan whose plan `casework submit` gave: held for approval. Its number,
    and the plan's file."""
    number, _ = factories.case_waiting_at(Stage.PLAN)
    plan = _plan_file(tmp_path, NeedsDomain.HOUSING)
    code, out, err = run_cli(capsys, "submit", number, "plan", "--file", str(plan), "--wait")
    assert code == 0, err
    assert "waits for a supervisor's approval" in out
    return number, plan


def _waits_at(case_number: str) -> str:
    """The key the case's run waits at, as the store has it."""
    from casework.core.db import session_scope
    from casework.models import cases

    with session_scope(read_only=True) as session:
        return cases.get_case(session, case_number).stage_key


def _card(case_number: str) -> str:
    from casework.tasks.case_card import card_markdown

    return card_markdown(case_number)


def test_a_plan_waits_for_the_supervisor_then_moves(
    capsys: pytest.CaptureFixture[str], stack: str, tmp_path: Path
) -> None:
    number, plan = _plan_given(capsys, tmp_path)
    detail = services.cases.show(number)
    assert detail.stage == "plan"
    assert detail.approval is not None
    assert detail.approval.status == "requested"
    run = wait_for(
        "the run to wait for the decision",
        lambda: (
            (r := prefect_api.read_run(detail.flow_run_id or "")).waiting
            and "approval:requested" in r.tags
            and r
        ),
        timeout=60,
    )
    assert "wait:approval.l1" in run.tags
    assert run.pause_key == _waits_at(number) != detail.approval.stage_key
    assert "waiting for a supervisor's approval" in _card(number)

    # Resume pressed on the dashboard decides nothing: the run waits again, under the next
    # key, for the same decision, and nothing is recorded as given or refused.
    first = run.pause_key
    prefect_api.rest_api("POST", f"/flow_runs/{run.flow_run_id}/resume", {})
    run = wait_for(
        "the run to wait again for the decision",
        lambda: (
            (r := prefect_api.read_run(run.flow_run_id)).waiting
            and r.pause_key not in (None, first)
            and r.pause_key == _waits_at(number)
            and r
        ),
        timeout=60,
    )
    again = services.cases.show(number)
    assert again.approval is not None
    assert again.approval.status == "requested"
    assert [h.outcome for h in again.history][-1] == "awaiting_approval"

    # The case manager (tester) cannot approve it; nor can it be given twice.
    code, _, err = run_cli(capsys, "approve", number)
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert "supervisor of housing" in err
    code, _, err = run_cli(capsys, "submit", number, "plan", "--file", str(plan))
    assert code != 0
    assert "waits for a supervisor's approval" in err

    with acting_as("sup.tester"):
        code, out, err = run_cli(capsys, "approve", number, "--wait")
    assert code == 0, err
    assert "now at referral" in out
    detail = services.cases.show(number)
    assert detail.stage == "referral"
    assert detail.plan is not None
    moved = detail.history[-1]
    assert (moved.from_stage, moved.to_stage, moved.actor) == ("plan", "referral", "cm.tester")
    assert [h.outcome for h in detail.history[-2:]] == ["awaiting_approval", "moved"]


def test_a_returned_plan_is_corrected_and_approved(
    capsys: pytest.CaptureFixture[str], stack: str, tmp_path: Path
) -> None:
    number, _ = _plan_given(capsys, tmp_path)
    with acting_as("sup.tester"):
        code, _, err = run_cli(capsys, "return", number, "--reason", "")
        assert code != 0
        assert "--reason" in err
        code, out, err = run_cli(capsys, "return", number, "--reason", REASON, "--wait")
    assert code == 0, err
    assert "returned to the case manager" in out

    # Back with the case manager: the reason and what was typed, and a form to give again.
    code, out, _ = run_cli(capsys, "show", number)
    assert "RETURNED" in out
    assert REASON in out
    detail = services.cases.show(number)
    assert detail.stage == "plan"
    assert detail.approval is not None
    assert detail.approval.reason == REASON
    assert detail.approval.form["goals"][0]["domain"] == "housing"
    run = wait_for(
        "the run to wait for the plan again",
        lambda: (
            (r := prefect_api.read_run(detail.flow_run_id or "")).waiting
            and r.pause_key == _waits_at(number)
            and r
        ),
        timeout=60,
    )
    assert "approval:requested" not in run.tags
    assert "last plan form returned" in _card(number)
    # The plan's Resume dialog says it came back, and where the reason is (not the reason).
    dialog = surfaces_text(stack, [detail.flow_run_id or ""])
    assert "was returned" in dialog

    corrected = _plan_file(tmp_path, NeedsDomain.HOUSING, NeedsDomain.INCOME_BENEFITS)
    code, _, err = run_cli(capsys, "submit", number, "plan", "--file", str(corrected), "--wait")
    assert code == 0, err
    with acting_as("sup.tester"):
        code, out, err = run_cli(capsys, "approve", number, "--wait")
    assert code == 0, err
    detail = services.cases.show(number)
    assert detail.stage == "referral"
    assert detail.plan is not None
    assert len(detail.plan.goals) == 2
    assert REASON not in surfaces_text(stack, [detail.flow_run_id or ""])
    assert "Quennell" not in surfaces_text(stack, [detail.flow_run_id or ""])


def test_a_reassessment_while_the_plan_waits_takes_the_case_back(
    capsys: pytest.CaptureFixture[str], stack: str, tmp_path: Path
) -> None:
    """The client's circumstances changed while the supervisor had the plan: the case's
    run, waiting for the decision, takes the case back to assessment as asked, and the
    plan held waits for nobody (no supervisor is asked to decide on it any more)."""
    number, _ = _plan_given(capsys, tmp_path)
    code, out, err = run_cli(
        capsys, "reassess", number, "--reason", "circumstances_changed", "--wait"
    )
    assert code == 0, err
    assert "now at assessment" in out
    detail = services.cases.show(number)
    assert detail.stage == "assessment"
    assert detail.approval is None
    with acting_as("sup.tester"):
        code, _, err = run_cli(capsys, "approve", number)
    assert code != 0
    assert "no form waits for approval" in err
