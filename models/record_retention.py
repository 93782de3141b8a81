"""Records that end when the law says: each program's retention periods (its programs
file's `retention`), legal holds that stop them, what comes due at a date, the batches
that hold it for a supervisor's or an admin's approval, and the masking itself.

Masking keeps the coded history that reports and HMIS exports read (stages, dates,
assessments' scores, plans, referrals' statuses, closures) and removes what identifies a
person or tells their story:

- a case's records, at `records_years` after it closed: every free-text column of its
  rows (notes, narratives, written answers, identity answers of its intake and of its
  household's members, a returned form's reason, partners' reasons, appointments' people
  and places) becomes `(masked)` or empty, and its documents and attachments are deleted,
  files and rows;
- a client's identity, at `identity_years` after their last case closed (and then every
  case's records too): names become `(masked)`, the date of birth its year's 1 January,
  ID number, address, phone and email are emptied, the duplicate check's copy likewise,
  its lookup keys deleted; a record merged into theirs goes with it.

A client who was a minor when a case opened keeps both for `minor_years` where that is
longer. A program without `retention` keeps everything; a client with a case in such a
program keeps their identity. A legal hold on a client, or on any of their cases, stops
both for them. Every masking is in the audit trail of the case it touched (when, which
rule, which batch, who approved it), and in the masking log, a file kept outside the
store (`CASEWORK_MASKING_LOG`), from which a store restored from an older backup is
masked again (`reapply`).

Complete by construction: every column of every table that holds something about a
client is either masked here (`RECORDS`, `IDENTITY`), deleted with its rows, or named in
`CODED` as holding codes, numbers and staff ids only; a text column added without a place
in one of them fails the tests."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models import audit
from casework.models.base import Base
from casework.models.codes import BatchStatus, CaseStatus, Program, RetentionScope
from casework.models.orm import (
    Attachment,
    Case,
    Client,
    ClientKey,
    ClientMatch,
    Consent,
    Document,
    HouseholdMember,
    LegalHold,
    Referral,
    RetentionBatch,
    RetentionItem,
)
from casework.models.programs import ProgramConfig

MASKED = "(masked)"
SYSTEM = "retention"  # the actor of a masking: the run; the approver is in the detail

# A case's free text at its records' end: each column and what it becomes.
RECORDS: dict[str, dict[str, Any]] = {
    "contacts": {"text": MASKED},
    "narratives": {"text": MASKED, "answers": {}},
    "intake_details": {"identity": {}},
    "member_answers": {"identity": {}},
    "approvals": {"reason": None},
    "appointments": {"with_whom": None, "place": None},
    "referrals": {"status_reason": None},
    "referral_events": {"reason": None},
    "stage_events": {"error": None},
    "messages": {"error": None},
}
DELETED_WITH_RECORDS = ("documents", "attachments")
# A client's identity at its end.
IDENTITY: dict[str, dict[str, Any]] = {
    "clients": {
        "given_name": MASKED,
        "family_name": MASKED,
        "id_number": None,
        "address": None,
        "phone": None,
        "email": None,
    },
    "client_match": {"given": "", "family": "", "phone": None, "id_number": None, "sounds": {}},
}
DELETED_WITH_IDENTITY = ("client_keys",)
BORN = {"clients": "date_of_birth", "client_match": "born"}  # reduced to their year
# Columns of text that hold codes, numbers, staff ids and coded answers only: kept.
CODED: dict[str, frozenset[str]] = {
    "clients": frozenset({"language", "contact_preference", "client_number"}),
    "consents": frozenset({"provider"}),
    "referrals": frozenset({"reference", "provider"}),
    "messages": frozenset({"number", "key"}),
    "stage_events": frozenset({"answers"}),
    "intake_details": frozenset({"coded"}),
    "member_answers": frozenset({"coded"}),
    "assessments": frozenset({"scores", "strengths", "crisis_flags", "crisis_domains"}),
    "approvals": frozenset({"form"}),
    "escalations": frozenset({"case_number", "subject", "threshold", "measured", "delivery_error"}),
    "audit_events": frozenset({"detail"}),
    "appointments": frozenset({"number", "rescheduled_to"}),
    "legal_holds": frozenset({"number"}),
    "retention_items": frozenset({"rule", "programs"}),
}
# An assessment's instruments are coded answers and scores (models.instruments).
CODED["assessments"] |= {"instruments"}


class RetentionError(UserError):
    """A hold, a batch or an erasure that cannot be (one line)."""


@dataclass(frozen=True)
class Due:
    """One thing due to be masked: a case's records, or a client's identity."""

    scope: RetentionScope
    client_id: int
    client_number: str
    case_id: int | None
    case_number: str | None
    rule: str  # the program and period that made it due: coded
    since: date  # the day it came due
    programs: tuple[str, ...] = ()  # every program it touches


def add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February, in a year without one
        return moment.replace(year=moment.year + years, day=28)


def _years(config: ProgramConfig, field: str, minor: bool) -> int | None:
    kept = config.retention
    if kept is None:
        return None
    years: int = getattr(kept, field)
    return max(years, kept.minor_years) if minor else years


def held(session: Session) -> tuple[set[int], set[int]]:
    """The clients and the cases a standing legal hold covers."""
    rows = session.execute(
        select(LegalHold.client_id, LegalHold.case_id).where(LegalHold.lifted_at.is_(None))
    ).all()
    clients = {client for client, _ in rows if client is not None}
    cases = {case for _, case in rows if case is not None}
    return clients, cases


def due(session: Session, as_of: datetime, configs: dict[Program, ProgramConfig]) -> list[Due]:
    """Everything due to be masked at `as_of` and not masked yet, held by no legal hold:
    each closed case's records past its program's period, each client's identity past
    the period of every case of theirs (a household member without a case of their own:
    of every case of the households they were in). Clients with cases first, each by
    client number, then case number."""
    held_clients, held_cases = held(session)
    rows = session.execute(
        select(Case, Client.client_number, Client.identity_masked_at)
        .join(Client, Client.id == Case.client_id)
        .order_by(Client.client_number, Case.case_number)
    ).all()
    by_client: dict[int, list[Case]] = defaultdict(list)
    numbers: dict[int, tuple[str, bool]] = {}
    for case, number, masked_at in rows:
        by_client[case.client_id].append(case)
        numbers[case.client_id] = (number or "", masked_at is not None)
    # A household's member with no case of their own: their identity ends with the cases of
    # the households they were members of (whose records hold their answers).
    members = session.execute(
        select(Case, Client.id, Client.client_number, Client.identity_masked_at)
        .join(HouseholdMember, HouseholdMember.household_id == Case.household_id)
        .join(Client, Client.id == HouseholdMember.client_id)
        .where(Client.id.not_in(select(Case.client_id)), Client.merged_into_id.is_(None))
        .order_by(Client.client_number, Case.case_number)
    ).all()
    through: dict[int, list[Case]] = defaultdict(list)
    for case, client_id, number, masked_at in members:
        through[client_id].append(case)
        numbers[client_id] = (number or "", masked_at is not None)
    found: list[Due] = []
    for client_id, cases in [*by_client.items(), *through.items()]:
        own = client_id in by_client
        number, identity_masked = numbers[client_id]
        if client_id in held_clients or any(c.id in held_cases for c in cases):
            continue
        ends: list[datetime | None] = []
        for case in cases:
            config = configs.get(Program(case.program))
            minor = case.adult_at_start is False
            closed = case.closed_at if case.status == CaseStatus.CLOSED.value else None
            records = _years(config, "records_years", minor) if config else None
            identity = _years(config, "identity_years", minor) if config else None
            ends.append(add_years(closed, identity) if closed and identity else None)
            if not own or closed is None or records is None or case.records_masked_at:
                continue
            since = add_years(closed, records)
            if since <= as_of:
                found.append(
                    Due(
                        RetentionScope.RECORDS,
                        client_id,
                        number,
                        case.id,
                        case.case_number,
                        f"{case.program}.records_years={records}",
                        since.date(),
                        (case.program,),
                    )
                )
        if identity_masked or any(end is None for end in ends):
            continue
        last = max(end for end in ends if end is not None)
        if last <= as_of:
            programs = sorted({c.program for c in cases})
            found.append(
                Due(
                    RetentionScope.IDENTITY,
                    client_id,
                    number,
                    None,
                    None,
                    f"{'+'.join(programs)}.identity_years",
                    last.date(),
                    tuple(programs),
                )
            )
    return found


def touching(session: Session, client_id: int) -> list[Case]:
    """A client's own cases, and the cases of the households they were members of."""
    households = select(HouseholdMember.household_id).where(HouseholdMember.client_id == client_id)
    # Two lookups, each by its index (an OR of the two reads every case, per item).
    own = session.scalars(select(Case).where(Case.client_id == client_id))
    through = session.scalars(select(Case).where(Case.household_id.in_(households)))
    return sorted({*own, *through}, key=lambda case: case.id)


def erasure(session: Session, client: Client, reason: str, today: date) -> list[Due]:
    """A client's identity and every case's records, at once, on request: refused while
    a case of theirs (or of a household they are in) is open, or a legal hold stands."""
    around = touching(session, client.id)
    cases = [c for c in around if c.client_id == client.id]
    number = client.client_number or ""
    if client.identity_masked_at is not None:
        raise RetentionError(f"erase: {number} is masked already")
    open_cases = [c.case_number for c in around if c.status != CaseStatus.CLOSED.value]
    if open_cases:
        raise RetentionError(
            f"erase: {number} has an open case ({', '.join(map(str, open_cases))}); close it first"
        )
    held_clients, held_cases = held(session)
    if client.id in held_clients or any(c.id in held_cases for c in around):
        raise RetentionError(f"erase: a legal hold stands on {number}; it must be lifted first")
    rule = f"erasure.{reason}"
    every = tuple(sorted({c.program for c in around}))
    found = [
        Due(
            RetentionScope.RECORDS,
            client.id,
            number,
            c.id,
            c.case_number,
            rule,
            today,
            (c.program,),
        )
        for c in cases
        if c.records_masked_at is None
    ]
    return [
        *found,
        Due(RetentionScope.IDENTITY, client.id, number, None, None, rule, today, every),
    ]


# -- batches ------------------------------------------------------------------------------


def open_batch(
    session: Session,
    items: list[Due],
    *,
    kind: str,
    as_of: datetime,
    requested_by: str,
    at: datetime,
    flow_run_id: str | None = None,
    reason: str | None = None,
) -> RetentionBatch:
    """A batch of `items`, waiting for approval."""
    batch = RetentionBatch(
        kind=kind,
        reason=reason,
        as_of=as_of,
        status=BatchStatus.WAITING.value,
        requested_by=requested_by,
        requested_at=at,
        flow_run_id=flow_run_id,
    )
    _numbered(session, batch, "RET")
    for item in items:
        session.add(
            RetentionItem(
                batch_id=batch.id,
                scope=item.scope.value,
                client_id=item.client_id,
                case_id=item.case_id,
                rule=item.rule,
                programs=",".join(item.programs),
            )
        )
    session.flush()
    for case in _cases_of(session, batch):
        audit.record(
            session, case, requested_by, "retention_requested", at, batch=batch.number, kind=kind
        )
    return batch


def _numbered(session: Session, row: RetentionBatch | LegalHold, prefix: str) -> None:
    """Added, and numbered after its id (`RET-000001`, `HOLD-000001`)."""
    session.add(row)
    session.flush()
    row.number = f"{prefix}-{row.id:06d}"


def waiting(session: Session) -> RetentionBatch | None:
    """The scheduled batch waiting for its decision, if any (one at a time)."""
    return session.scalars(
        select(RetentionBatch).where(
            RetentionBatch.status == BatchStatus.WAITING.value,
            RetentionBatch.kind == "schedule",
        )
    ).first()


def batch(session: Session, number: str, *, for_update: bool = False) -> RetentionBatch:
    query = select(RetentionBatch).where(RetentionBatch.number == number.strip().upper())
    found = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if found is None:
        raise RetentionError(f"retention: no batch {number.strip().upper()}")
    return found


def batch_of_run(session: Session, flow_run_id: str) -> RetentionBatch | None:
    return session.scalars(
        select(RetentionBatch).where(RetentionBatch.flow_run_id == flow_run_id)
    ).first()


def items_of(session: Session, found: RetentionBatch) -> list[tuple[RetentionItem, str, str]]:
    """A batch's items, with their client and case numbers (a client's number is made from
    its id: whoever decides need not read the clients table)."""
    from casework.models.clients import client_number_for

    rows = session.execute(
        select(RetentionItem, Case.case_number)
        .outerjoin(Case, Case.id == RetentionItem.case_id)
        .where(RetentionItem.batch_id == found.id)
        .order_by(RetentionItem.client_id, RetentionItem.case_id.is_(None), Case.case_number)
    ).all()
    return [(item, client_number_for(item.client_id), case or "") for item, case in rows]


def programs_of(session: Session, found: RetentionBatch) -> set[str]:
    """Every program a batch touches (an identity: every program of the client's cases),
    as its items say: whoever decides sees them all, whatever cases they may read."""
    listed = session.scalars(
        select(RetentionItem.programs).where(RetentionItem.batch_id == found.id)
    )
    return {program for each in listed for program in each.split(",") if program}


def _cases_of(session: Session, found: RetentionBatch) -> list[Case]:
    clients = select(RetentionItem.client_id).where(RetentionItem.batch_id == found.id)
    return list(session.scalars(select(Case).where(Case.client_id.in_(clients)).order_by(Case.id)))


def decide(
    session: Session,
    number: str,
    approver: str,
    may_approve: set[str] | None,
    approve: bool,
    refusal: str | None,
    at: datetime,
) -> RetentionBatch:
    """A supervisor's or an admin's decision on a waiting batch, written first (the run
    waiting for it applies it when woken). `may_approve`: the programs a supervisor
    decides for (an admin: None, all); an erasure is decided by someone other than who
    asked for it."""
    found = batch(session, number, for_update=True)
    if found.status != BatchStatus.WAITING.value:
        raise RetentionError(f"retention: {found.number} is {found.status}, not waiting")
    if found.kind == "erasure" and found.requested_by == approver:
        raise RetentionError(
            f"retention: {found.number} was asked for by {approver}; another supervisor or an "
            "admin decides it"
        )
    if may_approve is not None and not programs_of(session, found) <= may_approve:
        raise RetentionError(
            f"retention: {found.number} touches programs you do not supervise; an admin or "
            "their supervisor decides it"
        )
    found.status = (BatchStatus.APPROVED if approve else BatchStatus.REFUSED).value
    found.decided_by, found.decided_at, found.refusal = approver, at, refusal
    for case in _cases_of(session, found):
        audit.record(
            session,
            case,
            approver,
            "retention_approved" if approve else "retention_refused",
            at,
            batch=found.number,
            **({"refusal": refusal} if refusal else {}),
        )
    return found


@dataclass
class Applied:
    records: int = 0  # cases whose records were masked
    identities: int = 0  # clients whose identity was masked
    held: int = 0  # items a legal hold placed since the approval stopped
    files: list[Path] = field(default_factory=list)  # documents to delete once committed


def apply(session: Session, found: RetentionBatch, at: datetime, log: Path) -> Applied:
    """Mask what an approved batch holds (a legal hold placed since stops its items), in
    the audit trail of every case it touched and in the masking log; the batch is then
    applied."""
    if found.status != BatchStatus.APPROVED.value:
        raise RetentionError(f"retention: {found.number} is {found.status}, not approved")
    _secure_delete(session)
    held_clients, held_cases = held(session)
    done = Applied()
    entries = []
    for item, client_number, case_number in items_of(session, found):
        around = touching(session, item.client_id)
        if item.client_id in held_clients or any(c.id in held_cases for c in around):
            done.held += 1
            continue
        if item.scope == RetentionScope.RECORDS.value:
            case = session.get_one(Case, item.case_id)
            touched = [case] if mask_records(session, case, at, done.files) else []
            done.records += len(touched)
        else:
            client = session.get_one(Client, item.client_id)
            touched = around if mask_identity(session, client, at, done.files) else []
            done.identities += bool(touched)
        detail = {"batch": found.number, "rule": item.rule, "approved_by": found.decided_by}
        for case in touched:
            audit.record(session, case, SYSTEM, f"{item.scope}_masked", at, **detail)
        if touched:
            entries.append(
                {
                    "at": at.isoformat(),
                    "client": client_number,
                    "case": case_number or None,
                    "scope": item.scope,
                    **detail,
                }
            )
    found.status, found.applied_at = BatchStatus.APPLIED.value, at
    write_log(log, entries)
    return done


def _secure_delete(session: Session) -> None:
    """On SQLite, what masking overwrites or deletes is zeroed in the file, not left in a
    free page for anyone who reads the file (or a backup of it)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete = ON")


def mask_records(session: Session, case: Case, at: datetime, files: list[Path] | None) -> bool:
    """Mask one case's records (see the module's words); False if masked already."""
    if case.records_masked_at is not None:
        return False
    for table, columns in RECORDS.items():
        t = Base.metadata.tables[table]
        where: Any = (
            t.c.referral_id.in_(select(Referral.id).where(Referral.case_id == case.id))
            if table == "referral_events"
            else t.c.case_id == case.id
        )
        session.execute(update(t).where(where).values(**columns))
    attachments = select(Attachment.id).where(Attachment.case_id == case.id)
    session.execute(
        update(Consent)
        .where(  # the client's consents first: by their index
            Consent.client_id == case.client_id, Consent.signed_attachment_id.in_(attachments)
        )
        .values(signed_attachment_id=None)
    )
    session.execute(delete(Attachment).where(Attachment.case_id == case.id))
    for path in session.scalars(select(Document.path).where(Document.case_id == case.id)):
        if files is not None:
            files.append(Path(path))
    session.execute(delete(Document).where(Document.case_id == case.id))
    case.records_masked_at = at
    session.flush()
    return True


def mask_identity(session: Session, client: Client, at: datetime, files: list[Path] | None) -> bool:
    """Mask a client's identity (and any record merged into theirs), and every case's
    records; False if masked already."""
    if client.identity_masked_at is not None:
        return False
    ids = [client.id, *session.scalars(select(Client.id).where(Client.merged_into_id == client.id))]
    for case in session.scalars(select(Case).where(Case.client_id.in_(ids))):
        mask_records(session, case, at, files)
    for model, born in ((Client, "date_of_birth"), (ClientMatch, "born")):
        key = model.id if model is Client else ClientMatch.client_id
        for row in session.scalars(select(model).where(key.in_(ids))):
            day = getattr(row, born)
            setattr(row, born, date(day.year, 1, 1))
            for column, value in IDENTITY[model.__tablename__].items():
                setattr(row, column, value)
    session.execute(delete(ClientKey).where(ClientKey.client_id.in_(ids)))
    for row in session.scalars(select(Client).where(Client.id.in_(ids))):
        row.identity_masked_at = at
    session.flush()
    return True


def client_cases(session: Session, client_id: int) -> list[Case]:
    """A client's cases, as the caller sees them."""
    return list(session.scalars(select(Case).where(Case.client_id == client_id).order_by(Case.id)))


# -- holds --------------------------------------------------------------------------------


def place_hold(
    session: Session, client: Client | None, case: Case | None, reason: str, by: str, at: datetime
) -> LegalHold:
    hold = LegalHold(
        client_id=client.id if client else None,
        case_id=case.id if case else None,
        reason=reason,
        placed_by=by,
        placed_at=at,
    )
    _numbered(session, hold, "HOLD")
    for touched in (
        [case] if case else session.scalars(select(Case).where(Case.client_id == hold.client_id))
    ):
        audit.record(session, touched, by, "legal_hold_placed", at, hold=hold.number, reason=reason)
    return hold


def lift_hold(session: Session, number: str, by: str, at: datetime) -> LegalHold:
    hold = find_hold(session, number)
    if hold.lifted_at is not None:
        raise RetentionError(f"hold: {hold.number} was lifted on {hold.lifted_at.date()}")
    hold.lifted_by, hold.lifted_at = by, at
    cases: Iterable[Case] = (
        [c for c in [session.get(Case, hold.case_id)] if c]
        if hold.case_id
        else session.scalars(select(Case).where(Case.client_id == hold.client_id))
    )
    for case in cases:
        audit.record(session, case, by, "legal_hold_lifted", at, hold=hold.number)
    return hold


def find_hold(session: Session, number: str) -> LegalHold:
    hold = session.scalars(
        select(LegalHold).where(LegalHold.number == number.strip().upper())
    ).one_or_none()
    if hold is None:
        raise RetentionError(f"hold: no legal hold {number.strip().upper()}")
    return hold


def standing_holds(session: Session) -> list[tuple[LegalHold, str, str]]:
    """The holds that stand, with their client and case numbers."""
    rows = session.execute(
        select(LegalHold, Client.client_number, Case.case_number)
        .outerjoin(Case, Case.id == LegalHold.case_id)
        .outerjoin(Client, Client.id == func.coalesce(LegalHold.client_id, Case.client_id))
        .where(LegalHold.lifted_at.is_(None))
        .order_by(LegalHold.id)
    ).all()
    return [(hold, client or "", case or "") for hold, client, case in rows]


# -- the masking log ----------------------------------------------------------------------


def write_log(log: Path, entries: list[dict[str, Any]]) -> None:
    """Appended and flushed to disk before the masking commits: a masking is never missing
    from the log (one logged but rolled back is approved, and masked again on `reapply`)."""
    if not entries:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        for entry in entries:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_log(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def reapply(session: Session, log: Path, at: datetime) -> tuple[int, int, list[Path]]:
    """Mask again what the log says was masked and the store holds unmasked (a store
    restored from a backup older than the masking): cases' records and clients' identities
    masked, and the files to delete."""
    _secure_delete(session)
    files: list[Path] = []
    records = identities = 0
    for entry in read_log(log):
        detail = {
            "batch": entry["batch"],
            "rule": entry["rule"],
            "approved_by": entry["approved_by"],
        }
        if entry["scope"] == RetentionScope.RECORDS.value:
            case = session.scalars(select(Case).where(Case.case_number == entry["case"])).first()
            if case is not None and mask_records(session, case, at, files):
                records += 1
                audit.record(session, case, SYSTEM, "records_masked_again", at, **detail)
        else:
            client = session.scalars(
                select(Client).where(Client.client_number == entry["client"])
            ).first()
            if client is not None and mask_identity(session, client, at, files):
                identities += 1
                for case in touching(session, client.id):
                    audit.record(session, case, SYSTEM, "identity_masked_again", at, **detail)
    return records, identities, files


def delete_files(files: list[Path]) -> None:
    """The masked cases' documents, once the masking committed."""
    for path in files:
        path.unlink(missing_ok=True)
