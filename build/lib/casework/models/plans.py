"""Care plans: versioned per case, goals per domain with measurable objectives."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from casework.models.forms import MonitoringForm, PlanForm
from casework.models.orm import CarePlan, Case, PlanGoal


def record_plan(session: Session, case: Case, key: str, form: PlanForm, at: datetime) -> CarePlan:
    version = session.scalar(select(func.count()).where(CarePlan.case_id == case.id)) or 0
    session.execute(
        update(CarePlan).where(CarePlan.case_id == case.id, CarePlan.current).values(current=False)
    )
    plan = CarePlan(
        case_id=case.id,
        episode=case.episode,
        stage_key=key,
        version=version + 1,
        client_participated=form.client_participated,
        agreed_on=form.agreed_on,
        created_by=form.submitted_by,
    )
    session.add(plan)
    session.flush()
    for goal in form.goals:
        session.add(
            PlanGoal(
                plan_id=plan.id,
                domain=goal.domain.value,
                objective=goal.objective.value,
                target_date=goal.target_date,
                status=goal.status.value,
                status_changed_at=at,
            )
        )
    session.flush()
    return plan


def current_plan(session: Session, case: Case) -> CarePlan | None:
    query = select(CarePlan).where(CarePlan.case_id == case.id).order_by(CarePlan.id.desc())
    return session.scalars(query.limit(1)).first()


def record_review(
    session: Session, case: Case, key: str, form: MonitoringForm, at: datetime
) -> None:
    """Apply a monitoring review's goal updates to the current plan."""
    plan = current_plan(session, case)
    if plan is None:
        return
    goals = {goal.objective: goal for goal in plan.goals}
    for change in form.goal_updates:
        goal = goals.get(change.objective.value)
        if goal is not None and goal.status != change.status.value:
            goal.status = change.status.value
            goal.status_changed_at = at
    session.flush()
