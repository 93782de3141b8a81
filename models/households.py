"""Households: clients who live together, as HMIS counts them. A household has one head
and members related to the head (HMIS 3.15); a household case covers its members. A
member's stay is a row from the day they joined to the day they left, so a move between
households ends one stay and starts another, and the history is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from casework.models import audit, clients
from casework.models.cases import CaseError
from casework.models.codes import HouseholdRelationship
from casework.models.hmis import adult_on
from casework.models.orm import Case, Client, Household, HouseholdMember

NUMBER_PREFIX = "HH-"


class HouseholdError(CaseError):
    """A household change that cannot be made: the message says why; nothing changed."""


def household_number_for(household_id: int) -> str:
    return f"{NUMBER_PREFIX}{household_id:06d}"


def create_household(session: Session, actor: str) -> Household:
    """A new household, numbered as it is written. On PostgreSQL its row goes in unread
    (staff see a household through its case, which comes next), as a client's does."""
    household = Household(created_by=actor)
    if session.get_bind().dialect.name == "postgresql":
        household.id = session.scalar(
            text("SELECT nextval(pg_get_serial_sequence('households', 'id'))")
        )
        household.household_number = household_number_for(household.id)
    session.add(household)
    session.flush()
    if household.household_number is None:
        household.household_number = household_number_for(household.id)
        session.flush()
    return household


def current_stay(session: Session, client_id: int) -> HouseholdMember | None:
    query = select(HouseholdMember).where(
        HouseholdMember.client_id == client_id, HouseholdMember.left_on.is_(None)
    )
    return session.scalars(query).first()


def stays(session: Session, household_id: int) -> list[HouseholdMember]:
    """Every stay in the household, current members first (the head first), then those
    who left, most recent first."""
    query = select(HouseholdMember).where(HouseholdMember.household_id == household_id)
    found = list(session.scalars(query))
    return sorted(
        found,
        key=lambda m: (
            m.left_on is not None,
            m.relationship != HouseholdRelationship.HEAD.value,
            -(m.left_on or m.joined_on).toordinal(),
            m.id,
        ),
    )


def make_household_case(
    session: Session, case: Case, actor: str, at: datetime, on: date
) -> Household:
    """Make `case` a household case: its client heads a new household (or the household
    they are a current member of already becomes the case's)."""
    if case.household_id is not None:
        household = session.get_one(Household, case.household_id)
        return household
    stay = current_stay(session, case.client_id)
    if stay is not None:
        if stay.relationship != HouseholdRelationship.HEAD.value:
            raise HouseholdError(
                f"{case.case_number}: its client is a member, not the head, of a household "
                "already; a household case is the head's"
            )
        case.household_id = stay.household_id
        session.flush()
        return session.get_one(Household, stay.household_id)
    household = create_household(session, actor)
    case.household_id = household.id
    session.flush()  # the case first: the household is seen through it
    session.add(
        HouseholdMember(
            household_id=household.id,
            client_id=case.client_id,
            relationship=HouseholdRelationship.HEAD.value,
            joined_on=on,
            recorded_by=actor,
            adult_at_start=adult_on(session.get_one(Client, case.client_id).date_of_birth, on),
        )
    )
    session.flush()
    audit.record(session, case, actor, "household_formed", at, household=household.household_number)
    return household


def add_member(
    session: Session,
    case: Case,
    client: Client,
    relationship: HouseholdRelationship,
    actor: str,
    at: datetime,
    on: date,
) -> HouseholdMember:
    """Add `client` to the household of `case` (made a household case first). Refused: a
    second head, the case's own client, and a client who is a current member of a
    household already (they move: `move_member`)."""
    if relationship is HouseholdRelationship.HEAD:
        raise HouseholdError(
            "relationship: a household has one head, the case's client; choose the member's "
            "relationship to them",
            field="relationship",
        )
    if client.id == case.client_id:
        raise HouseholdError(f"{client.client_number} is the case's own client, its head")
    household = make_household_case(session, case, actor, at, on)
    stay = current_stay(session, client.id)
    if stay is not None:
        where = session.get_one(Household, stay.household_id).household_number
        raise HouseholdError(
            f"{client.client_number} is a member of {where} already; move them "
            f"(`casework household {case.case_number} --move {client.client_number} …`)"
        )
    member = HouseholdMember(
        household_id=household.id,
        client_id=client.id,
        relationship=relationship.value,
        joined_on=on,
        recorded_by=actor,
        adult_at_start=adult_on(client.date_of_birth, on),
    )
    session.add(member)
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "household_member_added",
        at,
        household=household.household_number,
        client=client.client_number,
        relationship=relationship.value,
    )
    return member


def end_stay(
    session: Session, case: Case, client: Client, actor: str, at: datetime, on: date
) -> HouseholdMember:
    """`client` leaves the household of `case` on `on` (their stay is kept, ended)."""
    stay = current_stay(session, client.id)
    if stay is None or case.household_id is None or stay.household_id != case.household_id:
        raise HouseholdError(
            f"{client.client_number} is not a current member of {case.case_number}'s household"
        )
    if stay.relationship == HouseholdRelationship.HEAD.value:
        raise HouseholdError(
            f"{client.client_number} heads the household of {case.case_number}; the head "
            "stays while the household case is open"
        )
    if on < stay.joined_on:
        raise HouseholdError(
            f"{on} is before {client.client_number} joined ({stay.joined_on})",
            field="on",
        )
    stay.left_on = on
    stay.left_recorded_by = actor
    session.flush()
    household = session.get_one(Household, stay.household_id)
    audit.record(
        session,
        case,
        actor,
        "household_member_left",
        at,
        household=household.household_number,
        client=client.client_number,
    )
    return stay


def move_member(
    session: Session,
    source: Case,
    target: Case,
    client: Client,
    relationship: HouseholdRelationship,
    actor: str,
    at: datetime,
    on: date,
) -> HouseholdMember:
    """`client` leaves the household of `source` and joins that of `target` on `on`."""
    if source.id == target.id:
        raise HouseholdError("--to: the member is in this case's household already")
    end_stay(session, source, client, actor, at, on)
    return add_member(session, target, client, relationship, actor, at, on)


def merge_stays(session: Session, kept_id: int, merged_id: int, on: date, actor: str) -> None:
    """A merge: the merged client's stays become the kept client's. Where both are current
    members somewhere, the merged record's current stay ends on the day of the merge."""
    kept_now = current_stay(session, kept_id)
    merged_now = current_stay(session, merged_id)
    if kept_now is not None and merged_now is not None:
        merged_now.left_on = max(on, merged_now.joined_on)
        merged_now.left_recorded_by = actor
        session.flush()
    for stay in session.scalars(
        select(HouseholdMember).where(HouseholdMember.client_id == merged_id)
    ):
        stay.client_id = kept_id
    session.flush()


@dataclass(frozen=True)
class Stay:
    """A member's stay as `show`, the desk and the documents list it."""

    client_number: str
    given_name: str | None  # None for a viewer who does not read identity
    family_name: str | None
    date_of_birth: date | None
    relationship: str
    joined_on: date
    left_on: date | None


def listing(session: Session, case: Case, identity: bool) -> tuple[str | None, list[Stay]]:
    """The case's household number and its stays; names and dates of birth for a viewer
    who reads identity (a client's number is their id's, so others never read clients)."""
    if case.household_id is None:
        return None, []
    household = session.get_one(Household, case.household_id)
    out = []
    for stay in stays(session, household.id):
        person = session.get_one(Client, stay.client_id) if identity else None
        out.append(
            Stay(
                clients.client_number_for(stay.client_id),
                person.given_name if person else None,
                person.family_name if person else None,
                person.date_of_birth if person else None,
                stay.relationship,
                stay.joined_on,
                stay.left_on,
            )
        )
    return household.household_number, out
