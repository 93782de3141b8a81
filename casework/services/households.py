"""Households: a case's household and its members, registered at intake or later, each new
member through the duplicate check, moved between households with their history kept.
Those who read identity see the members' names; everyone else, client numbers and
relationships only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from casework.core.clock import now
from casework.core.db import session_scope
from casework.models import audit, cases, clients, households
from casework.models.codes import HouseholdRelationship, NewClientReason
from casework.models.households import HouseholdError, Stay
from casework.models.orm import Case, Client
from casework.models.schemas import ClientIn
from casework.services.staff import reads_identity

# A member as given: a new person (registered after the duplicate check) or an existing
# client's number (CLIENT-…).
Member = tuple[HouseholdRelationship, ClientIn | str]


@dataclass(frozen=True)
class HouseholdView:
    case_number: str
    household_number: str | None
    reads_identity: bool
    stays: list[Stay]


def check_members(
    session: Session, members: list[Member], new_client_reason: NewClientReason | None
) -> None:
    """Refuse, before anything is written, a member likely registered already (unless
    `new_client_reason` says why), an unknown or merged client number, and a head."""
    for relationship, person in members:
        if relationship is HouseholdRelationship.HEAD:
            raise HouseholdError(
                "member: the case's client heads the household; give each member's "
                "relationship to them"
            )
        if isinstance(person, str):
            clients.find_client(session, person)
        else:
            _checked(session, relationship, person, new_client_reason)


def register_members(
    session: Session,
    case: Case,
    members: list[Member],
    actor: str,
    new_client_reason: NewClientReason | None = None,
    on: date | None = None,
) -> list[str]:
    """Add each member to the case's household (made a household case), a new person
    registered first, after the duplicate check; in the caller's transaction. Returns the
    members' client numbers."""
    at = now()
    numbers = []
    for relationship, person in members:
        registered = None
        if isinstance(person, str):
            found = clients.find_client(session, person)
            client_id = found.client_id
        else:
            _checked(session, relationship, person, new_client_reason)
            registered = clients.create_client(session, person, index=False)
            client_id = registered.id
        member = registered or session.get_one(Client, client_id)
        households.add_member(session, case, member, relationship, actor, at, on or at.date())
        if registered is not None:  # after its stay: staff see the member through it
            clients.index_client(session, registered)
        numbers.append(clients.client_number_for(client_id))
    return numbers


def view(case_number: str, viewer: str) -> HouseholdView:
    identity = reads_identity(viewer)
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        number, stays = households.listing(session, case, identity)
        if identity and stays:
            audit.record_access(session, case, viewer, "household", now())
        return HouseholdView(case.case_number or case_number, number, identity, stays)


def add(
    case_number: str,
    members: list[Member],
    actor: str,
    *,
    new_client_reason: NewClientReason | None = None,
    on: date | None = None,
) -> list[str]:
    """Add members to an open case's household (the case becomes a household case); each
    new person is checked for duplicates in the same transaction, so a refusal writes
    nothing."""
    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        return register_members(session, case, members, actor, new_client_reason, on)


def leave(case_number: str, client_number: str, actor: str, on: date | None = None) -> None:
    with session_scope() as session:
        case = cases.get_open_case(session, case_number)
        client = _client(session, client_number)
        at = now()
        households.end_stay(session, case, client, actor, at, on or at.date())


def move(
    case_number: str,
    client_number: str,
    to_case: str,
    relationship: HouseholdRelationship,
    actor: str,
    on: date | None = None,
) -> None:
    """A member leaves this case's household and joins `to_case`'s, the same day."""
    with session_scope() as session:
        source = cases.get_open_case(session, case_number)
        target = cases.get_open_case(session, to_case)
        client = _client(session, client_number)
        at = now()
        households.move_member(
            session, source, target, client, relationship, actor, at, on or at.date()
        )


def _checked(
    session: Session,
    relationship: HouseholdRelationship,
    person: ClientIn,
    new_client_reason: NewClientReason | None,
) -> None:
    """The duplicate check for a new member, its refusal saying how to give a member."""
    try:
        clients.check_new(session, person, new_client_reason)
    except clients.LikelyDuplicate as exc:
        listed = ", ".join(f"{m.client_number} (score {m.match.score})" for m in exc.matches)
        raise HouseholdError(
            f"member: the {relationship.value} is likely registered already as {listed}; give "
            f"them as {relationship.value}={exc.matches[0].client_number}, or register anyway "
            "with --new-client REASON"
        ) from None


def _client(session: Session, client_number: str) -> Client:
    found = clients.find_client(session, client_number)
    return session.get_one(Client, found.client_id)
