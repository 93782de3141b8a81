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

from casework.core.prefect_private import use_single_connection_sqlite


def main() -> None:
    from prefect.cli import app

    use_single_connection_sqlite()
    sys.argv = ["prefect", "server", *sys.argv[1:]]
    app()


if __name__ == "__main__":
    main()
