"""Benchmark: a Prefect server holding a year of Casework at 100,000 open cases.

Builds a Prefect database on PostgreSQL (a fresh database, `casework_bench_prefect`) as a
year at that size leaves it: every open case's run suspended, a year of closed cases'
runs, of scheduled runs (the stalled-case sweep every 15 minutes, the referral sync every
10, four daily flows) and of reassessments, with their logs. The rows are copies, made in
SQL, of runs first made through the server's API, so each is a run the server itself
wrote. Then, with the Prefect server started as `casework up` starts it
(`casework.stack.start_server`):

  1. idle: the server's CPU over --idle seconds with Prefect's pause-expiration service
     on (Prefect's default) and off (what Casework sets), as a share of one core;
  2. the dashboard: the questions its runs page (a week of runs, their count, a tag
     filter), its 7-day history chart and its dashboard page ask, each --repeat times,
     one at a time, median and p90; and the two pages loaded whole in Chromium (until their
     network is quiet), before retention;
  3. retention: Casework's `prefect-retention` flow run in this process, with its
     default age, against an empty case store (so every closed case's run is history);
     the rows it deleted, the time it took, the database's size before and after;
  4. the dashboard again, after retention.

    .venv/bin/python bench/prefect_db.py [--cases 100000] [--idle 30] [--repeat 15]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lifecycle import TICK, tree_cpu  # noqa: E402

DATABASE = "casework_bench_prefect"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
PORT = 4271
DAYS = 365
# Runs a year leaves besides the open cases': per day.
SCHEDULED_PER_DAY = {
    "stalled-case-sweep": 96,
    "referral-status-sync": 144,
    "benefits-watch": 1,
    "follow-up-checks": 1,
    "reassessment-cadence": 1,
    "caseload-report": 1,
}
LOGS_PER_RUN = 4
# The states each transition leaves on a case run (measured: bench/lifecycle.py's runs),
# and those a scheduled run leaves before its last; and the task runs a sweep and a sync
# make (their states: Pending, Running, Completed).
TRANSITION_STATES = [
    ("SCHEDULED", "Resuming"),
    ("PENDING", "Pending"),
    ("PENDING", "Submitting"),
    ("RUNNING", "Running"),
    ("PAUSED", "Suspended"),
]
RUN_STATES = [("SCHEDULED", "Scheduled"), ("PENDING", "Pending"), ("PENDING", "Submitting")]
RUN_STATES += [("RUNNING", "Running")]
TASK_STATES = [("PENDING", "Pending"), ("RUNNING", "Running")]
TASKS_PER_RUN = {"stalled-case-sweep": 3, "referral-status-sync": 5}


def _psql_url(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def fresh_database(url: str) -> str:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return _psql_url(url.replace("+psycopg", ""), DATABASE)


def start(data_dir: Path, database: str, pause_scan: bool) -> Any:
    """The Prefect server as `casework up` starts it; `pause_scan`: Prefect's default."""
    from casework.core.settings import get_settings, prefect_env
    from casework.stack import start_server

    os.environ.update(prefect_env(data_dir, f"http://127.0.0.1:{PORT}/api", 5))
    os.environ["CASEWORK_PREFECT_DATABASE_URL"] = database
    os.environ.pop("PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED", None)
    if pause_scan:
        os.environ["PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED"] = "true"
    get_settings.cache_clear()
    server = start_server(data_dir, PORT)
    from casework.core.settings import prefect_credential

    os.environ["PREFECT_API_AUTH_STRING"] = str(prefect_credential(data_dir, create=False))
    return server


def api(method: str, path: str, body: Any = None) -> Any:
    from casework.core.prefect_api import rest_api

    return rest_api(method, path, body)


def templates() -> dict[str, str]:
    """One run per kind made through the API: flow name -> run id."""
    now = datetime.now(UTC)
    made = {}
    kinds: list[tuple[str, dict[str, Any], list[str]]] = [
        (
            "case-lifecycle",
            {
                "type": "PAUSED",
                "name": "Suspended",
                "state_details": {
                    "pause_reschedule": True,
                    "pause_key": "assessment-1",
                    "run_input_keyset": {
                        "response": "assessment-1-response",
                        "schema": "assessment-1-schema",
                        "description": "assessment-1-description",
                    },
                },
            },
            ["program:housing", "stage:assessment", "status:open", "manager:cm.1"],
        ),
        ("closed-case", {"type": "COMPLETED", "name": "Completed"}, ["status:closed"]),
        ("reassess-case", {"type": "COMPLETED", "name": "Completed"}, []),
    ]
    kinds += [(name, {"type": "COMPLETED", "name": "Completed"}, []) for name in SCHEDULED_PER_DAY]
    for kind, state, tags in kinds:
        flow = "case-lifecycle" if kind == "closed-case" else kind
        flow_id = api("POST", "/flows/", {"name": flow})["id"]
        run = api(
            "POST",
            "/flow_runs/",
            {
                "flow_id": flow_id,
                "name": f"template-{kind}",
                "tags": ["casework", *tags],
                "state": state,
            },
        )
        api(
            "POST",
            "/logs/",
            [
                {
                    "name": "prefect.flow_runs",
                    "level": 20,
                    "message": "Finished in state Completed()",
                    "timestamp": now.isoformat(),
                    "flow_run_id": run["id"],
                }
            ],
        )
        made[kind] = run["id"]
        for n in range(TASKS_PER_RUN.get(kind, 0)):
            api(
                "POST",
                "/task_runs/",
                {
                    "flow_run_id": run["id"],
                    "name": f"{kind}-task-{n}",
                    "task_key": f"{kind}-task",
                    "dynamic_key": str(n),
                    "state": {"type": "COMPLETED", "name": "Completed"},
                },
            )
    return made


def _columns(connection: Any, table: str) -> list[str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND table_schema = 'public' ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def copy_runs(
    connection: Any,
    template: str,
    count: int,
    spec: dict[str, str],
    history: list[tuple[str, str]] | None = None,
    tasks: int = 0,
) -> None:
    """`count` copies of run `template`, each with its own state, the states before it
    (`history`: type and name, in order) and logs, and `tasks` task runs with their states
    (the template's first, copied); `spec` gives SQL expressions (of `g`, 1..count, and
    `t`, the template row) for changed columns."""
    connection.execute("DROP TABLE IF EXISTS made")
    connection.execute(
        "CREATE TEMP TABLE made AS SELECT g, gen_random_uuid() AS run_id, "
        "gen_random_uuid() AS state_id FROM generate_series(1, %s) AS g",
        (count,),
    )
    connection.execute("ANALYZE made")  # else the planner may guess, and join row by row
    changed = {
        "id": "made.run_id",
        "state_id": "NULL",  # set once its state is in
        "idempotency_key": "NULL",
        **spec,
    }
    columns = _columns(connection, "flow_run")
    selected = ", ".join(changed.get(c, f"t.{c}") for c in columns)
    connection.execute(
        f"INSERT INTO flow_run ({', '.join(columns)}) SELECT {selected} "
        f"FROM flow_run t CROSS JOIN made WHERE t.id = %s",
        (template,),
    )
    _copy_beside(
        connection,
        "flow_run_state",
        {"id": "made.state_id", "timestamp": "r.state_timestamp"},
        "JOIN flow_run t ON t.id = %s JOIN flow_run_state s ON s.id = t.state_id",
        template,
    )
    connection.execute(
        "UPDATE flow_run SET state_id = made.state_id FROM made WHERE flow_run.id = made.run_id"
    )
    if history:
        earlier_states(connection, "flow_run_state", "flow_run", history, template)
    if tasks:
        copy_task_runs(connection, template, tasks)
    _copy_beside(
        connection,
        "log",
        {"id": "gen_random_uuid()", "timestamp": "r.created"},
        f"JOIN log s ON s.flow_run_id = %s CROSS JOIN generate_series(1, {LOGS_PER_RUN})",
        template,
    )


def _history_sql(history: list[tuple[str, str]]) -> tuple[str, str]:
    types = ", ".join(f"'{t}'" for t, _ in history)
    names = ", ".join(f"'{n}'" for _, n in history)
    return (
        f"(ARRAY[{types}]::state_type[])[h]",
        f"(ARRAY[{names}])[h]",
    )


def earlier_states(
    connection: Any, table: str, owner: str, history: list[tuple[str, str]], template: str
) -> None:
    """The states each made run (or task run) went through before its current one, a
    tenth of a second apart from its creation (before its current state's time)."""
    kind, name = _history_sql(history)
    owner_id = f"{owner}_id"
    columns = _columns(connection, table)
    changed = {
        "id": "gen_random_uuid()",
        owner_id: "r.id",
        "created": "r.created",
        "updated": "r.created",
        "type": kind,
        "name": name,
        "message": "NULL",
        "timestamp": "r.created + make_interval(secs => h * 0.1)",
    }
    selected = ", ".join(changed.get(c, f"s.{c}") for c in columns)
    made = "made" if owner == "flow_run" else "made_tasks"
    connection.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {selected} FROM {made} "
        f"JOIN {owner} r ON r.id = {made}.run_id JOIN {table} s ON s.id = r.state_id "
        f"CROSS JOIN generate_series(1, {len(history)}) AS h"
    )


def copy_task_runs(connection: Any, template: str, per_run: int) -> None:
    """`per_run` task runs on each made run, copies of the template run's first task run,
    each with its own current state and the states before it."""
    connection.execute("DROP TABLE IF EXISTS made_tasks")
    connection.execute(
        "CREATE TEMP TABLE made_tasks AS SELECT made.run_id AS flow_run_id, k, "
        "gen_random_uuid() AS run_id, gen_random_uuid() AS state_id "
        "FROM made CROSS JOIN generate_series(1, %s) AS k",
        (per_run,),
    )
    connection.execute("ANALYZE made_tasks")
    changed = {
        "id": "m.run_id",
        "flow_run_id": "m.flow_run_id",
        "dynamic_key": "m.k::text",
        "state_id": "NULL",
        "created": "r.created",
        "updated": "r.created",
        "start_time": "r.start_time",
        "end_time": "r.end_time",
        "expected_start_time": "r.expected_start_time",
        "state_timestamp": "r.state_timestamp",
    }
    _insert_copies(
        connection,
        "task_run",
        changed,
        "t",
        "made_tasks m JOIN flow_run r ON r.id = m.flow_run_id JOIN LATERAL (SELECT * FROM "
        "task_run WHERE flow_run_id = %s ORDER BY name LIMIT 1) t ON true",
        template,
    )
    changed = {
        "id": "m.state_id",
        "task_run_id": "m.run_id",
        "created": "r.created",
        "updated": "r.created",
        "timestamp": "r.state_timestamp",
    }
    _insert_copies(
        connection,
        "task_run_state",
        changed,
        "s",
        "made_tasks m JOIN task_run r ON r.id = m.run_id JOIN LATERAL (SELECT s.* FROM "
        "task_run t JOIN task_run_state s ON s.id = t.state_id WHERE t.flow_run_id = %s "
        "ORDER BY t.name LIMIT 1) s ON true",
        template,
    )
    connection.execute(
        "UPDATE task_run SET state_id = m.state_id FROM made_tasks m WHERE task_run.id = m.run_id"
    )
    earlier_states(connection, "task_run_state", "task_run", TASK_STATES, template)


def _insert_copies(
    connection: Any, table: str, changed: dict[str, str], alias: str, source: str, template: str
) -> None:
    """INSERT INTO `table` one row per row of `source` (SQL after FROM, `%s` the template
    run): `changed` columns as given, the rest copied from `alias`."""
    columns = _columns(connection, table)
    selected = ", ".join(changed.get(c, f"{alias}.{c}") for c in columns)
    connection.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {selected} FROM {source}", (template,)
    )


def _copy_beside(
    connection: Any, table: str, changed: dict[str, str], joined: str, template: str
) -> None:
    """Rows of `table` for each made run, copied from the template's (`s` in `joined`)."""
    changed = {
        "flow_run_id": "made.run_id",
        "created": "r.created",
        "updated": "r.created",
    } | changed
    columns = _columns(connection, table)
    selected = ", ".join(changed.get(c, f"s.{c}") for c in columns)
    connection.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {selected} "
        f"FROM made JOIN flow_run r ON r.id = made.run_id {joined}",
        (template,),
    )


def fill(database: str, made: dict[str, str], cases: int) -> dict[str, int]:
    """A year of runs: returns how many of each kind."""
    import psycopg

    counts: dict[str, int] = {}
    year = DAYS * 86400

    def when(spread_seconds: int, count: int) -> str:  # g spread evenly over the span
        return f"now() - make_interval(secs => (g::float8 / {count}) * {spread_seconds})"

    def finished(count: int, span: int) -> dict[str, str]:
        at = when(span, count)
        return {
            "created": at,
            "updated": at,
            "expected_start_time": at,
            "next_scheduled_start_time": at,
            "start_time": at,
            "end_time": f"{at} + interval '3 seconds'",
            "state_timestamp": f"{at} + interval '3 seconds'",
        }

    from casework.models.codes import Stage
    from casework.models.lifecycle import wait_tag

    stages = [Stage.INTAKE, Stage.ASSESSMENT, Stage.PLAN, Stage.REFERRAL, Stage.MONITORING]
    waits = ",".join(f"'{wait_tag(stage)}'" for stage in stages)  # as this release tags them
    with psycopg.connect(database, autocommit=True) as connection:
        open_cases = {
            "name": "'C-' || lpad(g::text, 6, '0')",
            "created": when(year, cases),
            "updated": when(year, cases),
            "expected_start_time": when(year, cases),
            "start_time": when(year, cases),
            "state_timestamp": f"{when(year, cases)} + interval '1 day'",
            "tags": "jsonb_build_array('casework', 'program:' || (ARRAY['housing','healthcare',"
            "'child_welfare','substance_use','geriatric','criminal_justice'])[1 + g %% 6], "
            "'stage:' || (ARRAY['intake','assessment','plan','referral','monitoring'])"
            "[1 + g %% 5], 'status:open', 'manager:cm.' || (g %% 400), "
            f"(ARRAY[{waits}])[1 + g %% 5])",
        }
        # An open case has moved three stages on average: three transitions' states.
        waited = (TRANSITION_STATES * 3)[:-1]  # the last Suspended is its current state
        copy_runs(connection, made["case-lifecycle"], cases, open_cases, waited)
        counts["open cases' runs (suspended)"] = cases
        closed = cases * 3 // 10
        copy_runs(
            connection,
            made["closed-case"],
            closed,
            {"name": "'C-' || lpad((g + 500000)::text, 6, '0')", **finished(closed, year)},
            TRANSITION_STATES * 5 + RUN_STATES[1:],  # five waits, then the run to closure
        )
        counts["closed cases' runs"] = closed
        reassessed = cases // 5
        copy_runs(
            connection, made["reassess-case"], reassessed, finished(reassessed, year), RUN_STATES
        )
        counts["reassessments"] = reassessed
        for flow, per_day in SCHEDULED_PER_DAY.items():
            total = per_day * DAYS
            copy_runs(
                connection,
                made[flow],
                total,
                finished(total, year),
                RUN_STATES,
                TASKS_PER_RUN.get(flow, 0),
            )
            counts[flow] = total
        # The runs copied from go: each kind is its copies now.
        connection.execute("DELETE FROM flow_run WHERE id::text = ANY(%s)", (list(made.values()),))
        connection.execute("ANALYZE")
    return counts


def vacuum(database: str) -> None:
    import psycopg

    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def size(database: str) -> dict[str, float]:
    import psycopg

    with psycopg.connect(database) as connection:
        total = connection.execute("SELECT pg_database_size(current_database())").fetchone()
        rows = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("flow_run", "flow_run_state", "task_run", "task_run_state", "log")
        }
    return {"MB": total[0] / 1e6 if total else 0.0, **rows}


def dashboard(repeat: int) -> dict[str, tuple[float, float]]:
    """The questions the dashboard's pages ask, with the bodies Prefect 3.8's UI sends
    (read off its network traffic in Chromium): ms median and p90, one at a time."""
    now = datetime.now(UTC)
    week = {"before_": now.isoformat(), "after_": (now - timedelta(days=7)).isoformat()}
    tagged = {"start_time": week, "tags": {"all_": ["stage:referral"]}}
    questions: dict[str, tuple[str, dict[str, Any]]] = {
        "runs page: its runs": (
            "/flow_runs/paginate",
            {"flow_runs": {"start_time": week}, "sort": "START_TIME_DESC", "limit": 100, "page": 1},
        ),
        "runs page: their count": ("/flow_runs/count", {}),
        "runs page: a tag filter": (
            "/flow_runs/paginate",
            {"flow_runs": tagged, "sort": "START_TIME_DESC", "limit": 100, "page": 1},
        ),
        "history chart, 7 days": (
            "/ui/flow_runs/history",
            {
                "flow_runs": {"start_time": week},
                "sort": "START_TIME_DESC",
                "limit": 100,
                "offset": 0,
            },
        ),
        "dashboard: a day's failures": (
            "/flow_runs/count",
            {
                "flow_runs": {
                    "state": {"type": {"any_": ["FAILED", "CRASHED"]}},
                    "expected_start_time": {
                        "before_": now.isoformat(),
                        "after_": (now - timedelta(days=1)).isoformat(),
                    },
                }
            },
        ),
    }
    found = {
        name: timed(repeat, lambda path=path, body=body: api("POST", path, body))  # type: ignore[misc]
        for name, (path, body) in questions.items()
    }
    found.update(pages(max(repeat // 3, 3)))
    return found


def timed(repeat: int, ask: Any) -> tuple[float, float]:
    """`ask()` done `repeat` + 1 times, one at a time, the first not counted (it warms
    caches): ms, median and p90."""
    times = []
    for _ in range(repeat + 1):
        began = time.perf_counter()
        ask()
        times.append((time.perf_counter() - began) * 1000)
    times = sorted(times[1:])
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def pages(repeat: int) -> dict[str, tuple[float, float]]:
    """The runs page and the dashboard loaded in Chromium (Debian's), signed in: ms from
    asking for the page until its network is quiet, median and p90. Empty without Chromium."""
    from tests.ui.chromium import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        return {}
    from playwright.sync_api import sync_playwright

    found = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"http://127.0.0.1:{PORT}/runs")
        page.get_by_placeholder("admin:pass").fill(os.environ["PREFECT_API_AUTH_STRING"])
        page.get_by_role("button", name="Login").click()
        page.wait_for_load_state("networkidle")
        for name, path in (
            ("page: runs (Chromium)", "/runs"),
            ("page: dashboard (Chromium)", "/dashboard"),
        ):

            def load(path: str = path) -> None:
                page.goto(f"http://127.0.0.1:{PORT}{path}")
                page.wait_for_load_state("networkidle")

            found[name] = timed(repeat, load)
        browser.close()
    return found


def store_for(database: str, data_dir: Path, cases: int) -> str:
    """A case store (SQLite) of `cases` cases from bench/sweep.py's fill, each open case's
    current episode driven by one of the suspended runs: the store `casework status` and
    the retention flow read."""
    import psycopg
    from sqlalchemy import text

    from bench.sweep import fill
    from casework.core.db import make_engine, migrate

    url = f"sqlite:///{data_dir / 'store.db'}"
    engine = make_engine(url)
    migrate(engine)
    fill(engine, cases)
    with psycopg.connect(database) as connection:
        runs = connection.execute(
            "SELECT id FROM flow_run WHERE state_type = 'PAUSED' AND name LIKE 'C-%' ORDER BY name"
        ).fetchall()
    with engine.begin() as connection:
        episodes = connection.execute(
            text(
                "SELECT e.id FROM episodes e JOIN cases c ON c.id = e.case_id "
                "WHERE c.status = 'open' AND e.number = c.episode ORDER BY c.id"
            )
        ).fetchall()
        connection.execute(
            text("UPDATE episodes SET flow_run_id = :run WHERE id = :id"),
            [{"run": str(r[0]), "id": e[0]} for r, e in zip(runs, episodes, strict=False)],
        )
    engine.dispose()
    return url


def status_figures(repeat: int = 3) -> dict[str, tuple[float, float]]:
    """`casework status --json` as an operator runs it (wall, CPU of its process) with
    every deployment registered (each costs status three reads), the first time after the
    server started and the median of `repeat` more; and the read the earlier release began
    it with: every suspended case run, in pages of 200."""
    import asyncio
    import resource
    import subprocess

    from casework.deployments import all_deployments
    from casework.status import _case_runs
    from casework.worker import register

    asyncio.run(register(all_deployments(schedules=False)))

    def once() -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        shown = subprocess.run(
            [sys.executable, "-m", "casework", "status", "--json"], capture_output=True, text=True
        )
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if '"api_url"' not in shown.stdout or '"deployments": []' in shown.stdout:
            raise SystemExit(f"casework status failed: {shown.stderr[-2000:]}")
        return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

    first = once()
    runs = [once() for _ in range(repeat)]
    median = (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
    began, cpu_began = time.perf_counter(), time.process_time()
    read = len(_case_runs(["PAUSED"]))
    old = (time.perf_counter() - began, time.process_time() - cpu_began)
    print(f"  (the earlier release's read: {read:,} suspended runs)")
    return {
        "casework status --json, first": first,
        f"casework status --json, median of {repeat}": median,
        "every suspended run, read": old,
    }


def idle_cpu(server: Any, seconds: float) -> float:
    """The server's CPU over `seconds` of doing nothing, as a share of one core."""
    time.sleep(30)  # its start-up work done (the vacuum's first rounds among it)
    before = tree_cpu(server.pid)
    time.sleep(seconds)
    return (tree_cpu(server.pid) - before) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--idle", type=float, default=30)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database-url", default=PG_DEFAULT)
    args = parser.parse_args()
    from casework.stack import stop_server

    load = os.getloadavg()[0]
    print(f"load {load:.1f}; {os.cpu_count()} cores; clock ticks {TICK}/s")
    data_dir = Path(tempfile.mkdtemp(prefix="casework-bench-prefect-"))
    os.environ["CASEWORK_DATA_DIR"] = str(data_dir)
    database = fresh_database(args.database_url)
    server = start(data_dir, database, pause_scan=False)
    began = time.monotonic()
    try:
        made = templates()
    finally:
        stop_server(server)
    counts = fill(database, made, args.cases)
    print(
        f"built in {time.monotonic() - began:.0f} s: "
        + ", ".join(f"{n:,} {kind}" for kind, n in counts.items())
    )

    for pause_scan in (True, False):
        server = start(data_dir, database, pause_scan)
        try:
            share = idle_cpu(server, args.idle)
        finally:
            stop_server(server)
        which = "on (Prefect's default)" if pause_scan else "off (casework up)"
        print(f"idle server, pause-expiration scan {which}: {share * 100:.1f}% of a core")

    began = time.monotonic()
    os.environ["CASEWORK_DATABASE_URL"] = store_for(database, data_dir, args.cases)
    print(f"case store of {args.cases:,} cases filled in {time.monotonic() - began:.0f} s")
    from casework.core.settings import get_settings

    get_settings.cache_clear()
    server = start(data_dir, database, pause_scan=False)
    try:
        for name, (wall, cpu) in status_figures().items():
            print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU in its process")
        before = dashboard(args.repeat), size(database)
        from casework.flows.retention import prefect_retention

        began = time.monotonic()
        pruned = prefect_retention()
        took = time.monotonic() - began
        vacuum(database)  # what autovacuum does after a large delete, done now
        after = dashboard(args.repeat), size(database)
    finally:
        stop_server(server)
    print(f"retention: {pruned} in {took:.0f} s")
    print(f"{'':<30}{'before':>22}{'after':>22}")
    for name in before[0]:
        (b_med, b_p90), (a_med, a_p90) = before[0][name], after[0][name]
        print(
            f"{name:<30}{b_med:>10.0f} ms (p90 {b_p90:>4.0f}){a_med:>10.0f} ms (p90 {a_p90:>4.0f})"
        )
    for key in before[1]:
        print(f"{key:<30}{before[1][key]:>22,.0f}{after[1][key]:>22,.0f}")
    print(f"load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
