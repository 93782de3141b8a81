"""An agency at scale: `casework up --prefect-database-url` (the Prefect server on
PostgreSQL) with the case store on PostgreSQL, staff signed in as their own roles."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from casework.core.db import make_engine
from tests.conftest import PG_URL, _free_port, pg_url

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.restarts_stack,  # a second stack beside the session's: run it late
    pytest.mark.skipif(PG_URL is None, reason="CASEWORK_TEST_DATABASE_URL is not set"),
]


@contextmanager
def running_up(env: dict[str, str], *extra: str) -> Iterator[tuple[Path, int]]:
    """`casework up` in a data directory of its own, as a user starts it (Ctrl-C stops it);
    yields the data directory and the port its Prefect server listens on."""
    data_dir = Path(tempfile.mkdtemp(prefix="casework-pg-"))
    port = _free_port()
    env = {k: v for k, v in env.items() if not k.startswith("PREFECT_")}
    env |= {"CASEWORK_DATA_DIR": str(data_dir), "PREFECT_LOGGING_LEVEL": "INFO"}
    log = data_dir / "up.log"
    up = subprocess.Popen(
        [sys.executable, "-m", "casework", "up", "--port", str(port), *extra],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while "Dashboard:" not in log.read_text():
            assert up.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield data_dir, port
    finally:
        up.send_signal(2)
        try:
            up.wait(60)
        finally:
            if up.poll() is None:
                up.kill()


def casework(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "casework", *args], capture_output=True, text=True, env=env
    )


CLIENT = {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "1980-12-10"}


def test_an_agency_runs_prefect_and_the_case_store_on_postgresql() -> None:
    """As an agency at scale runs it: `casework up --prefect-database-url` keeps the Prefect
    server's data in PostgreSQL, and the case store is PostgreSQL too. `up` (its worker and
    every flow run) connects to the store as the service role; a case manager and a program
    manager connect as their own database roles, and what each did is audited under the role
    that signed in. The server is protected by the credential `up` made on its first start."""
    import psycopg

    assert PG_URL is not None
    tag = str(os.getpid())
    admin_url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    database = f"casework_prefect_{tag}"
    schema, service = f"casework_e2e_{tag}", f"svc.e{tag}"
    manager, program_manager = f"cm.e{tag}", f"pm.e{tag}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.execute(f"CREATE DATABASE {database}")
    prefect_url = admin_url.rsplit("/", 1)[0] + f"/{database}"
    owner = make_engine(PG_URL)
    with owner.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))

    def url(role: str | None = None) -> str:
        return pg_url(schema, role)

    # The commands find this `up` (and its credential) through the data directory.
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "CASEWORK_ACTOR" and not k.startswith("PREFECT_")
    }
    as_owner = env | {"CASEWORK_DATABASE_URL": url()}
    try:
        assert casework(as_owner, "migrate").returncode == 0
        with owner.begin() as connection:
            connection.execute(text(f'CREATE ROLE "{service}" LOGIN IN ROLE casework_service'))
        for staff_id, role in ((manager, "case_manager"), (program_manager, "program_manager")):
            added = casework(
                as_owner, "staff", "add", staff_id, "--role", role, "--programs", "housing"
            )
            assert added.returncode == 0, added.stderr
        service_env = env | {"CASEWORK_DATABASE_URL": url(service)}
        with running_up(service_env, "--prefect-database-url", prefect_url) as (data_dir, port):
            # Its first start made the data directory's credential, for its owner only; the
            # commands below sign in with it by themselves.
            credential = data_dir / "prefect-credential"
            assert stat.S_IMODE(credential.stat().st_mode) == 0o600
            assert credential.read_text().startswith("casework:")
            api = f"http://127.0.0.1:{port}/api"
            assert httpx.post(f"{api}/flow_runs/filter", json={}, timeout=30).status_code == 401

            env["CASEWORK_DATA_DIR"] = str(data_dir)
            as_manager = env | {"CASEWORK_DATABASE_URL": url(manager)}
            client = data_dir / "client.json"
            client.write_text(json.dumps(CLIENT))
            opened = casework(as_manager, "intake", "--program", "housing", "--file", str(client))
            assert opened.returncode == 0, opened.stderr
            number = opened.stdout.strip()
            form = data_dir / "assessment.json"
            example = casework(
                as_manager | {"CASEWORK_ACTOR": manager},
                *("form", "assessment", "--program", "housing", "--example"),
            )
            form.write_text(example.stdout)
            moved = casework(
                as_manager, "submit", number, "assessment", "--file", str(form), "--wait"
            )
            assert moved.returncode == 0, moved.stderr
            assert "now at plan" in moved.stdout
            assert "Ada Byron" in casework(as_manager, "show", number).stdout

            as_pm = env | {"CASEWORK_DATABASE_URL": url(program_manager)}
            denied = casework(as_pm, "show", number)
            assert denied.returncode == 1
            assert denied.stderr.count("\n") == 1, denied.stderr
            assert "permission denied for table" in denied.stderr
            assert "Housing" in casework(as_pm, "report").stdout
            lying = casework(as_pm | {"CASEWORK_ACTOR": manager}, "cases")
            assert lying.returncode == 1
            assert f"CASEWORK_ACTOR: {manager} is not who you are" in lying.stderr

            with psycopg.connect(prefect_url) as prefect_db:
                [(runs,)] = prefect_db.execute("SELECT count(*) FROM flow_run").fetchall()
            assert runs >= 1, "the server keeps its runs in PostgreSQL"
            assert not (data_dir / "prefect" / "prefect.db").exists()
        with owner.begin() as connection:
            trail = connection.execute(
                text(
                    f"SELECT actor, action, detail->>'source' FROM {schema}.audit_events "
                    "WHERE action IN ('case_opened', 'form_handed_over', 'stage_moved') "
                    "ORDER BY id"
                )
            ).all()
        assert [tuple(row) for row in trail] == [
            (manager, "case_opened", None),
            ("system", "stage_moved", "system"),  # intake, by the flow (service role)
            (manager, "form_handed_over", None),
            (manager, "stage_moved", "cli"),
        ]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        with owner.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            for role in (service, manager, program_manager):
                known = text("SELECT 1 FROM pg_roles WHERE rolname = :r")
                if connection.execute(known, {"r": role}).first():
                    connection.execute(text(f'DROP OWNED BY "{role}"'))
                    connection.execute(text(f'DROP ROLE "{role}"'))
        owner.dispose()
