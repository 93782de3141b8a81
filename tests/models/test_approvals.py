"""A supervisor's approval of a stage form, in the store: a plan held, approved or returned
and given again; who may decide; the approval's clock on the due lists and the ladder.
Runs on SQLite and, when CASEWORK_TEST_DATABASE_URL is set, on PostgreSQL. The same on the
real stack, by the CLI and the desk: tests/flows/test_approvals.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework.models import approvals, contacts, escalations, stage_events
from casework.models.codes import NeedsDomain, Program, Stage, Watch
from casework.models.due import due_list
from casework.models.orm import Approval, CarePlan, Case, Escalation
from casework.models.programs import programs
from casework.models.rules import Scope
from casework.models.staff import roster
from tests import factories
from tests.factories import STAFF, now
from tests.programs import configured, programs_file, refused_in_one_line

SUPERVISOR = "sup.housing"


def _at_plan(session: Session) -> Case:
    case = factories.new_case(session)
    factories.walk_to(session, case, Stage.PLAN, now())
    return case


def _give_plan(session: Session, case: Case, at: datetime | None = None) -> str:
    outcome = stage_events.record_stage(
        session,
        case.case_number or "",
        case.episode,
        case.stage_key,
        factories.plan(NeedsDomain.HOUSING),
        STAFF,
        at or now(),
    )
    return outcome.outcome


def _plans(session: Session, case: Case) -> int:
    return session.scalar(select(func.count()).where(CarePlan.case_id == case.id)) or 0


def _decide(session: Session, case: Case, staff: str, approve: bool, reason: str | None) -> None:
    approvals.decide(session, case, roster(session), staff, approve, reason, now())


def _record_decision(session: Session, case: Case) -> str:
    return factories.decision_recorded(session, case, now()).outcome


def test_a_plan_waits_for_approval_then_moves_as_it_was_given(session: Session) -> None:
    case = _at_plan(session)
    given_at = case.stage_key
    contacts.save_narrative(session, case, given_at, "Agreed at the kitchen table", STAFF, now())
    assert _give_plan(session, case) == stage_events.HELD
    # Held: the case waits at plan, under the next key, and no plan is written yet.
    assert case.stage == Stage.PLAN.value
    assert case.stage_key == f"{given_at}-retry1"
    assert _plans(session, case) == 0
    held = approvals.pending(session, case)
    assert held is not None
    assert held.wait_key == case.stage_key
    assert held.submitted_by == STAFF
    assert held.form["submitted_by"] == STAFF

    _decide(session, case, SUPERVISOR, True, None)
    assert _record_decision(session, case) == stage_events.MOVED
    assert case.stage == Stage.REFERRAL.value
    assert _plans(session, case) == 1
    move = stage_events.history(session, case)[-1]
    assert (move.from_stage, move.to_stage, move.actor) == ("plan", "referral", STAFF)
    # The narrative given with the plan is the move's own.
    assert contacts.narratives_for(session, case)[f"e1:{move.stage_key}"] == (
        "Agreed at the kitchen table"
    )
    assert approvals.pending(session, case) is None


def test_a_returned_plan_comes_back_with_the_reason_and_is_given_again(session: Session) -> None:
    case = _at_plan(session)
    _give_plan(session, case)
    _decide(session, case, SUPERVISOR, False, "Add a target date the client agreed to")
    assert _record_decision(session, case) == stage_events.RETURNED
    assert case.stage == Stage.PLAN.value
    assert _plans(session, case) == 0
    back = approvals.last_returned(session, case)
    assert back is not None
    assert (back.decided_by, back.reason) == (SUPERVISOR, "Add a target date the client agreed to")
    assert back.form["goals"][0]["domain"] == "housing"  # what was typed, kept
    # A return is not a refusal: nothing the case manager gave was refused.
    outcomes = [e.outcome for e in stage_events.history(session, case, refused=True)]
    assert "rejected" not in outcomes
    assert outcomes[-2:] == ["awaiting_approval", "returned"]

    assert _give_plan(session, case) == stage_events.HELD
    _decide(session, case, SUPERVISOR, True, None)
    assert _record_decision(session, case) == stage_events.MOVED
    assert case.stage == Stage.REFERRAL.value


@pytest.mark.parametrize(
    ("staff", "why"),
    [
        ("cm.rivera", "is case manager"),
        ("pm.housing", "is program manager"),
        ("sup.health", "supervisor of housing; sup.health is supervisor"),
        ("nobody.here", "is not on the roster"),
    ],
)
def test_only_a_supervisor_of_the_program_decides(session: Session, staff: str, why: str) -> None:
    case = _at_plan(session)
    _give_plan(session, case)
    with pytest.raises(approvals.NotApprovable) as refused:
        _decide(session, case, staff, True, None)
    assert why in str(refused.value)
    assert "\n" not in str(refused.value)
    held = approvals.pending(session, case)
    assert held is not None
    assert held.decided_by is None


def test_a_supervisor_may_not_approve_their_own_form(session: Session) -> None:
    case = _at_plan(session)
    form = factories.plan(NeedsDomain.HOUSING).model_copy(update={"submitted_by": SUPERVISOR})
    stage_events.record_stage(
        session, case.case_number or "", case.episode, case.stage_key, form, SUPERVISOR, now()
    )
    with pytest.raises(approvals.NotApprovable, match="sup.housing gave this plan form"):
        _decide(session, case, SUPERVISOR, True, None)


def test_a_return_needs_a_reason_and_nothing_waits_once_decided(session: Session) -> None:
    case = _at_plan(session)
    _give_plan(session, case)
    with pytest.raises(approvals.NotApprovable, match="--reason"):
        _decide(session, case, SUPERVISOR, False, "  ")
    _decide(session, case, SUPERVISOR, True, None)
    with pytest.raises(approvals.NotApprovable, match="no form waits for approval"):
        _decide(session, case, SUPERVISOR, True, None)


def test_a_program_without_approvals_moves_at_once(session: Session, tmp_path: Path) -> None:
    path = programs_file(tmp_path, housing="approvals = []\n")
    with configured(path):
        case = _at_plan(session)
        assert _give_plan(session, case) == stage_events.MOVED
        assert case.stage == Stage.REFERRAL.value


def test_only_assessment_plan_and_closure_wait_for_approval(tmp_path: Path) -> None:
    said = refused_in_one_line(programs_file(tmp_path, housing='approvals = ["referral"]\n'))
    assert "approvals: referral cannot wait for approval" in said


def test_an_approval_past_its_time_is_on_the_supervisors_due_list_and_climbs(
    session: Session,
) -> None:
    day0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    case = factories.new_case(session)
    factories.walk_to(session, case, Stage.PLAN, day0)
    _give_plan(session, case, day0)
    days = programs()[Program.HOUSING].approval_days
    supervisor_items = due_list(session, day0.date(), 7, SUPERVISOR, [Program.HOUSING.value])
    [item] = [i for i in supervisor_items if i.case_number == case.case_number]
    assert (item.what, item.due_on) == ("approval", day0.date() + timedelta(days=days))
    assert "casework approve" in item.action
    # The case manager's stage clock says whose move it is.
    [stage] = [i for i in due_list(session, day0.date(), 30, STAFF) if i.what == "stage"]
    assert "waits for a supervisor's approval" in stage.action

    def sweep(day: int) -> None:
        at = day0 + timedelta(days=day)
        escalations.sweep(session, Watch.STALLED_CASES, Scope(at), programs())

    sweep(days)
    assert not _rungs(session, case)  # on its last day, not yet late
    sweep(days + 1)
    assert _rungs(session, case) == [(2, SUPERVISOR)]
    sweep(days + 1 + programs()[Program.HOUSING].escalation_interval_days)
    assert _rungs(session, case) == [(2, SUPERVISOR), (3, "pm.housing")]
    # The stage's own SLA is not the case manager's while the supervisor holds the form.
    sweep(60)
    assert {row.rule for row in _escalations(session, case)} == {"approval_overdue"}
    _decide(session, case, SUPERVISOR, True, None)
    _record_decision(session, case)
    sweep(61)
    assert all(row.resolved_at is not None for row in _escalations(session, case))


def test_a_returned_form_is_due_from_its_case_manager(session: Session) -> None:
    case = _at_plan(session)
    _give_plan(session, case)
    _decide(session, case, SUPERVISOR, False, "Add a target date")
    _record_decision(session, case)
    [item] = [i for i in due_list(session, now().date(), 7, STAFF) if i.what == "returned_form"]
    assert item.case_number == case.case_number
    assert "sup.housing returned" in item.action
    _give_plan(session, case)  # given again: with the supervisor, not due from the manager
    assert not [i for i in due_list(session, now().date(), 7, STAFF) if i.what == "returned_form"]


def _escalations(session: Session, case: Case) -> list[Escalation]:
    return list(session.scalars(select(Escalation).where(Escalation.case_id == case.id)))


def _rungs(session: Session, case: Case) -> list[tuple[int, str]]:
    return sorted(
        (row.level, row.recipient)
        for row in _escalations(session, case)
        if row.rule == "approval_overdue"
    )


def test_a_reassessment_asked_for_while_a_plan_waits_supersedes_it(session: Session) -> None:
    """Circumstances changed while the supervisor had the plan: the case goes back to
    assessment as asked; the plan held is kept, superseded, and waits for nobody."""
    case = _at_plan(session)
    _give_plan(session, case)
    case.reassess_key, case.reassess_reason, case.reassess_by = (
        case.stage_key, "circumstances_changed", SUPERVISOR,
    )  # fmt: skip
    outcome = stage_events.record_stage(
        session, case.case_number or "", case.episode, case.stage_key, None, "system", now(),
        requested=True,
    )  # fmt: skip
    assert (outcome.outcome, case.stage) == (stage_events.MOVED, Stage.ASSESSMENT.value)
    assert approvals.pending(session, case) is None
    [held] = session.scalars(select(Approval).where(Approval.case_id == case.id))
    assert held.status == "superseded"
    with pytest.raises(approvals.NotApprovable, match="no form waits for approval"):
        _decide(session, case, SUPERVISOR, True, None)
