"""Coded values: the only vocabulary that may travel on Prefect surfaces. Every value
here is a code, never client identity or free text."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Stage(StrEnum):
    INTAKE = "intake"
    ASSESSMENT = "assessment"
    PLAN = "plan"
    REFERRAL = "referral"
    MONITORING = "monitoring"
    CLOSURE = "closure"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Trigger(StrEnum):
    """What a submitted form asks the lifecycle to do next."""

    COMPLETE = "complete"
    CONTINUE = "continue"
    REASSESS = "reassess"
    REVISE_PLAN = "revise_plan"
    CLOSE = "close"
    SEND = "send"  # referrals chosen: send them and wait for the partners' answers
    ACCEPTED = "accepted"  # every referral sent was accepted (set by the system)
    REJECTED = "rejected"  # a referral was rejected, failed or cancelled (set by the system)
    RETURNED = "returned"  # a supervisor returned the form for correction (set by the system)


# The monitoring review's decision: the triggers a case manager may choose there.
Decision = Literal[Trigger.CONTINUE, Trigger.REASSESS, Trigger.REVISE_PLAN, Trigger.CLOSE]


class ReassessmentReason(StrEnum):
    """Why an operator sends a case in monitoring back to assessment."""

    OPERATOR_REQUEST = "operator_request"
    CIRCUMSTANCES_CHANGED = "circumstances_changed"
    CRISIS = "crisis"
    SCHEDULED_REVIEW = "scheduled_review"
    ESCALATION = "escalation"


class NewClientReason(StrEnum):
    """Why intake registers a new client although likely matches were found (audited)."""

    DIFFERENT_PERSON = "different_person"  # checked with the client: not the same person
    DIFFERENT_ID = "different_id"  # a document shows a different ID number
    RELATIVE = "relative"  # a twin or relative with a similar name and birth date
    MATCH_UNCONFIRMED = "match_unconfirmed"  # cannot be confirmed now; a supervisor reviews


class TransferReason(StrEnum):
    """Why a case moves to another case manager."""

    STAFF_LEFT = "staff_left"
    CASELOAD_BALANCE = "caseload_balance"
    CLIENT_REQUEST = "client_request"
    CONFLICT_OF_INTEREST = "conflict_of_interest"
    LANGUAGE_MATCH = "language_match"
    SPECIALIST_NEEDED = "specialist_needed"


class HouseholdRelationship(StrEnum):
    """A member's relationship to the head of their household: HMIS Data Standards 3.15
    (RelationshipToHoH), whose numbers and labels `models/hmis.toml` holds."""

    HEAD = "head"
    CHILD = "child"
    SPOUSE_PARTNER = "spouse_partner"
    OTHER_RELATION = "other_relation"
    NON_RELATION = "non_relation"


class Program(StrEnum):
    HOUSING = "housing"
    HEALTHCARE = "healthcare"
    CHILD_WELFARE = "child_welfare"
    SUBSTANCE_USE = "substance_use"
    GERIATRIC = "geriatric"
    CRIMINAL_JUSTICE = "criminal_justice"


class NeedsDomain(StrEnum):
    HOUSING = "housing"
    INCOME_BENEFITS = "income_benefits"
    EMPLOYMENT = "employment"
    PHYSICAL_HEALTH = "physical_health"
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_USE = "substance_use"
    FAMILY_CHILDCARE = "family_childcare"
    FOOD = "food"
    SAFETY = "safety"
    LEGAL = "legal"


class Strength(StrEnum):
    FAMILY_SUPPORT = "family_support"
    PEER_SUPPORT = "peer_support"
    EMPLOYMENT_HISTORY = "employment_history"
    STABLE_INCOME = "stable_income"
    MOTIVATION = "motivation"
    COMMUNITY_TIES = "community_ties"
    FAITH_COMMUNITY = "faith_community"
    EDUCATION = "education"
    HEALTH_INSURANCE = "health_insurance"
    TRANSPORTATION = "transportation"
    PRIOR_SERVICE_SUCCESS = "prior_service_success"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class GoalStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    MET = "met"
    NOT_MET = "not_met"
    DROPPED = "dropped"


# A goal still being worked on.
OPEN_GOALS = (GoalStatus.NOT_STARTED.value, GoalStatus.IN_PROGRESS.value)


class ServiceCategory(StrEnum):
    EMERGENCY_SHELTER = "emergency_shelter"
    HOUSING_SEARCH = "housing_search"
    RENTAL_ASSISTANCE = "rental_assistance"
    BENEFITS_ENROLLMENT = "benefits_enrollment"
    EMPLOYMENT_TRAINING = "employment_training"
    PRIMARY_CARE = "primary_care"
    MENTAL_HEALTH_TREATMENT = "mental_health_treatment"
    SUBSTANCE_USE_TREATMENT = "substance_use_treatment"
    CHILDCARE = "childcare"
    FOOD_ASSISTANCE = "food_assistance"
    LEGAL_AID = "legal_aid"
    DOMESTIC_VIOLENCE_SERVICES = "domestic_violence_services"
    IN_HOME_SUPPORT = "in_home_support"
    REENTRY_SUPPORT = "reentry_support"


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ClosureReason(StrEnum):
    GOALS_MET = "goals_met"
    CLIENT_WITHDREW = "client_withdrew"
    TRANSFERRED = "transferred"
    LOST_CONTACT = "lost_contact"
    MOVED = "moved"
    DECEASED = "deceased"
    OTHER = "other"


class ContactType(StrEnum):
    PHONE = "phone"
    HOME_VISIT = "home_visit"
    OFFICE_VISIT = "office_visit"
    VIDEO = "video"
    COLLATERAL = "collateral"
    ATTEMPTED = "attempted"
    NOTE = "note"
    TEXT_REPLY = "text_reply"  # the client's reply to a message (models.messages)


# What staff record as a contact or note: a client's text reply comes by the reply hook only.
STAFF_CONTACT_TYPES = tuple(t for t in ContactType if t is not ContactType.TEXT_REPLY)


class AppointmentKind(StrEnum):
    OFFICE = "office"
    HOME_VISIT = "home_visit"
    PHONE = "phone"
    VIDEO = "video"
    COURT = "court"
    MEDICAL = "medical"


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    MISSED = "missed"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"


class MessageChannel(StrEnum):
    """How a message reaches a client: by the contact preference `text` or `email`."""

    SMS = "sms"
    EMAIL = "email"


class MessageKind(StrEnum):
    """What a message to a client is for (models.messages): each is a template."""

    APPOINTMENT_TOMORROW = "appointment_tomorrow"
    APPOINTMENT_TODAY = "appointment_today"
    APPOINTMENT_MISSED = "appointment_missed"
    CHECK_IN = "check_in"
    RECERTIFICATION = "recertification"
    AID_DEADLINE = "aid_deadline"


class MessageStatus(StrEnum):
    PENDING = "pending"  # due, not yet delivered (perhaps waiting out quiet hours or a retry)
    SENT = "sent"  # the relay or the SMS provider took it
    FAILED = "failed"  # every attempt failed, or the channel is not configured
    WITHHELD = "withheld"  # consent withdrawn, or the contact detail gone, before it went


class ReplyKeyword(StrEnum):
    """What a client's text reply says, when it is one of the words messages offer."""

    CONFIRM = "confirm"
    CANCEL = "cancel"
    STOP = "stop"


class ContactPreference(StrEnum):
    PHONE = "phone"
    TEXT = "text"
    EMAIL = "email"
    MAIL = "mail"
    IN_PERSON = "in_person"


@dataclass(frozen=True)
class ObjectiveSpec:
    domain: NeedsDomain
    measure: str


class Objective(StrEnum):
    """Measurable objectives, each tied to one needs domain and a stated measure."""

    SECURE_PERMANENT_HOUSING = "secure_permanent_housing"
    MAINTAIN_TENANCY = "maintain_tenancy"
    ENROLL_IN_BENEFITS = "enroll_in_benefits"
    INCREASE_INCOME = "increase_income"
    OBTAIN_EMPLOYMENT = "obtain_employment"
    COMPLETE_JOB_TRAINING = "complete_job_training"
    ESTABLISH_PRIMARY_CARE = "establish_primary_care"
    MANAGE_CHRONIC_CONDITION = "manage_chronic_condition"
    ENGAGE_MENTAL_HEALTH_CARE = "engage_mental_health_care"
    ENTER_SUBSTANCE_USE_TREATMENT = "enter_substance_use_treatment"
    MAINTAIN_RECOVERY = "maintain_recovery"
    SECURE_CHILDCARE = "secure_childcare"
    FAMILY_REUNIFICATION = "family_reunification"
    FOOD_SECURITY = "food_security"
    SAFETY_PLAN_IN_PLACE = "safety_plan_in_place"
    RESOLVE_LEGAL_MATTER = "resolve_legal_matter"

    @property
    def spec(self) -> ObjectiveSpec:
        return OBJECTIVES[self]


OBJECTIVES: dict[Objective, ObjectiveSpec] = {
    Objective.SECURE_PERMANENT_HOUSING: ObjectiveSpec(
        NeedsDomain.HOUSING, "lease signed and moved in"
    ),
    Objective.MAINTAIN_TENANCY: ObjectiveSpec(
        NeedsDomain.HOUSING, "no arrears or eviction notice for 90 days"
    ),
    Objective.ENROLL_IN_BENEFITS: ObjectiveSpec(
        NeedsDomain.INCOME_BENEFITS, "eligibility decision received"
    ),
    Objective.INCREASE_INCOME: ObjectiveSpec(
        NeedsDomain.INCOME_BENEFITS, "monthly income above program threshold"
    ),
    Objective.OBTAIN_EMPLOYMENT: ObjectiveSpec(NeedsDomain.EMPLOYMENT, "30 days in a paid job"),
    Objective.COMPLETE_JOB_TRAINING: ObjectiveSpec(
        NeedsDomain.EMPLOYMENT, "training certificate obtained"
    ),
    Objective.ESTABLISH_PRIMARY_CARE: ObjectiveSpec(
        NeedsDomain.PHYSICAL_HEALTH, "first primary-care visit attended"
    ),
    Objective.MANAGE_CHRONIC_CONDITION: ObjectiveSpec(
        NeedsDomain.PHYSICAL_HEALTH, "3 follow-up visits kept"
    ),
    Objective.ENGAGE_MENTAL_HEALTH_CARE: ObjectiveSpec(
        NeedsDomain.MENTAL_HEALTH, "4 sessions attended"
    ),
    Objective.ENTER_SUBSTANCE_USE_TREATMENT: ObjectiveSpec(
        NeedsDomain.SUBSTANCE_USE, "admitted to treatment"
    ),
    Objective.MAINTAIN_RECOVERY: ObjectiveSpec(NeedsDomain.SUBSTANCE_USE, "90 days in recovery"),
    Objective.SECURE_CHILDCARE: ObjectiveSpec(
        NeedsDomain.FAMILY_CHILDCARE, "childcare place confirmed"
    ),
    Objective.FAMILY_REUNIFICATION: ObjectiveSpec(
        NeedsDomain.FAMILY_CHILDCARE, "court-approved reunification"
    ),
    Objective.FOOD_SECURITY: ObjectiveSpec(NeedsDomain.FOOD, "SNAP or pantry access for 60 days"),
    Objective.SAFETY_PLAN_IN_PLACE: ObjectiveSpec(
        NeedsDomain.SAFETY, "written safety plan reviewed with client"
    ),
    Objective.RESOLVE_LEGAL_MATTER: ObjectiveSpec(
        NeedsDomain.LEGAL, "matter closed or hearing attended"
    ),
}


# Contacts with the client themselves: these reset the contact clock. A note, an attempted
# contact or a call with someone else about the client (collateral) do not.
CLIENT_CONTACTS = frozenset(
    {
        ContactType.PHONE,
        ContactType.HOME_VISIT,
        ContactType.OFFICE_VISIT,
        ContactType.VIDEO,
        ContactType.TEXT_REPLY,
    }
)


class EscalationRule(StrEnum):
    """Why a case was escalated (or its case manager warned). Coded; rides on events."""

    STAGE_OVERDUE = "stage_overdue"
    NO_CONTACT = "no_contact"
    REFERRAL_UNANSWERED = "referral_unanswered"
    REFERRAL_FAILED = "referral_failed"
    GOAL_OVERDUE = "goal_overdue"
    CRISIS = "crisis"
    BENEFIT_RECERTIFICATION_DUE = "benefit_recertification_due"
    BENEFIT_LAPSED = "benefit_lapsed"
    WAIVER_EXPIRING = "waiver_expiring"
    WAIVER_EXPIRED = "waiver_expired"
    FOLLOW_UP_DUE = "follow_up_due"
    FOLLOW_UP_FAILED = "follow_up_failed"
    ADVERSE_NOTICE = "adverse_notice"
    APPOINTMENT_UNRECORDED = "appointment_unrecorded"
    APPOINTMENT_MISSED = "appointment_missed"
    APPROVAL_OVERDUE = "approval_overdue"  # a form has waited past its program's approval_days
    CONSENT_EXPIRING = "consent_expiring"  # a warning: a consent to share ends soon
    RETENTION_APPROVAL = "retention_approval"  # a retention batch waits for its approval


class ConsentKind(StrEnum):
    """What a client's consent is (models.consents): to share their details with a partner
    for a referral, or a release of information the partner asked for."""

    CONSENT_TO_SHARE = "consent_to_share"
    RELEASE_OF_INFORMATION = "release_of_information"


class ConsentScope(StrEnum):
    """What a consent lets the agency share."""

    REFERRAL_DETAILS = "referral_details"
    CASE_RECORD = "case_record"
    HEALTH_INFORMATION = "health_information"
    INCOME_RECORDS = "income_records"


class AttachmentKind(StrEnum):
    """What a file attached to a case is (models.attachments)."""

    ID_DOCUMENT = "id_document"
    INCOME_PROOF = "income_proof"
    SIGNED_CONSENT = "signed_consent"
    CORRESPONDENCE = "correspondence"
    OTHER = "other"


class ApprovalStatus(StrEnum):
    """Where a form held for a supervisor's approval stands (models.approvals)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    RETURNED = "returned"
    SUPERSEDED = "superseded"  # the case moved on undecided (a reassessment asked for)


# The stages whose form a program may hold for a supervisor's approval.
APPROVABLE = ("assessment", "plan", "closure")


class Watch(StrEnum):
    """The scheduled sweeps: each reads the store in bulk for its own rules."""

    STALLED_CASES = "stalled-cases"
    BENEFITS = "benefits"
    FOLLOW_UPS = "follow-ups"
    REASSESSMENTS = "reassessments"
    MESSAGES = "messages"


class StaffRole(StrEnum):
    """A staff member's role on the roster: what they may read and do (docs/operators.md,
    "Who may do what"); on PostgreSQL, the group role their database role belongs to."""

    CASE_MANAGER = "case_manager"
    SUPERVISOR = "supervisor"
    PROGRAM_MANAGER = "program_manager"
    OPERATOR = "operator"
    ADMIN = "admin"


class RecipientRole(StrEnum):
    """Who an escalation level notifies: level 0 is an advance warning."""

    CASE_MANAGER = "case_manager"
    SUPERVISOR = "supervisor"
    PROGRAM_MANAGER = "program_manager"


LEVEL_ROLES = {
    0: RecipientRole.CASE_MANAGER,
    1: RecipientRole.CASE_MANAGER,
    2: RecipientRole.SUPERVISOR,
    3: RecipientRole.PROGRAM_MANAGER,
}
TOP_LEVEL = 3


class BenefitKind(StrEnum):
    SNAP = "snap"
    MEDICAID = "medicaid"
    MEDICARE_SAVINGS = "medicare_savings"
    CASH_ASSISTANCE = "cash_assistance"
    SSI = "ssi"
    WIC = "wic"
    CHILDCARE_SUBSIDY = "childcare_subsidy"
    HOUSING_VOUCHER = "housing_voucher"
    ENERGY_ASSISTANCE = "energy_assistance"
    UNEMPLOYMENT = "unemployment"


class NoticeAction(StrEnum):
    """What a notice of adverse action does to a benefit."""

    REDUCE = "reduce"
    DISCONTINUE = "discontinue"
    DENY = "deny"


class NoticeReason(StrEnum):
    """The agency's stated reason for an adverse action, as a code (its words stay on paper)."""

    INCOME_OVER_LIMIT = "income_over_limit"
    MISSING_VERIFICATION = "missing_verification"
    RECERTIFICATION_INCOMPLETE = "recertification_incomplete"
    HOUSEHOLD_CHANGE = "household_change"
    WORK_REQUIREMENT = "work_requirement"
    SANCTION = "sanction"
    RESOURCES_OVER_LIMIT = "resources_over_limit"
    NOT_ELIGIBLE = "not_eligible"
    OTHER_REASON = "other_reason"


class HearingDecision(StrEnum):
    """How a notice ended at (or before) a fair hearing: `withdrawn` is the agency taking
    its notice back."""

    UPHELD = "upheld"
    REVERSED = "reversed"
    WITHDRAWN = "withdrawn"


class WaiverRequirement(StrEnum):
    """Program requirements a client may be excused from, for a time."""

    HOMELESS = "homeless"
    DOMESTIC_VIOLENCE = "domestic_violence"
    SUBSTANCE_USE = "substance_use"


class FollowUpOutcome(StrEnum):
    STABLE = "stable"
    NEEDS_HELP = "needs_help"
    UNREACHABLE = "unreachable"


class ReferralStatus(StrEnum):
    """FHIR Task statuses, as used for closed-loop social-care referrals."""

    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    FAILED = "failed"


# Still waiting on the partner; taken up by the partner; over without the service.
REFERRAL_WAITING = frozenset(
    {ReferralStatus.REQUESTED, ReferralStatus.RECEIVED, ReferralStatus.ON_HOLD}
)
REFERRAL_TAKEN = frozenset(
    {ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED}
)
REFERRAL_REFUSED = frozenset(
    {ReferralStatus.REJECTED, ReferralStatus.FAILED, ReferralStatus.CANCELLED}
)


class HoldReason(StrEnum):
    """Why a legal hold stops retention for a client or a case (models.record_retention)."""

    LITIGATION = "litigation"
    INVESTIGATION = "investigation"
    AUDIT = "audit"
    APPEAL = "appeal"
    RECORDS_REQUEST = "records_request"


class ErasureReason(StrEnum):
    """Why a client's records are masked at once, on request."""

    CLIENT_REQUEST = "client_request"
    COURT_ORDER = "court_order"
    ENTERED_IN_ERROR = "entered_in_error"


class RetentionScope(StrEnum):
    """What a retention item masks: a case's records, or a client's identity."""

    RECORDS = "records"
    IDENTITY = "identity"


class BatchStatus(StrEnum):
    """A retention batch: waiting for approval, then applied or refused."""

    WAITING = "waiting"
    APPROVED = "approved"
    REFUSED = "refused"
    APPLIED = "applied"


class RetentionRefusal(StrEnum):
    """Why a supervisor or an admin refused a retention batch."""

    HOLD_PENDING = "hold_pending"  # a legal hold is about to be placed
    NOT_DUE = "not_due"  # the schedule or a closure date is wrong
    REVIEW_NEEDED = "review_needed"  # the records need a look first
