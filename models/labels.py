"""Human labels for every code: one table, read by the Resume dialogs, the documents, the
report, the case card and the terminal. Codes stay what the store, the CLI's JSON and
Prefect's tags carry; a label is only how a code is shown (and, in a dialog, chosen).

Each code has one label wherever it appears (`housing` is "Housing" as a program and as a
needs domain), so a label names its code without knowing which list it came from."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from casework.models import codes, hmis

# Codes whose label is not their own words, capitalised.
OVERRIDES: dict[str, str] = {
    "income_benefits": "Income and benefits",
    "family_childcare": "Family and childcare",
    "legal": "Legal matters",
    "food": "Food",
    "revise_plan": "Revise the plan",
    "continue": "Continue monitoring",
    "reassess": "Reassess",
    "close": "Close the case",
    "complete": "Complete",
    "send": "Send referrals",
    "moved": "Moved away",
    "goals_met": "Goals met",
    "in-progress": "Service in progress",
    "on-hold": "On hold",
    "snap": "SNAP (food assistance)",
    "ssi": "SSI (supplemental security income)",
    "wic": "WIC (women, infants and children)",
    "medicaid": "Medicaid",
    "medicare_savings": "Medicare savings program",
    "in_person": "In person",
    "child_welfare": "Child welfare",
    "criminal_justice": "Criminal justice reentry",
    "geriatric": "Geriatric care",
    "healthcare": "Healthcare coordination",
    "substance_use": "Substance use",
    "P1": "P1 (act today)",
    "P2": "P2 (this week)",
    "P3": "P3 (this month)",
    "P4": "P4 (routine)",
    "case_manager": "Case manager",
    "program_manager": "Program manager",
    "upheld": "Upheld (the action stands)",
    "reversed": "Reversed (the action is undone)",
    "withdrawn": "Withdrawn by the agency",
    "reduce": "Reduce",
    "discontinue": "Discontinue",
    "deny": "Deny",
    "other_reason": "Other reason",
    "adverse_notice": "Notice of adverse action",
    "office": "Office appointment",
    "court": "Court date",
    "medical": "Medical appointment",
    "sms": "Text message (SMS)",
    "text_reply": "Text reply from the client",
    "check_in": "Check-in",
    "aid_deadline": "Aid-continuing deadline",
    "appointment_tomorrow": "Appointment reminder (the day before)",
    "appointment_today": "Appointment reminder (the morning of)",
    "appointment_missed": "We missed you",
    "withheld": "Withheld (no consent or no contact detail)",
    "id_document": "ID document",
    "income_proof": "Proof of income",
    "awaiting_approval": "Waiting for a supervisor's approval",
    "approval_overdue": "Approval overdue",
    "retention_approval": "Retention batch waits for approval",
    "litigation": "Litigation",
    "investigation": "Investigation",
    "audit": "Audit",
    "appeal": "Appeal",
    "records_request": "Records request",
    "client_request": "The client's request",
    "court_order": "Court order",
    "entered_in_error": "Entered in error",
    "hold_pending": "A legal hold is about to be placed",
    "not_due": "Not due: the schedule or a closure date is wrong",
    "review_needed": "The records need a look first",
    "referral_details": "The details a referral needs",
    "case_record": "The case record",
    "health_information": "Health information",
    "income_records": "Income records",
    "consent_expiring": "Consent to share ends soon",
}

# Every coded vocabulary a person may see. The objectives' labels carry their domain and
# measure, so choosing one shows what it belongs to and how it is met.
OVERRIDES.update(hmis.labels())  # HUD's own words for the codes that stand for HMIS values

ENUMS: tuple[type[StrEnum], ...] = (
    codes.HouseholdRelationship,
    codes.Stage,
    codes.CaseStatus,
    codes.Trigger,
    codes.ReassessmentReason,
    codes.Program,
    codes.NeedsDomain,
    codes.Strength,
    codes.RiskLevel,
    codes.Priority,
    codes.GoalStatus,
    codes.ServiceCategory,
    codes.Urgency,
    codes.ClosureReason,
    codes.ContactType,
    codes.ContactPreference,
    codes.AppointmentKind,
    codes.AppointmentStatus,
    codes.MessageChannel,
    codes.MessageKind,
    codes.MessageStatus,
    codes.EscalationRule,
    codes.Watch,
    codes.RecipientRole,
    codes.BenefitKind,
    codes.NoticeAction,
    codes.NoticeReason,
    codes.HearingDecision,
    codes.WaiverRequirement,
    codes.FollowUpOutcome,
    codes.ReferralStatus,
    codes.AttachmentKind,
    codes.ApprovalStatus,
    codes.ConsentKind,
    codes.ConsentScope,
)


def words(code: str) -> str:
    """A code's own words, capitalised (an objective's, without its domain and measure)."""
    return OVERRIDES.get(code) or code.replace("_", " ").replace("-", " ").capitalize()


def _objective(objective: codes.Objective) -> str:
    spec = objective.spec
    return f"{words(spec.domain.value)}: {words(objective.value).lower()} ({spec.measure})"


def _build() -> dict[str, str]:
    table: dict[str, str] = {}
    for enum in ENUMS:
        for member in enum:
            table[member.value] = words(member.value)
    for objective in codes.Objective:
        table[objective.value] = _objective(objective)
    return table


LABELS: dict[str, str] = _build()
CODES: dict[str, str] = {text: code for code, text in LABELS.items()}
if len(CODES) != len(LABELS):
    raise RuntimeError("models/labels.py: two codes share a label")


def register_label(code: str, text: str) -> str | None:
    """Add the label of a code a program declares (a goal of its own): None once added, or
    why it cannot be (the code, or the label, is another's already)."""
    if LABELS.get(code, text) != text:
        return f"{code} is already a code, labelled {LABELS[code]!r}"
    if CODES.get(text, code) != code:
        return f"the label {text!r} is already {CODES[text]}'s"
    LABELS[code], CODES[text] = text, code
    return None


_PROGRAMS_READ: list[bool] = []


def label(code: str | StrEnum | None) -> str:
    """The human label of a code (a code without one is shown as it is). A program's own
    codes are labelled once its programs file is read (read here if it was not yet)."""
    if code is None:
        return "-"
    value = code.value if isinstance(code, StrEnum) else str(code)
    if value not in LABELS and not _PROGRAMS_READ:
        _read_programs()
    return LABELS.get(value, value)


def _read_programs() -> None:
    from casework.core.errors import UserError
    from casework.models.programs import programs

    _PROGRAMS_READ.append(True)
    try:
        programs()
    except UserError:  # the command that reads it says so; a label is shown as its code
        pass


def labels(values: Any) -> str:
    """Several codes, labelled, comma-separated ("-" for none)."""
    return ", ".join(label(v) for v in values) or "-"


FIELD_TITLES = {"id_number": "ID number", "date_of_birth": "Date of birth"}


def field_title(name: str) -> str:
    """A form field's title: a domain's label for a score or flag named after it, else the
    field's words."""
    return FIELD_TITLES.get(name) or LABELS.get(name) or words(name)


# The form fields that hold codes; any other string (a staff id, a provider id, a date) is
# passed through as it is, even where it happens to spell a code.
CODED_FIELDS = frozenset(
    {"strengths", "domain", "objective", "status", "service", "urgency", "reason", "decision"}
)


def _mapped(data: Any, table: dict[str, str], field: str | None = None) -> Any:
    if isinstance(data, str):
        return table.get(data, data) if field in CODED_FIELDS else data
    if isinstance(data, list):
        return [_mapped(item, table, field) for item in data]
    if isinstance(data, dict):
        return {key: _mapped(value, table, key) for key, value in data.items()}
    return data


def to_codes(data: Any) -> Any:
    """`data` (a form as JSON) with every label replaced by its code: what a Resume dialog
    sends, read back as the codes the store keeps. Codes pass through."""
    return _mapped(data, CODES)


def to_labels(data: Any) -> Any:
    """`data` (a form as JSON, codes) with every coded value shown as its label: what a
    Resume dialog's schema lists, so a form handed over from the CLI fits the dialog."""
    return _mapped(data, LABELS)
