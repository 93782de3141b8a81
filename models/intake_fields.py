"""A program's own intake fields, declared in its programs-file entry (`[[housing.intake]]`,
docs/program-managers.md says how) beyond the core identity every client has (names, date
of birth, ID number, address, phone).

Each field says whether it bears identity (`identity = true`: it is kept with the client's
identity, read only by those who read identity) or is coded (`false`: a count, a yes/no, a
choice; read by program managers too). A `text` field always bears identity: words may name
anyone. The answers go to the case store only, never to a Prefect surface."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import audit
from casework.models.codes import Program
from casework.models.instruments import ChoicesByLabel, Code, Label, Option, choice_type
from casework.models.orm import Case, IntakeDetails, MemberAnswers


class IntakeField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Code
    label: Label
    type: Literal["yes_no", "choice", "number", "date", "text"]
    identity: bool  # declared, never assumed
    required: bool = False
    options: list[Option] = Field(default_factory=list, max_length=40)
    min: int | None = None
    max: int | None = None
    past_only: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> IntakeField:
        if self.type == "text" and not self.identity:
            raise ValueError("a text field bears identity (words may name anyone): identity = true")
        if (self.type == "choice") != bool(self.options):
            raise ValueError("options belong to a choice field, and a choice field needs them")
        if len({o.code for o in self.options}) != len(self.options):
            raise ValueError("two options share a code")
        if self.type != "number" and (self.min is not None or self.max is not None):
            raise ValueError("min and max belong to a number field")
        return self


def unique_fields(fields: list[IntakeField], where: str = "intake") -> str | None:
    ids = [f.id for f in fields]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    return f"{where}: {', '.join(twice)} declared twice" if twice else None


class IntakeAnswersForm(ChoicesByLabel):
    """A program's intake fields as a form (built per program, models.intake_fields)."""

    def split(self, fields: list[IntakeField]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The answers given, as (coded, identity-bearing)."""
        given = self.model_dump(mode="json", exclude_none=True)
        coded = {f.id: given[f.id] for f in fields if f.id in given and not f.identity}
        identity = {f.id: given[f.id] for f in fields if f.id in given and f.identity}
        return coded, identity


def _kind(field: IntakeField) -> Any:
    from casework.models.forms import FormDate, PastDate

    if field.type == "yes_no":
        return Annotated[bool, Field(strict=True)]
    if field.type == "number":
        return int  # its bounds go on the field (intake_form)
    if field.type == "date":
        return PastDate if field.past_only else FormDate
    if field.type == "choice":
        return choice_type(f"intake_{field.id}", field.options)
    return Annotated[str, Field(min_length=1, max_length=2000)]


def intake_form(
    fields: tuple[IntakeField, ...], name: str = "IntakeDetails"
) -> type[IntakeAnswersForm]:
    """`fields` as a form (a program's intake details, or its questions at a stage)."""
    built: dict[str, Any] = {}
    for field in fields:
        kind = _kind(field)
        said: dict[str, Any] = {
            "title": field.label,
            "description": "kept with the client's identity" if field.identity else None,
            "ge": field.min,
            "le": field.max,
        }
        if field.required:
            built[field.id] = (kind, Field(**said))
        else:
            built[field.id] = (kind | None, Field(default=None, **said))
    form: type[IntakeAnswersForm] = create_model(name, __base__=IntakeAnswersForm, **built)
    return form


# The store.


def form_of(program: Program) -> tuple[type[IntakeAnswersForm], list[IntakeField]]:
    """`program`'s intake-details form, and its fields as declared."""
    from casework.models.programs import programs

    fields = list(programs()[program].intake)
    return intake_form(tuple(fields)), fields


def record(
    session: Session,
    case: Case,
    form: IntakeAnswersForm,
    fields: list[IntakeField],
    actor: str,
    member: int | None = None,
) -> IntakeDetails | MemberAnswers:
    """The case's answers (with `member`, a household member's in it: HMIS's start
    questions), kept (a later recording replaces them) and audited by the names of the
    fields given (and the member's number), never their values."""
    from casework.models.clients import client_number_for

    coded, identity = form.split(fields)
    at = datetime.now(UTC)
    row: IntakeDetails | MemberAnswers | None
    if member is None:
        row = details_of(session, case)
        if row is None:
            row = IntakeDetails(case_id=case.id, coded=coded, identity=identity)
        action, detail = "intake_details_recorded", {}
    else:
        row = session.scalars(
            select(MemberAnswers).where(
                MemberAnswers.case_id == case.id, MemberAnswers.client_id == member
            )
        ).first()
        if row is None:
            row = MemberAnswers(case_id=case.id, client_id=member, coded=coded, identity=identity)
        action, detail = "member_answers_recorded", {"client": client_number_for(member)}
    session.add(row)
    row.coded, row.identity, row.recorded_by, row.recorded_at = coded, identity, actor, at
    audit.record(session, case, actor, action, at, **detail, fields=sorted(coded | identity))
    session.flush()
    return row


def member_form_of(program: Program) -> tuple[type[IntakeAnswersForm], list[IntakeField]]:
    """The form a household member's answers are recorded with in `program`: HMIS's
    project-start questions (a HUD-funded program's; none in any other)."""
    from casework.models import hmis
    from casework.models.programs import programs

    # The program's intake details ask them of its client already (models.programs).
    fields = [f for f in programs()[program].intake if f.id.startswith(hmis.PREFIX)]
    return intake_form(tuple(fields), "MemberAnswers"), fields


def members_answers(session: Session, case: Case) -> list[MemberAnswers]:
    """The answers recorded for the members of the case's household, oldest first."""
    found = select(MemberAnswers).where(MemberAnswers.case_id == case.id)
    return list(session.scalars(found.order_by(MemberAnswers.id)))


def details_of(session: Session, case: Case) -> IntakeDetails | None:
    return session.scalars(select(IntakeDetails).where(IntakeDetails.case_id == case.id)).first()


def shown(fields: list[IntakeField], row: IntakeDetails | None) -> list[tuple[str, str]]:
    """Each field answered, as (its label, the answer in words), in the declaration's order;
    a field no longer declared by its code."""
    return [] if row is None else said(fields, {**row.coded, **row.identity})


def said(fields: list[IntakeField], given: dict[str, Any]) -> list[tuple[str, str]]:
    """`given` answers (by field id) as (the field's label, the answer in words), in the
    declaration's order; a field no longer declared by its id, last."""
    declared = {f.id: f for f in fields}
    out = []
    for name, value in given.items():
        field = declared.get(name)
        labels = {o.code: o.label for o in field.options} if field else {}
        answer = ("yes" if value else "no") if isinstance(value, bool) else labels.get(value, value)
        out.append((field.label if field else name, str(answer)))
    order = [f.label for f in fields]
    return sorted(out, key=lambda pair: order.index(pair[0]) if pair[0] in order else len(order))
