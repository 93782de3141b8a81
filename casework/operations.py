"""Case operations as the CLI (and the tests) perform them. Each checks everything it
can before writing, writes the store in one transaction, and talks to Prefect with case
numbers and coded values only."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casework.core import prefect_api
from casework.core.db import session_scope
from casework.core.errors import CaseworkError, UserError
from casework.core.settings import get_settings
from casework.services import case_runs
from casework.services import staff as staff_service
from casework.services.sweeps import WATCH_DEPLOYMENTS
from casework.services.transfers import announce_transfer
from models import (
    assessments,
    audit,
    benefits,
    cases,
    clients,
    contacts,
    escalations,
    notices,
    plans,
    referrals,
    stage_events,
)
from models.codes import (
    BenefitKind,
    CaseStatus,
    HearingDecision,
    NewClientReason,
    NoticeAction,
    NoticeReason,
    Program,
    ReassessmentReason,
    RecipientRole,
    ReferralStatus,
    StaffRole,
    Stage,
    TransferReason,
    WaiverRequirement,
    Watch,
)
from models.forms import ReferralForm, StageForm, describe_error
from models.labels import to_labels
from models.lifecycle import REASSESSABLE, TransitionNotAllowed, check_transition, form_for
from models.orm import AdverseNotice, Case, Client
from models.schemas import (
    AssessmentOut,
    BenefitOut,
    CaseDetail,
    CaseSummary,
    ClientIn,
    ClientOut,
    ContactIn,
    ContactOut,
    EscalationOut,
    FollowUpOut,
    HistoryEntry,
    NoticeOut,
    OtherCaseOut,
    PlanOut,
    ProviderOut,
    ReferralOut,
    WaiverOut,
)
from models.staff import StaffMember

if TYPE_CHECKING:
    from models.providers import ImportReport, Search

# A transition starts a process (about 2 s), so the first look at the store can wait a
# moment; after that, look often. Prefect itself is asked rarely (failures only).
FIRST_LOOK_SECONDS = 0.2
STORE_POLL_SECONDS = 0.2
RUN_CHECK_SECONDS = 2.0
REPAIR_AFTER_SECONDS = 10.0


HELD = (
    "the case's run stopped before recording it (its process died); the form is held and "
    "will be applied when the run recovers: {1}, or run `casework repair {0}`"
)


class Deferred(CaseworkError):  # noqa: N818 - not an error: done, with a part still to come
    """Recorded in the store; the case's run follows once the Prefect server is back."""

    def __init__(self, case_number: str, done: list[str]) -> None:
        super().__init__(case_number)
        self.case_number, self.done = case_number, done


class InputError(UserError):
    """Bad input from the user: the message names the field and what is wrong."""


@dataclass(frozen=True)
class IntakeResult:
    case_number: str
    flow_run_id: str
    stage: str
    client_number: str | None = None


@dataclass(frozen=True)
class SubmitResult:
    case_number: str
    stage_key: str
    outcome: str  # submitted | moved | rejected
    stage: str | None
    error: str | None = None


def now() -> datetime:
    return datetime.now(UTC)


def parse_stage_form(stage: Stage, data: Any) -> StageForm:
    form_type = form_for(stage)
    if form_type is None:
        raise InputError(f"stage: {stage.value} takes no form (it completes on its own)")
    try:
        return form_type.model_validate(data)
    except ValidationError as exc:
        raise InputError(describe_error(exc, f"{stage.value} form: ")) from None


def intake(
    client: ClientIn | str,
    program: Program,
    case_manager: str,
    actor: str,
    *,
    new_client_reason: NewClientReason | None = None,
) -> IntakeResult:
    """Register the client (or link the client numbered `client`) and open the case (one
    transaction, committed), then start its run: no store lock is held while Prefect is
    asked. A likely duplicate stops a new registration unless `new_client_reason` says why;
    that and an unknown client are refused before Prefect is asked anything."""
    with session_scope(read_only=True) as session:
        _registration(session, client, program, new_client_reason, write=False)
    prefect_api.check_ready()
    position, number = open_case(client, program, case_manager, actor, new_client_reason)
    return IntakeResult(position.case_number, start_run(position), position.stage.value, number)


def open_case(
    client: ClientIn | str,
    program: Program,
    case_manager: str,
    actor: str,
    new_client_reason: NewClientReason | None = None,
) -> tuple[cases.Position, str]:
    """Intake's store half: the client registered (or linked) and the case opened, in one
    transaction; audited with the client's number, and with the matches set aside when a
    new client was registered despite them."""
    with session_scope() as session:
        registered, client_id, number, set_aside = _registration(
            session, client, program, new_client_reason, write=True
        )
        try:
            case = cases.open_case(session, client_id, program, case_manager, actor, now())
        except IntegrityError:  # another intake linked them a moment ago
            raise clients.ClientError(
                f"client: {number} already has an open {program.value} case; work on that "
                "case, or close it first"
            ) from None
        if registered is not None:  # after its case: staff see a client through one
            clients.index_client(session, registered)
        detail = {"client": number}
        if set_aside and new_client_reason is not None:
            detail["reason"] = new_client_reason.value
            detail["set_aside"] = ",".join(
                f"{m.client_number}:{m.match.score}" for m in set_aside[:5]
            )
        action = "client_linked" if isinstance(client, str) else "client_registered"
        audit.record(session, case, actor, action, now(), **detail)
        return cases.position(session, case), number


def _registration(
    session: Session,
    client: ClientIn | str,
    program: Program,
    new_client_reason: NewClientReason | None,
    *,
    write: bool,
) -> tuple[Client | None, int, str, list[clients.Candidate]]:
    """The client a new case is for (the new row if one was registered, id and number),
    and the likely matches set aside: an existing client who may have a case of this
    program, or (`write`) a newly registered one, to be indexed once its case is written;
    without `write`, only checked (id 0)."""
    if isinstance(client, str):
        found = clients.find_client(session, client, program.value)
        clients.check_linkable(found)
        return None, found.client_id, found.client_number, []
    set_aside = clients.check_new(session, client, new_client_reason)
    if not write:
        return None, 0, "", set_aside
    record = clients.create_client(session, client, index=False)
    return record, record.id, record.client_number or "", set_aside


def start_run(position: cases.Position) -> str:
    """Start the run of a case episode already in the store, and note it there. Starting
    is idempotent (the run's key is the case and episode), so repairing a case whose start
    failed, or starting twice, gives one run."""
    try:
        flow_run_id = case_runs.start_case_run(position)
    except (prefect_api.OrchestratorUnavailable, prefect_api.ObjectNotFound) as exc:
        raise prefect_api.OrchestratorUnavailable(
            f"{position.case_number} is recorded, but its run could not start "
            f"({exc}); `casework repair {position.case_number}` starts it"
        ) from None
    with session_scope() as session:
        cases.set_flow_run(session, cases.get_case(session, position.case_number), flow_run_id)
    return flow_run_id


def _check_stage(session: Session, case: Case, stage: Stage, form: StageForm) -> None:
    if case.waiting_on is not None:
        raise InputError(
            f"stage: {case.case_number} is waiting on partner agencies' answers to its "
            "referrals; record an answer with `casework referral REF-… --status …`"
        )
    if case.stage != stage.value:
        raise InputError(
            f"stage: {case.case_number} is at {case.stage}, not {stage.value}"
            f"{' (already recorded)' if _passed(session, case, stage) else ''}"
        )
    try:
        check_transition(stage, form, cases.facts(session, case))
        if isinstance(form, ReferralForm):  # as the run will check it: refused here, not later
            referrals.check_sendable(session, case, form)
    except TransitionNotAllowed as exc:
        raise InputError(str(exc)) from None


def _passed(session: Session, case: Case, stage: Stage) -> bool:
    """Whether this stage's form is the one the case recorded last (a second submission)."""
    history = stage_events.history(session, case)
    return bool(history) and history[-1].from_stage == stage.value


@dataclass(frozen=True)
class _Turn:
    case_number: str
    stage_key: str
    episode: int
    flow_run_id: str
    run: prefect_api.RunView | None = None


def _turn_if_due(case_number: str, stage: Stage, form: StageForm) -> _Turn | None:
    """Check the form against the store; None while the case is moving on by itself (intake)."""
    with session_scope(read_only=True) as session:
        case = cases.get_open_case(session, case_number)
        if form_for(Stage(case.stage)) is None:
            return None
        _check_stage(session, case, stage, form)
        flow_run_id = cases.episode_of(session, case).flow_run_id
        if flow_run_id is None:
            raise InputError(
                f"case_number: {case.case_number} has no flow run; "
                f"`casework repair {case.case_number}` starts it"
            )
        return _Turn(case.case_number or case_number, case.stage_key, case.episode, flow_run_id)


def _await_turn(case_number: str, stage: Stage, form: StageForm, deadline: float) -> _Turn:
    """Wait until the case's run is suspended at `stage`. A run still recording the previous
    form is waited for; a form that no longer fits (a second submission) is refused."""
    while True:
        turn = _turn_if_due(case_number, stage, form)
        if turn is not None:
            run = prefect_api.read_run(turn.flow_run_id)
            if run.waiting and run.pause_key == turn.stage_key:
                return replace(turn, run=run)
            if run.failed and not run.crashed:  # a crashed run is put back by `up`: wait
                raise prefect_api.SubmissionRefused(run.summary)
        if time.monotonic() > deadline:
            raise prefect_api.SubmissionRefused(
                f"{case_number}: its flow run is not waiting for the {stage.value} form yet; "
                f"{prefect_api.who_settles('serve')} try again shortly, or "
                f"`casework repair {case_number}`"
            )
        time.sleep(0.3)


def submit(
    case_number: str,
    stage: Stage,
    form: StageForm,
    *,
    narrative: str | None = None,
    actor: str,
    wait: bool = False,
    timeout: float = 120.0,
) -> SubmitResult:
    """Resume the case's suspended run with `form`; narrative text goes to the store only,
    and is kept only if Prefect takes the form."""
    deadline = time.monotonic() + timeout
    _turn_if_due(case_number, stage, form)  # refuse bad input before asking Prefect anything
    prefect_api.check_ready()
    early_since: float | None = None
    while True:
        turn = _await_turn(case_number, stage, form, deadline)
        try:
            _hand_over(turn, form, narrative, actor)
            break
        except prefect_api.FormNotAwaitedYet:
            # Normally a moment's race with the suspending run. If it lasts, the run's process
            # died between suspending and storing its form: run it again to repair it.
            early_since = early_since or time.monotonic()
            if time.monotonic() - early_since > REPAIR_AFTER_SECONDS:
                prefect_api.reschedule(turn.flow_run_id)
                early_since = None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    if not wait:
        return SubmitResult(turn.case_number, turn.stage_key, "submitted", stage.value)
    return wait_for_stage(
        turn.case_number,
        turn.episode,
        turn.stage_key,
        turn.flow_run_id,
        max(deadline - time.monotonic(), 10.0),
    )


def run_input(form: StageForm) -> dict[str, Any]:
    """The form as the case's Resume dialog would give it, which Prefect's server checks
    against the dialog's schema: choices by label, and an unset optional value left out
    (the schema offers choices, not null, for a referral's reason)."""
    given: dict[str, Any] = to_labels(form.model_dump(mode="json", exclude_none=True))
    return given


HANDED_OVER = stage_events.HANDED_OVER


def _hand_over(
    turn: _Turn,
    form: StageForm,
    narrative: str | None,
    actor: str,
) -> None:
    """Resume the run with the form. The narrative is kept first, under a key of this
    submission's own, and becomes the stage's narrative only once Prefect has taken the
    form; a refused form's narrative is removed. No transaction is open while Prefect is
    asked, and a crash in between leaves the text kept, never lost."""
    held = f"{turn.stage_key}~{secrets.token_hex(4)}" if narrative else None
    with session_scope() as session:
        case = cases.get_case(session, turn.case_number)
        # Who handed the form over, as signed in: the flow records the form's source by it.
        audit.record(session, case, actor, HANDED_OVER, now(), stage_key=turn.stage_key)
        if held and narrative:
            contacts.save_narrative(session, case, held, narrative, actor, now())
    try:
        prefect_api.resume_with_form(turn.flow_run_id, turn.stage_key, run_input(form), turn.run)
    except prefect_api.AnswerLost as lost:
        if not _taken(turn, lost, held):
            raise
    except BaseException:
        if held:
            with session_scope() as session:
                contacts.drop_narrative(session, cases.get_case(session, turn.case_number), held)
        raise
    with session_scope() as session:
        case = cases.get_case(session, turn.case_number)
        if held:
            contacts.promote_narrative(session, case, held, turn.stage_key)


def _taken(turn: _Turn, lost: prefect_api.AnswerLost, held: str | None) -> bool:
    """After a resume whose answer was lost: whether the run took the form (it no longer
    waits at the key). Still waiting: it did not, and the held narrative goes as for any
    refusal. The run unreadable: nobody knows, and the narrative stays held, never lost."""
    try:
        run = prefect_api.read_run(turn.flow_run_id)
    except prefect_api.OrchestratorUnavailable:
        raise prefect_api.HandOverUnconfirmed(
            f"{turn.case_number}: {turn.stage_key} form handed over; not yet confirmed "
            f"({lost}); `casework show {turn.case_number}` tells whether it was taken"
        ) from None
    if run.waiting and run.pause_key == turn.stage_key:
        if held:
            with session_scope() as session:
                contacts.drop_narrative(session, cases.get_case(session, turn.case_number), held)
        return False
    return True


def wait_for_stage(
    case_number: str, episode: int, key: str, flow_run_id: str, timeout: float
) -> SubmitResult:
    """Block until the flow has recorded `key` (or failed, or `timeout` passed). The store is
    polled often (a local read); the Prefect server rarely, so many waiting case managers do
    not load the server that runs their cases."""
    deadline = time.monotonic() + timeout
    next_run_check = time.monotonic() + RUN_CHECK_SECONDS
    time.sleep(FIRST_LOOK_SECONDS)
    while True:
        with session_scope() as session:
            case = cases.get_case(session, case_number)
            event = stage_events.find(session, case, episode, key)
            if event is not None:
                # Where this form took the case, as its own event row says: the case row,
                # read a moment apart, may already be a step further on.
                moved = event.outcome == stage_events.MOVED
                stage = (event.to_stage or "closed") if moved else event.from_stage
                return SubmitResult(case_number, key, event.outcome, stage, event.error)
        if time.monotonic() < min(next_run_check, deadline):
            time.sleep(STORE_POLL_SECONDS)
            continue
        next_run_check = time.monotonic() + RUN_CHECK_SECONDS
        run = prefect_api.read_run(flow_run_id)
        if run.failed and not run.crashed:
            return SubmitResult(case_number, key, "failed", None, run.summary)
        if time.monotonic() > deadline:
            if run.crashed:  # its process died; the form is the run's input, kept by Prefect
                held = HELD.format(case_number, prefect_api.who_settles("repair"))
                return SubmitResult(case_number, key, "held", None, held)
            return SubmitResult(
                case_number,
                key,
                "pending",
                None,
                f"not recorded after {timeout:.0f} s; run is {run.state_name}",
            )
        time.sleep(STORE_POLL_SECONDS)


def reassess(
    case_number: str,
    reason: ReassessmentReason,
    requested_by: str,
    *,
    note: str | None = None,
    wait: bool = False,
    timeout: float = 120.0,
) -> SubmitResult:
    """Send a case at plan, referral or monitoring back to assessment, recording who asked
    and why (coded; an optional note goes to the store). The request is the store's first
    (with the referrals still open, which stay open); the case's run, woken, records the
    move as the asker's. With Prefect away it is kept, and moves once the run is woken."""
    from models.staff import NotOnRoster, check_staff

    members = staff_service.roster()

    with session_scope() as session:
        case = cases.get_open_case(session, case_number, for_update=True)
        number = case.case_number or case_number
        if Stage(case.stage) not in REASSESSABLE:
            raise InputError(
                f"stage: {number} is at {case.stage}; a case goes back to assessment from "
                f"{', '.join(s.value for s in REASSESSABLE)}"
            )
        if case.reassess_key == case.stage_key:
            raise InputError(
                f"case_number: {number}'s reassessment ({case.reassess_reason}) is asked for "
                f"already; it moves when its run wakes (`casework repair {number}`)"
            )
        try:
            check_staff(members, requested_by, case.program)
        except NotOnRoster as exc:
            raise InputError(f"requested_by: {exc}") from None
        key, episode = case.stage_key, case.episode
        case.reassess_key, case.reassess_reason, case.reassess_by = key, reason.value, requested_by
        open_referrals = referrals.open_references(session, case)
        audit.record(
            session,
            case,
            requested_by,
            "reassessment_requested",
            now(),
            reason=reason.value,
            stage_key=key,
            open_referrals=",".join(open_referrals),
        )
        if note:
            contacts.save_narrative(session, case, f"reassess-{key}", note, requested_by, now())
        flow_run_id = cases.episode_of(session, case).flow_run_id
    deadline = time.monotonic() + timeout
    try:
        if flow_run_id is None:
            raise prefect_api.OrchestratorUnavailable(f"{number} has no run yet")
        _wake(number, episode, key, flow_run_id, deadline)
    except prefect_api.OrchestratorUnavailable as exc:
        return SubmitResult(
            number,
            key,
            "held",
            None,
            f"reassessment recorded; the case moves once its run wakes ({exc}): "
            f"{prefect_api.who_settles('wake')}, or `casework repair {number}`",
        )
    if not wait:
        return SubmitResult(number, key, "submitted", Stage.ASSESSMENT.value)
    return wait_for_stage(number, episode, key, flow_run_id, max(deadline - time.monotonic(), 10.0))


def _wake(case_number: str, episode: int, key: str, flow_run_id: str, deadline: float) -> None:
    """Wake the case's run to find the request: once it is suspended at `key` (a run on its
    way there reads the request itself, and records it)."""
    while True:
        with session_scope(read_only=True) as session:
            if stage_events.find(session, cases.get_case(session, case_number), episode, key):
                return
        woken, run = prefect_api.wake_if_waiting(flow_run_id, key)
        if woken:
            return
        if run.failed and not run.crashed:
            raise prefect_api.SubmissionRefused(run.summary)
        if time.monotonic() > deadline:
            raise prefect_api.OrchestratorUnavailable(f"its run is {run.state_name}")
        time.sleep(0.3)


def note(case_number: str, data: ContactIn, actor: str) -> str | None:
    """Record a contact or note (no flow resume). A crisis note also starts a sweep of the
    case at once; if Prefect cannot take it, the note is kept and the scheduled sweep
    escalates it. Returns a warning for the user, if any."""
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        contacts.add_contact(session, case, data, actor, now())
    if not data.crisis:
        return None
    try:
        prefect_api.check_ready(prefect_api.SWEEP_DEPLOYMENT)
        prefect_api.start_case_sweep(case.case_number or case_number)
    except prefect_api.OrchestratorUnavailable as exc:
        return f"crisis recorded; it will be escalated by the next scheduled sweep ({exc})"
    return None


def reopen(case_number: str, reason: str, actor: str) -> IntakeResult:
    prefect_api.check_ready()
    with session_scope() as session:
        case = cases.get_case(session, case_number, for_update=True)
        cases.reopen_case(session, case, actor, now())
        contacts.save_narrative(session, case, f"reopen-{case.episode}", reason, actor, now())
        position = cases.position(session, case)
    return IntakeResult(position.case_number, start_run(position), position.stage.value)


def log_access(case_number: str, what: str, staff: str) -> None:
    """Write who reads a client's identity, narrative or document before they read it."""
    with session_scope() as session:
        audit.record_access(session, cases.get_case(session, case_number), staff, what, now())


def show(case_number: str, reader: str | None = None) -> CaseDetail:
    """The whole case, identity and narratives included: `reader`'s read is logged first."""
    if reader is not None:
        log_access(case_number, "show", reader)
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        latest = assessments.latest(session, case)
        plan = plans.current_plan(session, case)
        narratives = contacts.narratives_for(session, case)
        assessment = None
        if latest is not None:
            assessment = AssessmentOut.model_validate(latest).model_copy(
                update={"narrative": narratives.get(f"e{latest.episode}:{latest.stage_key}")}
            )
        episode = cases.episode_of(session, case)
        held, waived, checks = benefits.for_case(session, case)
        detail = CaseDetail(
            **CaseSummary.model_validate(case).model_dump(),
            client=ClientOut.model_validate(case.client),
            other_cases=[
                OtherCaseOut.model_validate(other)
                for other in clients.other_cases(session, case, _programs_of(reader))
            ],
            flow_run_id=episode.flow_run_id,
            closure_reason=episode.closure_reason,
            history=[
                HistoryEntry.model_validate(e)
                for e in stage_events.history(session, case, refused=True)
            ],
            latest_assessment=assessment,
            plan=PlanOut.model_validate(plan) if plan else None,
            referrals=[ReferralOut.model_validate(r) for r in referrals.for_case(session, case)],
            contacts=[ContactOut.model_validate(c) for c in contacts.contacts_for(session, case)],
            benefits=[BenefitOut.model_validate(b) for b in held],
            notices=[notice_out(n) for n in notices.for_case(session, case)],
            waivers=[WaiverOut.model_validate(w) for w in waived],
            follow_ups=[FollowUpOut.model_validate(f) for f in checks],
            open_escalations=[
                EscalationOut.model_validate(e)
                for e in escalations.listing(session, open_only=True, case_number=case.case_number)
            ],
            narratives=narratives,
        )
    # Asked of Prefect once the store's read is over: no transaction waits on the network.
    if detail.status == CaseStatus.OPEN.value:
        with_run_states([detail], {detail.case_number: detail.flow_run_id})
    return detail


def _supervisor(actor: str, what: str, *roles: StaffRole) -> set[str]:
    """The programs of `actor`, a supervisor (or one of `roles`); anyone else is refused."""
    member = staff_service.roster().get(actor)
    allowed = (StaffRole.SUPERVISOR, *roles)
    if member is None or not member.active or member.role not in allowed:
        who = " or ".join(r.value for r in allowed)
        raise InputError(f"{what}: a supervisor's work; {actor} is not a {who}")
    return {p.value for p in member.programs}


def duplicates(actor: str, minimum: int) -> list[clients.Pair]:
    """Likely duplicate clients across the store: numbers, scores and signals only."""
    _supervisor(actor, "duplicates", StaffRole.ADMIN)
    with session_scope(read_only=True) as session:
        return clients.likely_pairs(session, minimum)


def merge(kept: str, merged: str, actor: str) -> int:
    """Merge client `merged` into `kept` (one transaction); returns the cases moved."""
    supervised = _supervisor(actor, "merge")
    with session_scope() as session:
        return clients.merge(session, kept, merged, actor, now(), supervised)


def transfer(
    case_numbers: list[str],
    from_staff: str | None,
    to_staff: str,
    reason: TransferReason,
    override: bool,
    actor: str,
) -> tuple[list[cases.Transfer], str | None]:
    """Move cases (or `from_staff`'s whole open caseload) to `to_staff`, in one transaction:
    refused, for every case, if the receiver is not a case manager of its program or would
    pass the program's maximum caseload (unless a supervisor of that program overrides).
    Then each run is re-tagged and a `casework.case.transferred` event emitted; returns the
    transfers and, if Prefect could not be told, why."""
    with session_scope() as session:
        if from_staff is not None:
            moving = cases.open_caseload(session, from_staff)
            if not moving:
                raise InputError(f"{from_staff} has no open cases", field="from_staff")
        else:
            moving = [cases.get_open_case(session, n, for_update=True) for n in case_numbers]
        by_program: dict[str, int] = {}
        for case in moving:
            if case.case_manager == to_staff:
                raise InputError(f"{case.case_number} is {to_staff}'s already", field="to")
            by_program[case.program] = by_program.get(case.program, 0) + 1
        for program, incoming in sorted(by_program.items()):
            _check_receiver(session, Program(program), incoming, to_staff, override, actor)
        why = {"override": "yes"} if override else {}
        done = [
            cases.transfer(session, case, to_staff, reason.value, actor, now(), **why)
            for case in moving
        ]
    problem = announce(done)
    if problem is not None:
        return done, (
            f"transferred; Prefect is told (the runs' manager tags, the transferred events) "
            f"once it answers again: {prefect_api.who_settles('announce')} ({problem})"
        )
    return done, None


def announce(transfers: list[cases.Transfer]) -> str | None:
    """Tell Prefect of transfers: the runs' tags and the events; each case's pending mark is
    cleared once told. Returns why not all were told, if they were not."""
    told: list[str] = []
    problem = None
    try:
        for moved in transfers:
            announce_transfer(moved)
            told.append(moved.case_number)
    except prefect_api.OrchestratorUnavailable as exc:
        problem = str(exc)
    if told:
        with session_scope() as session:
            cases.announced(session, told)
    return problem


def keep_up() -> list[str]:
    """What `casework up` does every few seconds for the store's sake: tell Prefect of the
    transfers it missed, and wake the runs of cases whose reassessment was asked for while
    it was away. Returns a line per case."""
    with session_scope(read_only=True) as session:
        pending = cases.unannounced_transfers(session)
        asked = cases.pending_reassessments(session)
    lines = []
    if pending and announce(pending) is None:
        lines += [f"{t.case_number}: transfer to {t.to_manager} announced" for t in pending]
    for number, key, flow_run_id in asked:
        if prefect_api.wake_if_waiting(flow_run_id, key)[0]:
            lines.append(f"{number}: woken to go back to assessment")
    return lines


def _check_receiver(
    session: Session, program: Program, incoming: int, to_staff: str, override: bool, actor: str
) -> None:
    """Refuse a transfer of `incoming` cases of `program` to `to_staff` that its mover may
    not make, or that would pass the program's maximum caseload without a supervisor's
    override."""
    from models.programs import programs
    from models.staff import NotOnRoster, check_staff

    try:
        check_staff(staff_service.roster(), to_staff, program, RecipientRole.CASE_MANAGER)
    except NotOnRoster as exc:
        raise InputError(f"{exc}", field="to") from None
    member = staff_service.roster().get(actor)
    roles = (StaffRole.OPERATOR, StaffRole.SUPERVISOR)
    if member is None or member.role not in roles or program not in member.programs:
        raise InputError(
            f"transfer: moving a {program.value} case is the work of its supervisor or an "
            f"operator; {actor} is neither"
        )
    held = len(cases.open_caseload(session, to_staff, program.value))
    limit = programs()[program].maximum_caseload
    if held + incoming > limit and not (override and member.role is StaffRole.SUPERVISOR):
        raise InputError(
            f"{to_staff} holds {held} open {program.value} case(s); {incoming} more "
            f"would pass {program.value}'s maximum caseload of {limit}"
            + ("; --override is a supervisor's" if override else "; its supervisor may --override"),
            field="to",
        )


def due(manager: str, within_days: int, today: date | None = None) -> list[Any]:
    """What is due from `manager` in the next `within_days` days (overdue included)."""
    from models.due import due_list

    if manager not in staff_service.roster():
        raise InputError(f"{manager} is not on the staff roster", field="manager")
    with session_scope(read_only=True) as session:
        return due_list(session, today or now().date(), within_days, manager)


def _programs_of(staff: str | None) -> set[str]:
    member = staff_service.roster().get(staff or "")
    return {p.value for p in member.programs} if member else set()


def caseload(
    stage: Stage | None = None, program: Program | None = None, status: CaseStatus | None = None
) -> list[CaseSummary]:
    with session_scope(read_only=True) as session:
        rows = cases.list_cases(session, stage=stage, program=program, status=status)
        listed = [CaseSummary.model_validate(case) for case in rows]
        open_ids = [c.id for c in rows if c.status == CaseStatus.OPEN.value]
        current = cases.current_runs(session, open_ids)
    return with_run_states(listed, current)


def with_run_states(rows: list[CaseSummary], runs: dict[str, str | None]) -> list[CaseSummary]:
    """Each open case (`runs`: case number -> its current run) with its run's state when
    that is not the expected Suspended: a stuck case does not look like a waiting one."""
    if not runs:
        return rows
    ids = {run_id for run_id in runs.values() if run_id}
    states = prefect_api.runs_not_waiting(ids) if ids else {}
    for row in rows:
        if row.case_number not in runs:
            continue
        run_id = runs[row.case_number]
        if run_id is None:
            row.run_state = "none"
        elif states is None:
            row.run_state = "unknown"
        else:
            row.run_state = states.get(run_id)
    return rows


def _future(day: date, option: str) -> date:
    if day <= now().date():
        raise InputError(f"{option}: {day} is not in the future")
    return day


def record_benefit(case_number: str, kind: BenefitKind, recertify_by: date, actor: str) -> None:
    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        benefits.record_benefit(
            session, case, kind, _future(recertify_by, "--recertify-by"), actor, now()
        )


def end_benefit(case_number: str, kind: BenefitKind, actor: str) -> None:
    with session_scope() as session:
        benefits.end_benefit(session, cases.get_case(session, case_number), kind, actor, now())


@dataclass(frozen=True)
class NoticeResult:
    case_number: str
    notice: NoticeOut
    benefit_active: bool  # the case holds the notice's benefit, active, now
    warning: str | None = None  # Prefect could not take the case's sweep now


def notice_out(notice: AdverseNotice) -> NoticeOut:
    return NoticeOut.model_validate(notice).model_copy(update={"state": notices.state(notice)})


def record_notice(
    case_number: str,
    benefit: BenefitKind,
    action: NoticeAction,
    reason: NoticeReason | None,
    dated: date,
    effective: date,
    actor: str,
) -> NoticeResult:
    """Record a notice of adverse action on an open case, and sweep the case at once with
    the benefits watch: its case manager is told now, with the deadline."""
    if dated > now().date():
        raise InputError(f"{dated} is in the future", field="notice_date")
    with session_scope() as session:
        case = cases.get_open_case(session, case_number, for_update=True)
        recorded = notices.record_notice(
            session,
            case,
            benefit=benefit,
            action=action,
            reason=reason,
            dated=dated,
            effective=effective,
            actor=actor,
            at=now(),
            rules=notices.notice_rules(),
        )
        result = _notice_result(session, case, recorded)
    return _followed(result)


def record_hearing(
    case_number: str,
    number: int,
    actor: str,
    *,
    requested_on: date | None = None,
    aid_continuing: bool | None = None,
    declined_on: date | None = None,
    decision: HearingDecision | None = None,
    decided_on: date | None = None,
) -> NoticeResult:
    """Record one step of a notice's appeal: the hearing request, the client's decision not
    to appeal, or the outcome; then sweep the case at once (its ladder stops)."""
    with session_scope() as session:
        case = cases.get_case(session, case_number, for_update=True)
        notice = notices.get_notice(session, case, number, for_update=True)
        if requested_on is not None:
            notices.request_hearing(
                session, case, notice, requested_on, aid_continuing, actor, now()
            )
        elif declined_on is not None:
            notices.record_declined(session, case, notice, declined_on, actor, now())
        elif decision is not None and decided_on is not None:
            notices.record_decision(session, case, notice, decision, decided_on, actor, now())
        else:
            raise InputError("hearing: give --requested-on, --declined-on, or --decision with --on")
        result = _notice_result(session, case, notice)
    return _followed(result)


def _notice_result(session: Session, case: Case, notice: AdverseNotice) -> NoticeResult:
    held = notices.held(session, case, notice.benefit)
    return NoticeResult(case.case_number or "", notice_out(notice), held)


def _followed(result: NoticeResult) -> NoticeResult:
    """After a notice's change (committed): the case swept at once by the benefits watch,
    which starts or stops the notice's ladder and rewrites the case card. With Prefect
    away the change is kept, and the next scheduled benefits watch does the same."""
    try:
        prefect_api.check_ready(prefect_api.BENEFITS_DEPLOYMENT)
        prefect_api.start_case_sweep(result.case_number, prefect_api.BENEFITS_DEPLOYMENT)
    except prefect_api.OrchestratorUnavailable as exc:
        return replace(
            result, warning=f"recorded; the next scheduled benefits watch follows it up ({exc})"
        )
    return result


def record_waiver(
    case_number: str, requirement: WaiverRequirement, expires_on: date, actor: str
) -> None:
    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        benefits.record_waiver(
            session, case, requirement, _future(expires_on, "--expires"), actor, now()
        )


def record_follow_up(
    case_number: str,
    day: int,
    *,
    reached: bool,
    housing_kept: bool | None,
    benefits_continuing: bool | None,
    actor: str,
) -> str:
    """Record a post-closure check; returns its outcome (anything but stable proposes
    reopening, which the follow-up sweep escalates until the case is reopened)."""
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        check = benefits.record_follow_up(
            session,
            case,
            day,
            reached=reached,
            housing_kept=housing_kept,
            benefits_continuing=benefits_continuing,
            actor=actor,
            at=now(),
        )
        return check.outcome or ""


def sweep(watches: list[Watch], as_of: datetime | None, case_number: str | None) -> dict[str, Any]:
    """Run sweeps here and now, as flow runs on the dashboard (with their artifacts)."""
    from flows.sweeps import SWEEPS

    prefect_api.check_ready(prefect_api.SWEEP_DEPLOYMENT)
    if case_number is not None:
        case_number = _one_case(watches, case_number)
        return {watch.value: SWEEPS[watch](as_of, case_number) for watch in watches}
    return {watch.value: SWEEPS[watch](as_of) for watch in watches}


def _one_case(watches: list[Watch], case_number: str) -> str:
    """The case's number as the store has it, for sweeps that can look at one case."""
    if not set(watches) <= {Watch.STALLED_CASES, Watch.BENEFITS}:
        raise InputError(
            "only the stalled-cases and benefits sweeps run for one case", field="case_number"
        )
    with session_scope(read_only=True) as session:
        return cases.get_case(session, case_number).case_number or case_number


ON_POOL_TIMEOUT_SECONDS = 1800.0  # a sweep of a large caseload, on a busy pool


def sweep_on_pool(
    watches: list[Watch], as_of: datetime | None, case_number: str | None
) -> tuple[dict[str, str], bool]:
    """Run the sweeps as deployment runs on the work pool (not in this process) and wait for
    each: what each found (its artifact's counts), or how its run ended; and whether every
    one completed."""
    parameters: dict[str, Any] = {"as_of": as_of.isoformat()} if as_of else {}
    if case_number is not None:
        parameters["case_number"] = _one_case(watches, case_number)
    said, completed = {}, True
    for watch in watches:
        deployment = WATCH_DEPLOYMENTS[watch]
        prefect_api.check_ready(deployment)
        run = prefect_api.run_on_pool(deployment, parameters, ON_POOL_TIMEOUT_SECONDS)
        if run.state_type == "COMPLETED":
            counts = prefect_api.artifact_description(run.flow_run_id, f"sweep-{watch.value}")
            said[watch.value] = f"{run.name}: {counts or 'completed'}"
        else:
            said[watch.value] = f"{run.name}: {run.state_name} ({run.state_message or '-'})"
            completed = False
    return said, completed


def escalation_list(open_only: bool, case_number: str | None) -> list[EscalationOut]:
    with session_scope(read_only=True) as session:
        if case_number is not None:
            case_number = cases.get_case(session, case_number).case_number
        rows = escalations.listing(session, open_only=open_only, case_number=case_number)
        return [EscalationOut.model_validate(row) for row in rows]


def settle(case_numbers: list[str]) -> list[str]:
    """Resume the runs of cases whose partners have all answered (or one refused); returns
    the case numbers resumed. A run not yet suspended finds the answers itself."""
    resumed = []
    for case_number in case_numbers:
        with session_scope() as session:
            case = cases.get_case(session, case_number)
            flow_run_id = cases.episode_of(session, case).flow_run_id
            key = case.stage_key
            ready = referrals.answer(session, case) is not None
        if ready and flow_run_id and prefect_api.resume_waiting(flow_run_id, key):
            resumed.append(case_number)
    return resumed


def import_providers(
    source: Path | Any,
    *,
    partners: Any | None = None,
    directory: str = "main",
    allow_local: bool | None = None,
) -> ImportReport:
    """Import an HSDS directory (a file, folder or zip at `source`, or JSON already read)
    with the partners file's referral settings (JSON already read), as directory
    `directory`. Plain-http endpoints on loopback only in dev mode (the setting, unless
    `allow_local` says: the demo's own partner agency). A directory or partners file
    that cannot be read at all is refused whole (InputError) and nothing changes."""
    from casework.core import credentials
    from models import hsds, providers

    if allow_local is None:
        allow_local = get_settings().dev_mode
    try:
        read = hsds.read(source) if isinstance(source, Path) else hsds.from_json(source)
        settings = None if partners is None else providers.read_partners(partners, allow_local)
    except (hsds.DirectoryError, providers.PartnersFileError) as exc:
        raise InputError(str(exc)) from None
    with session_scope() as session:
        report = providers.import_directory(
            session,
            read,
            partners=settings,
            name=directory,
            allow_local=allow_local,
            at=now(),
        )
        credentials.save(report.tokens)  # before the commit: no provider without its token
    held = credentials.names()
    for name in sorted(report.token_names - held):
        report.notes.append(
            f"partner {name}: no token named {name} on this machine; referrals to its "
            f"services fail until `casework providers token {name}` sets it"
        )
    return report


def set_partner_token(name: str, token: str) -> None:
    from casework.core import credentials
    from models.forms import PROVIDER_CODE
    from models.providers import TOKEN_LENGTH

    if not re.fullmatch(PROVIDER_CODE, name):
        raise InputError(f"name: {name!r} is not a token name (letters, digits, . _ -)")
    token = token.strip()
    shortest, longest = TOKEN_LENGTH
    if not shortest <= len(token) <= longest or any(ch.isspace() for ch in token):
        raise InputError(
            f"token: must be {shortest} to {longest} characters, without spaces, on one line"
        )
    credentials.save({name: token})


def provider_list(wanted: Search) -> list[ProviderOut]:
    from models import providers

    with session_scope(read_only=True) as session:
        return [ProviderOut.model_validate(p) for p in providers.search(session, wanted)]


def provider(key: str) -> ProviderOut:
    from models import providers

    with session_scope(read_only=True) as session:
        return ProviderOut.model_validate(providers.get(session, key))


def give_consent(case_number: str, provider: str, given_on: date, actor: str) -> None:
    from models import consents, providers

    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        if provider != consents.ANY_PROVIDER:
            providers.get(session, provider)
        if given_on > now().date():
            raise InputError(f"{given_on} is in the future", field="given_on")
        consents.give(session, case, provider, given_on, actor, now())


def withdraw_consent(case_number: str, provider: str, actor: str) -> list[str]:
    """Withdraw consent; open referrals it covered are cancelled and the case (if it was
    waiting on them) goes back to choosing. Returns the cancelled references."""
    from models import consents

    with session_scope() as session:
        case = cases.get_case(session, case_number)
        cancelled = [
            r.reference or "" for r in consents.withdraw(session, case, provider, actor, now())
        ]
        number = case.case_number or case_number
    if cancelled and _settle_quietly(number) is None:
        raise Deferred(number, cancelled)
    return cancelled


def record_referral_status(
    reference: str, status: ReferralStatus, reason: str | None, actor: str
) -> tuple[str, bool | None]:
    """An operator records a partner's answer by hand; returns (case number, whether the
    case was moved on because of it: None when the Prefect server is away, and the case
    moves once it is back if the answers are all in)."""
    with session_scope() as session:
        referral = referrals.get(session, reference)
        if referral.sent_at is None and status is not ReferralStatus.CANCELLED:
            raise InputError(f"referral: {referral.reference} has not been sent yet")
        referrals.set_status(session, referral, status, reason, "operator", now())
        case = session.get_one(Case, referral.case_id)
        audit.record(
            session,
            case,
            actor,
            "referral_status_recorded",
            now(),
            reference=referral.reference,
            status=status.value,
        )
        number = case.case_number or ""
    settled = _settle_quietly(number)
    return number, None if settled is None else bool(settled)


def _settle_quietly(case_number: str) -> list[str] | None:
    """Settle now if Prefect is there; None if it is not: then `casework up`, once back,
    settles it (and the referral status sync after it)."""
    try:
        if not prefect_api.api_is_healthy(prefect_api.api_url()):
            return None
        return settle([case_number])
    except prefect_api.OrchestratorUnavailable:
        return None


def access_log(case_number: str | None, staff: str | None) -> list[AccessOut]:
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number) if case_number else None
        return [
            AccessOut(at=entry.at, staff=entry.staff, case_number=number, what=entry.what)
            for entry, number in audit.accesses(session, case, staff)
        ]


class AccessOut(BaseModel):
    at: datetime
    staff: str
    case_number: str
    what: str


def add_staff(
    staff_id: str,
    role: StaffRole | None,
    programs: list[Program] | None,
    login: str | None,
    actor: str,
) -> StaffMember:
    """Put a staff member on the roster in the store. On PostgreSQL, create their database
    role (member of their staff role's group) too; on SQLite, map their OS login. A staff
    id the roster file lists keeps the file's role and programs."""
    from sqlalchemy import select

    from casework.core.db import default_engine
    from models.orm import StaffProgram, StaffRecord

    role, programs = _role_and_programs(staff_id, role, programs)
    postgresql = default_engine().dialect.name == "postgresql"
    if postgresql and login:
        raise InputError(
            "on PostgreSQL staff sign in as their own database role, not an OS login",
            field="login",
        )
    with session_scope() as session:
        record = session.scalar(select(StaffRecord).where(StaffRecord.staff_id == staff_id))
        if record is None:
            record = StaffRecord(staff_id=staff_id, role=role.value, added_by=actor)
            session.add(record)
        record.role, record.active, record.added_by = role.value, True, actor
        record.login = login or record.login
        session.flush()
        for row in session.scalars(select(StaffProgram).where(StaffProgram.staff_id == staff_id)):
            session.delete(row)
        session.flush()
        session.add_all(StaffProgram(staff_id=staff_id, program=p.value) for p in programs)
        if postgresql:
            _database_role(session, staff_id, role)
        audit.record(session, None, actor, "staff_added", now(), staff=staff_id, role=role.value)
    return StaffMember(id=staff_id, role=role, programs=frozenset(programs), login=record.login)


def _role_and_programs(
    staff_id: str, role: StaffRole | None, programs: list[Program] | None
) -> tuple[StaffRole, list[Program]]:
    """The role and programs to add `staff_id` with: the roster file's, if it lists them."""
    from models.staff import file_roster

    listed = file_roster().get(staff_id)
    if listed is None:
        if role is None or not programs:
            raise InputError(
                f"{staff_id} is not on the roster file: give their role and their programs",
                field="role" if role is None else "programs",
            )
        return role, programs
    kept = sorted(listed.programs)
    if role is not None and role is not listed.role:
        raise InputError(f"{staff_id} is {listed.role.value} on the roster file", field="role")
    if programs and sorted(programs) != kept:
        raise InputError(
            f"{staff_id} works {','.join(p.value for p in kept)} on the roster file",
            field="programs",
        )
    return listed.role, kept


def _database_role(session: Session, staff_id: str, role: StaffRole) -> None:
    """The staff member's own PostgreSQL role, in their staff role's group and no other
    (staff ids are [a-z0-9._-], safe to quote as identifiers). An admin may create roles in
    turn. Adding someone again signs them in again (after `staff deactivate`)."""
    from sqlalchemy import text

    who = f'"{staff_id}"'
    session.execute(
        text(f"DO $$ BEGIN CREATE ROLE {who}; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    )
    session.execute(
        text(f"ALTER ROLE {who} LOGIN {'' if role is StaffRole.ADMIN else 'NO'}CREATEROLE")
    )
    for other in StaffRole:
        if other is not role:
            session.execute(text(f"REVOKE casework_{other.value} FROM {who}"))
    session.execute(text(f"GRANT casework_{role.value} TO {who}"))


def deactivate_staff(staff_id: str, actor: str) -> None:
    """Someone who has left: inactive in the store's roster (old records still name them;
    nothing new is accepted from them); on PostgreSQL their role may no longer sign in."""
    from sqlalchemy import select, text

    from casework.core.db import default_engine
    from models.orm import StaffRecord
    from models.staff import file_roster

    with session_scope() as session:
        record = session.scalar(select(StaffRecord).where(StaffRecord.staff_id == staff_id))
        if record is None:
            if file_roster().get(staff_id) is None:
                raise InputError(f"staff_id: {staff_id} is not on the roster")
            raise InputError(
                f"staff_id: {staff_id} is on the roster file only: set active = false there"
            )
        record.active = False
        if default_engine().dialect.name == "postgresql":
            session.execute(text(f'ALTER ROLE "{staff_id}" NOLOGIN'))
        audit.record(session, None, actor, "staff_deactivated", now(), staff=staff_id)
