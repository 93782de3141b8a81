"""A supervisor's approval of a stage form. A program names the stages whose form a
supervisor signs off (its `approvals`: plan and closure unless it says otherwise). Such a
form, once the lifecycle allows it, is held here instead of moving the case, and the case's
run waits for the decision under the stage's next key. A supervisor of the program, never
the one who gave the form, approves it (the run then applies the form as it was given) or
returns it with a reason (the case waits for the form again, what was typed kept beside
the reason). The decision is written here first; the case's run, woken, records the move
or the return, as it records a reassessment asked for. Functions take the session first
and only flush; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, aliased

from casework.core.errors import UserError
from casework.models import audit, cases
from casework.models.codes import ApprovalStatus, Program, StaffRole, Stage
from casework.models.forms import StageForm
from casework.models.lifecycle import STAGES, form_for, upgrade_form
from casework.models.orm import Approval, Case
from casework.models.staff import StaffMember

REQUESTED = ApprovalStatus.REQUESTED.value
HELD = "awaiting_approval"  # a stage event's outcome: its form waits for approval
RETURNED = "returned"  # a stage event's outcome: a supervisor returned its form


class NotApprovable(UserError):
    """A decision that cannot be made: nothing waits, or not this supervisor's to make."""


def needed(program: Program | str, stage: Stage) -> bool:
    """Whether `program` holds its `stage` form for a supervisor's approval."""
    from casework.models.programs import programs

    return stage in programs()[Program(program)].approvals


def hold(
    session: Session,
    case: Case,
    key: str,
    form: StageForm,
    handed_by: str | None,
    at: datetime,
) -> Approval:
    """Hold `form`, given at `key`, for approval: the case waits at its stage under the
    next key, for the decision."""
    stage = Stage(case.stage)
    cases.retry_stage(case)
    approval = Approval(
        case_id=case.id,
        episode=case.episode,
        stage=stage.value,
        stage_key=key,
        wait_key=case.stage_key,
        form=form.model_dump(mode="json"),
        form_version=STAGES[stage].form_version,
        submitted_by=form.submitted_by,
        handed_by=handed_by,
        requested_at=at,
        status=REQUESTED,
    )
    session.add(approval)
    session.flush()
    return approval


def awaited(session: Session, case: Case) -> Approval | None:
    """The approval the case's run waits on at its current key, decided or not."""
    query = select(Approval).where(
        Approval.case_id == case.id,
        Approval.episode == case.episode,
        Approval.wait_key == case.stage_key,
    )
    return session.scalars(query).one_or_none()


def pending(session: Session, case: Case) -> Approval | None:
    """The form of the case's current episode that waits for a decision, if one does."""
    query = select(Approval).where(
        Approval.case_id == case.id, Approval.episode == case.episode, Approval.status == REQUESTED
    )
    return session.scalars(query).first()


def latest(session: Session, case: Case) -> Approval | None:
    """The case's latest form held for approval in its current episode, decided or not."""
    query = (
        select(Approval)
        .where(Approval.case_id == case.id, Approval.episode == case.episode)
        .order_by(Approval.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def requested() -> ColumnElement[bool]:
    """A filter on cases: a form of the case's current episode waits for a decision."""
    held = aliased(Approval)  # apart from any approvals the query reads itself
    # One column, not `*`: on PostgreSQL the roles that may not read the reason ask too.
    return (
        select(held.id)
        .where(held.case_id == Case.id, held.episode == Case.episode, held.status == REQUESTED)
        .exists()
    )


def last_returned(session: Session, case: Case) -> Approval | None:
    """The form returned last at the stage the case waits at now (since it came there)."""
    query = (
        select(Approval)
        .where(
            Approval.case_id == case.id,
            Approval.episode == case.episode,
            Approval.stage == case.stage,
            Approval.status == ApprovalStatus.RETURNED.value,
            Approval.decided_at >= case.stage_entered_at,
        )
        .order_by(Approval.decided_at.desc(), Approval.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def held_form(approval: Approval, program: Program | str) -> StageForm:
    """The form held, as today's form of its stage reads it (it may have been given under
    an earlier release's version of that form)."""
    stage = Stage(approval.stage)
    form_type = form_for(stage, Program(program))
    assert form_type is not None, stage
    return form_type.model_validate(upgrade_form(stage, approval.form_version, approval.form))


def moved_on(session: Session, case: Case, old_key: str) -> None:
    """The case's run waits for the decision under a new key (it ran again while waiting)."""
    for approval in session.scalars(
        select(Approval).where(
            Approval.case_id == case.id,
            Approval.episode == case.episode,
            Approval.wait_key == old_key,
        )
    ):
        approval.wait_key = case.stage_key


def supersede(session: Session, case: Case, at: datetime, actor: str) -> None:
    """The case moved on while a form waited for a decision (a reassessment asked for at
    that stage): the form is kept, marked superseded, and waits for nobody any more."""
    held = pending(session, case)
    if held is None:
        return
    held.status, held.decided_at = ApprovalStatus.SUPERSEDED.value, at
    session.flush()
    audit.record(
        session, case, actor, "approval_superseded", at, stage=held.stage, stage_key=held.stage_key
    )


def check_approver(
    members: Mapping[str, StaffMember], approval: Approval, case: Case, staff_id: str
) -> None:
    """Refuse anyone but an active supervisor of the case's program who did not give the
    form (nor hand it over)."""
    member = members.get(staff_id)
    if (
        member is None
        or not member.active
        or member.role is not StaffRole.SUPERVISOR
        or Program(case.program) not in member.programs
    ):
        who = "not on the roster" if member is None else member.role.value.replace("_", " ")
        raise NotApprovable(
            f"{case.case_number}: approving a {case.program} form is the work of an active "
            f"supervisor of {case.program}; {staff_id} is {who}"
            + ("" if member is None or member.active else " (inactive)")
        )
    if staff_id in (approval.submitted_by, approval.handed_by):
        raise NotApprovable(
            f"{case.case_number}: {staff_id} gave this {approval.stage} form; another "
            f"supervisor of {case.program} decides on it"
        )


def decide(
    session: Session,
    case: Case,
    members: Mapping[str, StaffMember],
    staff_id: str,
    approve: bool,
    reason: str | None,
    at: datetime,
) -> Approval:
    """Record a supervisor's decision on the form the case waits with: approved, or
    returned with `reason` (the supervisor's words, kept here only). Audited."""
    approval = pending(session, case)
    if approval is None or case.status != "open":
        raise NotApprovable(f"{case.case_number}: no form waits for approval")
    check_approver(members, approval, case, staff_id)
    if not approve and not (reason or "").strip():
        raise NotApprovable("--reason: say why the form goes back, for the case manager")
    approval.status = (ApprovalStatus.APPROVED if approve else ApprovalStatus.RETURNED).value
    approval.decided_by, approval.decided_at = staff_id, at
    approval.reason = None if approve else (reason or "").strip()
    session.flush()
    audit.record(
        session,
        case,
        staff_id,
        "form_approved" if approve else "form_returned",
        at,
        stage=approval.stage,
        stage_key=approval.stage_key,
        submitted_by=approval.submitted_by,
    )
    return approval
