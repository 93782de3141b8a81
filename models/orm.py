"""ORM tables of the case store. Client identity lives in `clients` and in narrative
columns only; everything else is coded."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, relationship

from casework.core.errors import CaseworkError
from casework.models.base import Base, utcnow

CODE = String(40)


class Client(Base):
    __tablename__ = "clients"

    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date]
    id_number: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(20), default="en")
    contact_preference: Mapped[str] = mapped_column(CODE)
    client_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    # Merged into another client (`casework merge`): kept, with its identity, for the record.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    # When retention masked the identity (models.record_retention): names, birth day, ID.
    identity_masked_at: Mapped[datetime | None]


class ClientMatch(Base):
    """A client's identity as duplicate detection compares it (models.matching): folded
    names, date of birth, phone digits, ID number. Identity: the clients table's rules."""

    __tablename__ = "client_match"

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), unique=True)
    given: Mapped[str] = mapped_column(String(100))
    family: Mapped[str] = mapped_column(String(100))
    born: Mapped[date]
    phone: Mapped[str | None] = mapped_column(String(10))
    id_number: Mapped[str | None] = mapped_column(String(40))
    # The metaphone of each word and whole of the folded names (Identity.sounds), so the
    # database scores a pair as Python does (migration 0011).
    sounds: Mapped[dict[str, str] | None] = mapped_column(JSON)


class ClientKey(Base):
    """One blocking key of a client (models.matching.Identity.keys): intake scores only the
    clients sharing a key with the person at the desk."""

    __tablename__ = "client_keys"
    __table_args__ = (UniqueConstraint("key", "client_id"),)

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    key: Mapped[str] = mapped_column(String(120))


class Household(Base):
    """Clients who live together, as HMIS counts them: a head and the members related to
    the head (HMIS 3.15). Numbered HH-000001; its members, past and present, in
    `household_members`."""

    __tablename__ = "households"

    household_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    created_by: Mapped[str] = mapped_column(CODE)


class HouseholdMember(Base):
    """One client's membership of one household, from the day they joined to the day they
    left (empty while they are a member): a move ends one row and starts another, so the
    history is kept. A client is a current member of one household at most."""

    __tablename__ = "household_members"
    __table_args__ = (
        Index(None, "household_id"),
        # A client's stays, current or past: what PostgreSQL's row-level check of a client
        # row asks of every client read.
        Index(None, "client_id"),
        Index(
            "uq_household_members_current",
            "client_id",
            unique=True,
            postgresql_where=text("left_on IS NULL"),
            sqlite_where=text("left_on IS NULL"),
        ),
    )

    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    relationship: Mapped[str] = mapped_column(CODE)  # HouseholdRelationship
    joined_on: Mapped[date]
    left_on: Mapped[date | None]
    recorded_by: Mapped[str] = mapped_column(CODE)
    left_recorded_by: Mapped[str | None] = mapped_column(CODE)
    # Whether they were 18 or over the day they joined (coded; what HUD's counts group
    # households by, without a date of birth). Empty only where no one could tell.
    adult_at_start: Mapped[bool | None]


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index(None, "status", "stage", "program", "stage_entered_at"),
        Index(None, "program", "stage"),
        # A case manager's open cases, at a stage: without statistics (SQLite keeps none
        # unless asked) the planner otherwise took the stage's index, 55,000 rows deep.
        Index(None, "case_manager", "status", "stage"),
        # A client's cases: what PostgreSQL's row-level check of a client row asks.
        Index(None, "client_id"),
        Index(None, "crisis_since"),
        # What `casework up` looks for every few seconds: few rows, found by index.
        Index(None, "announce_pending"),
        Index(None, "reassess_key"),
        # A household's cases: what PostgreSQL's row-level check of a household asks.
        Index(None, "household_id"),
        # One open case per client and program, whatever races intake.
        Index(
            "uq_cases_one_open_per_client_program",
            "client_id",
            "program",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    case_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    program: Mapped[str] = mapped_column(CODE)
    case_manager: Mapped[str] = mapped_column(CODE)
    status: Mapped[str] = mapped_column(CODE)
    episode: Mapped[int] = mapped_column(default=1)
    stage: Mapped[str] = mapped_column(CODE)
    stage_sequence: Mapped[int] = mapped_column(default=1)
    stage_attempt: Mapped[int] = mapped_column(default=0)
    stage_key: Mapped[str] = mapped_column(CODE)
    stage_entered_at: Mapped[datetime]
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Whether the client was 18 or over the day the case opened (as household_members').
    adult_at_start: Mapped[bool | None]
    # Kept up to date by the store functions so the sweeps can read the caseload in bulk:
    # the last contact with the client, the last assessment, and an open crisis flag.
    last_contact_at: Mapped[datetime]
    last_assessed_at: Mapped[datetime | None]
    crisis_since: Mapped[datetime | None]
    # Set while the case waits on partner agencies: the stage key its referrals were sent at.
    waiting_on: Mapped[str | None] = mapped_column(CODE)
    # A reassessment asked for at this stage key (CLI, run form or cadence): the case's run
    # records the move back to assessment when it wakes, as `reassess_by`.
    reassess_key: Mapped[str | None] = mapped_column(CODE)
    reassess_reason: Mapped[str | None] = mapped_column(CODE)
    reassess_by: Mapped[str | None] = mapped_column(CODE)
    # Transferred, and not yet told to Prefect (its run's tag, the transferred event): the
    # case's last `case_transferred` audit row says what to tell.
    announce_pending: Mapped[bool] = mapped_column(default=False)
    # A household case: it covers the members of this household (its client the head).
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    # When retention masked the case's free text and deleted its files.
    records_masked_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship()


class Episode(Base):
    """One run of the lifecycle for a case: the first intake, or a reopening."""

    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("case_id", "number"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    number: Mapped[int]
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closure_reason: Mapped[str | None] = mapped_column(CODE)
    follow_up_consent: Mapped[bool | None]


class StageRecord:
    """Rows written for one stage key of one case episode: at most one per key, so a
    replayed or retried run cannot write the same stage twice."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("case_id", "episode", "stage_key"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    episode: Mapped[int]
    stage_key: Mapped[str] = mapped_column(CODE)


class StageEvent(StageRecord, Base):
    """One fired stage key: the move it made, or why it was refused. History is the moves."""

    __tablename__ = "stage_events"
    from_stage: Mapped[str] = mapped_column(CODE)
    to_stage: Mapped[str | None] = mapped_column(CODE)
    trigger: Mapped[str] = mapped_column(CODE)
    outcome: Mapped[str] = mapped_column(CODE)  # moved | rejected
    error: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str] = mapped_column(CODE)
    at: Mapped[datetime]
    # The program's own coded questions, as answered with the form that made the move
    # (models.stage_questions); NULL when it asked none.
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class Attachment(Base):
    """A file kept with a case (models.attachments): a scan of an ID, proof of income, a
    signed release, a letter. Its content is sealed (casework.core.vault) before it is
    written here; its name as given and its note bear identity, read (with the content)
    only by those who read the client's record (on PostgreSQL by column grant). Its kind,
    type, size and whether it was scanned are coded."""

    __tablename__ = "attachments"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(CODE)
    media_type: Mapped[str] = mapped_column(CODE)
    size: Mapped[int]
    scanned: Mapped[str] = mapped_column(CODE)  # clean | not_scanned
    file_name: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(CODE)
    uploaded_at: Mapped[datetime]


class Approval(Base):
    """A stage form held for a supervisor's approval (models.approvals): the form as the
    run was given it (coded, as the run's input is), who gave it, and what became of it.
    The reason a form was returned is a supervisor's words about the client's case: read
    only by those who read the client's record (on PostgreSQL by column grant)."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("case_id", "episode", "stage_key"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    episode: Mapped[int]
    stage: Mapped[str] = mapped_column(CODE)
    stage_key: Mapped[str] = mapped_column(CODE)  # where the form was given
    wait_key: Mapped[str] = mapped_column(CODE)  # where the run waits for the decision
    form: Mapped[dict[str, Any]]
    form_version: Mapped[int]
    submitted_by: Mapped[str] = mapped_column(CODE)
    handed_by: Mapped[str | None] = mapped_column(CODE)  # who signed in and handed it over
    requested_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(CODE, index=True)  # requested | approved | returned
    decided_by: Mapped[str | None] = mapped_column(CODE)
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)


class Assessment(StageRecord, Base):
    __tablename__ = "assessments"
    scores: Mapped[dict[str, Any]]  # needs domain -> the scale item's 1-5 (the matrix's)
    strengths: Mapped[list[str]]
    crisis_flags: Mapped[list[str]]
    crisis_domains: Mapped[list[str]]  # domains the instruments put in crisis
    # instrument id -> {version, answers (codes and numbers), scores, bands, risk, ...}
    instruments: Mapped[dict[str, Any]]
    risk_level: Mapped[str] = mapped_column(CODE)
    priority: Mapped[str] = mapped_column(String(4))
    client_participated: Mapped[bool]
    assessed_by: Mapped[str] = mapped_column(CODE)
    assessed_at: Mapped[datetime]


class IntakeDetails(Base):
    """A case's answers to its program's own intake fields: the coded ones, and those that
    bear identity (read only by the roles that read identity; on PostgreSQL by grant)."""

    __tablename__ = "intake_details"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    coded: Mapped[dict[str, Any]]
    identity: Mapped[dict[str, Any]]
    recorded_by: Mapped[str] = mapped_column(CODE)
    recorded_at: Mapped[datetime]


class MemberAnswers(Base):
    """A household member's answers to HMIS's project-start questions in a case of a
    HUD-funded program (models.hmis), as `intake_details` keeps the case's client's: the
    coded ones, and those that bear identity (read only by the roles that read identity;
    on PostgreSQL by grant). One row per member per case; a later recording replaces it."""

    __tablename__ = "member_answers"
    __table_args__ = (UniqueConstraint("case_id", "client_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    coded: Mapped[dict[str, Any]]
    identity: Mapped[dict[str, Any]]
    recorded_by: Mapped[str] = mapped_column(CODE)
    recorded_at: Mapped[datetime]


class InstrumentVersion(Base):
    """An instrument's declaration as it was when a version of it was first used: the
    assessments taken with that version read back under it. Coded: no client's data."""

    __tablename__ = "instrument_versions"
    __table_args__ = (UniqueConstraint("instrument", "version"),)
    instrument: Mapped[str] = mapped_column(CODE)
    version: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(32))
    declaration: Mapped[dict[str, Any]]
    first_used: Mapped[datetime]


class CarePlan(StageRecord, Base):
    __tablename__ = "care_plans"
    version: Mapped[int]
    current: Mapped[bool] = mapped_column(default=True)  # the latest version of the case
    client_participated: Mapped[bool]
    agreed_on: Mapped[date]
    created_by: Mapped[str] = mapped_column(CODE)

    goals: Mapped[list[PlanGoal]] = relationship(order_by="PlanGoal.id", lazy="selectin")


class PlanGoal(Base):
    __tablename__ = "plan_goals"
    __table_args__ = (
        UniqueConstraint("plan_id", "objective"),
        Index(None, "status", "target_date"),
    )

    plan_id: Mapped[int] = mapped_column(ForeignKey("care_plans.id"), index=True)
    domain: Mapped[str] = mapped_column(CODE)
    objective: Mapped[str] = mapped_column(CODE)
    target_date: Mapped[date]
    status: Mapped[str] = mapped_column(CODE)
    status_changed_at: Mapped[datetime]


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("case_id", "episode", "stage_key", "position"),
        Index(None, "status", "status_at"),
    )

    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    episode: Mapped[int]
    stage_key: Mapped[str] = mapped_column(CODE)
    position: Mapped[int]
    service: Mapped[str] = mapped_column(CODE)
    provider: Mapped[str | None] = mapped_column(String(64))
    urgency: Mapped[str] = mapped_column(CODE)
    reason: Mapped[str | None] = mapped_column(CODE)  # the need behind it (coded)
    status: Mapped[str] = mapped_column(CODE)
    status_at: Mapped[datetime]
    status_reason: Mapped[str | None] = mapped_column(String(300))  # the partner's words
    sent_at: Mapped[datetime | None]


class ReferralEvent(Base):
    """Every status a referral took, when, and who said so (partner, operator, system)."""

    __tablename__ = "referral_events"
    __table_args__ = (Index(None, "referral_id", "at"),)

    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"))
    status: Mapped[str] = mapped_column(CODE)
    reason: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(CODE)
    at: Mapped[datetime]


class Provider(Base):
    """A service from an Open Referral (HSDS) directory, with its referral settings: from
    a partners file or the service's own `x-casework`; none for a directory-only service
    (no electronic referral: made and tracked by hand)."""

    __tablename__ = "providers"

    key: Mapped[str] = mapped_column(String(64), unique=True)  # the HSDS service id
    organization: Mapped[str] = mapped_column(String(200))
    service_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    eligibility: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))  # city, state
    address: Mapped[str | None] = mapped_column(String(300))
    postal_codes: Mapped[list[str]] = mapped_column(default=list)
    phone: Mapped[str | None] = mapped_column(String(300))
    languages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    hours: Mapped[str | None] = mapped_column(String(300))
    taxonomy: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    search_text: Mapped[str | None] = mapped_column(Text)
    directory: Mapped[str] = mapped_column(CODE, default="main", index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Referral settings: a partners file's entry (`partner` names it) or "x-casework".
    partner: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(CODE, index=True)
    programs: Mapped[list[str]] = mapped_column(default=list)
    capacity: Mapped[int | None]
    waitlist: Mapped[bool] = mapped_column(default=False)
    endpoint: Mapped[str | None] = mapped_column(String(300))  # none: no electronic referral
    token_ref: Mapped[str | None] = mapped_column(String(64))  # its name in partner-tokens.json
    response_days: Mapped[int | None]  # none: the program's window


class Consent(Base):
    """The client's consent to share their referral details with a provider ("*": any)."""

    __tablename__ = "consents"
    __table_args__ = (Index(None, "client_id", "provider"),)

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    provider: Mapped[str] = mapped_column(String(64))
    given_on: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(CODE)
    withdrawn_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(CODE, default="consent_to_share")
    scope: Mapped[str] = mapped_column(CODE, default="referral_details")
    expires_on: Mapped[date | None]  # None: until withdrawn
    # Signed: the signed document (an attachment of kind signed_consent: signed on the desk
    # and printed there, or a signed scan), when, how, and the staff member who witnessed it.
    signed_at: Mapped[datetime | None]
    signed_how: Mapped[str | None] = mapped_column(CODE)  # desk | scan
    witness: Mapped[str | None] = mapped_column(CODE)
    signed_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))


class Contact(Base):
    """A contact or progress note: free text, store only, never on a Prefect surface."""

    __tablename__ = "contacts"
    __table_args__ = (Index(None, "case_id", "occurred_at"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    episode: Mapped[int]
    contact_type: Mapped[str] = mapped_column(CODE)
    text: Mapped[str] = mapped_column(Text)
    crisis: Mapped[bool] = mapped_column(default=False)
    author: Mapped[str] = mapped_column(CODE)
    occurred_at: Mapped[datetime]


class Narrative(StageRecord, Base):
    """Free text that belongs to one stage submission (assessment narrative, closure summary;
    empty when only written answers were given), and its instruments' written answers."""

    __tablename__ = "narratives"
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(CODE)
    # instrument -> item -> the words; NULL (not JSON null) when none were given
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class Appointment(Base):
    """An appointment or visit of a case (models.appointments): its kind, time (UTC) and
    what became of it are coded; whom the client sees and where bear identity (read only
    by those who read the client's record; on PostgreSQL by column grant)."""

    __tablename__ = "appointments"
    __table_args__ = (Index(None, "status", "at"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    episode: Mapped[int]
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(CODE)
    at: Mapped[datetime]
    with_whom: Mapped[str] = mapped_column(String(200))
    place: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(CODE)
    rescheduled_to: Mapped[str | None] = mapped_column(String(20))
    booked_by: Mapped[str] = mapped_column(CODE)
    outcome_by: Mapped[str | None] = mapped_column(CODE)
    outcome_at: Mapped[datetime | None]
    # The client confirmed it by replying to a reminder (models.messages).
    confirmed_at: Mapped[datetime | None]


class ContactConsent(Base):
    """A client's consent to be messaged on one channel (sms, email): given on a day,
    withdrawn at a moment (by staff, or by the client's STOP). One row per grant; the
    latest row of a client and channel is what holds. Coded and dated only."""

    __tablename__ = "contact_consents"
    __table_args__ = (Index(None, "client_id", "channel"),)

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    channel: Mapped[str] = mapped_column(CODE)
    given_on: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(CODE)
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(CODE)  # a staff id, or `client`


class Message(Base):
    """A message to a client (models.messages): what it is for, about what (coded), on
    which channel and in which language, and what became of it. Its words are rendered from
    the store when it is sent and kept nowhere; the address is the client's, read then."""

    __tablename__ = "messages"
    __table_args__ = (Index(None, "status", "next_attempt_at"), Index(None, "case_id"))

    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)  # what makes it once only
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    episode: Mapped[int]
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    kind: Mapped[str] = mapped_column(CODE)
    subject: Mapped[str] = mapped_column(CODE)  # APT-…, a benefit kind, a notice's number
    channel: Mapped[str] = mapped_column(CODE)
    language: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(CODE)
    due_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(200))  # why the last attempt failed


class Benefit(Base):
    """A public benefit the client receives, with the date it must be recertified by."""

    __tablename__ = "benefits"
    __table_args__ = (UniqueConstraint("case_id", "kind"), Index(None, "active", "recertify_by"))

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(CODE)
    recertify_by: Mapped[date]
    active: Mapped[bool] = mapped_column(default=True)
    recorded_by: Mapped[str] = mapped_column(CODE)


class AdverseNotice(Base):
    """A notice that a benefit will be reduced, discontinued or denied, with the deadlines
    that decide the client's appeal (models/notices.py), and what became of it. Coded
    values and dates only: the notice's own words stay on paper."""

    __tablename__ = "adverse_notices"
    __table_args__ = (UniqueConstraint("case_id", "number"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    episode: Mapped[int]
    number: Mapped[int]  # the case's notice 1, 2, ...
    benefit: Mapped[str] = mapped_column(CODE)
    action: Mapped[str] = mapped_column(CODE)
    reason: Mapped[str | None] = mapped_column(CODE)
    notice_date: Mapped[date]
    effective_on: Mapped[date]
    aid_deadline: Mapped[date | None]  # None: no aid continues pending a hearing
    hearing_deadline: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(CODE)
    hearing_requested_on: Mapped[date | None]
    aid_continuing: Mapped[bool | None]
    declined_on: Mapped[date | None]  # the client decided not to appeal
    decision: Mapped[str | None] = mapped_column(CODE)
    decided_on: Mapped[date | None]

    @hybrid_property
    def awaiting(self) -> bool:
        """No hearing requested, no decision, no decision not to appeal: on the ladder."""
        return (
            self.hearing_requested_on is None and self.declined_on is None and self.decision is None
        )

    @awaiting.inplace.expression
    @classmethod
    def _awaiting(cls) -> ColumnElement[bool]:
        return and_(
            cls.hearing_requested_on.is_(None), cls.declined_on.is_(None), cls.decision.is_(None)
        )


class Waiver(Base):
    """A program requirement the client is excused from until `expires_on`."""

    __tablename__ = "waivers"
    __table_args__ = (
        UniqueConstraint("case_id", "requirement"),
        Index(None, "active", "expires_on"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    requirement: Mapped[str] = mapped_column(CODE)
    expires_on: Mapped[date]
    active: Mapped[bool] = mapped_column(default=True)
    granted_by: Mapped[str] = mapped_column(CODE)


class FollowUp(Base):
    """A post-closure check (30 and 90 days after closing, with the client's consent)."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        UniqueConstraint("case_id", "episode", "day"),
        Index(None, "outcome", "due_on"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    episode: Mapped[int]
    day: Mapped[int]
    due_on: Mapped[date]
    outcome: Mapped[str | None] = mapped_column(CODE)
    housing_kept: Mapped[bool | None]
    benefits_continuing: Mapped[bool | None]
    checked_by: Mapped[str | None] = mapped_column(CODE)
    checked_at: Mapped[datetime | None]


class Escalation(Base):
    """One rung of the escalation ladder for one breach (level 0: an advance warning).
    Never written twice: unique per case, rule, breached subject and level."""

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("case_id", "rule", "subject", "level"),
        Index(None, "resolved_at", "rule"),
        Index(None, "delivered_at"),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    case_number: Mapped[str] = mapped_column(String(20))
    program: Mapped[str] = mapped_column(CODE)
    rule: Mapped[str] = mapped_column(CODE)
    subject: Mapped[str] = mapped_column(String(80))  # what breached: a stage key, REF-…, a date
    level: Mapped[int]
    threshold: Mapped[str] = mapped_column(String(80))
    measured: Mapped[str] = mapped_column(String(80))
    as_of: Mapped[datetime]
    recipient: Mapped[str] = mapped_column(CODE)
    recipient_role: Mapped[str] = mapped_column(CODE)
    resolved_at: Mapped[datetime | None]
    # Delivery (outbox): the Prefect event and the program's webhook, retried until done.
    event_emitted_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    delivery_attempts: Mapped[int] = mapped_column(default=0)
    delivery_error: Mapped[str | None] = mapped_column(String(200))
    # A sweep delivering this row holds it until then: a concurrent sweep skips it.
    claimed_until: Mapped[datetime | None]


class LegalHold(Base):
    """A legal hold (`casework hold`): while it stands, retention masks nothing of its
    client (or case), and erasure is refused."""

    __tablename__ = "legal_holds"

    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    reason: Mapped[str] = mapped_column(CODE)
    placed_by: Mapped[str] = mapped_column(CODE)
    placed_at: Mapped[datetime]
    lifted_by: Mapped[str | None] = mapped_column(CODE)
    lifted_at: Mapped[datetime | None]


class RetentionBatch(Base):
    """What one retention run (or one erasure request) would mask, held for approval: a
    supervisor's or an admin's decision is written here first; the run, woken, applies it."""

    __tablename__ = "retention_batches"

    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(CODE)  # schedule | erasure
    reason: Mapped[str | None] = mapped_column(CODE)  # an erasure's
    as_of: Mapped[datetime]
    status: Mapped[str] = mapped_column(CODE, index=True)
    requested_by: Mapped[str] = mapped_column(CODE)
    requested_at: Mapped[datetime]
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    decided_by: Mapped[str | None] = mapped_column(CODE)
    decided_at: Mapped[datetime | None]
    refusal: Mapped[str | None] = mapped_column(CODE)
    applied_at: Mapped[datetime | None]


class RetentionItem(Base):
    """One thing a batch masks: a case's records, or a client's identity (case_id empty),
    under the rule that made it due (`program.records_years=7`: coded)."""

    __tablename__ = "retention_items"

    batch_id: Mapped[int] = mapped_column(ForeignKey("retention_batches.id"), index=True)
    scope: Mapped[str] = mapped_column(CODE)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    rule: Mapped[str] = mapped_column(String(80))
    # Every program it touches (an identity: every program of the client's cases), comma-
    # separated: whose supervisor may decide it, read by anyone who sees the batch.
    programs: Mapped[str] = mapped_column(String(200))


class Document(Base):
    """A rendered case document, kept with the case: where the file is and its hash."""

    __tablename__ = "documents"
    __table_args__ = (Index(None, "case_id", "kind"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(CODE)
    format: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(CODE)


class AuditEvent(Base):
    """Append-only: who did what to which case, when. Details are coded."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "case_id", "at"),)

    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    episode: Mapped[int | None]
    actor: Mapped[str] = mapped_column(CODE)
    action: Mapped[str] = mapped_column(CODE)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditIsAppendOnly(CaseworkError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_audit_rewrites(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, (AuditEvent, AccessEntry)) and (
            obj in session.deleted or session.is_modified(obj)
        ):
            raise AuditIsAppendOnly("audit events and access entries cannot be changed or deleted")


class StaffRecord(Base):
    """A staff member added with `casework staff add`: on PostgreSQL, a database role of the
    same name; on SQLite, the OS login it is mapped to. With the roster file, the roster."""

    __tablename__ = "staff"

    staff_id: Mapped[str] = mapped_column(CODE, unique=True)
    role: Mapped[str] = mapped_column(CODE)
    # One OS login may act as several staff ids (one person in several roles on a small
    # agency's machine); CASEWORK_ACTOR picks among them.
    login: Mapped[str | None] = mapped_column(String(64), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    added_by: Mapped[str] = mapped_column(CODE)


class StaffProgram(Base):
    """One program a staff member works: what PostgreSQL's row-level policies read."""

    __tablename__ = "staff_programs"
    __table_args__ = (UniqueConstraint("staff_id", "program"),)

    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.staff_id"))
    program: Mapped[str] = mapped_column(CODE)


class AccessEntry(Base):
    """Append-only: who read a client's identity, narrative or document, when, and how."""

    __tablename__ = "access_log"
    __table_args__ = (Index(None, "case_id", "at"), Index(None, "staff", "at"))

    staff: Mapped[str] = mapped_column(String(63))
    # No case: a sign-in, a sign-out, a refused password, a search (the desk's).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    what: Mapped[str] = mapped_column(CODE)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffPassword(Base):
    """A staff member's desk password, as an argon2id hash, and the failures that lock it.
    On PostgreSQL the staff member's database role has the same password (SCRAM, PostgreSQL's
    own hash), so the desk signs in to the store as them with what they typed."""

    __tablename__ = "staff_passwords"

    staff_id: Mapped[str] = mapped_column(CODE, unique=True)
    hash: Mapped[str] = mapped_column(String(200))
    set_by: Mapped[str] = mapped_column(CODE)
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by someone else (an admin, the demo): the staff member is asked for a new one.
    temporary: Mapped[bool] = mapped_column(default=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]


class ChangeLog(Base):
    """Append-only, written by the database (PostgreSQL triggers): one insert, update or
    delete of a case, client, referral, notice or escalation row, the columns it changed
    (names, never values) and the role signed in, whatever client made the change."""

    __tablename__ = "change_log"
    __table_args__ = (Index(None, "case_id", "at"), Index(None, "table_name", "row_id"))

    table_name: Mapped[str] = mapped_column(String(40))
    row_id: Mapped[int]
    case_id: Mapped[int | None]
    operation: Mapped[str] = mapped_column(String(10))
    columns: Mapped[list[str]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime] = mapped_column(default=utcnow)
