"""Clients: the only table holding identity. Read by the CLI, never sent to Prefect."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.orm import Client
from models.schemas import ClientIn


def create_client(session: Session, data: ClientIn) -> Client:
    client = Client(**data.model_dump(exclude_none=False, mode="python"))
    client.contact_preference = data.contact_preference.value
    session.add(client)
    session.flush()
    return client
