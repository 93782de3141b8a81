"""The desk served for real (uvicorn on loopback, in a thread of the test process) on a
store of its own, SQLite or PostgreSQL, with a small agency: two case managers, a
supervisor and a program manager of the housing program, an operator; a case of each case
manager, and a geriatric case none of them works. On PostgreSQL each staff member is a
database role of their own, and the desk signs in to the store as them."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from casework import services
from casework.core.db import engine_for, make_engine, migrate, session_scope
from casework.core.settings import get_settings
from casework.models.codes import Program, StaffRole
from casework.models.schemas import ClientIn
from tests import factories
from tests.conftest import BACKENDS, PG_URL, _free_port, pg_url

TAG = str(os.getpid())
PASSWORD = "desk password for the tests"
DESK_ROLE = f"desk.d{TAG}"
STAFF = {
    "cm1": (f"cm1.d{TAG}", StaffRole.CASE_MANAGER, "housing"),
    "cm2": (f"cm2.d{TAG}", StaffRole.CASE_MANAGER, "housing"),
    "sup": (f"sup.d{TAG}", StaffRole.SUPERVISOR, "housing"),
    "pm": (f"pm.d{TAG}", StaffRole.PROGRAM_MANAGER, "housing"),
    "op": (f"op.d{TAG}", StaffRole.OPERATOR, "housing"),
    "adm": (f"adm.d{TAG}", StaffRole.ADMIN, "housing"),
}


def staff(short: str) -> str:
    return STAFF[short][0]


@contextlib.contextmanager
def as_role(agency: Agency, staff_id: str) -> Iterator[None]:
    """This process's store sign-in as `staff_id`'s own role (PostgreSQL; on SQLite, as is)."""
    if agency.backend != "postgresql":
        yield
        return
    os.environ["CASEWORK_DATABASE_URL"] = agency.url.replace(DESK_ROLE, staff_id, 1)
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ["CASEWORK_DATABASE_URL"] = agency.url
        get_settings.cache_clear()


@dataclass
class Agency:
    backend: str
    url: str  # the store, as the desk signs in to it
    cases: dict[str, str] = field(default_factory=dict)  # cm1, cm2, geriatric -> case number
    clients: dict[str, ClientIn] = field(default_factory=dict)
    document: int = 0  # a document of cm1's case


@dataclass
class Served:
    base: str
    clock: list[datetime]  # what the desk's clock says; tests move it on

    def client(self) -> Desk:
        return Desk(httpx.Client(base_url=self.base, follow_redirects=False, timeout=60))


class Desk:
    """A browser's worth of the desk: its cookies, its pages."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def sign_in(self, staff_id: str, password: str = PASSWORD) -> httpx.Response:
        page = self.http.get("/sign-in")
        pre = re.search(r'name="pre" value="([^"]+)"', page.text)
        assert pre, page.text
        return self.http.post(
            "/sign-in", data={"pre": pre.group(1), "staff_id": staff_id, "password": password}
        )

    def csrf(self) -> str:
        page = self.http.get("/find")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, f"{page.status_code} {page.headers.get('location')}"
        return found.group(1)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, data: dict[str, Any], csrf: bool = True) -> httpx.Response:
        return self.http.post(path, data={**data, **({"csrf": self.csrf()} if csrf else {})})


def _agency(backend: str, tmp: Path) -> Iterator[Agency]:
    saved = os.environ.get("CASEWORK_DATABASE_URL")
    schema = f"casework_desk_{TAG}"
    if backend == "postgresql":
        assert PG_URL is not None
        admin = make_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = pg_url(schema)
    else:
        url = f"sqlite:///{tmp / 'desk.db'}"
    os.environ["CASEWORK_DATABASE_URL"] = url
    get_settings.cache_clear()
    engine_for.cache_clear()
    migrate()
    found = Agency(backend, url)
    for staff_id, role, programs in STAFF.values():
        services.staff.add_staff(staff_id, role, [Program(programs)], None, "tests")
        services.sign_in.set_password(staff_id, PASSWORD, staff_id, temporary=False)
    with session_scope() as session:
        for who, program, manager in (
            ("cm1", Program.HOUSING, staff("cm1")),
            ("cm2", Program.HOUSING, staff("cm2")),
            ("geriatric", Program.GERIATRIC, "cm.park"),
        ):
            client = factories.client_in()
            case = factories.new_case(session, program, client)
            case.case_manager = manager
            found.cases[who], found.clients[who] = case.case_number or "", client
    today = datetime.now(UTC).date()
    kept = services.documents.produce(
        found.cases["cm1"], "notes", "html", staff("cm1"), period=(today - timedelta(30), today)
    )
    found.document = int(kept.path.stem.rsplit("-", 1)[-1])
    if backend == "postgresql":
        # The desk signs in to the store as the stack does: a member of casework_service,
        # never the owner (a superuser is every role, and would name itself in the log).
        with admin.begin() as connection:
            connection.execute(text(f'DROP ROLE IF EXISTS "{DESK_ROLE}"'))
            connection.execute(text(f'CREATE ROLE "{DESK_ROLE}" LOGIN IN ROLE casework_service'))
        found.url = pg_url(schema, DESK_ROLE)
        os.environ["CASEWORK_DATABASE_URL"] = found.url
        get_settings.cache_clear()
    try:
        yield found
    finally:
        engine_for.cache_clear()
        if saved is None:
            os.environ.pop("CASEWORK_DATABASE_URL", None)
        else:
            os.environ["CASEWORK_DATABASE_URL"] = saved
        get_settings.cache_clear()
        if backend == "postgresql":
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                for staff_id in [*(s for s, _, _ in STAFF.values()), DESK_ROLE]:
                    connection.execute(text(f'DROP OWNED BY "{staff_id}"'))
                    connection.execute(text(f'DROP ROLE "{staff_id}"'))
            admin.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def agency(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agency]:
    yield from _agency(request.param, tmp_path_factory.mktemp("desk"))


@pytest.fixture(scope="module")
def served(agency: Agency) -> Iterator[Served]:
    """The desk on a port of its own, its clock in the test's hands."""
    import uvicorn

    from casework.desk.app import create_app

    clock = [datetime.now(UTC)]
    now: Callable[[], datetime] = lambda: clock[0]  # noqa: E731
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(clock=now), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the desk did not start"
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", clock)
    server.should_exit = True
    thread.join(timeout=30)
