"""Pydantic schemas at the edges: what the CLI accepts (extra fields refused) and what
it prints (read from ORM rows)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from casework.models.codes import ContactPreference, ContactType, Program, Stage
from casework.models.programs import stage_due_on
from casework.models.text import NoControls, OneLine

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), OneLine
]


FreeText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000), NoControls
]


EMAIL_PATTERN = r"^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$"  # an address a relay can try, no more
PHONE_PATTERN = r"^[0-9 +().-]{5,40}$"


class ClientIn(BaseModel):
    """Intake data: identifying fields, written to the store only."""

    model_config = ConfigDict(extra="forbid")

    given_name: Name
    family_name: Name
    date_of_birth: date
    id_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=40), OneLine] | None
    ) = None
    address: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), OneLine] | None
    ) = None
    phone: Annotated[str, StringConstraints(pattern=PHONE_PATTERN)] | None = None
    # For messages by email (models.messages), with the client's consent.
    email: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN),
        ]
        | None
    ) = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] = "en"
    contact_preference: ContactPreference = ContactPreference.PHONE

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _a_date_not_a_number(cls, value: Any) -> Any:
        if isinstance(value, (int, float)):
            raise ValueError("must be a date as YYYY-MM-DD, not a number")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _born(cls, value: date) -> date:
        if value > date.today() or value.year < 1900:
            raise ValueError("must be a real date of birth, not in the future")
        return value


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_type: ContactType = ContactType.NOTE
    crisis: bool = False
    text: FreeText


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ClientOut(OutModel):
    client_number: str | None = None
    given_name: str
    family_name: str
    date_of_birth: date
    id_number: str | None
    address: str | None
    phone: str | None
    email: str | None = None
    language: str
    contact_preference: str


class CaseSummary(OutModel):
    case_number: str
    program: Program
    stage: str
    status: str
    episode: int
    case_manager: str
    stage_entered_at: datetime
    opened_at: datetime
    stage_due_on: date | None = Field(default=None, description="entered + the program's SLA")
    waiting_on: str | None = Field(default=None, description="referrals sent here, unanswered")
    run_state: str | None = Field(
        default=None,
        description="an open case's run, when it is not waiting (Suspended) as it should: its "
        "Prefect state (Crashed, Running, ...), 'none' (never started) or 'unknown' (the "
        "Prefect server did not answer)",
    )

    @model_validator(mode="after")
    def _due(self) -> CaseSummary:
        if self.status == "open" and self.stage_due_on is None:
            self.stage_due_on = stage_due_on(self.program, Stage(self.stage), self.stage_entered_at)
        return self


class HistoryEntry(OutModel):
    episode: int
    stage_key: str
    from_stage: str
    to_stage: str | None
    trigger: str
    actor: str
    at: datetime
    outcome: str = "moved"  # or "rejected": a form the lifecycle refused, and why
    error: str | None = None
    # The program's own questions answered with the form, (question, answer in words); those
    # bearing identity only for readers of the client's record (models.stage_questions).
    answered: list[tuple[str, str]] = Field(default_factory=list)


class ScoreReading(BaseModel):
    score: str
    title: str
    value: float
    band: str | None = None


class InstrumentReading(BaseModel):
    """One instrument's part of an assessment, read under the version it was taken with."""

    instrument: str
    title: str
    version: int
    risk: str
    scores: list[ScoreReading] = []
    answers: list[tuple[str, str]] = []  # (the question as asked, the answer as labelled)
    written: list[tuple[str, str]] = []  # (the question, the words): store-only answers


class AssessmentOut(OutModel):
    stage_key: str
    readings: list[InstrumentReading] = []  # each instrument, as its version declared it
    scores: dict[str, int]
    strengths: list[str]
    crisis_flags: list[str]
    risk_level: str
    priority: str
    assessed_by: str
    assessed_at: datetime
    narrative: str | None = None


class GoalOut(OutModel):
    domain: str
    objective: str
    target_date: date
    status: str


class PlanOut(OutModel):
    version: int
    agreed_on: date
    client_participated: bool
    goals: list[GoalOut]


class ReferralOut(OutModel):
    reference: str | None
    service: str
    provider: str | None
    urgency: str
    status: str
    status_at: datetime
    status_reason: str | None = None
    sent_at: datetime | None = None


class ProviderOut(OutModel):
    """A provider as a case manager chooses one (never its token, nor its endpoint)."""

    key: str
    organization: str
    service_name: str
    description: str | None
    eligibility: str | None
    location: str | None
    address: str | None
    phone: str | None
    languages: list[str]
    hours: str | None
    taxonomy: list[str]
    category: str | None
    programs: list[str]
    referral: str  # "electronic", or "by hand" (no electronic referral)
    partner: str | None
    capacity: int | None
    waitlist: bool
    response_days: int | None
    directory: str
    active: bool

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, row: Any) -> Any:
        if isinstance(row, dict):
            return row
        values = {name: getattr(row, name, None) for name in cls.model_fields}
        values["languages"] = [
            lang.get("name") or lang.get("code") for lang in row.languages or [] if lang
        ]
        values["taxonomy"] = [
            " ".join(p for p in (t.get("code"), t.get("name")) if p) for t in row.taxonomy or []
        ]
        values["referral"] = "electronic" if row.endpoint else "by hand"
        return values


class ContactOut(OutModel):
    contact_type: str
    text: str
    author: str
    occurred_at: datetime


class AppointmentOut(OutModel):
    number: str
    kind: str
    at: datetime  # UTC
    local: str = ""  # as the agency reads it: "2026-12-10 14:30 EST"
    with_whom: str
    place: str | None = None
    status: str
    rescheduled_to: str | None = None
    come: bool = False  # its time has come: whether it was kept can be recorded


class EscalationOut(OutModel):
    id: int
    case_number: str
    program: str
    rule: str
    subject: str
    level: int
    threshold: str
    measured: str
    as_of: datetime
    recipient: str
    recipient_role: str
    resolved_at: datetime | None
    delivered_at: datetime | None
    delivery_attempts: int
    delivery_error: str | None


class BenefitOut(OutModel):
    kind: str
    recertify_by: date
    active: bool


class NoticeOut(OutModel):
    """A notice of adverse action and where its appeal stands (coded values and dates)."""

    number: int
    benefit: str
    action: str
    reason: str | None
    notice_date: date
    effective_on: date
    aid_deadline: date | None
    hearing_deadline: date
    hearing_requested_on: date | None
    aid_continuing: bool | None
    declined_on: date | None
    decision: str | None
    decided_on: date | None
    state: str = ""


class WaiverOut(OutModel):
    requirement: str
    expires_on: date
    active: bool


class FollowUpOut(OutModel):
    episode: int
    day: int
    due_on: date
    outcome: str | None
    checked_by: str | None


class OtherCaseOut(OutModel):
    """Another case of the same client: program and stage only in the viewer's programs."""

    case_number: str
    program: str | None
    stage: str | None
    status: str
    open_escalations: int | None
    crisis: bool


class HouseholdMemberOut(BaseModel):
    """A member's stay in a case's household (identity: for those who read it)."""

    client_number: str
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    relationship: str
    joined_on: date
    left_on: date | None


class ApprovalOut(OutModel):
    """A stage form held for a supervisor's approval, or the one returned last at the
    stage the case waits at (models.approvals); the reason only for readers of identity."""

    stage: str
    stage_key: str
    status: str  # requested | returned
    submitted_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    form: dict[str, Any]  # the form as given, coded


class ConsentOut(OutModel):
    """A consent of the case's client (models.consents): coded, its state on the day."""

    number: str
    kind: str
    scope: str
    provider: str
    given_on: date
    expires_on: date | None = None
    signed_at: datetime | None = None
    witness: str | None = None
    signed_attachment: str | None = None
    state: str


class CaseDetail(CaseSummary):
    client: ClientOut
    other_cases: list[OtherCaseOut] = Field(default_factory=list)
    flow_run_id: str | None
    closure_reason: str | None
    history: list[HistoryEntry]
    latest_assessment: AssessmentOut | None
    plan: PlanOut | None
    referrals: list[ReferralOut]
    contacts: list[ContactOut]
    benefits: list[BenefitOut] = Field(default_factory=list)
    notices: list[NoticeOut] = Field(default_factory=list)
    waivers: list[WaiverOut] = Field(default_factory=list)
    follow_ups: list[FollowUpOut] = Field(default_factory=list)
    open_escalations: list[EscalationOut] = Field(default_factory=list)
    narratives: dict[str, str] = Field(default_factory=dict)
    # The program's own intake fields answered: (label, answer), identity-bearing ones too.
    intake_details: list[tuple[str, str]] = Field(default_factory=list)
    appointments: list[AppointmentOut] = Field(default_factory=list)
    household_number: str | None = None
    household: list[HouseholdMemberOut] = Field(default_factory=list)
    approval: ApprovalOut | None = None
    consents: list[ConsentOut] = Field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
