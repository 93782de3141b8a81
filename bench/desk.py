"""Benchmark: the desk's pages with a large caseload, time spent in the desk per page.

Fills a fresh store with N synthetic cases (bench/sweep.py's fill: 400 case managers, six
programs, every stage; about 250 cases per case manager, 16,700 per program), serves the
desk (uvicorn on loopback, as `casework desk` runs it) and asks each page R times as a
case manager (cm.7), a supervisor of housing and a program manager of housing, signed in
as themselves (on PostgreSQL: as their own database roles, the desk itself a member of
casework_service, as in production). The figure is the desk's own time per request (its
`Server-Timing` header: from the request's arrival to the response's start, store reads
included), median and 95th percentile, on SQLite and on PostgreSQL when one answers.

    .venv/bin/python bench/desk.py [--cases 100000] [--repeat 30] [--database-url URL]

No Prefect server runs: the case page's question to Prefect (is the case's run waiting as
it should?) is refused at once by the closed port and shown as "unknown"; with a server
it adds one local API request.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from casework.models.codes import Program  # noqa: E402

PASSWORD = "bench desk password"
CASE_MANAGER, SUPERVISOR, PROGRAM_MANAGER = "cm.7", "sup.bench", "pm.bench"
DESK_ROLE = "casework_bench_desk"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _roster(path: Path) -> None:
    every = [p.value for p in Program]
    staff = [(CASE_MANAGER, "case_manager", every), (SUPERVISOR, "supervisor", ["housing"])]
    staff.append((PROGRAM_MANAGER, "program_manager", ["housing"]))
    path.write_text(
        (ROOT / "models" / "staff.toml").read_text()
        + "".join(
            f'\n[[staff]]\nid = "{who}"\nrole = "{role}"\nprograms = {json.dumps(held)}\n'
            for who, role, held in staff
        )
    )


def _prepare(url: str, count: int, work: Path) -> tuple[str, float]:
    """The store filled, the staff with passwords; the URL the desk signs in with."""
    from sqlalchemy import text

    from bench.sweep import fill
    from casework import services
    from casework.core.db import engine_for, make_engine, migrate
    from casework.core.settings import get_settings

    os.environ["CASEWORK_DATABASE_URL"] = url
    get_settings.cache_clear()
    engine_for.cache_clear()
    engine = make_engine(url)
    migrate(engine)
    filled = fill(engine, count)
    engine.dispose()
    for staff_id in (CASE_MANAGER, SUPERVISOR, PROGRAM_MANAGER):
        services.staff.add_staff(staff_id, None, None, None, "bench")
        services.sign_in.set_password(staff_id, PASSWORD, staff_id, temporary=False)
    if not url.startswith("postgresql"):
        return url, filled
    owner = make_engine(url)
    with owner.begin() as connection:
        connection.execute(
            text(
                f"DO $$ BEGIN CREATE ROLE {DESK_ROLE} LOGIN IN ROLE casework_service; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        )
    owner.dispose()
    user = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[0]
    return url.replace(f"{user}@", f"{DESK_ROLE}@", 1), filled


def _serve() -> tuple[str, Any]:
    import socket

    import uvicorn

    from casework.desk.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def _signed_in(base: str, staff_id: str) -> Any:
    import httpx

    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/sign-in")
    pre = re.search(r'name="pre" value="([^"]+)"', page.text)
    assert pre
    client.post("/sign-in", data={"pre": pre.group(1), "staff_id": staff_id, "password": PASSWORD})
    return client


def _csrf(client: Any) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/find").text)
    assert found
    return found.group(1)


def _server_ms(response: Any) -> float:
    timing = response.headers.get("server-timing", "")
    found = re.search(r"dur=([0-9.]+)", timing)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert found, "no Server-Timing header"
    return float(found.group(1))


def measure(base: str, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    clients = {who: _signed_in(base, who) for who in (CASE_MANAGER, SUPERVISOR, PROGRAM_MANAGER)}
    cm, sup, pm = clients[CASE_MANAGER], clients[SUPERVISOR], clients[PROGRAM_MANAGER]
    one_case = re.search(r'href="/cases/(CASE-\d+)"', cm.get("/caseload").text)
    assert one_case
    number = one_case.group(1)
    name = re.search(r"<td>(F[a-z]+), G[a-z]+</td>", cm.get("/caseload").text)
    assert name
    coded = re.search(r'href="/cases/(CASE-\d+)"', pm.get("/caseload").text)
    assert coded
    pages = {
        "my day (case manager)": lambda: cm.get("/day"),
        "my caseload, page 1": lambda: cm.get("/caseload"),
        "my caseload, last page": lambda: cm.get("/caseload?page=999"),
        "my caseload, at monitoring": lambda: cm.get("/caseload?stage=monitoring&sort=case"),
        "the case": lambda: cm.get(f"/cases/{number}"),
        "find by case number": lambda: cm.post("/find", data={"csrf": token, "wanted": number}),
        "find by name": lambda: cm.post("/find", data={"csrf": token, "wanted": name.group(1)}),
        "intake (blank)": lambda: cm.get("/intake"),
        "supervisor's caseload, page 1": lambda: sup.get("/caseload"),
        "supervisor's caseload, page 300": lambda: sup.get("/caseload?page=300"),
        "supervisor's team": lambda: sup.get("/team"),
        "program manager's caseload": lambda: pm.get("/caseload?stage=referral"),
        "program manager's case": lambda: pm.get(f"/cases/{coded.group(1)}"),
    }
    token = _csrf(cm)
    for label, ask in pages.items():
        ask()  # the first: warms the store's caches and the templates
        times[label] = [_server_ms(ask()) for _ in range(repeat)]
    for client in clients.values():
        client.close()
    return times


def report(backend: str, count: int, fill_s: float, times: dict[str, list[float]]) -> float:
    worst = 0.0
    print(f"\n{backend}, {count} cases (filled in {fill_s:.0f} s); ms in the desk per request")
    print(f"  {'page':<34} {'median':>8} {'p95':>8}")
    for label, values in times.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        worst = max(worst, p95)
        print(f"  {label:<34} {statistics.median(values):>8.1f} {p95:>8.1f}")
    print(f"  slowest p95: {worst:.1f} ms (target under 100 ms)")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", default=os.environ.get("CASEWORK_TEST_DATABASE_URL"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="casework-desk-bench-"))
    os.environ["CASEWORK_DATA_DIR"] = str(work)
    os.environ["CASEWORK_STAFF_FILE"] = str(work / "staff.toml")
    os.environ["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # nothing listens: "unknown"
    _roster(work / "staff.toml")
    print(f"load: {os.getloadavg()[0]:.2f} (1-minute average, 2 cores) before the run")
    schema = f"casework_bench_desk_{args.cases}"
    backends = [("sqlite", f"sqlite:///{work / 'desk.db'}")]
    from bench.sweep import fresh_pg

    pg = fresh_pg(args.database_url or PG_DEFAULT, schema)
    if pg is not None:
        backends.append(("postgresql", pg))
    for backend, url in backends:
        desk_url, filled = _prepare(url, args.cases, work)
        from casework.core.db import engine_for
        from casework.core.settings import get_settings

        os.environ["CASEWORK_DATABASE_URL"] = desk_url
        get_settings.cache_clear()
        engine_for.cache_clear()
        base, server = _serve()
        try:
            report(backend, args.cases, filled, measure(base, args.repeat))
        finally:
            server.should_exit = True
            time.sleep(0.5)
    print(f"load: {os.getloadavg()[0]:.2f} after the run")


if __name__ == "__main__":
    main()
