"""Benchmark: one full sweep over a large caseload, straight on the case store.

Fills a fresh store with N synthetic cases (bulk insert, not the CLI) spread over the six
programs, every stage and a range of dates, with referrals, plan goals, benefits, notices
of adverse action, waivers and post-closure checks, so that about 1% of cases are in
breach of some rule at `as_of`.
Then times one sweep of every watch (the store part: rule queries, ladder writes, the
reassessment query; not the HTTP or Prefect delivery that follows) and prints, from one run:
  * sweep time per watch and in all, statements issued, peak extra memory (RSS),
  * time at N / time at N/10 (linear growth: 10 or less),
  * apart from the sweep: every case manager's due list for the week, as the daily
    caseload report reads it,
on SQLite, and on PostgreSQL when one answers.

    .venv/bin/python bench/sweep.py [--cases 100000] [--database-url URL]
    .venv/bin/python bench/sweep.py --row-level-security [--cases 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event, insert, text  # noqa: E402

from casework.core.db import make_engine, migrate, session_scope  # noqa: E402
from casework.models import escalations, messages  # noqa: E402
from casework.models.codes import (  # noqa: E402
    BenefitKind,
    GoalStatus,
    NeedsDomain,
    NoticeAction,
    Objective,
    Program,
    Stage,
    WaiverRequirement,
    Watch,
)
from casework.models.due import due_list  # noqa: E402
from casework.models.orm import (  # noqa: E402
    AdverseNotice,
    Benefit,
    CarePlan,
    Case,
    Client,
    ClientMatch,
    ContactConsent,
    Episode,
    Escalation,
    FollowUp,
    PlanGoal,
    Referral,
    Waiver,
)
from casework.models.programs import load_programs  # noqa: E402
from casework.models.rules import Scope, due_reassessments  # noqa: E402

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
STALLED_SHARE = 0.012
CHUNK = 5000
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# The rules a stalled case of each stage can break (closed cases: a missed follow-up).
APPLICABLE = {
    Stage.INTAKE: ["stage"],
    Stage.ASSESSMENT: ["stage"],
    Stage.PLAN: ["stage"],
    Stage.REFERRAL: ["stage", "referral", "benefit"],
    Stage.MONITORING: ["contact", "referral", "goal", "benefit", "reassess"],
    Stage.CLOSURE: ["follow_up"],
}


def _days_ago(days: int) -> datetime:
    return AS_OF - timedelta(days=days, hours=random.randrange(0, 10))


def _within(limit: int, stalled: bool) -> int:
    """Days since something happened: inside the limit, or past it if the case is stalled."""
    return limit + random.randint(2, 30) if stalled else random.randint(0, max(limit - 1, 0))


def _letters(n: int) -> str:
    """n in letters (a name has no digits: duplicate detection folds them away)."""
    word = ""
    while True:
        n, left = divmod(n, 26)
        word = "abcdefghijklmnopqrstuvwxyz"[left] + word
        if n == 0:
            return word


def _rows(count: int) -> dict[type, list[dict[str, Any]]]:
    random.seed(7)
    programs = load_programs()
    stages = [Stage.INTAKE, Stage.ASSESSMENT, Stage.PLAN, Stage.REFERRAL, Stage.MONITORING]
    weights = [2, 8, 8, 10, 60]
    rows: dict[type, list[dict[str, Any]]] = {
        m: []
        for m in (
            Client,
            ClientMatch,
            ContactConsent,
            Case,
            Episode,
            CarePlan,
            PlanGoal,
            Referral,
            Benefit,
            AdverseNotice,
            Waiver,
            FollowUp,
        )
    }
    objectives = {o.spec.domain: o for o in Objective}
    for n in range(1, count + 1):
        program = random.choice(list(Program))
        config = programs[program]
        closed = random.random() < 0.12
        stage = Stage.CLOSURE if closed else random.choices(stages, weights)[0]
        stalled = random.random() < STALLED_SHARE
        rule = random.choice(APPLICABLE[stage if not closed else Stage.CLOSURE])
        sla = config.sla_days[stage]
        entered = _days_ago(_within(sla, stalled and rule == "stage"))
        if stage is Stage.MONITORING:
            entered = _days_ago(
                _within(config.reassessment_interval_days, stalled and rule == "reassess")
            )
        if closed:  # closed 31-120 days ago: the day-30 check is due (and done, unless stalled)
            entered = _days_ago(random.randint(31, 120))
        contact = _days_ago(_within(config.contact_interval_days, stalled and rule == "contact"))
        _client(rows, n)
        rows[ClientMatch].append(  # as intake indexes a client for duplicate checks
            {
                "id": n,
                "client_id": n,
                "given": f"g{_letters(n)}",
                "family": f"f{_letters(n)}",
                "born": date(1960, 1, 1) + timedelta(days=n % 15000),
            }
        )
        rows[Case].append(
            {
                "id": n,
                "case_number": f"CASE-{n:06d}",
                "client_id": n,
                "program": program.value,
                "case_manager": f"cm.{n % 400}",
                "status": "closed" if closed else "open",
                "episode": 1,
                "stage": stage.value,
                "stage_sequence": 1,
                "stage_attempt": 0,
                "stage_key": f"{stage.value}-1",
                "stage_entered_at": entered,
                "opened_at": entered - timedelta(days=20),
                "closed_at": entered if closed else None,
                "last_contact_at": min(contact, AS_OF) if stage is Stage.MONITORING else entered,
                "last_assessed_at": entered,
                "crisis_since": None,
            }
        )
        rows[Episode].append(
            {
                "id": n,
                "case_id": n,
                "number": 1,
                "flow_run_id": str(uuid.UUID(int=n)),
                "opened_at": entered - timedelta(days=20),
                "closed_at": entered if closed else None,
                "closure_reason": "goals_met" if closed else None,
            }
        )
        if stage in (Stage.REFERRAL, Stage.MONITORING):
            late = stalled and rule == "referral"
            rows[Referral].append(
                {
                    "id": n,
                    "reference": f"REF-{n:06d}",
                    "case_id": n,
                    "episode": 1,
                    "stage_key": "referral-1",
                    "position": 0,
                    "service": "housing_search",
                    "provider": None,
                    "urgency": "routine",
                    "status": "requested" if late or random.random() < 0.3 else "accepted",
                    "status_at": _days_ago(_within(config.referral_response_days, late)),
                }
            )
        if stage in (Stage.MONITORING, Stage.REFERRAL):
            rows[CarePlan].append(
                {
                    "id": n,
                    "case_id": n,
                    "episode": 1,
                    "stage_key": "plan-1",
                    "version": 1,
                    "current": True,
                    "client_participated": True,
                    "agreed_on": entered.date(),
                    "created_by": "cm.bench",
                }
            )
            overdue = stalled and rule == "goal"
            domain = random.choice(list(NeedsDomain))
            target = AS_OF.date() + timedelta(days=-random.randint(1, 20) if overdue else 30)
            rows[PlanGoal].append(
                {
                    "plan_id": n,
                    "domain": domain.value,
                    "objective": objectives[domain].value,
                    "target_date": target,
                    "status": GoalStatus.IN_PROGRESS.value,
                    "status_changed_at": entered,
                }
            )
        if random.random() < 0.3:
            _benefit(rows, n, lapsing=stalled and rule == "benefit")
        if random.random() < 0.05:
            rows[Waiver].append(
                {
                    "case_id": n,
                    "requirement": random.choice(list(WaiverRequirement)).value,
                    "expires_on": AS_OF.date() + timedelta(days=random.randint(31, 365)),
                    "active": True,
                    "granted_by": "cm.bench",
                }
            )
        if closed:
            for day in (30, 90):
                rows[FollowUp].append(
                    {
                        "case_id": n,
                        "episode": 1,
                        "day": day,
                        "due_on": entered.date() + timedelta(days=day),
                        "outcome": "stable"
                        if entered.date() + timedelta(days=day) < AS_OF.date()
                        else None,
                    }
                )
    return rows


def _client(rows: dict[type, list[dict[str, Any]]], n: int) -> None:
    """Client `n`: two in five take texts, with their phone and consent on file."""
    texting = n % 5 < 2
    rows[Client].append(
        {
            "id": n,
            "given_name": f"G{_letters(n)}",
            "family_name": f"F{_letters(n)}",
            "date_of_birth": date(1960, 1, 1) + timedelta(days=n % 15000),
            "contact_preference": "text" if texting else "phone",
            "phone": f"555{n:07d}" if texting else None,
        }
    )
    if texting:
        rows[ContactConsent].append(
            {"client_id": n, "channel": "sms", "given_on": date(2026, 1, 1), "recorded_by": "b"}
        )


def _benefit(rows: dict[type, list[dict[str, Any]]], case_id: int, lapsing: bool) -> None:
    """A benefit to recertify (lapsed, if `lapsing`); for some, a notice to cut it: most
    answered by a hearing request, a fifth not yet (on the ladder)."""
    kind = random.choice(list(BenefitKind)).value
    due = AS_OF.date() + timedelta(
        days=-random.randint(1, 10) if lapsing else random.randint(31, 365)
    )
    rows[Benefit].append(
        {
            "case_id": case_id,
            "kind": kind,
            "recertify_by": due,
            "active": True,
            "recorded_by": "cm.bench",
        }
    )
    if random.random() < 0.05:
        rows[AdverseNotice].append(_notice(case_id, kind, unanswered=random.random() < 0.2))


def _notice(case_id: int, kind: str, unanswered: bool) -> dict[str, Any]:
    dated = AS_OF.date() - timedelta(days=random.randint(0, 40))
    return {
        "case_id": case_id,
        "episode": 1,
        "number": 1,
        "benefit": kind,
        "action": NoticeAction.DISCONTINUE.value,
        "notice_date": dated,
        "effective_on": dated + timedelta(days=14),
        "aid_deadline": dated + timedelta(days=13),
        "hearing_deadline": dated + timedelta(days=90),
        "recorded_by": "cm.bench",
        "hearing_requested_on": None if unanswered else dated + timedelta(days=5),
        "aid_continuing": None if unanswered else True,
    }


def fill(engine: Engine, count: int) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for model, rows in _rows(count).items():
            for row in rows:
                row.setdefault("created", now)
                row.setdefault("updated", now)
            for start in range(0, len(rows), CHUNK):
                connection.execute(insert(model), rows[start : start + CHUNK])
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


class Peak:
    """Peak resident memory above the starting point, sampled every 5 ms."""

    def __init__(self) -> None:
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def sweep(engine: Engine) -> dict[str, Any]:
    statements = 0

    def count(*args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
    programs = load_programs()
    times: dict[str, float] = {}
    found: dict[str, int] = {}
    message_times: dict[str, float] = {}
    kept: dict[str, int] = {}
    with Peak() as peak:
        for watch in (Watch.STALLED_CASES, Watch.BENEFITS, Watch.FOLLOW_UPS):
            started = time.perf_counter()
            with session_scope(engine) as session:
                result = escalations.sweep(session, watch, Scope(AS_OF), programs)
            times[watch.value] = time.perf_counter() - started
            found[watch.value] = len(result.raised)
        started = time.perf_counter()
        with session_scope(engine) as session:
            found["reassessments"] = len(due_reassessments(session, Scope(AS_OF), programs))
        times["reassessments"] = time.perf_counter() - started
        # The messages sweep keeping what fell due (not their delivery), then the next one
        # a quarter of an hour later: everything already kept, nothing new.
        zone, morning = ZoneInfo("America/New_York"), day_time(8)
        for name, moment in (("first", AS_OF), ("next", AS_OF + timedelta(minutes=15))):
            started = time.perf_counter()
            with session_scope(engine) as session:
                planned = messages.plan(session, moment, programs, zone, morning)
            kept[name] = len(planned.kept)
            message_times[name] = time.perf_counter() - started
    event.remove(engine, "before_cursor_execute", count)
    # Not part of the sweep: the daily report's due list of every case manager, read alike.
    started = time.perf_counter()
    with session_scope(engine, read_only=True) as session:
        due_items = len(due_list(session, AS_OF.date(), 7))
    return {
        "due_lists": time.perf_counter() - started,
        "due_items": due_items,
        "times": times,
        "total": sum(times.values()),
        "found": found,
        "message_times": message_times,
        "messages_kept": kept,
        "statements": statements,
        "peak_mb": (peak.peak - peak.base) / 2**20,
    }


def _fill_in_child(url: str, count: int) -> float:
    """Fill in a child process, so this one's memory reflects the sweep alone."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()

    def child() -> None:
        engine = make_engine(url)
        migrate(engine)
        queue.put(fill(engine, count))
        engine.dispose()

    process = context.Process(target=child)
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"filling the store failed (exit {process.exitcode})")
    return float(queue.get())


def run(url: str, count: int, sweep_url: str | None = None) -> dict[str, Any]:
    """Fill at `url`, sweep (as `sweep_url`'s role, if given: the same store)."""
    seconds = _fill_in_child(url, count)
    engine = make_engine(sweep_url or url)
    result = sweep(engine)
    with engine.connect() as connection:
        result["escalations"] = connection.execute(
            text(f"SELECT count(*) FROM {Escalation.__tablename__}")
        ).scalar()
    engine.dispose()
    result["fill"] = seconds
    return result


def sizes(description: str) -> tuple[int, int, str]:
    """A two-size benchmark's command line (`--cases N`, `--database-url URL`): N, N/10,
    and the PostgreSQL server's address."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("CASEWORK_TEST_DATABASE_URL"))
    args = parser.parse_args()
    return args.cases, max(args.cases // 10, 1), args.database_url or PG_DEFAULT


def on_both_stores(
    description: str,
    label: str,
    measure: Callable[[str, int], dict[str, float]],
    said: Callable[[int, dict[str, float]], str],
    timed: str,
) -> None:
    """A two-size benchmark's run (its command line: `sizes`): N/10, then N cases, on
    SQLite and on PostgreSQL when one answers, each measured in a fresh store and said in a
    line; then how `timed` grew from N/10 to N (linear: x10 or less)."""
    cases, small, pg = sizes(description)
    print(f"load: {os.getloadavg()[0]:.2f} (1-minute average, {os.cpu_count()} cores)")
    backends: list[tuple[str, Callable[[int], str | None]]] = [
        ("sqlite", lambda n: f"sqlite:///{tempfile.mkdtemp(prefix=f'casework-{label}-')}/r{n}.db"),
        ("postgresql", lambda n: fresh_pg(pg, f"casework_{label}_{n}")),
    ]
    for backend, url_for in backends:
        results: dict[int, dict[str, float]] = {}
        for count in (small, cases):
            url = url_for(count)
            if url is None:
                break
            got = results[count] = measure(url, count)
            print(f"{backend:<10} {count:>7} cases: {said(count, got)}")
        if backend == "postgresql":
            _drop_pg(pg, [f"casework_{label}_{count}" for count in results])
        if len(results) == 2:
            growth = results[cases][timed] / results[small][timed]
            print(
                f"{backend:<10} growth {small} -> {cases} cases: x{growth:.1f} "
                f"for x{cases / small:.0f} cases (linear: x10 or less)"
            )


def fresh_pg(url: str, label: str) -> str | None:
    try:
        admin = make_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {label} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {label}"))
        admin.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
        print(f"postgresql: skipped ({type(exc).__name__})")
        return None
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{label}"


def _drop_pg(url: str, labels: list[str]) -> None:
    admin = make_engine(url)
    with admin.begin() as connection:
        for label in labels:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {label} CASCADE"))
    admin.dispose()


def report(backend: str, count: int, result: dict[str, Any]) -> None:
    times = ", ".join(f"{k} {v:.3f} s" for k, v in result["times"].items())
    print(
        f"{backend:<10} {count:>7} cases: sweep {result['total']:.3f} s ({times}); "
        f"{result['statements']} statements; peak +{result['peak_mb']:.1f} MB RSS; "
        f"raised {sum(v for k, v in result['found'].items() if k != 'reassessments')} "
        f"({result['escalations'] / count:.2%} of cases), "
        f"reassessments due {result['found']['reassessments']}; fill {result['fill']:.1f} s; "
        f"every case manager's due list (7 days) {result['due_lists']:.3f} s, "
        f"{result['due_items']} items"
    )
    first, following = result["message_times"]["first"], result["message_times"]["next"]
    kept = result["messages_kept"]["first"]
    print(
        f"{'':<10} {'':>7}        messages: the sweep that finds them kept {kept} in "
        f"{first:.3f} s ({kept / first:.0f} a second); the next, 15 minutes on, kept "
        f"{result['messages_kept']['next']} in {following:.3f} s"
    )


SERVICE_ROLE = "casework_bench_service"


def row_level_security(pg: str, count: int) -> None:
    """The same sweep on PostgreSQL twice, each on a fresh store: as the store's owner (no
    row-level policy applies) and as a member of casework_service, as the flows run (every
    row read through the policies of migration 0007). Prints both and their ratio."""
    owner_url = fresh_pg(pg, f"casework_bench_owner_{count}")
    service_store = fresh_pg(pg, f"casework_bench_rls_{count}")
    if owner_url is None or service_store is None:
        return
    admin = make_engine(pg)
    with admin.begin() as connection:
        connection.execute(
            text(
                f"DO $$ BEGIN CREATE ROLE {SERVICE_ROLE} LOGIN; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        )
    owner = run(owner_url, count)
    report("owner", count, owner)
    with admin.begin() as connection:  # the group role exists once the store is migrated
        connection.execute(text(f"GRANT casework_service TO {SERVICE_ROLE}"))
    user = pg.split("://", 1)[1].split("@", 1)[0].split(":", 1)[0]
    as_service = service_store.replace(f"{user}@", f"{SERVICE_ROLE}@", 1)
    service = run(service_store, count, sweep_url=as_service)
    report("service", count, service)
    ratio = service["total"] / owner["total"]
    print(f"row-level security: the service role's sweep takes x{ratio:.2f} the owner's")
    _drop_pg(pg, [f"casework_bench_owner_{count}", f"casework_bench_rls_{count}"])
    with admin.begin() as connection:
        connection.execute(text(f"DROP OWNED BY {SERVICE_ROLE}"))
        connection.execute(text(f"DROP ROLE {SERVICE_ROLE}"))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("CASEWORK_TEST_DATABASE_URL"))
    parser.add_argument(
        "--row-level-security",
        action="store_true",
        help="PostgreSQL only: the sweep as the owner and as the service role, compared",
    )
    args = parser.parse_args()
    if args.row_level_security:
        row_level_security(args.database_url or PG_DEFAULT, args.cases)
        return
    small = max(args.cases // 10, 1)
    backends: list[tuple[str, Any]] = [
        ("sqlite", lambda n: f"sqlite:///{tempfile.mkdtemp(prefix='casework-sweep-')}/s{n}.db")
    ]
    pg = args.database_url or PG_DEFAULT
    backends.append(("postgresql", lambda n: fresh_pg(pg, f"casework_bench_{n}")))
    for backend, url_for in backends:
        results = {}
        for count in (small, args.cases):
            url = url_for(count)
            if url is None:
                break
            results[count] = run(url, count)
            report(backend, count, results[count])
        if backend == "postgresql":
            _drop_pg(pg, [f"casework_bench_{count}" for count in results])
        if len(results) == 2:
            growth = results[args.cases]["total"] / results[small]["total"]
            print(
                f"{backend:<10} growth {small} -> {args.cases} cases: x{growth:.1f} "
                f"for x{args.cases / small:.0f} cases (linear: x10 or less)"
            )


if __name__ == "__main__":
    main()
