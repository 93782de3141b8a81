"""Database wiring for the case store: engines, sessions and schema migrations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from casework.core.errors import UserError

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def make_engine(url: str, **pool: int) -> Engine:
    """An engine on the store at `url` (on PostgreSQL, `pool`: its pool_size, max_overflow)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Statement parameters are client data: never in an exception's text or a log line.
        engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


BUSY_SECONDS = 30
LOCKED_RETRIES = 3


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets the CLI read while a flow run writes; foreign keys are off by default.
    # pysqlite's own BEGIN is switched off: `_sqlite_begin` says which kind.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """A transaction that may write takes the write lock as it begins (waiting up to
    BUSY_SECONDS for it), so it never fails half-way when a reader's snapshot turns into
    a writer ("database is locked", which SQLite's busy wait cannot help). Read-only
    sessions begin deferred and never wait for writers."""
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


READ_ONLY = "casework_read_only"


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def default_engine() -> Engine:
    """The store as this process signs in to it, or, inside `acting_through`, as the staff
    member a desk request is for."""
    acting = _ACTING.get()
    if acting is not None:
        return acting
    from casework.core.settings import get_settings

    return engine_for(get_settings().store_url)


_ACTING: ContextVar[Engine | None] = ContextVar("casework_acting_engine", default=None)


@contextmanager
def acting_through(engine: Engine) -> Iterator[None]:
    """Every store session opened in this context (this thread, this request) goes through
    `engine`: on PostgreSQL, signed in as the staff member the desk signed in."""
    token = _ACTING.set(engine)
    try:
        yield
    finally:
        _ACTING.reset(token)


@contextmanager
def session_scope(engine: Engine | None = None, *, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. On SQLite it holds the
    write lock from its start (unless `read_only`); a lock still busy after the wait is
    asked for again before any of the work is done, so nothing is half-applied."""
    engine = engine or default_engine()
    if read_only:
        engine = engine.execution_options(**{READ_ONLY: True})
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session:
        for attempt in range(1, LOCKED_RETRIES + 1):
            try:
                session.connection()  # begins now: on SQLite, with the write lock
                break
            except OperationalError as exc:
                session.rollback()
                if "locked" not in str(exc.orig) or attempt == LOCKED_RETRIES:
                    raise
        try:
            yield session
            session.commit()
        except DBAPIError as exc:
            session.rollback()
            if getattr(exc.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
                raise AccessDenied(denied(exc)) from None
            raise
        except BaseException:
            session.rollback()
            raise


INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL: a grant or a row-level policy said no


class AccessDenied(UserError):
    """The case store refused this staff member: no grant, or a row not theirs."""


def denied(exc: DBAPIError) -> str:
    """PostgreSQL's one line ("permission denied for table clients", "new row violates
    row-level security policy for table contacts"), with who was refused."""
    first = str(exc.orig).strip().splitlines()[0]
    return f"access denied to your staff role: {first}"


def migrate(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the store's schema to `revision` (default: the newest migration)."""
    from alembic.config import Config

    engine = engine or default_engine()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        _upgrade(engine, config, revision)
    except DBAPIError as exc:
        raise _unopened(engine, exc) or exc from None


def _upgrade(engine: Engine, config: Any, revision: str) -> None:
    """Upgrade to `revision`. On SQLite, altering a table means copying it, which foreign
    keys forbid while rows point at it: they are off for the upgrade (the pragma only takes
    outside a transaction) and checked before it commits."""
    from alembic import command
    from sqlalchemy import text

    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:  # on the driver's connection: outside any transaction, where it takes
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with connection.begin():
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            if sqlite and connection.execute(text("PRAGMA foreign_key_check")).first():
                raise StoreNotReady("migration left rows pointing at missing rows; rolled back")
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


class StoreNotReady(UserError):
    """The case store has no schema, or an older one than this code needs."""


# SQLite's words for a path that is no store: not a database file, or not a file it can open.
NOT_A_STORE = ("file is not a database", "unable to open database file")


def _unopened(engine: Engine, exc: DBAPIError) -> StoreNotReady | None:
    """The one line for a store that cannot be opened at all, or None for any other error."""
    where = engine.url.render_as_string(hide_password=True)
    said = " ".join(str(exc.orig).split())
    if engine.dialect.name == "postgresql" and isinstance(exc, OperationalError):
        # A role that may not sign in (deactivated), a wrong password, a server that is down.
        said = said.rsplit("FATAL: ", 1)[-1]
        return StoreNotReady(f"cannot sign in to the case store {where}: {said}")
    if engine.dialect.name == "sqlite" and said in NOT_A_STORE:
        return StoreNotReady(
            f"{where} is not a case store Casework can open ({said}); check "
            "CASEWORK_DATABASE_URL, or leave it unset for the data directory's own"
        )
    return None


_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*['\"]?([\w]+|None)['\"]?", re.M)


def schema_head() -> str:
    """The newest migration's revision, read from the migration files' own `revision` and
    `down_revision` lines: importing Alembic to ask it costs a store-only command a tenth
    of a second of CPU (tests/casework/test_migrations.py checks the two agree)."""
    revisions, parents = _revisions()
    [head] = revisions - parents
    return head


def known_revision(revision: str) -> bool:
    """Whether this code's migrations know `revision` (a store they can bring up to date)."""
    return revision in _revisions()[0]


def _revisions() -> tuple[set[str], set[str]]:
    """Every migration's revision, and every revision some migration follows."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _REVISION.findall(path.read_text()):
            (revisions if name == "revision" else parents).add(value)
    return revisions, parents


def check_schema(engine: Engine | None = None) -> None:
    """Refuse to work on a store that `casework up` / `casework migrate` has not prepared."""
    from sqlalchemy import inspect, text

    engine = engine or default_engine()
    head = schema_head()
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
            current = None
            if inspect(connection).has_table("alembic_version"):
                query = text("SELECT version_num FROM alembic_version")
                current = connection.execute(query).scalar()
    except DBAPIError as exc:
        raise _unopened(engine, exc) or exc from None
    if current != head:
        state = "has no schema" if current is None else f"is at schema {current}, not {head}"
        raise StoreNotReady(
            f"case store {where} {state}; if your cases live elsewhere, pass --data-dir DIR "
            "(or set CASEWORK_DATA_DIR); to prepare this one, run `casework up` or "
            "`casework migrate`"
        )
