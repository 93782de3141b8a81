"""Everything the case store holds about one client, for a subject-access request: their
identity (and the identities of records merged into theirs), their cases, every row of
every table that belongs to those cases or to them, and the access log's entries for their
cases. Read as the staff member asking (on PostgreSQL, their own role, so the store's
policies decide), from the cases in `programs` only; the client's other cases are named,
by number and program, as not covered.

Complete by construction: every table of the store is either read here (`SECTIONS`, by
the way its rows reach a case or a client) or named in `NOT_HELD_ABOUT_A_CLIENT` with the
reason it holds nothing about one; a table added to the store without a place in either
fails the tests."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, text
from sqlalchemy.orm import Session

from casework.models import clients as client_records
from casework.models.base import Base
from casework.models.labels import label, words
from casework.models.orm import (
    AccessEntry,
    CarePlan,
    Case,
    Client,
    Referral,
)

# How each table's rows belong to a client: "case" (its case_id is one of theirs),
# "client" (its client_id is theirs), "either" (one or the other, the case's first), or
# through the parent that does. With the heading the copy gives it.
SECTIONS: dict[str, tuple[str, str]] = {
    "client_match": ("client", "You, as duplicate checks compare people"),
    "client_keys": ("client", "Keys duplicate checks find you by"),
    "household_members": ("client", "Households you were a member of"),
    "contact_consents": ("client", "How you agreed to be contacted"),
    "consents": ("client", "Consents you gave"),
    "messages": ("either", "Messages sent to you"),
    "member_answers": ("either", "Answers about you as a household member"),
    "episodes": ("case", "Episodes (each opening of a case)"),
    "stage_events": ("case", "Stages and forms"),
    "intake_details": ("case", "Intake details"),
    "assessments": ("case", "Assessments"),
    "care_plans": ("case", "Service plans"),
    "plan_goals": ("plan", "Goals of the service plans"),
    "referrals": ("case", "Referrals"),
    "referral_events": ("referral", "What became of the referrals"),
    "contacts": ("case", "Contacts and notes"),
    "narratives": ("case", "Narratives"),
    "appointments": ("case", "Appointments"),
    "benefits": ("case", "Benefits"),
    "adverse_notices": ("case", "Notices of adverse action"),
    "waivers": ("case", "Waivers"),
    "follow_ups": ("case", "Follow-up checks"),
    "escalations": ("case", "Escalations"),
    "approvals": ("case", "Forms held for a supervisor's approval"),
    "documents": ("case", "Documents made"),
    "attachments": ("case", "Files kept with the cases"),
    "audit_events": ("case", "The audit trail: who did what, when"),
    "legal_holds": ("either", "Legal holds on your records"),
    "retention_items": ("either", "Your records' retention: what was (or will be) masked"),
}
NOT_HELD_ABOUT_A_CLIENT: dict[str, str] = {
    "clients": "the client's identity, given first",
    "cases": "the client's cases, given first",
    "access_log": "given last, as who read the record",
    "households": "a household's number only; its members are given",
    "change_log": "the names of columns changed and who changed them: the audit trail "
    "gives the same acts",
    "staff": "the agency's staff",
    "staff_programs": "the agency's staff",
    "staff_passwords": "the agency's staff",
    "providers": "the agency's provider directory",
    "instrument_versions": "the questionnaires' versions",
    "retention_batches": "a batch's number, dates and who decided it: its items are given",
}
# Never shown: the store's own keys and bookkeeping, and what is no one's reading (a file's
# sealed bytes, where a document lies on the server: the files themselves are listed, and
# given with the copy on request).
HIDDEN = frozenset({"id", "created", "updated", "case_id", "client_id", "content", "path"})


@dataclass
class Section:
    table: str
    heading: str
    columns: list[str]  # as people read them
    rows: list[list[str]]


@dataclass
class ClientRecord:
    client_number: str
    identity: list[tuple[str, str]]  # field, value
    merged: list[tuple[str, list[tuple[str, str]]]]  # records merged into this one
    cases: list[list[str]]  # number, program, status, opened, closed
    not_covered: list[tuple[str, str]]  # case number, program: another supervisor's part
    sections: list[Section] = field(default_factory=list)
    accesses: list[list[str]] = field(default_factory=list)  # when, who, case, what


class NotCovered(client_records.ClientError):
    """None of the client's cases is in a program the asker may copy."""


def gather(
    session: Session,
    client_number: str,
    programs: set[str],
    reading: Callable[[list[Case]], None] = lambda cases: None,
) -> ClientRecord:
    """The client's record, from their cases in `programs` (see the module's words).
    `reading` is told the cases before anything of them is read (to log the read first)."""
    found = client_records.find_client(session, client_number)
    client = session.get(Client, found.client_id)
    assert client is not None  # found, so seen
    seen = session.scalars(select(Case).where(Case.client_id == client.id).order_by(Case.id))
    covered = [case for case in seen if case.program in programs]
    if not covered:
        raise NotCovered(
            f"client-record: {found.client_number} has no case in a program you supervise"
        )
    reading(covered)
    others = client_records.other_cases(session, covered[0], programs)
    case_ids = [case.id for case in covered]
    merged = list(session.scalars(select(Client).where(Client.merged_into_id == client.id)))
    client_ids = [client.id, *(m.id for m in merged)]
    numbers = {case.id: case.case_number or "" for case in covered}
    record = ClientRecord(
        client_number=found.client_number,
        identity=_identity(client),
        merged=[(m.client_number or "", _identity(m)) for m in merged],
        cases=[
            [
                numbers[case.id],
                label(case.program),
                label(case.status),
                _text(case.opened_at),
                _text(case.closed_at),
            ]
            for case in covered
        ],
        not_covered=[
            (other.case_number, label(other.program) if other.program else "another program")
            for other in others
            if other.case_number not in {case.case_number for case in covered}
        ],
    )
    for table, (reach, heading) in SECTIONS.items():
        rows = session.execute(_rows_of(table, reach, case_ids, client_ids)).mappings().all()
        if not rows:
            continue
        of_a_case = "case_id" in _table(table).c
        shown = [c.name for c in _table(table).columns if _shown(c.name)]
        record.sections.append(
            Section(
                table,
                heading,
                ["Case"] * of_a_case + [words(name).capitalize() for name in shown],
                [
                    ([numbers.get(row["case_id"], "")] if of_a_case else [])
                    + [_text(row[name]) for name in shown]
                    for row in rows
                ],
            )
        )
    record.accesses = _accesses(session, case_ids, numbers)
    return record


def _rows_of(table: str, reach: str, cases: list[int], clients: list[int]) -> Select[Any]:
    """The rows of `table` that are the client's."""
    t = _table(table)
    query = select(t)
    if reach == "case":
        query = query.where(t.c.case_id.in_(cases))
    elif reach == "client":
        query = query.where(t.c.client_id.in_(clients))
    elif reach == "either":
        query = query.where(
            or_(t.c.case_id.in_(cases), and_(t.c.case_id.is_(None), t.c.client_id.in_(clients)))
        )
    elif reach == "plan":
        query = query.where(t.c.plan_id.in_(select(CarePlan.id).where(CarePlan.case_id.in_(cases))))
    elif reach == "referral":
        query = query.where(
            t.c.referral_id.in_(select(Referral.id).where(Referral.case_id.in_(cases)))
        )
    else:  # pragma: no cover - SECTIONS names only the ways above
        raise ValueError(reach)
    return query.order_by(t.c.id)


def _shown(column: str) -> bool:
    """A column the copy prints: not the store's keys (a flow run's id is the case's)."""
    return column not in HIDDEN and (not column.endswith("_id") or column == "flow_run_id")


def _table(name: str) -> Any:
    return Base.metadata.tables[name]


def _identity(client: Client) -> list[tuple[str, str]]:
    return [
        ("Client number", client.client_number or ""),
        ("Given name", client.given_name),
        ("Family name", client.family_name),
        ("Date of birth", _text(client.date_of_birth)),
        ("ID number", _text(client.id_number)),
        ("Address", _text(client.address)),
        ("Phone", _text(client.phone)),
        ("Email", _text(client.email)),
        ("Language", client.language),
        ("Contact preference", label(client.contact_preference)),
    ]


def _accesses(session: Session, cases: list[int], numbers: dict[int, str]) -> list[list[str]]:
    """Who read the client's cases, and when: on PostgreSQL through the store's function
    of definer's rights (a supervisor's role may not read the access log itself), which
    gives only the entries of cases the asker sees."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(
            text("SELECT at, staff, case_id, what FROM casework_case_accesses(:cases)"),
            {"cases": cases},
        ).all()
    else:
        found = session.execute(
            select(AccessEntry.at, AccessEntry.staff, AccessEntry.case_id, AccessEntry.what)
            .where(AccessEntry.case_id.in_(cases))
            .order_by(AccessEntry.at, AccessEntry.id)
        ).all()
    return [
        [_text(at), staff, numbers.get(case_id, ""), what] for at, staff, case_id, what in found
    ]


def _text(value: Any) -> str:
    """A stored value as the copy prints it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return label(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # a form's answers, a score's parts: as words, in order
        return "; ".join(f"{words(str(k))}: {_text(v) or 'none'}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "none"
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    return str(value)
