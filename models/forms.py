"""The typed forms each stage waits for. They travel as Prefect run inputs (the UI's
Resume dialog is built from their JSON schema), so they carry coded values only:
scores, enums, dates, yes/no, staff ids. Narrative goes to the store by another path."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from casework.core.errors import InputError
from casework.core.settings import STAFF_ID_PATTERN
from casework.models.codes import (
    ClosureReason,
    Decision,
    GoalStatus,
    NeedsDomain,
    Objective,
    ServiceCategory,
    Strength,
    Trigger,
    Urgency,
)
from casework.models.goals import SHIPPED, GoalSpec
from casework.models.instruments import ChoicesByLabel, InstrumentAnswers
from casework.models.labels import to_codes

StaffId = Annotated[str, Field(pattern=STAFF_ID_PATTERN, description="staff id of who submits")]
# Strict: "1", true and 1.0 are not scores, and "yes" is not a yes; a form means what it says.
Score = Annotated[
    int,
    Field(
        strict=True,
        ge=1,
        le=5,
        description="1 in crisis, 2 vulnerable, 3 safe, 4 building, 5 thriving",
    ),
]
YesNo = Annotated[bool, Field(strict=True)]
EARLIEST_FORM_DATE = date(2000, 1, 1)
FORM_DATE_YEARS_AHEAD = 10


def _iso_date_only(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("must be a date as YYYY-MM-DD, not a number")
    return value


def _in_range(value: date) -> date:
    latest = date(date.today().year + FORM_DATE_YEARS_AHEAD, 12, 31)
    if not EARLIEST_FORM_DATE <= value <= latest:
        raise ValueError(f"must be between {EARLIEST_FORM_DATE} and {latest}")
    return value


def _not_future(value: date) -> date:
    if value > date.today():
        raise ValueError("must not be in the future")
    return value


FormDate = Annotated[date, BeforeValidator(_iso_date_only), AfterValidator(_in_range)]
PastDate = Annotated[FormDate, AfterValidator(_not_future)]
PROVIDER_CODE = r"^[A-Za-z0-9._-]{1,64}$"  # a provider id, and a partner token's name
CLIENT_NUMBER = r"^(?i:client)-[0-9]{1,12}$"  # as models.clients numbers them: CLIENT-000042
DIRECTORY_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"  # a provider directory's name (`main`)
ProviderCode = Annotated[str, Field(pattern=PROVIDER_CODE)]


class StageForm(BaseModel):
    """Common shape: who submits; the trigger the form asks for. Coded values may come as
    their codes (the CLI's JSON) or as their labels (a Resume dialog's choices)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # A program's questions at the stage asked outside this form, bearing identity
    # (models.stage_questions builds the program's form and sets them).
    __in_words__: ClassVar[tuple[Any, ...]] = ()
    __words_form__: ClassVar[type[ChoicesByLabel] | None] = None  # those, as a form of their own

    submitted_by: StaffId

    @model_validator(mode="before")
    @classmethod
    def _labels_to_codes(cls, data: Any) -> Any:
        return to_codes(data) if isinstance(data, dict) else data

    @property
    def trigger(self) -> Trigger:
        return Trigger.COMPLETE


class AssessmentForm(StageForm):
    """Strengths-based assessment: the answers to each of the program's instruments (a
    field each, named by the instrument; models.assessments builds each program's form
    from its declaration), the client's strengths, and whether the client took part."""

    if TYPE_CHECKING:  # fields of every program's form, after its instruments' (below)
        strengths: list[Strength]
        client_participated: bool

    @classmethod
    def instrument_fields(cls) -> dict[str, type[InstrumentAnswers]]:
        """The form's instruments: each one's answers model, by the instrument's id, in the
        program's order."""
        return {
            name: info.annotation
            for name, info in cls.model_fields.items()
            if isinstance(info.annotation, type) and issubclass(info.annotation, InstrumentAnswers)
        }

    def instruments(self) -> dict[str, InstrumentAnswers]:
        """The answers to each instrument, by the instrument's id, in the program's order."""
        return {name: getattr(self, name) for name in self.instrument_fields()}


# The assessment's own fields, asked after the program's instruments: each program's form
# is its instruments' fields, then these (models.assessments builds it).
ASSESSMENT_FIELDS: dict[str, Any] = {
    "strengths": (list[Strength], Field(default_factory=list, max_length=len(Strength))),
    "client_participated": (YesNo, ...),
}


class Goal(BaseModel):
    """One goal of a plan: an objective of the program's goal catalogue (Casework's own here;
    each program's plan form offers its own catalogue, models.lifecycle.form_for)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    __catalogue__: ClassVar[dict[str, GoalSpec]] = {spec.code: spec for spec in SHIPPED}

    domain: NeedsDomain
    objective: Objective
    target_date: FormDate
    status: GoalStatus = GoalStatus.NOT_STARTED

    @model_validator(mode="before")
    @classmethod
    def _domain_of_objective(cls, data: Any) -> Any:
        """The domain may be left out: it is the objective's own (a Resume dialog asks for
        the objective only, labelled with its domain and measure)."""
        if isinstance(data, dict) and "domain" not in data:
            data = to_codes(data)
            spec = cls.__catalogue__.get(str(data.get("objective")))
            if spec is not None:
                return {**data, "domain": spec.domain.value}
        return data

    @model_validator(mode="after")
    def _objective_in_domain(self) -> Goal:
        spec = type(self).__catalogue__[self.objective.value]
        if spec.domain is not self.domain:
            raise ValueError(
                f"objective {self.objective.value} belongs to domain "
                f"{spec.domain.value}, not {self.domain.value}"
            )
        return self


class PlanForm(StageForm):
    """Service plan: goals per domain with measurable objectives, agreed with the client."""

    goals: list[Goal] = Field(min_length=1, max_length=20)
    client_participated: YesNo = Field(description="the client took part in making this plan")
    agreed_on: PastDate


class ReferralRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service: ServiceCategory
    provider: ProviderCode = Field(description="provider id from `casework providers list`")
    urgency: Urgency = Urgency.ROUTINE
    reason: NeedsDomain | None = Field(default=None, description="the need behind the referral")


class ReferralForm(StageForm):
    """Referrals made for the plan, or a waiver when none is needed."""

    referrals: list[ReferralRequest] = Field(default_factory=list, max_length=20)
    waived: YesNo = Field(default=False, description="no referral is needed for this plan")

    @property
    def trigger(self) -> Trigger:
        return Trigger.SEND if self.referrals else Trigger.COMPLETE


class GoalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: Objective
    status: GoalStatus


class MonitoringForm(StageForm):
    """Periodic review: progress on goals and the decision on where the case goes next."""

    decision: Decision
    goal_updates: list[GoalUpdate] = Field(default_factory=list, max_length=20)
    client_contacted: YesNo = True

    @property
    def trigger(self) -> Trigger:
        return self.decision


class ClosureForm(StageForm):
    """Closing the episode with a coded reason (the narrative summary goes to the store)."""

    reason: ClosureReason
    follow_up_consent: YesNo = Field(description="client agreed to post-closure follow-up checks")


class WrittenRefused(InputError):
    """Answers given outside a stage's form that cannot be kept; `problems` names each by
    its path (`questions.forwarding_address: ...`)."""

    def __init__(self, problems: list[str], stage: str) -> None:
        super().__init__(f"{stage} form: {'; '.join(problems)}")
        self.problems = problems


def asked_elsewhere(labels: list[str]) -> str | None:
    """Where a form's questions answered outside it (in words, or bearing identity) are
    asked, since the form a run waits for (and its Resume dialog) does not ask them."""
    if not labels:
        return None
    return f"Answered on the desk or with `casework submit`, not here: {'; '.join(labels)}."


def describe_error(exc: ValidationError, prefix: str = "") -> str:
    """One line naming every bad field (the first few, then how many more); never echoes
    a value (it may identify a client)."""
    errors = exc.errors()
    named = [
        f"{'.'.join(str(part) for part in error['loc']) or 'form'}: {error['msg']}"
        for error in errors[:NAMED_ERRORS]
    ]
    more = f" (and {len(errors) - NAMED_ERRORS} more)" if len(errors) > NAMED_ERRORS else ""
    return f"{prefix}{'; '.join(named)}{more}"


NAMED_ERRORS = 4
