"""Assessments: each program's form, built from its instruments; the scoring; the store
writer; and the instruments' versions as the store keeps them.

An assessment is scored instrument by instrument, as each declaration says
(models.instruments); what the case takes from it:
- its risk level: critical if any instrument raised a crisis flag, else the highest level
  any instrument's rules set (low when none did); the priority follows (P1 to P4);
- its crisis domains: those any instrument's rules put in crisis (the plan must cover them);
- its domain scores: each scale item that speaks to a needs domain.

The default instrument, the self-sufficiency matrix, scores as every release before
instruments were data did: any crisis-screen flag -> critical; any domain scored 1, or
three or more domains scored 2 or lower -> high; any domain scored 2 -> medium; otherwise
low. Strengths are recorded for the plan but never lower a risk level.

Written answers: an instrument's `text` items are not fields of the form (a run's input
and its Resume dialog hold codes and numbers only). `take_written` lifts them out of the
form's data as the desk or `casework submit` gives it, `check_written` checks them against
the form's answers, and they are kept in the case store with the assessment's narrative
(models.contacts), read back with the assessment.

Versions: each assessment keeps, per instrument, the version it was taken with and what
was answered; the store keeps each version's declaration as it was first used
(`instrument_versions`), so an assessment reads back under its own version whatever the
files say now, and a file changed without raising its version is refused at start-up."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, create_model
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models import instruments as declared
from casework.models.codes import Priority, Program, RiskLevel
from casework.models.forms import (
    ASSESSMENT_FIELDS,
    AssessmentForm,
    WrittenRefused,
    asked_elsewhere,
)
from casework.models.instruments import TEXT_LIMIT, Instrument, Item
from casework.models.orm import Assessment, Case, InstrumentVersion
from casework.models.schemas import InstrumentReading, ScoreReading

PRIORITY_FOR_RISK = {
    RiskLevel.CRITICAL: Priority.P1,
    RiskLevel.HIGH: Priority.P2,
    RiskLevel.MEDIUM: Priority.P3,
    RiskLevel.LOW: Priority.P4,
}


def assessment_form(program: Program) -> type[AssessmentForm]:
    """`program`'s assessment form: a field per instrument, as its files declare them now."""
    from casework.models.programs import program_instruments

    return form_of(program_instruments(program))


_FORMS: dict[tuple[str, ...], type[AssessmentForm]] = {}


def form_of(instruments: tuple[Instrument, ...]) -> type[AssessmentForm]:
    """The assessment form asking `instruments`, built once per set of declarations."""
    key = tuple(f"{i.id}:{i.fingerprint}" for i in instruments)
    if key not in _FORMS:
        _FORMS[key] = _build_form(instruments)
    return _FORMS[key]


def _build_form(instruments: tuple[Instrument, ...]) -> type[AssessmentForm]:
    fields: dict[str, Any] = {
        instrument.id: (
            declared.answers_model(instrument),
            Field(
                title=f"{instrument.title} (version {instrument.version})",
                description=words_elsewhere((instrument,)),
            ),
        )
        for instrument in instruments
    } | ASSESSMENT_FIELDS
    form: type[AssessmentForm] = create_model(
        "AssessmentForm",
        __base__=AssessmentForm,
        __doc__=AssessmentForm.__doc__,
        **fields,
    )
    return form


def words_elsewhere(instruments: Iterable[Instrument]) -> str | None:
    """Where the instruments' items answered in words are asked (not in the form)."""
    return asked_elsewhere([item.label for i in instruments for item in i.items if item.written])


# Written answers: by instrument, then item.
Written = dict[str, dict[str, Any]]


def written_items(form_type: type[AssessmentForm]) -> list[tuple[str, Item]]:
    """The form's items answered in words, each with its path (`instrument.section.item`)."""
    return [
        (f"{name}.{item.section}.{item.id}", item)
        for name, model in form_type.instrument_fields().items()
        for item in model.__instrument__.items
        if item.written
    ]


def take_written(
    form_type: type[AssessmentForm], data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's data without its written answers, and those answers by path."""
    rest = dict(data)
    taken: dict[str, Any] = {}
    for path, _ in written_items(form_type):
        name, section, item = path.split(".")
        part = rest.get(name)
        if not isinstance(part, dict) or not isinstance(part.get(section), dict):
            continue
        if item in part[section]:
            answers = {k: v for k, v in part[section].items() if k != item}
            taken[path] = part[section][item]
            rest[name] = {**part, section: answers}
            if not answers and not _asks(form_type, name, section):
                del rest[name][section]
    return rest, taken


def with_written(form_type: type[AssessmentForm], data: dict[str, Any]) -> dict[str, Any]:
    """The form's data with each written answer's place shown, empty (for the CLI's example:
    `casework submit` takes them there)."""
    shown = {name: dict(part) if isinstance(part, dict) else part for name, part in data.items()}
    for path, _ in written_items(form_type):
        name, section, item = path.split(".")
        shown[name][section] = {**shown[name].get(section, {}), item: ""}
    return shown


def _asks(form_type: type[AssessmentForm], name: str, section: str) -> bool:
    """Whether the form asks anything of the section but words (else it is not the form's)."""
    return section in form_type.instrument_fields()[name].model_fields


def check_written(form: AssessmentForm, given: dict[str, Any]) -> Written:
    """The written answers given with `form`, each checked: words, not too many, and asked
    (an item asked only when a condition holds). One line naming every bad one."""
    written: Written = {}
    problems = []
    answers = {name: model.answers() for name, model in form.instruments().items()}
    for path, item in written_items(type(form)):
        value = given.get(path)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        name = path.split(".")[0]
        instrument = form.instruments()[name].__instrument__
        if not isinstance(value, str):
            problems.append(f"{path}: give it as words (a JSON string)")
        elif len(value) > TEXT_LIMIT:
            problems.append(f"{path}: at most {TEXT_LIMIT} characters")
        elif not declared.asked_when(item, instrument, answers[name]):
            assert item.show_if is not None
            problems.append(f"{path}: answer only when {item.show_if.said()}")
        else:
            written.setdefault(name, {})[item.id] = value.strip()
    if problems:
        raise WrittenRefused(problems, "assessment")
    return written


def instruments_tag(program: Program) -> str:
    """A short name for the instruments and versions `program`'s assessment asks now (a run
    waiting at assessment carries it, so a changed instrument carries the run over)."""
    from casework.models.programs import program_instruments

    # The program is named too: a tag current for another program asking what this one
    # asked before its change must not pass for current here.
    named = "+".join(f"{i.id}.{i.version}" for i in program_instruments(program))
    return "i" + hashlib.sha256(f"{program.value}:{named}".encode()).hexdigest()[:8]


def assess(form: AssessmentForm) -> tuple[dict[str, dict[str, Any]], RiskLevel, Priority]:
    """Each instrument's record (version, answers, scores, bands, risk), and the risk
    level and priority the whole assessment sets."""
    records: dict[str, dict[str, Any]] = {}
    levels = []
    for name, answers in form.instruments().items():
        instrument = answers.__instrument__
        result = answers.result()
        levels.append(result.risk)
        records[name] = {
            "version": instrument.version,
            "answers": answers.answers(),
            "scores": result.scores,
            "bands": result.bands,
            "crisis_flags": result.crisis_flags,
            "crisis_domains": result.crisis_domains,
            "domain_scores": result.domain_scores,
            "risk": result.risk.value,
        }
    level = declared.highest(levels)
    return records, level, PRIORITY_FOR_RISK[level]


def record_assessment(
    session: Session, case: Case, key: str, form: AssessmentForm, at: datetime
) -> Assessment:
    records, level, priority = assess(form)
    for answers in form.instruments().values():
        keep_version(session, answers.__instrument__, at)
    assessment = Assessment(
        case_id=case.id,
        episode=case.episode,
        stage_key=key,
        scores={d: s for r in records.values() for d, s in r["domain_scores"].items()},
        strengths=[strength.value for strength in form.strengths],
        crisis_flags=[flag for r in records.values() for flag in r["crisis_flags"]],
        crisis_domains=sorted({d for r in records.values() for d in r["crisis_domains"]}),
        instruments=records,
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


# The versions the store keeps.


class InstrumentChanged(UserError):
    """An instrument's file says a version the store keeps with other content."""


def keep_version(session: Session, instrument: Instrument, at: datetime) -> InstrumentVersion:
    """The store's copy of this version of the instrument, written the first time it is
    used. Two writers at once: one row, the other reads it."""
    kept = _kept(session, instrument.id, instrument.version)
    if kept is None:
        row = InstrumentVersion(
            instrument=instrument.id,
            version=instrument.version,
            fingerprint=instrument.fingerprint,
            declaration=instrument.model_dump(mode="json", by_alias=True),
            first_used=at,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            kept = _kept(session, instrument.id, instrument.version)
        else:
            return row
    assert kept is not None
    return kept


def _kept(session: Session, instrument_id: str, version: int) -> InstrumentVersion | None:
    query = select(InstrumentVersion).where(
        InstrumentVersion.instrument == instrument_id, InstrumentVersion.version == version
    )
    return session.scalars(query).first()


def check_versions(session: Session, instruments: list[Instrument], directory: Path) -> None:
    """Refuse, in one line, an instrument whose file changed without a new version: its
    past assessments were taken with what the store keeps for that version."""
    for instrument in instruments:
        kept = _kept(session, instrument.id, instrument.version)
        if kept is not None and kept.fingerprint != instrument.fingerprint:
            raise InstrumentChanged(
                f"{declared.find(instrument.id, directory)}: version {instrument.version} is not "
                f"what the store keeps for that version (first used "
                f"{kept.first_used.date()}): raise its version to "
                f"{_next_version(session, instrument.id)} to change it"
            )


def _next_version(session: Session, instrument_id: str) -> int:
    query = select(InstrumentVersion.version).where(InstrumentVersion.instrument == instrument_id)
    return max(session.scalars(query).all(), default=0) + 1


def taken_with(session: Session, instrument_id: str, version: int) -> Instrument | None:
    """The instrument as it was at `version`, as the store keeps it (None: never used)."""
    kept = _kept(session, instrument_id, version)
    return None if kept is None else Instrument.model_validate(kept.declaration)


def readings(
    session: Session, assessment: Assessment, written: Written | None = None
) -> list[InstrumentReading]:
    """Each instrument's part of `assessment`, labelled as the version it was taken with
    declared it (the store's copy; a version the store never kept is shown by its codes),
    with its `written` answers (kept apart, for those who may read them) in their places."""
    found = []
    written = written or {}
    for name, record in (assessment.instruments or {}).items():
        version = int(record.get("version", 0))
        instrument = taken_with(session, name, version)
        titles = {s.id: s.title for s in instrument.scores} if instrument else {}
        found.append(
            InstrumentReading(
                instrument=name,
                title=instrument.title if instrument else name,
                version=version,
                risk=str(record.get("risk", "")),
                scores=[
                    ScoreReading(
                        score=score,
                        title=titles.get(score, score),
                        value=value,
                        band=record.get("bands", {}).get(score),
                    )
                    for score, value in record.get("scores", {}).items()
                ],
                answers=_answered(instrument, record.get("answers", {})),
                written=_answered(instrument, written.get(name, {})),
            )
        )
    return found


def _answered(instrument: Instrument | None, answers: dict[str, Any]) -> list[tuple[str, str]]:
    if instrument is None:
        return [(item, _said(value, {})) for item, value in answers.items() if value is not None]
    return [
        (item.label, _said(answers[item.id], {o.code: o.label for o in item.options}))
        for item in instrument.items
        if answers.get(item.id) not in (None, [])
    ]


def _said(value: Any, labels: dict[str, str]) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(labels.get(str(v), str(v)) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return labels.get(str(value), str(value))
