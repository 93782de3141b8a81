"""The stack: the local Prefect server and worker (`up`), a worker on a work pool, the
deployments, the stack's health and repairs, the store's schema, backups and the demo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from casework.cli.options import (
    EXIT_ERROR,
    JSON,
    POOL,
    CliError,
    Count,
    Port,
    PrefectDatabase,
    RedisUrl,
    command,
    emit,
    prepared,
)

commands = click.Group()
F = TypeVar("F", bound=Callable[..., Any])


def prefect_database(what: str) -> Callable[[F], F]:
    return click.option(
        "--prefect-database-url",
        type=PrefectDatabase(),
        metavar="URL",
        help=f"{what} (default: CASEWORK_PREFECT_DATABASE_URL)",
    )


@command(commands, "up", "start the local stack and serve every deployment")
@click.option("--port", type=Port(), default=4200)
@click.option("--demo", type=Count(0, 500), default=0, metavar="N", help="also create N demo cases")
@click.option(
    "--verbose",
    is_flag=True,
    help="the worker's and the flow runs' output to the terminal, not to runner.log",
)
@prefect_database("run the local Prefect server on this PostgreSQL database, not on SQLite")
def up(port: int, demo: int, verbose: bool, prefect_database_url: str | None) -> int:
    from casework.stack import up as serve

    data_dir, start_own = prepared()
    return serve(data_dir, start_own, port, demo, verbose)


@command(
    commands,
    "prefect-server",
    "run one Prefect server scaled out on this host: API servers behind HAProxy, the "
    "background services in their own process, Redis for messaging (many machines)",
)
@click.option("--port", type=Port(), default=4200, help="where clients reach it (HAProxy)")
@click.option("--api-servers", type=Count(1, 32), default=2, metavar="N")
@prefect_database("its PostgreSQL database")
@click.option(
    "--redis-url",
    type=RedisUrl(),
    metavar="URL",
    help="the Redis to use (default: CASEWORK_REDIS_URL; else Debian's redis-server, started "
    "here on loopback)",
)
def prefect_server(
    port: int, api_servers: int, prefect_database_url: str | None, redis_url: str | None
) -> int:
    from casework.core.settings import get_settings
    from casework.prefect_cluster import serve

    data_dir, _ = prepared()
    settings = get_settings()
    database = settings.prefect_database_url  # the option's, else the setting's, checked
    if database is None:
        raise CliError(
            "--prefect-database-url: a scaled-out Prefect server needs PostgreSQL "
            "(SQLite cannot be shared by several servers)"
        )
    return serve(data_dir, port, database, api_servers, redis_url or settings.redis_url)


@command(
    commands,
    "desk",
    "serve the desk, the case managers' web application, on its own (`up` serves it too)",
)
@click.option("--port", type=Port(), help="(default: CASEWORK_DESK_PORT, 4300)")
@click.option("--host", help="(default: CASEWORK_DESK_HOST, 127.0.0.1: loopback only)")
def desk(port: int | None, host: str | None) -> int:
    from casework.desk.serve import serve

    return serve(host, port)


@command(
    commands,
    "worker",
    "run flow runs from a work pool (every machine but the one running `up`)",
)
@click.option("--pool", type=POOL, help="work pool to poll (default: CASEWORK_WORK_POOL, casework)")
@click.option(
    "--limit", type=Count(1, 200), help="flow runs at once (default: CASEWORK_RUNNER_LIMIT, 10)"
)
def worker(pool: str | None, limit: int | None) -> int:
    from casework.worker import serve

    return serve(pool, limit)


@command(
    commands,
    "deploy",
    "put the work pool, every deployment and the automations on the Prefect server "
    "PREFECT_API_URL names (many machines; `up` does this for one)",
)
def deploy() -> int:
    from casework.core.prefect_api import api_is_healthy, api_url, what_to_start
    from casework.status import carry_over
    from casework.worker import deploy as put_deployments

    if not api_is_healthy(api_url()):
        raise CliError(f"Prefect server at {api_url()} is not answering; {what_to_start('server')}")
    from casework.services.stages import register_instruments

    instruments = register_instruments()
    print("\n".join(put_deployments()))
    print(f"instruments: {', '.join(instruments)}")
    if carried := carry_over():  # after an upgrade: waiting runs as this release has them
        print("\n".join(carried))
    return 0


@command(
    commands,
    "automations",
    "create or update the level-3 automation (`up` and `deploy` do this themselves)",
)
def automations() -> int:
    from casework.automations import ensure_automations

    for name, done in ensure_automations():
        print(f"{name}: {done}")
    return 0


@command(commands, "status", "the stack's health; exit 1 when something needs action")
@JSON
@click.option("--repair", is_flag=True, help="also repair every case run listed as needing it")
def status(as_json: bool, repair: bool) -> int:
    from casework import status as health

    found = health.check()
    repaired = health.repair_all(found.case_runs) if repair else []
    emit(
        {**found.as_json(), "repaired": repaired},
        as_json,
        lambda: "\n".join([health.to_text(found), *repaired]),
    )
    still = [a for a in found.actions if not (repaired and "casework repair" in a)]
    return EXIT_ERROR if still else 0


@command(commands, "repair", "put a case's stuck run back to wait at its stage")
@click.argument("case_number")
def repair(case_number: str) -> int:
    from casework import status as health

    print(health.repair(case_number))
    return 0


@command(commands, "migrate", "bring the case store schema up to date")
def migrate() -> int:
    from casework.core.db import migrate as upgrade

    upgrade()
    print("case store is up to date")
    return 0


@command(
    commands,
    "backup",
    "copy the case store, the Prefect server's database, secrets and documents (while up runs)",
)
@click.argument("dest", type=click.Path(path_type=Path), metavar="DEST")
def backup(dest: Path) -> int:
    from casework.backup import backup as copy

    made = copy(dest)
    print(
        f"backed up to {dest}: Casework {made.casework}, store schema {made.schema}, "
        f"{len(made.files)} files with their checksums in manifest.json ({made.made_at})"
    )
    return 0


@command(
    commands,
    "restore",
    "make a new data directory (--data-dir) from a backup; then start casework up",
)
@click.argument("src", type=click.Path(path_type=Path), metavar="SRC")
def restore(src: Path) -> int:
    from casework.backup import restore as put_back
    from casework.core.settings import get_settings

    data_dir = get_settings().data_dir.resolve()
    made = put_back(src, data_dir)
    print(
        f"restored {data_dir} from the backup of {made.made_at} (Casework {made.casework}, "
        f"store schema {made.schema}); start it with `casework up --data-dir {data_dir}`"
    )
    return 0


@command(commands, "demo", "create N synthetic cases at varied stages")
@click.option("--cases", type=Count(1, 500), default=12)
def demo(cases: int) -> int:
    from casework.core.prefect_api import check_ready
    from casework.core.settings import get_settings
    from casework.demo import run_demo, running_partner

    url, token = running_partner(get_settings().data_dir)
    check_ready()
    print(run_demo(cases, url, token))
    return 0
