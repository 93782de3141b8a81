"""Alembic environment: runs on the connection `casework.core.db.migrate` hands over."""

from alembic import context

from casework.models import orm  # noqa: F401  (registers the tables on Base.metadata)
from casework.models.base import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
