"""The alembic migrations build exactly the schema the ORM declares, on each backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from models.base import Base


def test_migrated_schema_matches_the_models(store: Engine) -> None:
    with store.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
