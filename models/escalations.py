"""The escalation ladder: turning a sweep's breaches into escalation rows, climbing a level
when a breach outlasts the program's interval, and resolving what is no longer in breach.
Written in bulk: a handful of statements per sweep, whatever the caseload."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from casework.models.codes import LEVEL_ROLES, TOP_LEVEL, EscalationRule, Program, Watch
from casework.models.orm import Case, Escalation
from casework.models.rules import WARNINGS, WATCHES, Breach, Programs, Scope, first_level, rules_of

CHUNK = 500


@dataclass(frozen=True)
class Rung:
    """One escalation raised or resolved: coded values only (it goes on artifacts)."""

    case_number: str
    rule: str
    level: int


@dataclass
class LadderResult:
    breaches: int = 0
    raised: list[Rung] = field(default_factory=list)
    resolved: list[Rung] = field(default_factory=list)


def _levels_to_raise(
    breach: Breach, open_rows: Sequence[Any], scope: Scope, programs: Programs
) -> list[int]:
    """The levels to raise now: the first rung for a new breach; the next rung once the
    current one has stood for the program's interval; nothing above the top. A breach
    with a deadline (`due_level`) climbs to the rung its deadline calls for, on the day,
    and every rung below it not yet raised is raised with it (everyone below is told)."""
    newest = max(open_rows, key=lambda row: row.level, default=None)
    top = None if newest is None else int(newest.level)
    if breach.due_level is not None:
        return list(range(1 if top is None else top + 1, max(breach.due_level, 1) + 1))
    if newest is None or top is None:
        return [first_level(breach.rule)]
    ceiling = 0 if breach.rule in WARNINGS else TOP_LEVEL
    interval = programs[Program(breach.program)].escalation_interval_days
    if top < ceiling and scope.days_since(newest.as_of) >= interval:
        return [top + 1]
    return []


def apply_ladder(
    session: Session,
    rules: Iterable[EscalationRule],
    breaches: list[Breach],
    scope: Scope,
    programs: Programs,
) -> LadderResult:
    """Record `breaches` (everything the sweep found for `rules`) on the ladder."""
    rule_codes = [rule.value for rule in rules]
    query = select(
        Escalation.id,
        Escalation.case_id,
        Escalation.case_number,
        Escalation.rule,
        Escalation.subject,
        Escalation.level,
        Escalation.as_of,
    ).where(Escalation.resolved_at.is_(None), Escalation.rule.in_(rule_codes))
    if scope.case_id is not None:
        query = query.where(Escalation.case_id == scope.case_id)
    open_by_key: dict[tuple[int, str, str], list[Any]] = defaultdict(list)
    for row in session.execute(query):
        open_by_key[(row.case_id, row.rule, row.subject)].append(row)

    result = LadderResult(breaches=len(breaches))
    new_rows = []
    for breach in breaches:
        for level in _levels_to_raise(breach, open_by_key.get(breach.key, []), scope, programs):
            new_rows.append(_row(breach, level, scope, programs))
            result.raised.append(Rung(breach.case_number, breach.rule.value, level))
    _insert_new(session, new_rows)

    breached = {breach.key for breach in breaches}
    cleared = [row for key, rows in open_by_key.items() if key not in breached for row in rows]
    for start in range(0, len(cleared), CHUNK):
        ids = [row.id for row in cleared[start : start + CHUNK]]
        session.execute(
            update(Escalation).where(Escalation.id.in_(ids)).values(resolved_at=scope.as_of)
        )
    result.resolved = [Rung(row.case_number, row.rule, row.level) for row in cleared]
    session.flush()
    return result


def _row(breach: Breach, level: int, scope: Scope, programs: Programs) -> dict[str, Any]:
    role = LEVEL_ROLES[level]
    return {
        "case_id": breach.case_id,
        "case_number": breach.case_number,
        "program": breach.program,
        "rule": breach.rule.value,
        "subject": breach.subject,
        "level": level,
        "threshold": breach.threshold,
        "measured": breach.measured,
        "as_of": scope.as_of,
        "recipient": programs[Program(breach.program)].recipient(role, breach.case_manager),
        "recipient_role": role.value,
    }


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert, skipping any row a concurrent sweep already wrote (same breach, same level)."""
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Escalation).on_conflict_do_nothing(
        index_elements=["case_id", "rule", "subject", "level"]
    )
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, rows[start : start + CHUNK])


def top_open_rungs() -> Any:
    """The ids of each open breach's highest open rung: a breach at level 2 has its level-1
    rung open too (both were told; neither is resolved until the breach is), and is one
    breach, counted once, at its highest level."""
    top = (
        select(
            Escalation.case_id,
            Escalation.rule,
            Escalation.subject,
            func.max(Escalation.level).label("level"),
        )
        .where(Escalation.resolved_at.is_(None))
        .group_by(Escalation.case_id, Escalation.rule, Escalation.subject)
        .subquery()
    )
    return (
        select(Escalation.id)
        .join(
            top,
            (top.c.case_id == Escalation.case_id)
            & (top.c.rule == Escalation.rule)
            & (top.c.subject == Escalation.subject)
            & (top.c.level == Escalation.level),
        )
        .where(Escalation.resolved_at.is_(None))
    )


def open_breach_levels(session: Session) -> list[int]:
    """The highest open level of every open breach (one entry per breach)."""
    query = select(Escalation.level).where(Escalation.id.in_(top_open_rungs()))
    return list(session.scalars(query))


def listing(
    session: Session, *, open_only: bool = False, case_number: str | None = None, limit: int = 1000
) -> list[Escalation]:
    """Escalation rungs, newest first; with `open_only`, the open breaches, each once, at
    its highest open rung."""
    query = select(Escalation).order_by(Escalation.as_of.desc(), Escalation.id.desc()).limit(limit)
    if open_only:
        query = query.where(Escalation.id.in_(top_open_rungs()))
    if case_number is not None:
        query = query.where(Escalation.case_number == case_number.strip().upper())
    return list(session.scalars(query))


def claim_undelivered(
    session: Session, now: datetime, lease: timedelta, limit: int = 5000
) -> list[Escalation]:
    """Take the escalations whose event or webhook has not gone out yet (oldest first) for
    this delivery alone, until `now + lease`: however many sweeps deliver at once, each
    rung goes out once. On PostgreSQL rows another sweep is claiming are skipped (FOR
    UPDATE SKIP LOCKED); on SQLite the transaction already holds the write lock, and the
    claim is a conditional update all the same. A claim that outlives a dead sweep lapses."""
    free = or_(Escalation.claimed_until.is_(None), Escalation.claimed_until < now)
    query = (
        select(Escalation.id)
        .where(Escalation.delivered_at.is_(None), free)
        .order_by(Escalation.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    claimed = session.execute(
        update(Escalation)
        .where(Escalation.id.in_(ids), Escalation.delivered_at.is_(None), free)
        .values(claimed_until=now + lease)
        .returning(Escalation.id)
        .execution_options(synchronize_session=False)
    )
    mine = set(claimed.scalars())
    rows = session.scalars(
        select(Escalation).where(Escalation.id.in_(mine)).order_by(Escalation.id)
    )
    return list(rows)


def open_top_level(session: Session, case: Case) -> int | None:
    """The highest open level on the case (warnings excluded), or None."""
    query = select(Escalation.level).where(
        Escalation.case_id == case.id, Escalation.resolved_at.is_(None), Escalation.level > 0
    )
    return max(session.scalars(query), default=None)


def mark_delivery(
    session: Session,
    escalation_id: int,
    *,
    at: datetime,
    event_emitted: bool,
    delivered: bool,
    error: str | None,
    attempted: bool = True,
) -> None:
    row = session.get_one(Escalation, escalation_id)
    if event_emitted and row.event_emitted_at is None:
        row.event_emitted_at = at
    row.delivery_attempts += int(attempted)
    row.claimed_until = None
    row.delivery_error = error[:200] if error else None
    if delivered:
        row.delivered_at = at
    session.flush()


def sweep(session: Session, watch: Watch, scope: Scope, programs: Programs) -> LadderResult:
    """Run one watch's rule queries and record what they found on the ladder."""
    breaches = [breach for query in WATCHES[watch] for breach in query(session, scope, programs)]
    return apply_ladder(session, rules_of(watch), breaches, scope, programs)


def delivery_backlog(session: Session) -> list[tuple[str, int]]:
    """Undelivered notifications that were tried and failed, counted by reason (the
    `casework status` view); rows not tried yet are the next sweep's ordinary work."""
    query = (
        select(Escalation.delivery_error, func.count())
        .where(Escalation.delivered_at.is_(None), Escalation.delivery_error.is_not(None))
        .group_by(Escalation.delivery_error)
        .order_by(func.count().desc())
    )
    return [(str(error), int(count)) for error, count in session.execute(query)]
