"""`python -m casework.prefect_server start ...`: Prefect's own `prefect server start`, with
one change when its database is SQLite: every database session in the server goes through
a single connection.

Why. Prefect 3.8's server opens a pool of SQLite connections (15; its pool settings are not
applied to SQLite). With 20 cases moving at once on two cores, measured in
bench/lifecycle.py, the connections fought over SQLite's single write lock:

  * transactions that read and then write (resuming a run, PATCHing its labels, a worker's
    heartbeat) begin DEFERRED, and fail at once with `database is locked` when another
    connection commits between their read and their write: SQLite's busy timeout does
    not apply to that upgrade;
  * about once a run, the whole server stopped for SQLite's 60 s busy timeout, with a
    `set_state` transaction holding the write lock, and every worker heartbeat, deployment
    poll and case submission waiting behind it.

SQLite runs one writer at a time whatever the pool, so one connection costs no write
throughput; it serialises reads too, which are short here. Prefect runs its in-memory
SQLite database the same way (a pool of one), so its server code is written to work with
one connection. On PostgreSQL nothing changes.
"""

from __future__ import annotations

import sys
from asyncio import get_running_loop

import sqlalchemy as sa
from prefect.server.database import configurations, dependencies
from prefect.server.database.configurations import AioSqliteConfiguration
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SINGLE_CONNECTION_WAIT_SECONDS = 60.0  # a session waits this long for the connection


class SingleConnectionSqlite(AioSqliteConfiguration):
    """Prefect's SQLite configuration with a pool of exactly one connection."""

    async def engine(self) -> AsyncEngine:
        key = (get_running_loop(), self.connection_url, self.echo, self.timeout)
        if key not in configurations.ENGINES:
            engine = create_async_engine(
                self.connection_url,
                echo=self.echo,
                connect_args={"timeout": self.timeout} if self.timeout is not None else {},
                paramstyle="named",  # as Prefect has it (see its AioSqliteConfiguration)
                poolclass=sa.pool.AsyncAdaptedQueuePool,
                pool_size=1,
                max_overflow=0,
                pool_timeout=SINGLE_CONNECTION_WAIT_SECONDS,
            )
            sa.event.listen(engine.sync_engine, "connect", self.setup_sqlite)
            sa.event.listen(engine.sync_engine, "begin", self.begin_sqlite_stmt)
            configurations.ENGINES[key] = engine
            await self.schedule_engine_disposal(key)
        return configurations.ENGINES[key]


def install() -> None:
    """Use the single-connection configuration if the server's database is SQLite."""
    url = PREFECT_API_DATABASE_CONNECTION_URL.value()
    if url.startswith("sqlite"):
        dependencies.MODELS_DEPENDENCIES["database_config"] = SingleConnectionSqlite(
            connection_url=url
        )


def main() -> None:
    from prefect.cli import app

    install()
    sys.argv = ["prefect", "server", *sys.argv[1:]]
    app()


if __name__ == "__main__":
    main()
