"""Assessments: the scoring rule and the store writer.

Risk rule (documented in docs/case-managers.md): any crisis-screen flag -> critical (P1, act today);
any domain scored 1, or three or more domains scored 2 or lower -> high (P2);
any domain scored 2 -> medium (P3); otherwise low (P4). Strengths are recorded for the
plan but never lower a risk level."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models.codes import Priority, RiskLevel
from casework.models.forms import AssessmentForm, CrisisScreen, DomainScores
from casework.models.orm import Assessment, Case

PRIORITY_FOR_RISK = {
    RiskLevel.CRITICAL: Priority.P1,
    RiskLevel.HIGH: Priority.P2,
    RiskLevel.MEDIUM: Priority.P3,
    RiskLevel.LOW: Priority.P4,
}


def assess_risk(scores: DomainScores, crisis: CrisisScreen) -> tuple[RiskLevel, Priority]:
    values = list(scores.by_domain().values())
    if crisis.flags():
        level = RiskLevel.CRITICAL
    elif 1 in values or sum(value <= 2 for value in values) >= 3:
        level = RiskLevel.HIGH
    elif 2 in values:
        level = RiskLevel.MEDIUM
    else:
        level = RiskLevel.LOW
    return level, PRIORITY_FOR_RISK[level]


def record_assessment(
    session: Session, case: Case, key: str, form: AssessmentForm, at: datetime
) -> Assessment:
    level, priority = assess_risk(form.scores, form.crisis_screen)
    assessment = Assessment(
        case_id=case.id,
        episode=case.episode,
        stage_key=key,
        scores={domain.value: score for domain, score in form.scores.by_domain().items()},
        strengths=[strength.value for strength in form.strengths],
        crisis_flags=form.crisis_screen.flags(),
        risk_level=level.value,
        priority=priority.value,
        client_participated=form.client_participated,
        assessed_by=form.submitted_by,
        assessed_at=at,
    )
    session.add(assessment)
    case.last_assessed_at = at
    # A crisis screen flag opens the case's crisis (escalated by the next sweep, at once);
    # an assessment without one closes it.
    case.crisis_since = (case.crisis_since or at) if assessment.crisis_flags else None
    session.flush()
    return assessment


def latest(session: Session, case: Case) -> Assessment | None:
    query = select(Assessment).where(Assessment.case_id == case.id).order_by(Assessment.id.desc())
    return session.scalars(query.limit(1)).first()
