"""Operator-triggered reassessment, from the CLI's operation and from the deployment's run
form, on the session's real Prefect server and runner."""

from __future__ import annotations

import uuid

import pytest
from prefect.deployments import run_deployment
from sqlalchemy import select

from casework import services
from casework.core import prefect_api
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.core.prefect_api import REASSESS_DEPLOYMENT
from casework.models import cases, stage_events
from casework.models.codes import Program, ReassessmentReason, Stage
from casework.models.orm import AuditEvent
from tests import factories
from tests.polling import wait_for

pytestmark = pytest.mark.prefect


def _last_move_and_reason(case_number: str) -> tuple[str, str | None, object]:
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        last = stage_events.history(session, case)[-1]
        request = session.scalars(
            select(AuditEvent).where(
                AuditEvent.case_id == case.id, AuditEvent.action == "reassessment_requested"
            )
        ).one()
        return case.stage, last.actor, request.detail["reason"]


def test_operator_sends_a_case_back_to_assessment(stack: str) -> None:
    case_number = factories.case_in_monitoring()
    result = services.stages.reassess(
        case_number,
        ReassessmentReason.CIRCUMSTANCES_CHANGED,
        "sup.housing",
        note="Client reports a new eviction notice.",
        wait=True,
    )
    assert result.outcome == "moved"
    assert _last_move_and_reason(case_number) == (
        "assessment",
        "sup.housing",
        "circumstances_changed",
    )
    assert (
        "Client reports a new eviction notice."
        in services.cases.show(case_number).narratives.values()
    )


def test_reassess_case_deployment_runs_from_its_run_form(stack: str) -> None:
    case_number = factories.case_in_monitoring()
    run = run_deployment(
        REASSESS_DEPLOYMENT,
        parameters={"case_number": case_number, "reason": "Crisis", "requested_by": "sup.housing"},
        timeout=120,
        as_subflow=False,
    )
    assert run.state is not None, run  # type: ignore[union-attr]
    assert run.state.is_completed(), run.state  # type: ignore[union-attr]
    assert run.name == f"reassess-{case_number}"  # type: ignore[union-attr]
    wait_for(
        "the case to go back to assessment",
        lambda: services.cases.show(case_number).stage == "assessment",
        timeout=60,
        every=0.2,
    )
    assert _last_move_and_reason(case_number) == ("assessment", "sup.housing", "crisis")


def test_the_run_form_refuses_free_text(stack: str) -> None:
    with pytest.raises(Exception, match="reason"):
        run_deployment(
            REASSESS_DEPLOYMENT,
            parameters={
                "case_number": "CASE-000001",
                "reason": "She called crying",
                "requested_by": "sup.housing",
            },
            timeout=0,
            as_subflow=False,
        )


def test_a_case_at_intake_or_assessment_is_not_sent_back(stack: str) -> None:
    number = services.cases.intake(factories.client_in(), Program.HOUSING, "cm.tester", "tester")
    with pytest.raises(InputError, match="from plan, referral, monitoring"):
        services.stages.reassess(
            number.case_number, ReassessmentReason.OPERATOR_REQUEST, "sup.housing"
        )


def test_a_case_at_plan_goes_back_when_circumstances_change(stack: str) -> None:
    case_number, _ = factories.case_waiting_at(Stage.PLAN)
    result = services.stages.reassess(
        case_number,
        ReassessmentReason.CIRCUMSTANCES_CHANGED,
        "sup.housing",
        note="A new eviction notice arrived.",
        wait=True,
    )
    assert result.outcome == "moved", result
    assert _last_move_and_reason(case_number) == (
        "assessment",
        "sup.housing",
        "circumstances_changed",
    )
    shown = services.cases.show(case_number)
    assert "A new eviction notice arrived." in shown.narratives.values()
    assert [(h.from_stage, h.trigger) for h in shown.history][-1] == ("plan", "reassess")
    # Its run now waits at the new assessment, for that form.
    now_at = factories.where_it_waits(case_number)
    wait_for(
        "the run to wait at assessment",
        lambda: prefect_api.read_run(now_at.flow_run_id).pause_key == now_at.stage_key,
        timeout=90,
    )
    assert now_at.stage_key.startswith("assessment-")


def test_a_case_waiting_on_partners_goes_back_and_its_referral_stays_open(stack: str) -> None:
    case_number, reference = factories.case_waiting_on_partner(
        f"reassess-{uuid.uuid4().hex[:8]}", "http://127.0.0.1:9/casework"
    )
    result = services.stages.reassess(
        case_number, ReassessmentReason.CRISIS, "sup.housing", wait=True
    )
    assert result.outcome == "moved", result
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        assert (case.stage, case.waiting_on) == ("assessment", None)
        request = session.scalars(
            select(AuditEvent).where(
                AuditEvent.case_id == case.id, AuditEvent.action == "reassessment_requested"
            )
        ).one()
        assert request.detail["open_referrals"] == reference
    [referral] = services.cases.show(case_number).referrals
    assert (referral.reference, referral.status) == (reference, "received")


def test_a_case_at_referral_goes_back_from_the_command_line(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from casework.cli import main

    case_number, _ = factories.case_waiting_at(Stage.REFERRAL)
    key = factories.where_it_waits(case_number).stage_key
    with pytest.raises(SystemExit) as exit_info:
        main(["reassess", case_number, "--reason", "circumstances_changed"])
    out, err = capsys.readouterr()
    assert (exit_info.value.code, err) == (0, "")
    assert out == (
        f"{case_number}: reassessment asked for at {key}; its run is taking it back to assessment\n"
    )
    wait_for(
        "the case to go back to assessment",
        lambda: services.cases.show(case_number).stage == "assessment",
        timeout=90,
    )
