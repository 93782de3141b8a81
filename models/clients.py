"""Clients: a person with one or more cases, and the only table holding identity. Read by
the CLI, never sent to Prefect. Registering checks for the same person first
(models.matching); results name client numbers and scores, never identity."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models import audit, households
from casework.models.codes import CaseStatus, NewClientReason
from casework.models.matching import BIRTH_WEIGHT, LIKELY, NAME_WEIGHT, Identity, Match, score
from casework.models.orm import (
    Case,
    Client,
    ClientKey,
    ClientMatch,
    Consent,
    ContactConsent,
    MemberAnswers,
    Message,
)
from casework.models.schemas import ClientIn


class ClientError(UserError):
    """A request about a client that cannot be honoured; the message says why."""


class LikelyDuplicate(ClientError):
    """Intake found clients who are likely the same person: numbers and scores only."""

    def __init__(self, matches: list[Candidate]) -> None:
        listed = ", ".join(f"{m.client_number} (score {m.match.score})" for m in matches)
        super().__init__(
            f"client: likely already registered as {listed}; link with --client CLIENT-…, "
            "or register anyway with --new-client REASON"
        )
        self.matches = matches


@dataclass(frozen=True)
class Candidate:
    client_id: int
    client_number: str
    match: Match


def client_number_for(client_id: int) -> str:
    return f"CLIENT-{client_id:06d}"


def identity_of(client: Client | ClientIn) -> Identity:
    """A registered client, or the person at intake, as matching compares them."""
    return Identity.of(
        client.given_name, client.family_name, client.date_of_birth, client.phone, client.id_number
    )


def create_client(session: Session, data: ClientIn, *, index: bool = True) -> Client:
    """Write a client (no duplicate check: `check_new`), numbered as it is written, and,
    with `index`, what matching needs of them. On PostgreSQL the row is written without
    being read back: staff see a client only through a case of theirs, so intake writes
    the client, then its case, then `index_client`."""
    client = Client(**data.model_dump(exclude_none=False, mode="python"))
    client.contact_preference = data.contact_preference.value
    if _postgresql(session):
        client.id = session.scalar(text("SELECT nextval(pg_get_serial_sequence('clients', 'id'))"))
        client.client_number = client_number_for(client.id)
    session.add(client)
    session.flush()
    if client.client_number is None:
        client.client_number = client_number_for(client.id)
        session.flush()
    if index:
        index_client(session, client)
    return client


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def index_client(session: Session, client: Client) -> None:
    """Write a new client's match row and blocking keys."""
    who = identity_of(client)
    session.add(
        ClientMatch(
            client_id=client.id,
            given=who.given,
            family=who.family,
            born=who.born,
            phone=who.phone,
            id_number=who.id_number,
            sounds=who.sounds(),
        )
    )
    session.add_all(ClientKey(client_id=client.id, key=key) for key in sorted(who.keys()))
    session.flush()


@dataclass(frozen=True)
class _Row:
    client_id: int
    client_number: str
    who: Identity


def _rows(session: Session, keys: Iterable[str] | None) -> Iterator[tuple[str, _Row]]:
    """(blocking key, client) for every key given (None: every key of every client) of
    clients not merged away: SQLite only. On PostgreSQL identity never leaves the
    database: it scores (`casework_match`, `casework_likely_pairs`)."""
    query = (
        select(
            ClientKey.key,
            ClientMatch.client_id,
            Client.client_number,
            ClientMatch.given,
            ClientMatch.family,
            ClientMatch.born,
            ClientMatch.phone,
            ClientMatch.id_number,
        )
        .join(ClientMatch, ClientMatch.client_id == ClientKey.client_id)
        .join(Client, Client.id == ClientKey.client_id)
        .where(Client.merged_into_id.is_(None))
    )
    if keys is not None:
        query = query.where(ClientKey.key.in_(sorted(keys)))
    for key, client_id, number, given, family, born, phone, id_number in session.execute(query):
        yield key, _Row(client_id, number, Identity(given, family, born, phone, id_number))


def candidates(session: Session, who: Identity, minimum: int = LIKELY) -> list[Candidate]:
    """Registered clients who are likely `who`, best first: only those sharing a blocking
    key are scored (one indexed query). On PostgreSQL the database scores them, with
    definer's rights, and hands back numbers and scores: intake must find a person
    registered in a program its user cannot read, and learns nothing else of them."""
    if _postgresql(session):
        rows = session.execute(
            text(
                "SELECT client_id, client_number, score, signals FROM casework_match("
                ":given, :family, :born, :phone, :id_number, CAST(:sounds AS json), :keys, "
                ":minimum)"
            ),
            {
                "given": who.given,
                "family": who.family,
                "born": who.born,
                "phone": who.phone,
                "id_number": who.id_number,
                "sounds": json.dumps(who.sounds()),
                "keys": sorted(who.keys()),
                "minimum": minimum,
            },
        )
        found = [
            Candidate(client_id, number, Match(points, tuple(signals)))
            for client_id, number, points, signals in rows
        ]
    else:
        seen: dict[int, Candidate] = {}
        for _key, row in _rows(session, who.keys()):
            if row.client_id not in seen:
                seen[row.client_id] = Candidate(
                    row.client_id, row.client_number, score(who, row.who)
                )
        found = [c for c in seen.values() if c.match.score >= minimum]
    return sorted(found, key=lambda c: (-c.match.score, c.client_id))


def hold_keys(session: Session, who: Identity) -> None:
    """On PostgreSQL, hold a transaction lock on each of `who`'s blocking keys (in one
    order, so two holders never deadlock): two intakes of one person at the same moment
    check and register one after the other, and the second finds the first. SQLite's
    writers are one at a time already (BEGIN IMMEDIATE)."""
    if not _postgresql(session):
        return
    for key in sorted(who.keys()):
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


@dataclass(frozen=True)
class Pair:
    first: str
    second: str
    match: Match


# Within a block of birth dates alone, a pair whose whole names are this unlike cannot
# reach the threshold (the date is at most 40 of the 100 points, the rest needs names
# alike by 0.94 or more; a shared phone or ID number puts the pair in a block of its own,
# scored in full).
NAME_FLOOR = 70
# What a pair alike by name alone can score (their phone or ID, if shared, is a block of
# its own): the name blocks matter to a scan only for a minimum this low; and what a pair
# born the same day scores on that alone: below it, a birth-date block is scored in full.
NAMESAKES = round(100 * NAME_WEIGHT)
BIRTHDAY_ONLY = round(100 * BIRTH_WEIGHT)


def _worth_scoring(block: str, members: list[_Row], minimum: int) -> Iterator[tuple[_Row, _Row]]:
    """The pairs of a block to score: all of them, or in a birth-date block (at the usual
    minimums) only those whose names are alike at all: one C call per member, not a Python
    call per pair."""
    if not block.startswith("d:") or minimum <= BIRTHDAY_ONLY:
        yield from combinations(members, 2)
        return
    names = [f"{m.who.given} {m.who.family}" for m in members]
    for index, member in enumerate(members[:-1]):
        rest = names[index + 1 :]
        for _name, _similarity, at in process.extract_iter(
            names[index], rest, scorer=fuzz.token_set_ratio, score_cutoff=NAME_FLOOR
        ):
            yield member, members[index + 1 + at]


def likely_pairs(session: Session, minimum: int = LIKELY) -> list[Pair]:
    """Likely duplicates across the whole store: clients are compared only within a block
    (a shared key), never every client with every other. On PostgreSQL the database
    scores every pair of a block and hands back numbers and scores."""
    if _postgresql(session):
        rows = session.execute(
            text("SELECT first, second, score, signals FROM casework_likely_pairs(:minimum)"),
            {"minimum": minimum},
        )
        pairs = [Pair(a, b, Match(points, tuple(signals))) for a, b, points, signals in rows]
        return sorted(pairs, key=lambda p: (-p.match.score, p.first, p.second))
    blocks: dict[str, list[_Row]] = defaultdict(list)
    for key, row in _rows(session, None):
        blocks[key].append(row)
    scored: dict[tuple[int, int], Pair] = {}
    for block, members in blocks.items():
        if block.startswith("n:") and minimum > NAMESAKES:
            continue  # alike by name only: at most NAMESAKES points without a birth date
        members.sort(key=lambda r: r.client_id)
        for a, b in _worth_scoring(block, members, minimum):
            if (a.client_id, b.client_id) in scored:
                continue
            match = score(a.who, b.who)
            scored[(a.client_id, b.client_id)] = Pair(a.client_number, b.client_number, match)
    pairs = [p for p in scored.values() if p.match.score >= minimum]
    return sorted(pairs, key=lambda p: (-p.match.score, p.first, p.second))


def matches_for(session: Session, data: ClientIn) -> list[Candidate]:
    """Registered clients likely to be the person `data` describes, best first."""
    return candidates(session, identity_of(data))


def check_new(
    session: Session, data: ClientIn, new_client_reason: NewClientReason | None = None
) -> list[Candidate]:
    """Refuse (`LikelyDuplicate`) to register someone likely registered already, unless
    `new_client_reason` says why; returns the likely matches set aside."""
    hold_keys(session, identity_of(data))
    matches = matches_for(session, data)
    if matches and new_client_reason is None:
        raise LikelyDuplicate(matches[:5])
    return matches


@dataclass(frozen=True)
class Found:
    """A client looked up by number, with what linking and merging must check: how many
    cases it has in all (seen by the caller or not), and its open case in the program
    asked about, if any."""

    client_id: int
    client_number: str
    cases: int
    program: str | None
    open_case: str | None


def find_client(session: Session, client_number: str, program: str | None = None) -> Found:
    """The client `client_number`, not merged away. On PostgreSQL through a function of
    definer's rights: a case manager links a person whose other cases they cannot read
    (and learns of them only whether one is open in `program`)."""
    number = client_number.strip().upper()
    row: Any
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(
            text(
                "SELECT id, merged_into, cases, open_case FROM casework_client(:number, :program)"
            ),
            {"number": number, "program": program},
        ).first()
    else:
        client = session.scalars(select(Client).where(Client.client_number == number)).first()
        row = None
        if client is not None:
            survivor = session.get(Client, client.merged_into_id) if client.merged_into_id else None
            count = select(func.count()).select_from(Case).where(Case.client_id == client.id)
            row = (
                client.id,
                survivor.client_number if survivor else None,
                session.scalar(count),
                open_case_in(session, client.id, program) if program else None,
            )
    if row is None:
        raise ClientError(f"client: no client {number}")
    client_id, merged_into, count, open_case = row
    if merged_into is not None:
        raise ClientError(f"client: {number} was merged into {merged_into}; use that number")
    return Found(int(client_id), number, int(count), program, open_case)


def check_linkable(found: Found) -> None:
    if found.open_case is not None:
        raise ClientError(
            f"client: {found.client_number} already has an open {found.program} case "
            f"({found.open_case}); work on that case, or close it first"
        )


def open_case_in(session: Session, client_id: int, program: str) -> str | None:
    """The case number of the client's open case in `program`, as the caller sees it."""
    query = select(Case.case_number).where(
        Case.client_id == client_id,
        Case.program == program,
        Case.status == CaseStatus.OPEN.value,
    )
    return session.scalars(query.order_by(Case.id).limit(1)).first()


@dataclass(frozen=True)
class OtherCase:
    case_number: str
    program: str | None  # None: a program the viewer does not work in
    stage: str | None
    status: str
    open_escalations: int | None
    crisis: bool


def other_cases(session: Session, case: Case, viewer_programs: set[str]) -> list[OtherCase]:
    """The client's other cases. In the viewer's programs: program, stage, status, open
    escalations and crisis flag. In other programs: the case number, whether it is open
    and whether a crisis is open there (a safety matter) only. On PostgreSQL through a
    function of definer's rights: the viewer cannot read another program's case."""
    from casework.models.orm import Escalation

    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT case_number, program, stage, status, crisis, escalations "
                "FROM casework_client_cases(:client, :case)"
            ),
            {"client": case.client_id, "case": case.id},
        ).all()
    else:
        open_count = (  # breaches, not rungs: one breach's open levels count once
            select(
                func.count(func.distinct(Escalation.rule.concat("|").concat(Escalation.subject)))
            )
            .where(Escalation.case_id == Case.id, Escalation.resolved_at.is_(None))
            .scalar_subquery()
        )
        rows = session.execute(
            select(
                Case.case_number,
                Case.program,
                Case.stage,
                Case.status,
                Case.crisis_since.is_not(None),
                open_count,
            )
            .where(Case.client_id == case.client_id, Case.id != case.id)
            .order_by(Case.id)
        ).all()
    others = []
    for number, program, stage, status, crisis, escalations in rows:
        shown = program is not None and program in viewer_programs
        others.append(
            OtherCase(
                case_number=number,
                program=program if shown else None,
                stage=stage if shown else None,
                status=status,
                open_escalations=int(escalations) if shown else None,
                crisis=bool(crisis) and status == CaseStatus.OPEN.value,
            )
        )
    return others


def merge(
    session: Session,
    kept_number: str,
    merged_number: str,
    actor: str,
    at: datetime,
    supervised: set[str],
) -> int:
    """Merge `merged_number` into `kept_number`: its cases and consents (to share, and to be
    messaged; and with its cases their benefits, contacts, documents and messages) move to
    the kept client. The merged client's
    row stays, identity and all, marked merged; both numbers are audited on every case
    moved. Refused when both have an open case in the same program, or when the merging
    staff member does not supervise the program of every case that would move (on
    PostgreSQL they could not see it either). Returns the cases moved."""
    kept = find_client(session, kept_number)
    merged = find_client(session, merged_number)
    if kept.client_id == merged.client_id:
        raise ClientError("client: a client cannot be merged with itself")
    moving = list(
        session.scalars(select(Case).where(Case.client_id == merged.client_id).with_for_update())
    )
    if len(moving) != merged.cases or any(c.program not in supervised for c in moving):
        raise ClientError(
            f"merge: {merged.client_number} has cases in programs you do not supervise; "
            "a supervisor of those programs merges it"
        )
    # Every program a case moves in is the merger's: the kept client's cases there are
    # theirs to see (on PostgreSQL too).
    for case in moving:
        clash = open_case_in(session, kept.client_id, case.program)
        if case.status == CaseStatus.OPEN.value and clash:
            raise ClientError(
                f"merge: both clients have an open {case.program} case ({clash} and "
                f"{case.case_number}); close one first"
            )
    session.execute(
        update(Case).where(Case.client_id == merged.client_id).values(client_id=kept.client_id)
    )
    for table in (Consent, ContactConsent, Message):  # consents, and messages with cases
        session.execute(
            update(table)
            .where(table.client_id == merged.client_id)
            .values(client_id=kept.client_id)
        )
    households.merge_stays(session, kept.client_id, merged.client_id, at.date(), actor)
    # A member's HMIS answers go with them, but where the record kept has its own in the
    # same case: those stay, and the merged record's stay with it, for the record.
    kept_in = select(MemberAnswers.case_id).where(MemberAnswers.client_id == kept.client_id)
    session.execute(
        update(MemberAnswers)
        .where(MemberAnswers.client_id == merged.client_id, MemberAnswers.case_id.not_in(kept_in))
        .values(client_id=kept.client_id)
    )
    session.execute(
        update(Client).where(Client.id == merged.client_id).values(merged_into_id=kept.client_id)
    )
    session.execute(delete(ClientKey).where(ClientKey.client_id == merged.client_id))
    session.flush()
    detail = {"kept": kept.client_number, "merged": merged.client_number}
    for case in moving:
        audit.record(session, case, actor, "client_merged", at, **detail)
    if not moving:
        audit.record(session, None, actor, "client_merged", at, **detail)
    return len(moving)
