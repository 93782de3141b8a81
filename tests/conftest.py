"""Shared fixtures. The environment is fixed here, before anything imports Prefect:
one data directory and one Prefect API URL for the whole session. The Prefect server
and runner (`casework up`) start once, on first use by a test marked `prefect`."""

from __future__ import annotations

import contextlib
import getpass
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_HANDED_OUT: set[int] = set()


def _free_port() -> int:
    """A free loopback port for a server the suite starts later, taken below the kernel's
    ephemeral range. A port the kernel hands out for bind(0) comes from that range, and any
    outgoing connection's local end can take it between choosing and listening; `up` then
    refused the session's port in CI. Each xdist worker draws from its own slice, so two
    workers never choose the same port."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ranges.read_text().split()[0]) if ranges.exists() else 32768
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 8
    start = max(1024, low - 8 * 1000) + worker * 1000
    for port in random.sample(range(start, start + 1000), 1000):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {start}..{start + 999}")


# Casework keeps its data directory private (0700, files 0600) and `up` refuses one that
# is not; the suite writes its own files (logs, stores) there the same way.
os.umask(0o077)
SESSION_DIR = Path(tempfile.mkdtemp(prefix="casework-tests-"))
PORT = _free_port()
DESK_PORT = _free_port()
OUR_SETTINGS = ("PREFECT_", "CASEWORK_")
for _name in list(os.environ):
    if _name.startswith(OUR_SETTINGS) and _name != "CASEWORK_TEST_DATABASE_URL":
        del os.environ[_name]


def unconfigured_env(**extra: str) -> dict[str, str]:
    """This process's environment without a PREFECT_ or CASEWORK_ variable, as on a machine
    where nothing is configured yet, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OUR_SETTINGS)} | extra


# The shipped staff roster, plus the staff ids tests act as, in every program: case
# managers, and one supervisor (sup.tester).
TEST_STAFF = ("tester", "cm.tester", "cm.a", "cm.bench", "cm.busy", "cm.full", "bench")
EVERY_PROGRAM = (
    'programs = ["housing", "healthcare", "child_welfare", "substance_use", '
    '"geriatric", "criminal_justice"]\n'
)


def roster_text(login_holder: str) -> str:
    """The test roster, the suite's own OS login acting as `login_holder` (on SQLite the
    actor is the OS login, mapped through the roster)."""
    entries = [(staff_id, "case_manager") for staff_id in TEST_STAFF] + [
        ("sup.tester", "supervisor")
    ]
    return (Path(__file__).resolve().parents[1] / "models" / "staff.toml").read_text() + "".join(
        f'\n[[staff]]\nid = "{staff_id}"\nrole = "{role}"\n{EVERY_PROGRAM}'
        + (f'login = "{getpass.getuser()}"\n' if staff_id == login_holder else "")
        for staff_id, role in entries
    )


ROSTER = SESSION_DIR / "staff.toml"
ROSTER.write_text(roster_text("tester"))
SUPERVISOR_ROSTER = SESSION_DIR / "staff-sup.toml"
SUPERVISOR_ROSTER.write_text(roster_text("sup.tester"))
# The credential `casework up` makes on its first start in a data directory, made here
# first (by the same code) so that this process's Prefect client signs in with it too.
from casework.core.settings import prefect_credential, prefect_env  # noqa: E402

CREDENTIAL = str(prefect_credential(SESSION_DIR, create=True))
os.environ.update(
    {
        "PREFECT_API_AUTH_STRING": CREDENTIAL,
        "CASEWORK_DATA_DIR": str(SESSION_DIR),
        "CASEWORK_STAFF_FILE": str(ROSTER),
        "CASEWORK_ACTOR": "tester",
        # The desk `casework up` serves beside the Prefect server.
        "CASEWORK_DESK_PORT": str(DESK_PORT),
        # Partner agencies here answer on loopback over plain http, as the demo's does.
        "CASEWORK_DEV_MODE": "on",
        # The desk's hook for clients' text replies, posted by the tests' SMS gateway.
        "CASEWORK_SMS_REPLY_TOKEN": "test-reply-token-0123456789",
        # Tests move a caseload ahead with `as_of` and check what it wrote: the development
        # switch that lets a future `as_of` write (off, it is a preview: see
        # docs/program-managers.md).
        "CASEWORK_WRITE_AHEAD": "on",
        # Sweeps run when a test says, at the `as_of` it says: no cron runs mid-test.
        "CASEWORK_SCHEDULES": "off",
        # Partner agencies on loopback answer fast; a slow one is one that takes > 1 s.
        "CASEWORK_PARTNER_TIMEOUT_SECONDS": "1",
        "CASEWORK_PARTNER_RETRY_SECONDS": "[0.5, 0.5, 0.5]",
        # Prefect's settings as every command sets them (heartbeats, no results persisted).
        **prefect_env(SESSION_DIR, f"http://127.0.0.1:{PORT}/api", poll_seconds=10.0),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
)

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from casework.core.db import make_engine, migrate, session_scope  # noqa: E402
from casework.models.base import Base  # noqa: E402
from tests.factories import new_case  # noqa: E402

PG_URL = os.environ.get("CASEWORK_TEST_DATABASE_URL")


def pg_url(schema: str, role: str | None = None) -> str:
    """CASEWORK_TEST_DATABASE_URL for one schema, signed in as `role` (trust or peer auth,
    as on the test machines) or, without one, as the URL's own user (the store's owner)."""
    from sqlalchemy.engine import make_url

    assert PG_URL is not None
    url = make_url(PG_URL)
    if role is not None:
        url = url.set(username=role, password=None)
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def pytest_report_header() -> str:
    skipped = " (postgresql skipped: CASEWORK_TEST_DATABASE_URL unset)"
    return f"store backends: sqlite{' + postgresql' if PG_URL else skipped}"


@pytest.fixture(scope="session")
def _pg_engine() -> Iterator[Engine]:
    assert PG_URL is not None
    admin = make_engine(PG_URL)
    schema = f"casework_test_{os.getpid()}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    joiner = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{PG_URL}{joiner}options=-csearch_path%3D{schema}")
    migrate(engine)
    yield engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


# Each store fixture runs its tests on both backends (PostgreSQL where one is set).
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(PG_URL is None, reason="CASEWORK_TEST_DATABASE_URL is not set"),
    ),
]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty case store on each backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("_pg_engine")
    yield engine
    with engine.begin() as connection:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """This process's variables as `values` say while the block runs (None: unset), then
    as they were; its settings read afresh each way."""
    saved = {name: os.environ.get(name) for name in values}
    _put(values)
    try:
        yield
    finally:
        _put(saved)


def _put(values: dict[str, str | None]) -> None:
    from casework.core.settings import get_settings

    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


def acting_as(staff_id: str) -> contextlib.AbstractContextManager[None]:
    """This process's commands signed in as `staff_id` (sup.tester or tester): on SQLite,
    the roster that maps the suite's login to them. The session's environment is as it was
    afterwards."""
    roster = {"sup.tester": SUPERVISOR_ROSTER, "tester": ROSTER}[staff_id]
    return environment(CASEWORK_STAFF_FILE=str(roster), CASEWORK_ACTOR=staff_id)


@pytest.fixture(autouse=True)
def _settings_read_afresh() -> Iterator[None]:
    """After each test, this process reads its settings again from the environment as it
    is once the test's own fixtures (monkeypatch's among them) have put it back: a test
    that cleared the cache while its changes were still in place must not leave the rest
    of the session signed in to another data directory, store or roster."""
    from casework.core.settings import get_settings

    yield
    get_settings.cache_clear()


@pytest.fixture
def as_supervisor() -> Iterator[None]:
    with acting_as("sup.tester"):
        yield


@pytest.fixture
def session(store: Engine) -> Iterator[Session]:
    with session_scope(store) as session:
        yield session


@pytest.fixture
def case(session: Session):  # type: ignore[no-untyped-def]
    return new_case(session)


def _up_env(schedules: bool) -> dict[str, str]:
    # Without PREFECT_API_URL, `casework up` starts its own server on --port, as on a new
    # machine; with schedules, CASEWORK_SCHEDULES is left at its default, as a user has it.
    dropped = {"PREFECT_API_URL", *(["CASEWORK_SCHEDULES"] if schedules else [])}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, "PREFECT_LOGGING_LEVEL": "INFO"}


class Stack:
    """`casework up` as a user runs it: started, and stopped with Ctrl-C (SIGINT)."""

    def __init__(self) -> None:
        self.api_url = os.environ["PREFECT_API_URL"]
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.schedules = False

    @property
    def log_path(self) -> Path:
        return SESSION_DIR / f"up-{self.starts}.log"

    def start(self, schedules: bool = False, *extra: str) -> None:
        self.starts += 1
        self.schedules = schedules
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "casework", "up", "--port", str(PORT), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_up_env(schedules),
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while "Dashboard:" not in self.log_path.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"casework up did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.5)

    def kill_server(self) -> tuple[int, str]:
        """kill -9 of the Prefect server `up` started; returns how `up` ended, and what it
        printed after the kill."""
        import json
        import signal

        assert self.process is not None
        before = len(self.log_path.read_text())
        server_pid = json.loads((SESSION_DIR / "stack.json").read_text())["server_pid"]
        os.kill(server_pid, signal.SIGKILL)
        try:
            code = self.process.wait(timeout=120)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return code, self.log_path.read_text()[before:]

    def stop(self) -> str:
        """Ctrl-C; returns what `up` printed. Fails unless it stopped cleanly."""
        assert self.process is not None
        self.process.send_signal(2)
        try:
            code = self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        output = self.log_path.read_text()
        assert code == 0, output[-3000:]
        assert "Casework stopped." in output
        return output


@pytest.fixture(scope="session")
def running_stack() -> Iterator[Stack]:
    stack = Stack()
    stack.start()
    yield stack
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    # Logs and events of flows this process ran go out before the server stops.
    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)
    stack.stop()
    _store_is_whole()


def _store_is_whole() -> None:
    """The session's SQLite store, once everything has let go of it, passes SQLite's own
    check: a suite that damages it (see tests/on_disk.py) fails here by name, not as runs
    that never wait at their stage."""
    import sqlite3
    from contextlib import closing

    from casework.core.settings import get_settings

    url = get_settings().store_url
    if not url.startswith("sqlite:///"):
        return
    try:
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            found = [row[0] for row in db.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        found = [str(exc)]
    assert found == ["ok"], f"the session's case store is damaged: {found[:5]}"


@pytest.fixture
def stack(running_stack: Stack) -> str:
    """The session's `casework up`: one Prefect server and one runner; yields the API URL."""
    return running_stack.api_url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that stop and restart the stack go last, so the others share one start; the
    # ones that restart it with schedules on go very last.
    def phase(item: pytest.Item) -> int:
        if item.get_closest_marker("live_schedules"):
            return 2
        return 1 if item.get_closest_marker("restarts_stack") else 0

    items.sort(key=phase)
