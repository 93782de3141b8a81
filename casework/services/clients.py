"""Clients across cases: likely duplicates, merging two records of one person, and a
client's own copy of what is held about them (a supervisor's work)."""

from __future__ import annotations

from casework.core.clock import now
from casework.core.db import session_scope
from casework.models import (
    audit,
    client_record,
    clients,
)
from casework.models.codes import (
    StaffRole,
)
from casework.models.orm import Case
from casework.services.staff import supervisor_programs


def duplicates(actor: str, minimum: int) -> list[clients.Pair]:
    """Likely duplicate clients across the store: numbers, scores and signals only."""
    supervisor_programs(actor, "duplicates", StaffRole.ADMIN)
    with session_scope(read_only=True) as session:
        return clients.likely_pairs(session, minimum)


def merge(kept: str, merged: str, actor: str) -> int:
    """Merge client `merged` into `kept` (one transaction); returns the cases moved."""
    supervised = supervisor_programs(actor, "merge")
    with session_scope() as session:
        return clients.merge(session, kept, merged, actor, now(), supervised)


RECORD_FORMATS = ("pdf", "html", "md")


def own_copy(client_number: str, actor: str, fmt: str) -> tuple[client_record.ClientRecord, bytes]:
    """Everything held about a client, for their subject-access request, as a document in
    `fmt`: made by a supervisor, from the client's cases in the programs they supervise
    (the others are named, for their programs' supervisors). Each case read is in the
    access log (`client_record`) before it is read, in the same transaction: the copy
    lists its own making among who read the cases."""
    from casework.services import documents

    if fmt not in RECORD_FORMATS:
        raise clients.ClientError(f"client-record: a copy is made as {', '.join(RECORD_FORMATS)}")
    supervised = supervisor_programs(actor, "client-record")
    at = now()
    with session_scope() as session:

        def logged(cases: list[Case]) -> None:
            for case in cases:
                audit.record_access(session, case, actor, "client_record", at)

        record = client_record.gather(session, client_number, supervised, logged)
    elsewhere = ", ".join(f"{number} ({program})" for number, program in record.not_covered)
    context = {
        "record": record,
        "made_on": at.date().isoformat(),
        "made_by": actor,
        "elsewhere": elsewhere,
    }
    return record, documents.made("client-record", fmt, context)


def client_of(case_number: str) -> str:
    """The client number of a case the caller sees (no identity read)."""
    from casework.models.cases import get_case

    with session_scope(read_only=True) as session:
        return get_case(session, case_number).client.client_number or ""
