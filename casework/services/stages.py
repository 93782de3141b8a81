"""A case's stages: a stage form handed to the case's waiting run, and a case sent back to
assessment. Each checks what it can before anything is written, keeps what the user typed
before Prefect is asked, and never holds a store transaction across a call to Prefect."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from casework.core import prefect_api
from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.models import (
    approvals,
    assessments,
    audit,
    cases,
    contacts,
    referrals,
    stage_events,
    stage_questions,
)
from casework.models.assessments import Written
from casework.models.codes import (
    Program,
    ReassessmentReason,
    Stage,
)
from casework.models.facts import facts
from casework.models.forms import AssessmentForm, ReferralForm, StageForm, describe_error
from casework.models.labels import to_labels
from casework.models.lifecycle import (
    REASSESSABLE,
    TransitionNotAllowed,
    check_transition,
    form_for,
    stage_of_form,
    waits_for_form,
)
from casework.models.orm import Case
from casework.services.staff import roster

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


@dataclass(frozen=True)
class SubmitResult:
    case_number: str
    stage_key: str
    outcome: str  # submitted | moved | rejected
    stage: str | None
    error: str | None = None


def register_instruments() -> list[str]:
    """The instruments the programs ask, checked against the versions the store keeps (one
    changed without raising its version is refused, in one line) and kept: `up` and
    `deploy` call this before any case waits for them. Names each, with its version."""
    from casework.models.assessments import check_versions, keep_version
    from casework.models.programs import configured_programs_file, instruments_dir, programs

    asked = {i.id: i for config in programs().values() for i in config.instruments}
    with session_scope() as session:
        check_versions(session, list(asked.values()), instruments_dir(configured_programs_file()))
        for instrument in asked.values():
            keep_version(session, instrument, datetime.now(UTC))
    return [f"{i.id} v{i.version}" for i in asked.values()]


def program_of(case_number: str) -> Program:
    with session_scope(read_only=True) as session:
        return Program(cases.get_open_case(session, case_number).program)


def stage_form_type(case_number: str, stage: Stage) -> type[StageForm] | None:
    """The form `case_number` takes at `stage`: the assessment's is its program's own."""
    return form_for(stage, program_of(case_number))


def parse_submission(stage: Stage, data: Any, case_number: str) -> tuple[StageForm, Written]:
    """`data` as the form `case_number` waits for at `stage`, and the answers in it kept
    outside the run's form (an assessment's text items, a program's questions bearing
    identity: kept in the store, never handed to the run). One line naming every bad field
    if it is not."""
    form_type = stage_form_type(case_number, stage)
    if form_type is None:
        raise InputError(f"{stage.value} takes no form (it completes on its own)", field="stage")
    given: dict[str, Any] = {}
    if isinstance(data, dict):
        data, given = take_written(form_type, data)
    try:
        form = form_type.model_validate(data)
    except ValidationError as exc:
        raise InputError(describe_error(exc, f"{stage.value} form: ")) from None
    return form, written_with(form, given)


def take_written(
    form_type: type[StageForm], data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's data without the answers kept outside the run's form (an assessment's
    answers in words, a program's questions bearing identity), and those by path."""
    if issubclass(form_type, AssessmentForm):
        return assessments.take_written(form_type, data)
    return stage_questions.take_words(form_type, data)


def written_with(form: StageForm, given: dict[str, Any]) -> Written:
    """The answers kept outside the run's form given with `form` (by path), checked."""
    if isinstance(form, AssessmentForm):
        return assessments.check_written(form, given)
    return stage_questions.check_words(type(form), stage_of_form(form), given)


def _check_stage(session: Session, case: Case, stage: Stage, form: StageForm) -> None:
    if (held := approvals.pending(session, case)) is not None:
        raise InputError(
            f"{case.case_number}'s {held.stage} form (given by {held.submitted_by}) waits for "
            f"a supervisor's approval; `casework approve {case.case_number}` or `casework "
            f"return {case.case_number} --reason …`",
            field="stage",
        )
    if case.waiting_on is not None:
        raise InputError(
            f"{case.case_number} is waiting on partner agencies' answers to its "
            "referrals; record an answer with `casework referral REF-… --status …`",
            field="stage",
        )
    if case.stage != stage.value:
        raise InputError(
            f"{case.case_number} is at {case.stage}, not {stage.value}"
            f"{' (already recorded)' if _passed(session, case, stage) else ''}",
            field="stage",
        )
    try:
        check_transition(stage, form, facts(session, case))
        if isinstance(form, ReferralForm):  # as the run will check it: refused here, not later
            referrals.check_sendable(session, case, form)
    except TransitionNotAllowed as exc:
        raise InputError(str(exc)) from None


def _programs_form(case_number: str, stage: Stage, form: StageForm) -> StageForm:
    """`form` as the case's program asks it at `stage`: a stage's form given without the
    program's questions (a caller of this service that builds the stage's own form) is
    read as the program's, its optional questions unanswered, as the Resume dialog would
    give it; a required one missing is refused by name."""
    if stage not in stage_questions.QUESTIONED:
        return form
    with session_scope(read_only=True) as session:
        program = Program(cases.get_open_case(session, case_number).program)
    built = form_for(stage, program)
    if built is None or isinstance(form, built):
        return form
    try:
        return built.model_validate(form.model_dump(mode="json"))
    except ValidationError as exc:
        raise InputError(describe_error(exc, f"{stage.value} form: ")) from None


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
        if not waits_for_form(Stage(case.stage)):
            return None
        _check_stage(session, case, stage, form)
        flow_run_id = cases.episode_of(session, case).flow_run_id
        if flow_run_id is None:
            raise InputError(
                f"{case.case_number} has no flow run; "
                f"`casework repair {case.case_number}` starts it",
                field="case_number",
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
                f"{prefect_api.who_finishes('serve')} try again shortly, or "
                f"`casework repair {case_number}`"
            )
        time.sleep(0.3)


def submit(
    case_number: str,
    stage: Stage,
    form: StageForm,
    *,
    narrative: str | None = None,
    written: Written | None = None,
    actor: str,
    wait: bool = False,
    timeout: float = 120.0,
) -> SubmitResult:
    """Resume the case's suspended run with `form`; narrative text and `written` answers
    (parse_submission's) go to the store only, and are kept only if Prefect takes the form."""
    deadline = time.monotonic() + timeout
    form = _programs_form(case_number, stage, form)
    _turn_if_due(case_number, stage, form)  # refuse bad input before asking Prefect anything
    prefect_api.check_ready()
    early_since: float | None = None
    while True:
        turn = _await_turn(case_number, stage, form, deadline)
        try:
            _deliver_form(turn, form, narrative, written or {}, actor)
            break
        except prefect_api.FormNotAwaitedYet:
            # Normally a moment's race with the suspending run. If it lasts, the run's process
            # died (or lost the server) between suspending and storing its form: run it again
            # to repair it. How long it lasted is the run's own: suspended that long ago, or,
            # if the run cannot say, since this submission first found it so.
            early_since = early_since or time.monotonic()
            if _suspended_for(turn.run) > REPAIR_AFTER_SECONDS or (
                time.monotonic() - early_since > REPAIR_AFTER_SECONDS
            ):
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


def _suspended_for(run: prefect_api.RunView | None) -> float:
    """Seconds the run has been suspended, as it says (0 if it does not)."""
    if run is None or run.since is None or not run.waiting:
        return 0.0
    return (now() - run.since).total_seconds()


def run_input(form: StageForm) -> dict[str, Any]:
    """The form as the case's Resume dialog would give it, which Prefect's server checks
    against the dialog's schema: choices by label, and an unset optional value left out
    (the schema offers choices, not null, for a referral's reason)."""
    given: dict[str, Any] = to_labels(form.model_dump(mode="json", exclude_none=True))
    if isinstance(form, AssessmentForm):
        given |= {name: answers.labelled() for name, answers in form.instruments().items()}
    if (questions := getattr(form, stage_questions.FIELD, None)) is not None:
        given[stage_questions.FIELD] = questions.labelled()
    return given


HANDED_OVER = stage_events.HANDED_OVER


def _deliver_form(
    turn: _Turn,
    form: StageForm,
    narrative: str | None,
    written: Written,
    actor: str,
) -> None:
    """Resume the run with the form. The narrative and written answers are kept first,
    under a key of this submission's own, and become the stage's only once Prefect has
    taken the form; a refused form's are removed. No transaction is open while Prefect is
    asked, and a crash in between leaves the text kept, never lost."""
    held = f"{turn.stage_key}~{secrets.token_hex(4)}" if narrative or written else None
    with session_scope() as session:
        case = cases.get_case(session, turn.case_number)
        # Who handed the form over, as signed in: the flow records the form's source by it.
        audit.record(session, case, actor, HANDED_OVER, now(), stage_key=turn.stage_key)
        if held:
            contacts.save_narrative(session, case, held, narrative or "", actor, now(), written)
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
                held = HELD.format(case_number, prefect_api.who_finishes("repair"))
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
    from casework.models.staff import NotOnRoster, check_staff

    members = roster()

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
                f"{number}'s reassessment ({case.reassess_reason}) is asked for "
                f"already; it moves when its run wakes (`casework repair {number}`)",
                field="case_number",
            )
        try:
            check_staff(members, requested_by, case.program)
        except NotOnRoster as exc:
            raise InputError(f"{exc}", field="requested_by") from None
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
    turn = _Turn(number, key, episode, flow_run_id or "")
    return wake_to_record(turn, "reassessment", Stage.ASSESSMENT.value, wait, timeout)


def wake_to_record(
    turn: _Turn, what: str, stage: str | None, wait: bool, timeout: float
) -> SubmitResult:
    """Wake the case's run to record `what` the store holds for it at `turn`'s key (a
    reassessment asked for, a supervisor's decision), and, with `wait`, wait until it has.
    With Prefect away, `what` is kept, and recorded once the run wakes."""
    number, key, episode, flow_run_id = (
        turn.case_number,
        turn.stage_key,
        turn.episode,
        turn.flow_run_id,
    )
    deadline = time.monotonic() + timeout
    try:
        if not flow_run_id:
            raise prefect_api.OrchestratorUnavailable(f"{number} has no run yet")
        _wake(number, episode, key, flow_run_id, deadline)
    except prefect_api.OrchestratorUnavailable as exc:
        return SubmitResult(
            number,
            key,
            "held",
            None,
            f"{what} recorded; the case moves once its run wakes ({exc}): "
            f"{prefect_api.who_finishes('wake')}, or `casework repair {number}`",
        )
    if not wait:
        return SubmitResult(number, key, "submitted", stage)
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


def wait_for_intake(case_number: str, flow_run_id: str, timeout: float) -> SubmitResult:
    """Wait (bounded) until a new case's run has recorded its intake: its first form (the
    assessment) is then the one it waits for."""
    from casework.models.lifecycle import stage_key

    with session_scope(read_only=True) as session:
        episode = cases.get_case(session, case_number).episode
    return wait_for_stage(case_number, episode, stage_key(Stage.INTAKE, 1), flow_run_id, timeout)
