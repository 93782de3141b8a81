"""Clients across cases: likely duplicates, and merging two records of one person
(a supervisor's work)."""

from __future__ import annotations

from casework.core.clock import now
from casework.core.db import session_scope
from casework.models import (
    clients,
)
from casework.models.codes import (
    StaffRole,
)
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
