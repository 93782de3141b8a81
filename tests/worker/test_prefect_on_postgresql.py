"""`casework up --prefect-database-url`: the local Prefect server on PostgreSQL instead of
SQLite, as an agency at scale runs it; a case opened there moves on through the worker."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.restarts_stack,  # a second stack beside the session's: run it late
    pytest.mark.skipif(PG_URL is None, reason="CASEWORK_TEST_DATABASE_URL is not set"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_up_runs_its_prefect_server_on_postgresql() -> None:
    import psycopg

    assert PG_URL is not None
    admin_url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    database = f"casework_prefect_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.execute(f"CREATE DATABASE {database}")
    data_dir = Path(tempfile.mkdtemp(prefix="casework-pg-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"CASEWORK_DATA_DIR": str(data_dir), "PREFECT_LOGGING_LEVEL": "INFO"}
    prefect_url = admin_url.rsplit("/", 1)[0] + f"/{database}"
    log = data_dir / "up.log"
    up = subprocess.Popen(
        [sys.executable, "-m", "casework", "up", "--port", str(port)]
        + ["--prefect-database-url", prefect_url],
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
        client = data_dir / "client.json"
        client.write_text(
            json.dumps({"given_name": "Ada", "family_name": "Byron", "date_of_birth": "1980-12-10"})
        )

        def casework(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "casework", *args], capture_output=True, text=True, env=env
            )

        # Its first start made the data directory's credential, for its owner only; the
        # CLI below signs in with it by itself.
        credential = data_dir / "prefect-credential"
        assert stat.S_IMODE(credential.stat().st_mode) == 0o600
        assert credential.read_text().startswith("casework:")
        api = f"http://127.0.0.1:{port}/api"
        assert httpx.post(f"{api}/flow_runs/filter", json={}, timeout=30).status_code == 401
        opened = casework("intake", "--program", "housing", "--file", str(client))
        assert opened.returncode == 0, opened.stderr
        number = opened.stdout.strip()
        deadline = time.monotonic() + 120
        while "stage assessment" not in casework("show", number).stdout:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        with psycopg.connect(admin_url.rsplit("/", 1)[0] + f"/{database}") as prefect_db:
            [(runs,)] = prefect_db.execute("SELECT count(*) FROM flow_run").fetchall()
        assert runs >= 1, "the server keeps its runs in PostgreSQL"
        assert not (data_dir / "prefect" / "prefect.db").exists()
    finally:
        up.send_signal(2)
        try:
            up.wait(60)
        finally:
            if up.poll() is None:
                up.kill()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
