"""Contacts, progress notes and stage narratives: free text, kept in the store only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import audit
from casework.models.codes import CLIENT_CONTACTS
from casework.models.orm import Case, Contact, Narrative
from casework.models.schemas import ContactIn


def add_contact(
    session: Session, case: Case, data: ContactIn, author: str, at: datetime
) -> Contact:
    contact = Contact(
        case_id=case.id,
        episode=case.episode,
        contact_type=data.contact_type.value,
        text=data.text,
        crisis=data.crisis,
        author=author,
        occurred_at=at,
    )
    session.add(contact)
    if data.contact_type in CLIENT_CONTACTS:
        case.last_contact_at = max(case.last_contact_at, at)
    if data.crisis and case.crisis_since is None:
        case.crisis_since = at
    session.flush()
    audit.record(
        session,
        case,
        author,
        "contact_recorded",
        at,
        contact_type=contact.contact_type,
        crisis=data.crisis,
    )
    return contact


def save_narrative(
    session: Session,
    case: Case,
    key: str,
    text: str,
    author: str,
    at: datetime,
    answers: dict[str, Any] | None = None,
) -> Narrative:
    """Attach narrative text (and written answers) to one stage submission; saving the same
    key again replaces them."""
    query = select(Narrative).where(
        Narrative.case_id == case.id, Narrative.episode == case.episode, Narrative.stage_key == key
    )
    narrative = session.scalars(query).one_or_none()
    if narrative is None:
        narrative = Narrative(
            case_id=case.id,
            episode=case.episode,
            stage_key=key,
            text=text,
            author=author,
            answers=answers or None,
        )
        session.add(narrative)
    else:
        narrative.text, narrative.author, narrative.answers = text, author, answers or None
    session.flush()
    audit.record(session, case, author, "narrative_saved", at, stage_key=key)
    return narrative


def drop_narrative(session: Session, case: Case, key: str) -> None:
    """Remove the narrative held for a submission Prefect refused (it belongs to no stage)."""
    query = select(Narrative).where(
        Narrative.case_id == case.id, Narrative.episode == case.episode, Narrative.stage_key == key
    )
    for narrative in session.scalars(query):
        session.delete(narrative)


def promote_narrative(session: Session, case: Case, held: str, key: str) -> None:
    """The held narrative of an accepted submission becomes the stage's own: renamed in
    place, or (the stage has one already) copied into it and the held one removed. Staff
    may delete held narratives only (PostgreSQL policy `held_only`)."""
    query = select(Narrative).where(
        Narrative.case_id == case.id, Narrative.episode == case.episode, Narrative.stage_key == held
    )
    narrative = session.scalars(query).one_or_none()
    if narrative is None:
        return
    existing = session.scalars(
        select(Narrative).where(
            Narrative.case_id == case.id,
            Narrative.episode == case.episode,
            Narrative.stage_key == key,
        )
    ).one_or_none()
    if existing is None:
        narrative.stage_key = key
        session.flush()
        audit.record(
            session, case, narrative.author, "narrative_saved", narrative.created, stage_key=key
        )
        return
    text, author, at, answers = (
        narrative.text,
        narrative.author,
        narrative.created,
        narrative.answers,
    )
    session.delete(narrative)
    session.flush()
    save_narrative(session, case, key, text, author, at, answers)


def contacts_for(session: Session, case: Case) -> list[Contact]:
    query = select(Contact).where(Contact.case_id == case.id).order_by(Contact.occurred_at)
    return list(session.scalars(query))


def narratives_for(session: Session, case: Case) -> dict[str, str]:
    """The case's narratives by `e{episode}:{stage key}` (a submission with written answers
    only has none)."""
    query = select(Narrative).where(Narrative.case_id == case.id).order_by(Narrative.id)
    return {f"e{n.episode}:{n.stage_key}": n.text for n in session.scalars(query) if n.text}


def written_for(session: Session, case: Case, episode: int, key: str) -> dict[str, Any]:
    """The written answers given with one stage submission (instrument -> item -> words)."""
    query = select(Narrative.answers).where(
        Narrative.case_id == case.id, Narrative.episode == episode, Narrative.stage_key == key
    )
    return session.scalars(query).one_or_none() or {}
