"""The alembic migrations build exactly the schema the ORM declares, on each backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select, text

from casework.core.db import make_engine, migrate, session_scope
from casework.models.base import Base
from casework.models.clients import candidates
from casework.models.matching import Identity
from casework.models.orm import CarePlan, Case


def test_migrated_schema_matches_the_models(store: Engine) -> None:
    with store.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store with no schema at all, on each backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    url = os.environ.get("CASEWORK_TEST_DATABASE_URL")
    if url is None:
        pytest.skip("CASEWORK_TEST_DATABASE_URL is not set")
    schema = f"casework_upgrade_{os.getpid()}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    yield engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_upgrade_fills_the_sweep_columns_of_existing_cases(empty_store: Engine) -> None:
    """A store at 0001 with a case, two plan versions and a phone call keeps its meaning at
    0002: the latest plan is current, the contact clock starts at the last client contact."""
    engine = empty_store
    migrate(engine, "0001")
    at = "2026-01-01 09:00:00+00:00"
    rows = [
        "INSERT INTO clients (id, given_name, family_name, date_of_birth, language,"
        f" contact_preference, created, updated) VALUES (1, 'A', 'B', '1980-01-01', 'en',"
        f" 'phone', '{at}', '{at}')",
        "INSERT INTO cases (id, case_number, client_id, program, case_manager, status, episode,"
        " stage, stage_sequence, stage_attempt, stage_key, stage_entered_at, opened_at, created,"
        f" updated) VALUES (1, 'CASE-000001', 1, 'housing', 'cm.a', 'open', 1, 'monitoring', 5,"
        f" 0, 'monitoring-5', '{at}', '{at}', '{at}', '{at}')",
        *(
            "INSERT INTO care_plans (id, case_id, episode, stage_key, version,"
            " client_participated, agreed_on, created_by, created, updated) VALUES"
            f" ({n}, 1, 1, 'plan-{n}', {n}, true, '2026-01-01', 'cm.a', '{at}', '{at}')"
            for n in (1, 2)
        ),
        "INSERT INTO contacts (id, case_id, episode, contact_type, text, author, occurred_at,"
        " created, updated) VALUES (1, 1, 1, 'phone', 'x', 'cm.a',"
        f" '2026-02-01 10:00:00+00:00', '{at}', '{at}')",
    ]
    with engine.begin() as connection:
        for row in rows:
            connection.execute(text(row))
    migrate(engine)
    with session_scope(engine) as session:
        case = session.scalars(select(Case)).one()
        assert case.last_contact_at == datetime(2026, 2, 1, 10, tzinfo=UTC)
        assert [(p.version, p.current) for p in session.scalars(select(CarePlan))] == [
            (1, False),
            (2, True),
        ]
        # The case keeps its client, now numbered and found by duplicate detection.
        assert case.client.client_number == "CLIENT-000001"
        again = Identity.of("a", "b", date(1980, 1, 1))
        assert [c.client_number for c in candidates(session, again)] == ["CLIENT-000001"]


def test_the_schema_head_read_without_alembic_is_alembics_own() -> None:
    from alembic.script import ScriptDirectory

    from casework.core.db import MIGRATIONS, schema_head

    assert schema_head() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
