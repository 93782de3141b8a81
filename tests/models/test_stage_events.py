"""Applying stage forms to the store: moves, refusals, idempotent replays, the audit trail.
Runs on SQLite and, when CASEWORK_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from casework.core.db import session_scope
from casework.models import audit, cases, stage_events
from casework.models.codes import CaseStatus, NeedsDomain, Stage, Trigger
from casework.models.orm import (
    Assessment,
    AuditEvent,
    AuditIsAppendOnly,
    CarePlan,
    Case,
    StageEvent,
)
from tests import factories
from tests.factories import STAFF, now


def _apply(session: Session, case: Case, form) -> stage_events.StageOutcome:  # type: ignore[no-untyped-def]
    return factories.approved(session, case, form, now())


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _walk_to_monitoring(session: Session, case: Case) -> None:
    _apply(session, case, None)
    _apply(session, case, factories.assessment(housing=1))
    _apply(session, case, factories.plan(NeedsDomain.HOUSING))
    _apply(session, case, factories.referral())


def test_case_moves_through_every_stage_to_closed(session: Session, case: Case) -> None:
    _walk_to_monitoring(session, case)
    assert case.stage == Stage.MONITORING.value
    _apply(session, case, factories.monitoring(Trigger.CLOSE))
    outcome = _apply(session, case, factories.closure())
    assert outcome.closed
    assert case.status == CaseStatus.CLOSED.value
    moves = [(e.from_stage, e.to_stage) for e in stage_events.history(session, case)]
    assert moves == [
        ("intake", "assessment"),
        ("assessment", "plan"),
        ("plan", "referral"),
        ("referral", "monitoring"),
        ("monitoring", "closure"),
        ("closure", None),
    ]
    assert cases.episode_of(session, case).closure_reason == "goals_met"


def test_replaying_a_key_writes_nothing_twice(session: Session, case: Case) -> None:
    _apply(session, case, None)
    key = case.stage_key
    form = factories.assessment(housing=1)
    first = _apply(session, case, form)
    replay = stage_events.record_stage(session, case.case_number, 1, key, form, STAFF, now())
    assert replay == first
    assert _count(session, Assessment) == 1
    assert session.scalar(select(func.count()).where(StageEvent.stage_key == key)) == 1
    assert case.stage == Stage.PLAN.value


def test_guard_refusal_keeps_the_stage_under_a_fresh_key(session: Session, case: Case) -> None:
    _apply(session, case, None)
    _apply(session, case, factories.assessment(housing=1, food=1))
    refused = _apply(session, case, factories.plan(NeedsDomain.HOUSING))
    assert refused.outcome == stage_events.REJECTED
    assert "add a goal for Food" in (refused.error or "")
    assert case.stage == Stage.PLAN.value
    assert case.stage_key.endswith("-retry1")
    assert _count(session, CarePlan) == 0
    accepted = _apply(session, case, factories.plan(NeedsDomain.HOUSING, NeedsDomain.FOOD))
    assert accepted.to_stage == Stage.REFERRAL.value


def test_reassessment_loop_keeps_every_visit(session: Session, case: Case) -> None:
    _walk_to_monitoring(session, case)
    _apply(session, case, factories.monitoring(Trigger.REASSESS))
    assert case.stage == Stage.ASSESSMENT.value
    _apply(session, case, factories.assessment(housing=2))
    _apply(session, case, factories.plan(NeedsDomain.HOUSING))
    assert _count(session, Assessment) == 2
    assert [p.version for p in session.scalars(select(CarePlan).order_by(CarePlan.id))] == [1, 2]
    assert len({e.stage_key for e in stage_events.history(session, case)}) == 7


def test_a_run_of_an_earlier_episode_cannot_write(session: Session, case: Case) -> None:
    _walk_to_monitoring(session, case)
    _apply(session, case, factories.monitoring(Trigger.CLOSE))
    _apply(session, case, factories.closure())
    cases.reopen_case(session, case, STAFF, now())
    with pytest.raises(stage_events.StaleEpisode):
        stage_events.record_stage(session, case.case_number, 1, "intake-1", None, STAFF, now())
    assert case.episode == 2
    assert case.stage == Stage.INTAKE.value


def test_every_change_is_audited_and_the_trail_is_append_only(store: Engine) -> None:
    with session_scope(store) as session:
        case = factories.new_case(session)
        _walk_to_monitoring(session, case)
        actions = [event.action for event in audit.for_case(session, case)]
    # The plan waited for its supervisor's approval (housing asks for one), then moved.
    assert actions == ["case_opened", "stage_moved", "stage_moved"] + [
        "stage_awaiting_approval",
        "form_approved",
        "stage_moved",
        "stage_moved",
    ]
    with session_scope(store) as session:
        event = session.scalars(select(AuditEvent)).first()
        assert event is not None
        event.actor = "someone.else"
        with pytest.raises(AuditIsAppendOnly):
            session.flush()
        session.rollback()
    with session_scope(store) as session:
        session.delete(session.scalars(select(AuditEvent)).first())
        with pytest.raises(AuditIsAppendOnly):
            session.flush()
        session.rollback()
    with session_scope(store) as session:
        assert _count(session, AuditEvent) == 7
