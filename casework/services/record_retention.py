"""Retention, as staff work it (models/record_retention.py): the preview of what comes due,
legal holds, a client's erasure asked for, a batch approved or refused (the decision
written first, then the run waiting for it woken), and the masking log applied again to a
restored store. Who may: holds and erasures are a supervisor's (of the client's programs)
or an admin's; decisions a supervisor's (of every program the batch touches) or an
admin's; the preview a supervisor's (their programs' clients, on PostgreSQL) or an admin's
on the embedded store (on PostgreSQL an admin reads no client, and the weekly run's
preview gives the counts); applying the log again the store owner's."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.core.settings import get_settings
from casework.models import cases, clients, record_retention
from casework.models.clients import client_number_for
from casework.models.codes import ErasureReason, HoldReason, StaffRole
from casework.models.orm import Case, Client
from casework.models.programs import programs
from casework.models.rules import checked_as_of
from casework.services.staff import roster, supervisor_programs

CASE_NUMBER = re.compile(r"^CASE-\d+$", re.IGNORECASE)


def _may_decide(actor: str, what: str) -> set[str] | None:
    """The programs a supervisor previews, holds and decides for; an admin: None (all).
    Anyone else is refused, in one line."""
    programs_of = supervisor_programs(actor, what, StaffRole.ADMIN)
    return None if roster()[actor].role is StaffRole.ADMIN else programs_of


def preview(as_of: datetime | None, actor: str) -> list[record_retention.Due]:
    """What would come due by `as_of` (writes nothing, whatever the date)."""
    _may_decide(actor, "retention")
    moment = checked_as_of(as_of)
    with session_scope(read_only=True) as session:
        return record_retention.due(session, moment, programs())


@dataclass(frozen=True)
class BatchView:
    number: str
    kind: str
    status: str
    as_of: datetime
    requested_by: str
    decided_by: str | None
    items: list[tuple[str, str, str, str]]  # scope, client number, case number, rule


def show(number: str, actor: str) -> BatchView:
    _may_decide(actor, "retention")
    with session_scope(read_only=True) as session:
        found = record_retention.batch(session, number)
        return BatchView(
            found.number or "",
            found.kind,
            found.status,
            found.as_of,
            found.requested_by,
            found.decided_by,
            [
                (item.scope, client, case, item.rule)
                for item, client, case in record_retention.items_of(session, found)
            ],
        )


def hold(target: str, reason: HoldReason, actor: str) -> str:
    """A legal hold on a client (CLIENT-…) or one case (CASE-…): its number."""
    supervised = _may_decide(actor, "hold")
    with session_scope() as session:
        if CASE_NUMBER.match(target.strip()):
            case = cases.get_case(session, target)
            client, programs_held = None, {case.program}
        else:
            found = clients.find_client(session, target)
            client = session.get(Client, found.client_id)
            case = None
            programs_held = _programs_of_client(session, found)
        _theirs(supervised, programs_held, f"hold: {target.upper()} has", "places the hold")
        placed = record_retention.place_hold(session, client, case, reason.value, actor, now())
        return placed.number or ""


def _theirs(supervised: set[str] | None, programs_touched: set[str], said: str, does: str) -> None:
    """Refused unless the supervisor supervises every program touched (an admin: all)."""
    if supervised is not None and not programs_touched <= supervised:
        raise InputError(
            f"{said} cases in programs you do not supervise; their supervisor or an admin {does}"
        )


def _programs_of_client(session: Any, found: clients.Found) -> set[str]:
    """The programs of a client's cases; where the caller cannot see them all (another
    program's, on PostgreSQL), one they do not supervise stands in for the rest."""
    seen = record_retention.client_cases(session, found.client_id)
    programs_seen = {c.program for c in seen}
    if len(seen) < found.cases:
        programs_seen.add("(another program)")
    return programs_seen


def lift(number: str, actor: str) -> None:
    supervised = _may_decide(actor, "hold")
    with session_scope() as session:
        try:
            standing = record_retention.find_hold(session, number)
        except record_retention.RetentionError as exc:
            raise InputError(str(exc), field="number") from None
        held_case = session.get(Case, standing.case_id) if standing.case_id else None
        if held_case is not None:
            held = {held_case.program}
        else:
            found = clients.find_client(session, client_number_for(standing.client_id or 0))
            held = _programs_of_client(session, found)
        _theirs(supervised, held, f"hold: {number.upper()} holds", "lifts it")
        record_retention.lift_hold(session, number, actor, now())


def holds(actor: str) -> list[tuple[str, str, str, str, str, datetime]]:
    """The standing holds: number, client, case, reason, placed by, placed at."""
    _may_decide(actor, "holds")
    with session_scope(read_only=True) as session:
        return [
            (h.number or "", client, case, h.reason, h.placed_by, h.placed_at)
            for h, client, case in record_retention.standing_holds(session)
        ]


def erase(client_number: str, reason: ErasureReason, actor: str) -> tuple[str, str]:
    """A client's identity and records, masked at once on request, once another supervisor
    or an admin approves: the batch's number, and the run that waits for the approval."""
    from casework.core.prefect_api import RECORDS_RETENTION_DEPLOYMENT, start_run

    supervised = _may_decide(actor, "erase")
    moment = now()
    with session_scope() as session:
        found = clients.find_client(session, client_number)
        client = session.get(Client, found.client_id)
        assert client is not None
        their = _programs_of_client(session, found)
        _theirs(supervised, their, f"erase: {found.client_number} has", "asks for it")
        try:
            items = record_retention.erasure(session, client, reason.value, moment.date())
        except record_retention.RetentionError as exc:
            raise InputError(str(exc), field="client") from None
        batch = record_retention.open_batch(
            session,
            items,
            kind="erasure",
            as_of=moment,
            requested_by=actor,
            at=moment,
            reason=reason.value,
        )
        number = batch.number or ""
    run = start_run(RECORDS_RETENTION_DEPLOYMENT, {"batch": number})
    with session_scope() as session:  # the run waiting for the decision, for `decide`
        record_retention.batch(session, number).flow_run_id = run
    return number, run


def decide(number: str, approve: bool, actor: str, refusal: str | None = None) -> bool:
    """Approve or refuse a waiting batch; the decision is written, then the run waiting for
    it is woken to apply it. Whether its run was woken or has applied it (if not, it
    applies the decision when it next runs)."""
    from casework.core.prefect_api import ON_ITS_WAY, read_run, resume_waiting

    supervised = _may_decide(actor, "retention")
    with session_scope() as session:
        try:
            found = record_retention.decide(
                session, number, actor, supervised, approve, refusal, now()
            )
        except record_retention.RetentionError as exc:
            raise InputError(str(exc), field="batch") from None
        run_id = found.flow_run_id
        prefix = f"{(found.number or '').lower()}-decision-"
    if not run_id:
        return False
    # The run may be on its way to waiting (it read the batch as waiting a moment before
    # the decision was written): woken once it waits, a bounded while; or it reads the
    # decision itself and applies it.
    deadline = time.monotonic() + 60
    while True:
        run = read_run(run_id)
        if run.waiting and (run.pause_key or "").startswith(prefix):
            return resume_waiting(run_id, run.pause_key or "")
        if run.state_type not in ON_ITS_WAY or time.monotonic() > deadline:
            return run.state_type == "COMPLETED"
        time.sleep(0.3)


def reapply() -> tuple[int, int]:
    """Mask again what the masking log says was masked (after a restore): cases' records
    and clients' identities masked again. It changes identity: on PostgreSQL the store's
    owner (or the service role) runs it, and the store refuses anyone else."""
    with session_scope() as session:
        records, identities, files = record_retention.reapply(
            session, get_settings().masking_log_path, now()
        )
    record_retention.delete_files(files)
    return records, identities
