"""A program's own questions on its stage forms, declared in its programs-file entry
(`[[housing.closure]]`, and `plan`, `referral`, `monitoring` likewise) as its intake fields
are (models.intake_fields: a type, required or not, coded or bearing identity, declared).

- The coded questions are one field of the stage's form, `questions`: the run's input and
  its Resume dialog carry them (codes, numbers, yes/no, dates), and the stage event the
  form made keeps them (`stage_events.answers`), read as the rest of the coded record is.
- The questions that bear identity (every text question among them) are not part of the
  form a run waits for: as an instrument's answers in words (models.assessments), they
  are asked on the desk and taken from the form file by `casework submit` (under
  `questions` too), and kept in the case store with the stage's narrative
  (`narratives.answers["questions"]`), read only by those who read the client's record.

A change to a stage's questions carries the runs waiting at that stage over at the next
restart, as a changed instrument does: the stage's wait tag names them (`q…`)."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from pydantic import Field, ValidationError, create_model
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models.codes import Program, Stage
from casework.models.forms import StageForm, WrittenRefused
from casework.models.instruments import ChoicesByLabel
from casework.models.intake_fields import IntakeAnswersForm, IntakeField, intake_form, said
from casework.models.orm import Case, Narrative, StageEvent
from casework.models.schemas import HistoryEntry

QUESTIONED = (Stage.PLAN, Stage.REFERRAL, Stage.MONITORING, Stage.CLOSURE)
FIELD = "questions"
TITLE = "The program's questions"

_BUILT: dict[tuple[Any, ...], type[StageForm]] = {}


def declared(program: Program, stage: Stage) -> tuple[IntakeField, ...]:
    """`program`'s own questions at `stage`, in the file's order."""
    from casework.models.programs import programs

    if stage not in QUESTIONED:
        return ()
    return tuple(getattr(programs()[program], stage.value))


def with_questions(form: type[StageForm], program: Program, stage: Stage) -> type[StageForm]:
    """`form` with `program`'s coded questions at `stage` as its `questions` field (the form
    itself when the program asks none); built once per declaration."""
    fields = declared(program, stage)
    if not fields:
        return form
    key = (form, *(f.model_dump_json() for f in fields))
    if key not in _BUILT:
        _BUILT[key] = _build(form, fields)
    return _BUILT[key]


def _build(form: type[StageForm], fields: tuple[IntakeField, ...]) -> type[StageForm]:
    coded = tuple(f for f in fields if not f.identity)
    extra: dict[str, Any] = {}
    if coded:
        model = intake_form(coded, "Questions")
        # Where the questions bearing identity are asked, the dialog's description says
        # (tasks.cases); the CLI's example shows their places.
        if any(f.required for f in coded):
            extra[FIELD] = (model, Field(title=TITLE))
        else:
            extra[FIELD] = (model, Field(default_factory=model, title=TITLE))
    built: type[StageForm] = create_model(
        form.__name__, __base__=form, __doc__=form.__doc__, **extra
    )
    built.__in_words__ = tuple(f for f in fields if f.identity)
    if built.__in_words__:  # built once with the form, not at every page and submission
        built.__words_form__ = intake_form(built.__in_words__, "QuestionsInWords")
    return built


def _in_words(fields: tuple[IntakeField, ...]) -> list[str]:
    return [f.label for f in fields if f.identity]


def in_words(program: Program, stage: Stage) -> list[str]:
    """The labels of the questions at `stage` asked outside the run's form (identity)."""
    return _in_words(declared(program, stage))


def questions_tag(program: Program, stage: Stage) -> str | None:
    """A short name for `program`'s questions at `stage` (None: it asks none), named in the
    wait tag so that a run waiting under other questions is carried over."""
    fields = declared(program, stage)
    if not fields:
        return None
    said = "|".join(f.model_dump_json() for f in fields)
    return "q" + hashlib.sha256(f"{program.value}:{stage.value}:{said}".encode()).hexdigest()[:8]


def with_example(form: StageForm, program: Program, stage: Stage) -> StageForm:
    """`form` (a stage's example) as `program`'s form at `stage`, its coded questions answered
    with values that fit (a choice's first option, a number's least, no, today)."""
    built = with_questions(type(form), program, stage)
    if built is type(form):
        return form
    answers: dict[str, Any] = {}
    for field in declared(program, stage):
        if field.identity:
            continue
        if field.type == "choice":
            answers[field.id] = field.options[0].code
        elif field.type == "yes_no":
            answers[field.id] = False
        elif field.type == "number":
            answers[field.id] = field.min or 0
        else:  # a date
            answers[field.id] = date.today().isoformat()
    data = form.model_dump(mode="json") | ({FIELD: answers} if answers else {})
    return built.model_validate(data)


def with_places(form_type: type[StageForm], data: dict[str, Any]) -> dict[str, Any]:
    """The form's data with each question bearing identity shown in its place, empty (the
    CLI's example: `casework submit` takes them there)."""
    places = {field.id: "" for field in form_type.__in_words__}
    if not places:
        return data
    return data | {FIELD: {**data.get(FIELD, {}), **places}}


def coded_answers(form: StageForm) -> dict[str, Any] | None:
    """The coded questions' answers given with `form`, for its stage event (None: none)."""
    given = getattr(form, FIELD, None)
    if not isinstance(given, IntakeAnswersForm):
        return None
    return given.model_dump(mode="json", exclude_none=True) or None


# The questions that bear identity: outside the run's form.


def words_form(form_type: type[StageForm]) -> type[ChoicesByLabel] | None:
    """The questions that bear identity as a form of their own (the desk lays it out)."""
    return form_type.__words_form__


def take_words(
    form_type: type[StageForm], data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's data without the answers to its questions that bear identity, and those
    answers by path (`questions.ID`)."""
    fields: tuple[IntakeField, ...] = form_type.__in_words__
    part = data.get(FIELD)
    if not fields or not isinstance(part, dict):
        return data, {}
    ids = {f.id for f in fields}
    taken = {f"{FIELD}.{name}": value for name, value in part.items() if name in ids}
    rest = {name: value for name, value in part.items() if name not in ids}
    if rest or FIELD in form_type.model_fields:
        return {**data, FIELD: rest}, taken
    return {k: v for k, v in data.items() if k != FIELD}, taken


def check_words(form_type: type[StageForm], stage: Stage, given: dict[str, Any]) -> dict[str, Any]:
    """The answers to the questions that bear identity, checked as declared: what the store
    keeps with the narrative (`{"questions": {...}}`), or {} when none was given. One line
    naming every bad one."""
    model = words_form(form_type)
    if model is None:
        if given:
            raise WrittenRefused(
                [f"{path}: this form asks no such question" for path in given], stage.value
            )
        return {}
    answers = {
        path.removeprefix(f"{FIELD}."): None if isinstance(v, str) and not v.strip() else v
        for path, v in given.items()
    }
    try:
        kept = model.model_validate(answers).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        raise WrittenRefused(
            [f"{FIELD}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()],
            stage.value,
        ) from None
    return {FIELD: kept} if kept else {}


# Reading them back.


def answered(
    session: Session, case: Case, entries: list[HistoryEntry], *, identity: bool
) -> list[HistoryEntry]:
    """`entries` (the case's history) with the program's questions each move answered,
    labelled as the programs file declares them now (an answer to a question no longer
    declared, by its id); those bearing identity too if `identity` (the reader reads the
    client's record)."""
    program = Program(case.program)
    coded = {
        (e.episode, e.stage_key): e.answers
        for e in session.scalars(
            select(StageEvent).where(StageEvent.case_id == case.id, StageEvent.answers.is_not(None))
        )
    }
    kept: dict[tuple[int, str], dict[str, Any]] = {}
    if identity:  # the case's written answers, in one read
        rows = select(Narrative.episode, Narrative.stage_key, Narrative.answers).where(
            Narrative.case_id == case.id, Narrative.answers.is_not(None)
        )
        kept = {(n.episode, n.stage_key): n.answers for n in session.execute(rows)}
    out = []
    for entry in entries:
        given = dict(coded.get((entry.episode, entry.stage_key)) or {})
        if Stage(entry.from_stage) in QUESTIONED and entry.outcome == "moved":
            given |= (kept.get((entry.episode, entry.stage_key)) or {}).get(FIELD, {})
        if given:
            fields = list(declared(program, Stage(entry.from_stage)))
            entry = entry.model_copy(update={"answered": said(fields, given)})
        out.append(entry)
    return out
