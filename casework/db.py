"""Database wiring for the case store: engines, sessions and schema migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets the CLI read while a flow run writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def default_engine() -> Engine:
    from casework.settings import get_settings

    return engine_for(get_settings().store_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    factory = sessionmaker(bind=engine or default_engine(), expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def migrate(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the store's schema to `revision` (default: the newest migration)."""
    from alembic.config import Config

    engine = engine or default_engine()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    _upgrade(engine, config, revision)


def _upgrade(engine: Engine, config: Any, revision: str) -> None:
    """Upgrade to `revision`. On SQLite, altering a table means copying it, which foreign
    keys forbid while rows point at it: they are off for the upgrade (the pragma only takes
    outside a transaction) and checked before it commits."""
    from alembic import command
    from sqlalchemy import text

    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            if sqlite and connection.execute(text("PRAGMA foreign_key_check")).first():
                raise StoreNotReady("migration left rows pointing at missing rows; rolled back")
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


class StoreNotReady(Exception):
    """The case store has no schema, or an older one than this code needs."""


def check_schema(engine: Engine | None = None) -> None:
    """Refuse to work on a store that `casework up` / `casework migrate` has not prepared."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect, text

    engine = engine or default_engine()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with engine.connect() as connection:
        current = None
        if inspect(connection).has_table("alembic_version"):
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "has no schema" if current is None else f"is at schema {current}, not {head}"
        raise StoreNotReady(
            f"case store {where} {state}; run `casework migrate` (or `casework up`)"
        )
