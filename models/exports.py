"""What the analysts' exports hold, declared once per kind: the columns (coded values and
dates; identity only when asked for, by a role that reads it), and the query that streams
them in a fixed order. Which rows come is the caller's filter (the cases the exporter
sees); on PostgreSQL the store's row-level policies say the same again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from casework.models.codes import NeedsDomain
from casework.models.labels import label
from casework.models.orm import (
    AdverseNotice,
    Assessment,
    Case,
    Client,
    Episode,
    Escalation,
    Referral,
)

KINDS = ("cases", "referrals", "escalations", "notices", "assessments")
BATCH = 1000  # rows fetched at a time: a 100,000-case export is never held whole


@dataclass(frozen=True)
class Column:
    """One column: its header, the stored value, and whether it is a code (a list of codes
    when `many`), to which `--with-labels` adds a `_label` column beside it."""

    name: str
    value: Any
    coded: bool = False
    many: bool = False


IDENTITY = [
    Column("given_name", Client.given_name),
    Column("family_name", Client.family_name),
    Column("date_of_birth", Client.date_of_birth),
]
CLIENT_NUMBER = Column("client_number", Client.client_number)
_CASE = [Column("case_number", Case.case_number), Column("program", Case.program, coded=True)]


def _columns(kind: str) -> list[Column]:
    if kind == "cases":
        return [
            *_CASE,
            Column("case_manager", Case.case_manager),
            Column("status", Case.status, coded=True),
            Column("stage", Case.stage, coded=True),
            Column("episode", Case.episode),
            Column("opened_at", Case.opened_at),
            Column("stage_entered_at", Case.stage_entered_at),
            Column("last_contact_at", Case.last_contact_at),
            Column("last_assessed_at", Case.last_assessed_at),
            Column("in_crisis_since", Case.crisis_since),
            Column("waiting_on", Case.waiting_on, coded=True),
            Column("closed_at", Case.closed_at),
            Column("closure_reason", Episode.closure_reason, coded=True),
        ]
    if kind == "referrals":
        return [
            Column("reference", Referral.reference),
            *_CASE,
            Column("episode", Referral.episode),
            Column("service", Referral.service, coded=True),
            Column("provider", Referral.provider),
            Column("urgency", Referral.urgency, coded=True),
            Column("need", Referral.reason, coded=True),
            Column("status", Referral.status, coded=True),
            Column("status_at", Referral.status_at),
            Column("made_at", Referral.created),
            Column("sent_at", Referral.sent_at),
        ]
    if kind == "escalations":
        return [
            Column("escalation", Escalation.id),
            *_CASE,
            Column("rule", Escalation.rule, coded=True),
            Column("level", Escalation.level),
            Column("measured", Escalation.measured),
            Column("threshold", Escalation.threshold),
            Column("as_of", Escalation.as_of),
            Column("recipient", Escalation.recipient),
            Column("recipient_role", Escalation.recipient_role, coded=True),
            Column("delivered_at", Escalation.delivered_at),
            Column("resolved_at", Escalation.resolved_at),
        ]
    if kind == "notices":
        return [
            *_CASE,
            Column("notice", AdverseNotice.number),
            Column("episode", AdverseNotice.episode),
            Column("benefit", AdverseNotice.benefit, coded=True),
            Column("action", AdverseNotice.action, coded=True),
            Column("reason", AdverseNotice.reason, coded=True),
            Column("notice_date", AdverseNotice.notice_date),
            Column("effective_on", AdverseNotice.effective_on),
            Column("aid_deadline", AdverseNotice.aid_deadline),
            Column("hearing_deadline", AdverseNotice.hearing_deadline),
            Column("hearing_requested_on", AdverseNotice.hearing_requested_on),
            Column("aid_continuing", AdverseNotice.aid_continuing),
            Column("declined_on", AdverseNotice.declined_on),
            Column("decision", AdverseNotice.decision, coded=True),
            Column("decided_on", AdverseNotice.decided_on),
        ]
    if kind == "assessments":
        return [
            *_CASE,
            Column("episode", Assessment.episode),
            Column("assessed_at", Assessment.assessed_at),
            Column("assessed_by", Assessment.assessed_by),
            Column("risk_level", Assessment.risk_level, coded=True),
            Column("priority", Assessment.priority),
            Column("client_participated", Assessment.client_participated),
            Column("crisis_flags", Assessment.crisis_flags, coded=True, many=True),
            Column("strengths", Assessment.strengths, coded=True, many=True),
            # One column per needs domain, from the self-sufficiency scores (1-5).
            *(Column(f"score_{d.value}", Assessment.scores) for d in NeedsDomain),
        ]
    raise ValueError(f"no export of {kind}")


_TABLES: dict[str, Any] = {
    "referrals": Referral,
    "escalations": Escalation,
    "notices": AdverseNotice,
    "assessments": Assessment,
}


def _from(kind: str) -> Any:
    """The table a kind's rows come from, joined to their case (a case to its episode)."""
    if kind == "cases":
        episode = and_(Episode.case_id == Case.id, Episode.number == Case.episode)
        return Case.__table__.outerjoin(Episode, episode)
    table = _TABLES[kind]
    return table.__table__.join(Case, Case.id == table.case_id)


@dataclass(frozen=True)
class Layout:
    """An export's columns as written: headers, and a cell maker per stored column."""

    headers: list[str]
    columns: list[Column]
    labels: bool
    client: bool  # the client's table is read (its number, or identity)

    @cached_property
    def sources(self) -> list[Any]:
        """The stored values read, each once (the domain scores share one)."""
        found: list[Any] = []
        for column in self.columns:
            if not any(column.value is seen for seen in found):
                found.append(column.value)
        return found

    @cached_property
    def positions(self) -> list[int]:
        """Where each column's stored value is in a row of `sources`."""
        return [next(i for i, s in enumerate(self.sources) if s is c.value) for c in self.columns]

    def cells(self, row: tuple[Any, ...]) -> list[Any]:
        read = [row[i] for i in self.positions]
        out: list[Any] = []
        for column, value in zip(self.columns, read, strict=True):
            if column.name.startswith("score_"):
                value = (value or {}).get(column.name.removeprefix("score_"))
            elif column.many:
                value = "; ".join(value or [])
            out.append(value)
            if self.labels and column.coded:
                codes = (value.split("; ") if value else []) if column.many else [value]
                out.append("; ".join(label(c) for c in codes if c) if value else None)
        return out


def layout(kind: str, *, client_number: bool, identity: bool, labels: bool) -> Layout:
    """The columns of an export: the client's number after the case's, for a role that
    reads the client's table; their name and date of birth after it, when asked for."""
    columns = _columns(kind)
    at = [c.name for c in columns].index("case_number") + 1
    client = client_number or identity
    extra = [*([CLIENT_NUMBER] if client else []), *(IDENTITY if identity else [])]
    columns = [*columns[:at], *extra, *columns[at:]]
    headers: list[str] = []
    for column in columns:
        headers.append(column.name)
        if labels and column.coded:
            headers.append(f"{column.name}_label")
    return Layout(headers, columns, labels, client)


def rows(
    session: Session,
    kind: str,
    shown: Layout,
    seen: ColumnElement[bool],
    program: str | None = None,
) -> Iterator[tuple[int, list[Any]]]:
    """Each row's case id and cells, streamed `BATCH` at a time, in a fixed order (by case,
    then the row's own number)."""
    joined = _from(kind)
    if shown.client:
        joined = joined.join(Client, Client.id == Case.client_id)
    query: Select[Any] = select(Case.id, *shown.sources).select_from(joined).where(seen)
    if program is not None:
        query = query.where(Case.program == program)
    order = [Case.id] if kind == "cases" else [Case.id, _TABLES[kind].id]
    query = query.order_by(*order).execution_options(yield_per=BATCH)
    for row in session.execute(query):
        yield row[0], shown.cells(tuple(row[1:]))
