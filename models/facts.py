"""What the lifecycle's guards may look at besides the form, read from the store."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models.codes import NeedsDomain, Program, Stage
from casework.models.lifecycle import CaseFacts
from casework.models.notices import upheld_uncovered
from casework.models.orm import Assessment, Case
from casework.models.staff import roster


def crisis_domains(session: Session, case: Case) -> frozenset[NeedsDomain]:
    """The domains the episode's latest assessment put in crisis (the matrix: those scored 1;
    another instrument: as its rules say): a plan must cover each."""
    query = (
        select(Assessment.crisis_domains)
        .where(Assessment.case_id == case.id, Assessment.episode == case.episode)
        .order_by(Assessment.id.desc())
        .limit(1)
    )
    return frozenset(NeedsDomain(name) for name in session.scalars(query).first() or [])


def facts(session: Session, case: Case) -> CaseFacts:
    """What the lifecycle's guards need from the store: the latest assessment's crisis
    domains, the program (whose active staff may submit), and, at monitoring, the upheld
    notices of adverse action the plan does not answer yet."""
    losses: tuple[str, ...] = ()
    if case.stage == Stage.MONITORING.value:
        losses = tuple(
            f"notice {n.number} ({n.benefit} {n.action}) was upheld on {n.decided_on}"
            for n in upheld_uncovered(session, case)
        )
    return CaseFacts(
        crisis_domains=crisis_domains(session, case),
        program=Program(case.program),
        staff=roster(session),
        uncovered_losses=losses,
    )
