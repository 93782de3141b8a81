"""Stage events: applying a stage form to a case. Each fired stage key is written once
(unique per case, episode and key), so a replayed or retried flow run that applies the
same key again gets the first outcome back and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import approvals, audit, cases, contacts, referrals
from casework.models.assessments import record_assessment
from casework.models.codes import Stage, Trigger
from casework.models.facts import facts
from casework.models.forms import (
    AssessmentForm,
    ClosureForm,
    MonitoringForm,
    PlanForm,
    ReferralForm,
    StageForm,
)
from casework.models.lifecycle import TransitionNotAllowed, check_transition
from casework.models.orm import Approval, Case, StageEvent
from casework.models.plans import record_plan, record_review
from casework.models.stage_questions import coded_answers

MOVED = "moved"
REJECTED = "rejected"
HELD = approvals.HELD  # the form waits for a supervisor's approval (models.approvals)
RETURNED = approvals.RETURNED  # a supervisor returned the form held

Writer = Callable[[Session, Case, str, Any, datetime], object]

# What each form writes besides the stage event itself.
WRITERS: dict[type[StageForm], Writer] = {
    AssessmentForm: record_assessment,
    PlanForm: record_plan,
    ReferralForm: referrals.record_referrals,
    MonitoringForm: record_review,
    ClosureForm: cases.record_closure,
}


def writer(form: StageForm) -> Writer:
    """What `form` writes: its stage's writer (each program's assessment form is its own
    class, built from the assessment's)."""
    return next(write for kind, write in WRITERS.items() if isinstance(form, kind))


class StaleEpisode(cases.CaseError):
    """The flow run belongs to an episode the case has left (it was closed and reopened)."""


@dataclass(frozen=True)
class StageOutcome:
    case_number: str
    stage_key: str
    outcome: str
    from_stage: str
    to_stage: str | None
    error: str | None
    crisis: bool = False  # this form opened a crisis: the case is swept at once

    @property
    def closed(self) -> bool:
        return self.outcome == MOVED and self.to_stage is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _outcome(case: Case, event: StageEvent, crisis: bool = False) -> StageOutcome:
    return StageOutcome(
        case_number=case.case_number or "",
        stage_key=event.stage_key,
        outcome=event.outcome,
        from_stage=event.from_stage,
        to_stage=event.to_stage,
        error=event.error,
        crisis=crisis,
    )


def find(session: Session, case: Case, episode: int, key: str) -> StageEvent | None:
    query = select(StageEvent).where(
        StageEvent.case_id == case.id, StageEvent.episode == episode, StageEvent.stage_key == key
    )
    return session.scalars(query).one_or_none()


def record_stage(
    session: Session,
    case_number: str,
    episode: int,
    key: str,
    form: StageForm | None,
    actor: str,
    at: datetime,
    *,
    refusal: str | None = None,
    answer: Trigger | None = None,
    requested: bool = False,
    decided: bool = False,
) -> StageOutcome:
    """Apply `form` to the case waiting at `key`; `refusal` records a form that never parsed;
    `answer` (no form) is what the partners' answers to the case's referrals came to;
    `requested` (no form), the reassessment asked for at `key`, recorded as its asker's;
    `decided` (no form), a supervisor's decision on the form held for approval: the form
    applied as it was given, or returned."""
    case = cases.get_case(session, case_number, for_update=True)
    if episode != case.episode:
        raise StaleEpisode(f"{case.case_number} is in episode {case.episode}, not {episode}")
    if (existing := find(session, case, episode, key)) is not None:
        return _outcome(case, existing)
    if key != case.stage_key:
        raise TransitionNotAllowed(f"stage key {key} is not the one {case.case_number} waits at")
    stage = Stage(case.stage)
    if requested:
        if case.reassess_key != key:
            raise TransitionNotAllowed(f"no reassessment was requested at {key}")
        answer, actor = Trigger.REASSESS, case.reassess_by or actor
    decision = _decision(session, case, key) if decided else None
    if decision is not None and decision.status == approvals.RETURNED:
        return _returned(session, case, decision, key, at)
    if decision is not None:  # approved: the form held, as its author gave it
        form = approvals.held_form(decision, case.program)
        actor = form.submitted_by
    trigger = form.trigger if form is not None else answer or Trigger.COMPLETE
    event = StageEvent(
        case_id=case.id,
        episode=episode,
        stage_key=key,
        from_stage=stage.value,
        trigger=trigger.value,
        actor=actor,
        at=at,
    )
    given = form is not None or refusal is not None
    source, handed_by = _source(session, case, key, given, answer, requested)
    if decision is not None:
        source, handed_by = "approval", decision.decided_by
    crisis = _apply(
        session,
        case,
        event,
        form,
        refusal,
        None if requested else answer,
        requested,
        handed_by=handed_by,
        approved=decision,
    )
    session.add(event)
    session.flush()
    # A form a signed-in command handed over is audited as theirs; the form's own
    # `submitted_by` is kept beside it when it names someone else.
    named = {"submitted_by": actor} if handed_by not in (None, actor) else {}
    audit.record(
        session,
        case,
        handed_by or actor,
        f"stage_{event.outcome}",
        at,
        source=source,
        stage_key=key,
        from_stage=event.from_stage,
        to_stage=event.to_stage,
        trigger=trigger.value,
        **named,
    )
    return _outcome(case, event, crisis)


def await_again(
    session: Session, case_number: str, episode: int, key: str, actor: str, at: datetime
) -> None:
    """The case's run came back to `key` with no form given there (it ran again while it
    waited): the case waits on under the next key. No stage event: nothing was submitted.
    Idempotent: once the case has left `key`, nothing is written."""
    case = cases.get_case(session, case_number, for_update=True)
    if episode != case.episode:
        raise StaleEpisode(f"{case.case_number} is in episode {case.episode}, not {episode}")
    if case.stage_key != key or find(session, case, episode, key) is not None:
        return
    cases.retry_stage(case)
    approvals.moved_on(session, case, key)  # a decision awaited there is awaited on
    session.flush()
    audit.record(
        session, case, actor, "form_awaited_again", at, stage_key=key, next_key=case.stage_key
    )


def _apply(
    session: Session,
    case: Case,
    event: StageEvent,
    form: StageForm | None,
    refusal: str | None,
    answer: Trigger | None,
    requested: bool,
    *,
    handed_by: str | None = None,
    approved: Approval | None = None,
) -> bool:
    """Move the case as its form (answer, request) asks, or record why not, or hold the
    form for a supervisor's approval where its program asks for one (`approved`: the form
    held, now approved); whether this opened a crisis."""
    stage = Stage(case.stage)
    try:
        if refusal is not None:
            raise TransitionNotAllowed(refusal)
        transition = check_transition(stage, form, facts(session, case), answer, requested)
        if isinstance(form, ReferralForm):
            referrals.check_sendable(session, case, form)
    except TransitionNotAllowed as exc:
        event.outcome, event.error = REJECTED, str(exc)[:300]
        cases.retry_stage(case)
        return False
    if form is not None and approved is None and approvals.needed(case.program, stage):
        approvals.hold(session, case, event.stage_key, form, handed_by, event.at)
        event.outcome = HELD
        event.to_stage = transition.target.value if transition.target else None
        return False
    if approved is not None:  # the text given with the form is the move's
        contacts.promote_narrative(session, case, approved.stage_key, event.stage_key)
    else:  # moved on by a reassessment asked for while a form waited for its decision
        approvals.supersede(session, case, event.at, event.actor)
    crisis_before = case.crisis_since
    if form is not None:
        writer(form)(session, case, event.stage_key, form, event.at)
        event.answers = coded_answers(form)
    event.outcome, event.to_stage = MOVED, transition.target.value if transition.target else None
    if transition.target is None:
        cases.close(session, case, event.at)
    else:
        cases.move_to(session, case, transition.target, event.at)
    # Sent referrals: the case now waits on the partners' answers to this key's referrals.
    case.waiting_on = event.stage_key if event.trigger == Trigger.SEND.value else None
    case.reassess_key = case.reassess_reason = case.reassess_by = None
    return crisis_before is None and case.crisis_since is not None


def _decision(session: Session, case: Case, key: str) -> Approval:
    """The supervisor's decision the case's run waits for at `key`, made."""
    decision = approvals.awaited(session, case)
    if decision is None or decision.wait_key != key or decision.status == approvals.REQUESTED:
        raise TransitionNotAllowed(f"no decision is made on a form held at {key}")
    return decision


def _returned(
    session: Session, case: Case, decision: Approval, key: str, at: datetime
) -> StageOutcome:
    """A supervisor returned the form held: the case waits for the stage's form again,
    under the next key. The event says who returned it; the reason, a supervisor's words,
    stays with the approval (the event's text reaches the run's log)."""
    event = StageEvent(
        case_id=case.id,
        episode=case.episode,
        stage_key=key,
        from_stage=case.stage,
        trigger=Trigger.RETURNED.value,
        actor=decision.decided_by or "",
        at=at,
        outcome=RETURNED,
        error=f"returned by {decision.decided_by} for correction (the reason is on the case)",
    )
    cases.retry_stage(case)
    session.add(event)
    session.flush()
    audit.record(
        session,
        case,
        decision.decided_by or "",
        f"stage_{RETURNED}",
        at,
        source="approval",
        stage_key=key,
        from_stage=case.stage,
        submitted_by=decision.submitted_by,
    )
    return _outcome(case, event)


def history(session: Session, case: Case, *, refused: bool = False) -> list[StageEvent]:
    """The case's moves in order; with `refused`, the refused forms too, and those held
    for approval and returned."""
    outcomes = (MOVED, REJECTED, HELD, RETURNED) if refused else (MOVED,)
    query = (
        select(StageEvent)
        .where(StageEvent.case_id == case.id, StageEvent.outcome.in_(outcomes))
        .order_by(StageEvent.at, StageEvent.id)
    )
    return list(session.scalars(query))


def last_refusal(session: Session, case: Case) -> StageEvent | None:
    """The form refused (or returned by a supervisor) last at the stage the case waits at
    now, if one was."""
    query = (
        select(StageEvent)
        .where(
            StageEvent.case_id == case.id,
            StageEvent.episode == case.episode,
            StageEvent.outcome.in_((REJECTED, RETURNED)),
            StageEvent.from_stage == case.stage,
            StageEvent.at >= case.stage_entered_at,
        )
        .order_by(StageEvent.at.desc(), StageEvent.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


HANDED_OVER = "form_handed_over"


def _source(
    session: Session,
    case: Case,
    key: str,
    form_given: bool,
    answer: Trigger | None,
    requested: bool = False,
) -> tuple[str, str | None]:
    """Where the form for `key` came from, and who handed it over if that is known: `cli`
    with the signed-in staff member whose command handed it over (its own audit row);
    else `prefect-ui`, whose actor is the form's roster-checked `submitted_by`. With no
    form: `request` (a reassessment asked for), `partners` (their answers moved the case)
    or `system`."""
    if not form_given:
        if requested:
            return "request", None
        return ("partners" if answer is not None else "system"), None
    for row in reversed(audit.for_case(session, case)):
        if row.action == HANDED_OVER and row.detail.get("stage_key") == key:
            return "cli", row.actor
    return "prefect-ui", None
