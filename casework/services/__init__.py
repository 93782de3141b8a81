"""The services: one module per concept, each the one place its verbs live. The CLI, the
flows, the demo and every later surface call these; they stand on the models and the floor
(`casework.core`), and never on a surface above them.

    cases       intake, notes, reopening; a case, a caseload, what is due
    appointments  appointments and visits booked, and what became of them
    messages    messages to clients: consent to them, a case's messages, a client's reply
    stages      a stage form handed to a case's run; a case sent back to assessment
    approvals   a supervisor's decision on a stage form held for approval
    attachments files kept with a case: scanned, typed by content, sealed; listed and opened
    clients     likely duplicates; two records of one person merged
    households  a case's household: members registered, leaving, moving, with history
    transfers   cases handed to another case manager
    benefits    benefits, waivers, notices of adverse action and hearings, follow-up checks
    referrals   consents; partners' answers; cases whose partners answered moved on
    providers   the provider directory and partner tokens
    record_retention  retention's preview, legal holds, erasure, batches decided, the log
    staff       the roster, who acts, who read what
    sweeps      sweeps on the work pool, escalations, Prefect caught up with the store
    documents   case documents (plan, referral, notes, closure, hearing request)
    printing    documents and the report laid out on pages, as PDF, on the agency's letterhead
    reports     the caseload report
    exports     the caseload's records as CSV or a spreadsheet, for analysts
    sign_in     desk passwords; staff signed in as themselves (on PostgreSQL, as their role)
    workspace   what the desk shows a staff member: their day, caseload, a search, a team
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casework.services import (
        appointments,
        approvals,
        attachments,
        benefits,
        case_runs,
        cases,
        clients,
        documents,
        exports,
        households,
        messages,
        printing,
        providers,
        record_retention,
        referrals,
        reports,
        sign_in,
        staff,
        stages,
        sweeps,
        transfers,
        workspace,
    )

__all__ = [
    "appointments",
    "approvals",
    "attachments",
    "benefits",
    "case_runs",
    "cases",
    "clients",
    "documents",
    "exports",
    "households",
    "messages",
    "printing",
    "providers",
    "record_retention",
    "referrals",
    "reports",
    "sign_in",
    "staff",
    "stages",
    "sweeps",
    "transfers",
    "workspace",
]


def __getattr__(name: str) -> Any:
    """`services.cases` and the rest, each imported the first time it is asked for: a
    command pays for the services it uses (documents bring jinja2; reports, more)."""
    if name in __all__:
        return import_module(f"casework.services.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
