"""The scale-out section of docs/operators.md, run end to end on loopback, as an operator
follows it.

    .venv/bin/python deploy/walkthrough.py [--cases 10] [--lost-run-seconds 60]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, as on the test machines); `.ci/run` runs it
when that answers. In order, each step timed:

1. a Prefect server scaled out (`casework prefect-server --api-servers 2`: two API servers
   behind HAProxy, the background services in their own process, Redis) on a PostgreSQL
   database of its own, and the case store on another;
2. `casework deploy` (work pool, deployments, automations), before any worker exists;
3. two `casework worker --pool casework` processes with separate homes (data directory,
   PREFECT_HOME), connected to the store as the service role, the secrets copied to each;
4. `--cases` cases moved through every stage, intake to closure, with referrals sent to a
   partner agency over HTTP, and both workers taking runs, while one API server is killed
   (kill -9) 15 s in: the others answer, and it is started again;
5. worker A killed together with its template and flow-run processes (kill -9 of its
   process group, as when a machine is lost) while a case run is in flight on it; the
   case recovers by itself: the lost-run automation crashes the silent run, the
   crashed-case automation reschedules it, worker B applies its held form once;
6. worker A back, and two stalled-case sweeps at once on the pool: every rung raised has
   exactly one Prefect event and one signed webhook.

Exit 0 and "walkthrough passed" when every check holds; otherwise exit 1 with one line
naming the check that failed. Everything it made is removed at the end (--keep: not)."""

from __future__ import annotations

import argparse
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import traceback
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project and its tests' helpers, run as a script
from tests.polling import wait_for  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"
POOL = "casework"


class Failed(Exception):
    """A check of the walkthrough did not hold."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_answers() -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", 5432)) == 0


def verified(body: bytes, header: str, key: str, secret: str) -> bool:
    """Is `body` with Idempotency-Key `key` signed with `secret`, as the program's receiver
    checks it."""
    from casework.tasks.notifications import signature

    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp, nonce = int(fields["t"]), fields["n"]
    except (KeyError, ValueError):
        return False
    expected = signature(secret, body, key, timestamp, nonce)
    return bool(secret) and hmac.compare_digest(expected, header)


class Walkthrough:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        self.tag = f"walk{os.getpid()}"
        self.home = Path(tempfile.mkdtemp(prefix="casework-walkthrough-"))
        self.prefect_db = f"casework_{self.tag}_prefect"
        self.store_db = f"casework_{self.tag}_store"
        self.service = f"svc.{self.tag}"
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.api_pids: dict[str, int] = {}
        self.opened: list[Any] = []  # every case the walkthrough opened, in order
        from casework.partner import WebhookReceiver

        self.hooks = WebhookReceiver(verified)

    # -- output --------------------------------------------------------------------------

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        first, *rest = text.splitlines()
        print(f"[{elapsed:6.1f} s] {first}", flush=True)
        for line in rest:
            print(f"           {line}", flush=True)

    # -- environment ---------------------------------------------------------------------

    def store_url(self, role: str = "postgres") -> str:
        return f"postgresql+psycopg://{role}@127.0.0.1:5432/{self.store_db}"

    def env(self, name: str, role: str = "postgres") -> dict[str, str]:
        """The environment of one machine: its own data directory and Prefect home."""
        data_dir = self.home / name
        (data_dir / "prefect").mkdir(parents=True, exist_ok=True)
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CASEWORK_"))}
        credential = self.home / "server" / "prefect-credential"  # the server's, made as it starts
        if credential.exists():
            keep["PREFECT_API_AUTH_STRING"] = credential.read_text().strip()
        return keep | {
            "PREFECT_API_URL": self.api,
            "PREFECT_HOME": str(data_dir / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "CASEWORK_DATA_DIR": str(data_dir),
            "CASEWORK_DATABASE_URL": self.store_url(role),
            "CASEWORK_PROGRAMS_FILE": str(self.home / "programs.toml"),
            "CASEWORK_LOST_RUN_SECONDS": str(self.args.lost_run_seconds),
            "CASEWORK_HEARTBEAT_SECONDS": str(self.args.heartbeat_seconds),
            # Its sweeps move the caseload days ahead and must write what they find: the
            # development switch for that (without it, a future as_of is a preview).
            "CASEWORK_DEV_MODE": "on",
            "CASEWORK_WRITE_AHEAD": "on",
        }

    def http(self) -> httpx.Client:
        """The Prefect API, signed in with the server's credential."""
        credential = (self.home / "server" / "prefect-credential").read_text().strip()
        user, _, password = credential.partition(":")
        return httpx.Client(base_url=self.api + "/", timeout=30, auth=(user, password))

    def casework(self, name: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "casework", *argv],
            env=self.env(name),
            capture_output=True,
            text=True,
            timeout=900,
        )

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.processes[name] = process
        return process

    # -- the steps -----------------------------------------------------------------------

    def databases(self) -> None:
        import psycopg

        with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
            for database in (self.prefect_db, self.store_db):
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {database}")
        programs = tomllib.loads((ROOT / "models" / "programs.toml").read_text())
        text = (ROOT / "models" / "programs.toml").read_text()
        for program in programs:
            text = text.replace(
                f"[{program}]\n", f'[{program}]\nwebhook_url = "{self.hooks.url}"\n'
            )
        (self.home / "programs.toml").write_text(text)

    def prefect_server(self) -> None:
        """`casework prefect-server`: two API servers behind HAProxy, the background
        services in their own process, Redis (Debian's, started by it), on PostgreSQL."""
        env = self.env("server")
        del env["PREFECT_API_URL"]
        self.start(
            "prefect-server",
            [sys.executable, "-m", "casework", "prefect-server", "--port", str(self.port)]
            + ["--api-servers", "2", "--prefect-database-url", f"{PG}/{self.prefect_db}"],
            env,
        )
        log = self.home / "prefect-server.log"
        wait_for("the Prefect server to start", lambda: "Ctrl-C stops it" in log.read_text(), 300)
        started = log.read_text().split("Prefect server at", 1)[1].splitlines()[0]
        self.api_pids = {name: int(pid) for name, pid in re.findall(r"(api-\d+) (\d+)", started)}
        from casework.core.prefect_api import api_is_healthy

        wait_for("the Prefect server to answer", lambda: api_is_healthy(self.api), 60)
        self.say(
            f"Prefect server answering at {self.api}, on PostgreSQL ({self.prefect_db}): "
            f"{len(self.api_pids)} API servers behind HAProxy, services apart, Redis"
        )

    def kill_an_api_server(self, when: threading.Event) -> None:
        """While cases move: kill -9 of API server 1 once the first transitions are done."""
        when.wait(600)
        os.kill(self.api_pids["api-1"], signal.SIGKILL)
        self.say(f"API server 1 killed (kill -9 of {self.api_pids['api-1']}) while cases move")

    def case_store(self) -> None:
        migrated = self.casework("operator", "migrate")
        if migrated.returncode:
            raise Failed(f"casework migrate: {migrated.stderr.strip()}")
        import psycopg

        with psycopg.connect(f"{PG}/{self.store_db}", autocommit=True) as owner:
            found = owner.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [self.service])
            if not found.fetchone():
                owner.execute(f'CREATE ROLE "{self.service}" LOGIN IN ROLE casework_service')
        self.say(f"case store migrated ({self.store_db}); workers sign in as {self.service}")

    def deploy(self) -> None:
        """`casework deploy` on a server no worker has polled: the pool, every deployment
        with nothing naming this machine's paths and no secret, the automations; again, it
        changes nothing. `casework status` names the automations before, and not after."""
        from casework.core.prefect_api import AUTOMATIONS
        from casework.deployments import DECLARED

        before = self.casework("operator", "status", "--json")
        lacking = [a for a in json.loads(before.stdout)["actions"] if a.startswith("automation")]
        if not lacking or "run `casework deploy`" not in lacking[0]:
            raise Failed(f"casework status before deploy: {lacking or 'no automation missing'}")
        done = self.casework("operator", "deploy")
        if done.returncode:
            raise Failed(f"casework deploy: {done.stderr.strip()}")
        self.say("casework deploy (no worker exists yet):\n" + done.stdout.strip())
        api = self.http()
        if api.post(f"work_pools/{POOL}/workers/filter", json={}).json():
            raise Failed("casework deploy: a worker had polled before it")
        pool = api.get(f"work_pools/{POOL}").json()
        found = api.post("deployments/filter", json={}).json()
        if pool["type"] != "casework" or {d["name"] for d in found} != {d.name for d in DECLARED}:
            raise Failed(f"casework deploy: pool {pool['type']}, {len(found)} deployments")
        for deployment in found:
            self.shows_nothing_local(deployment, pool)
        automations = api.post("automations/filter", json={}).json()
        if sorted(a["name"] for a in automations) != sorted(AUTOMATIONS):
            raise Failed(f"automations on the server: {[a['name'] for a in automations]}")
        again = self.casework("operator", "deploy")
        if "(type casework): up to date." not in again.stdout or len(
            api.post("deployments/filter", json={}).json()
        ) != len(DECLARED):
            raise Failed(f"casework deploy, again: {again.stdout.strip() or again.stderr}")
        after = self.casework("operator", "status", "--json")
        if [a for a in json.loads(after.stdout)["actions"] if a.startswith("automation")]:
            raise Failed("casework status after deploy: automations still missing")
        self.say(
            "casework deploy again: pool up to date, same deployments and automations; "
            "casework status named the missing automations before, none after"
        )

    def shows_nothing_local(self, deployment: dict[str, Any], pool: dict[str, Any]) -> None:
        shown = json.dumps([deployment, pool["base_job_template"]])
        if deployment["pull_steps"] or str(self.home) in shown or str(ROOT) in shown:
            raise Failed(f"{deployment['name']}: names this machine's paths")
        if any(word in shown for word in ("postgresql", "DATABASE_URL", "AUTH_STRING")):
            raise Failed(f"{deployment['name']}: a secret in what the UI shows")

    def other_version_refused(self) -> None:
        """A deployment made by another installation: a worker refuses it in one line."""
        api = self.http()
        sweep = api.get("deployments/name/stalled-case-sweep/stalled-case-sweep").json()
        other = "0.0.9+lock.0000000000+head.0001"
        api.patch(f"deployments/{sweep['id']}", json={"version": other}).raise_for_status()
        refused = subprocess.run(
            [sys.executable, "-m", "casework", "worker", "--pool", POOL],
            env=self.env("worker-c", self.service),
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = f"stalled-case-sweep deployed from {other}, and this worker is "
        if refused.returncode != 1 or refused.stderr.count("\n") != 1 or said not in refused.stderr:
            raise Failed(f"a worker of another version: {refused.stderr.strip()}")
        self.say("a worker under a deployment of another version: " + refused.stderr.strip())
        if self.casework("operator", "deploy").returncode:  # put back as it was
            raise Failed("casework deploy, to put the version back")

    def secrets(self) -> None:
        """The operator's secrets (partner tokens, webhook secrets), made on the operator's
        machine and copied to each worker's data directory, as docs/operators.md says."""
        env = self.env("operator")
        programs = tomllib.loads((self.home / "programs.toml").read_text())
        for program in programs:
            shown = subprocess.run(
                [sys.executable, "-m", "casework", "webhook-secret", program],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            self.hooks.secrets[program] = shown.stdout.strip()

    def copy_secrets(self, name: str) -> None:
        self.env(name)
        for file in ("partner-tokens.json", "webhook-secrets.json"):
            source = self.home / "operator" / file
            if source.exists():
                shutil.copy2(source, self.home / name / file)

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        self.copy_secrets(name)
        return self.start(
            name,
            [sys.executable, "-m", "casework", "worker", "--pool", POOL]
            + ["--limit", str(self.args.limit)],
            self.env(name, self.service) | {"PREFECT_LOGGING_LEVEL": "INFO"},
        )

    def polling(self) -> int:
        found = self.http().post(f"work_pools/{POOL}/workers/filter", json={}).json()
        return sum(1 for w in found if w["status"] == "ONLINE")

    def taken_by(self, name: str) -> set[str]:
        """The flow runs worker `name` took (its log says which)."""
        text = (self.home / f"{name}.log").read_text(errors="replace")
        return {
            line.split("flow run '")[1].split("'")[0]
            for line in text.splitlines()
            if "flow run '" in line and ("Submitting" in line or "submitting" in line)
        }

    # -- in this process, as the operator's machine --------------------------------------

    def operator(self) -> None:
        os.environ.update(self.env("operator"))
        from casework.core.settings import get_settings

        get_settings.cache_clear()

    def open_cases(self, count: int, full: bool = True) -> list[Any]:
        from casework import demo

        opened = []
        for index in range(count):
            case = demo._open(len(self.opened) + index, seed=11)
            case.route = list(demo.ROUTES[-1]) if full else []
            opened.append(case)
        self.opened += opened
        return opened

    def case_runs(self, numbers: list[str]) -> dict[str, str]:
        """Flow run id -> case number, for these cases' current runs."""
        from casework.core.db import session_scope
        from casework.models import cases

        with session_scope(read_only=True) as session:
            runs = cases.current_runs(session, [cases.get_case(session, n).id for n in numbers])
        return {run_id: number for number, run_id in runs.items() if run_id}

    def run(self) -> None:
        from casework import demo

        self.databases()
        self.prefect_server()
        self.case_store()
        self.deploy()
        self.operator()
        self.secrets()
        partner = demo.PartnerAgency(token=f"walk-{os.getpid()}").start()
        demo._demo_directory(partner.url, partner.token)
        for name in ("worker-a", "worker-b"):
            self.worker(name)
        wait_for("both workers to poll", lambda: self.polling() == 2, 180)
        self.say(f"workers a and b polling the {POOL} pool (--limit {self.args.limit} each)")

        # 4. cases through every stage, on both workers; an API server killed meanwhile.
        began = time.monotonic()
        first = self.open_cases(self.args.cases)
        moving = threading.Event()
        killer = threading.Thread(target=self.kill_an_api_server, args=(moving,), daemon=True)
        killer.start()
        threading.Timer(15, moving.set).start()  # a few transitions in
        demo.drive(first, patience=1200)
        moving.set()
        killer.join()
        self.finished(first)
        moved = time.monotonic() - began
        server_log = (self.home / "prefect-server.log").read_text()
        if "api-1 exited (-9); starting it again" not in server_log:
            raise Failed("the killed API server started again: `casework prefect-server` did not")
        runs = self.case_runs([c.number for c in first])
        a, b = self.taken_by("worker-a"), self.taken_by("worker-b")
        on_a, on_b = len(a & set(runs)), len(b & set(runs))
        transitions = self.args.cases * 6
        self.say(
            f"{self.args.cases} cases closed, intake to closure, in {moved:.0f} s "
            f"({transitions / moved * 60:.0f} transitions/min); runs taken by worker a: "
            f"{len(a)}, b: {len(b)} (these cases' runs: a ran {on_a}, b {on_b}; a case's "
            "run is taken afresh at each resume, by either)"
        )
        if not (a and b):
            raise Failed("both workers taking runs: one took none")

        # 5. a worker lost mid-transition.
        self.lose_a_worker()

        # 6. two sweeps at once.
        self.worker("worker-a")
        wait_for("worker a to poll again", lambda: self.polling() == 2, 180)
        self.two_sweeps()
        partner.stop()
        self.other_version_refused()

    def finished(self, moving: list[Any]) -> None:
        from casework import demo

        late = [c for c in moving if not c.finished or c.error]
        if late:
            raise Failed("cases through every stage:\n" + demo.table(late))

    def in_flight_on_a(self, batch: list[Any], driving: threading.Thread) -> tuple[str, str] | None:
        """A case run of `batch` that worker A has just started to apply a form: (case
        number, run id)."""
        from casework.template import RUNS_DIR

        deadline = time.monotonic() + 240
        while driving.is_alive() and time.monotonic() < deadline:
            ours = self.case_runs([c.number for c in batch])
            for entry in (self.home / "worker-a" / RUNS_DIR).glob("[0-9]*"):
                try:
                    run_id = entry.read_text().strip()
                except OSError:
                    continue
                # Past intake: the run was resumed with a form it has not applied yet.
                if run_id in ours and self.stage_events(ours[run_id]):
                    return ours[run_id], run_id
            time.sleep(0.02)
        return None

    def lose_a_worker(self) -> None:
        """Keep cases moving until a case run is in flight on worker A, then kill A's
        process group (worker, template, children) and time the case's recovery."""
        from casework import demo

        for _ in range(5):
            batch = self.open_cases(3)
            driving = threading.Thread(target=demo.drive, args=(batch,), kwargs={"patience": 1200})
            driving.start()
            victim = self.in_flight_on_a(batch, driving)
            if victim is not None:
                break
            driving.join()
        else:
            raise Failed("worker a took no case run of 15 cases to be killed in")
        number, run_id = victim
        worker_a = self.processes["worker-a"]
        before = self.stage_events(number)
        os.killpg(worker_a.pid, signal.SIGKILL)
        worker_a.wait()
        killed = time.monotonic()
        self.say(
            f"killed worker a with its template and flow-run processes (kill -9 of its "
            f"process group) as {number}'s run began to apply the form given at "
            f"{self.waiting_at(number)} ({len(before)} stage(s) recorded before)"
        )
        states = wait_for(
            f"{number}'s run to be crashed and rescheduled by the automations",
            lambda: self.recovered(run_id),
            self.args.lost_run_seconds + self.args.heartbeat_seconds + 120,
            every=0.5,
        )
        crashed_after = states["crashed_at"] - killed
        driving.join()
        self.finished(batch)
        after = self.stage_events(number)
        keys = [key for key, _ in after]
        expected = len(self.stage_events(self.opened[0].number))  # a case never interrupted
        if len(keys) != len(set(keys)) or len(after) != expected:
            raise Failed(f"{number}: stage events {keys}; expected {expected}, each once")
        if run_id not in self.taken_by("worker-b"):
            raise Failed(f"{number}: its rescheduled run was not taken by worker b")
        recovered = states["rescheduled_at"] - killed
        limit = self.args.lost_run_seconds + self.args.heartbeat_seconds
        self.say(
            f"{number} recovered by itself: Crashed by casework-lost-runs {crashed_after:.0f} s "
            f"after the kill ({states['crash_message']}), rescheduled by "
            f"casework-crashed-case-runs {recovered:.0f} s after it, run again on worker b, "
            f"which applied the held form; every stage recorded once, the case closed"
        )
        if recovered > limit + 30:
            raise Failed(f"recovery took {recovered:.0f} s; lost-run time is {limit} s")

    def recovered(self, run_id: str) -> dict[str, Any] | None:
        from casework.automations import RESCHEDULED

        states = self.http().get("flow_run_states/", params={"flow_run_id": run_id}).json()
        crashed = [s for s in states if s["type"] == "CRASHED"]
        again = [s for s in states if (s["message"] or "").startswith(RESCHEDULED)]
        if not (crashed and again):
            return None
        now_wall, now_mono = datetime.now(UTC), time.monotonic()

        def mono(stamp: str) -> float:
            return now_mono - (now_wall - datetime.fromisoformat(stamp)).total_seconds()

        return {
            "crashed_at": mono(crashed[-1]["timestamp"]),
            "crash_message": crashed[-1]["message"],
            "rescheduled_at": mono(again[-1]["timestamp"]),
        }

    def waiting_at(self, number: str) -> str:
        from casework.core.db import session_scope
        from casework.models import cases

        with session_scope(read_only=True) as session:
            return cases.get_case(session, number).stage_key

    def stage_events(self, number: str) -> list[tuple[str, int]]:
        from casework.core.db import session_scope
        from casework.models import cases, stage_events

        with session_scope(read_only=True) as session:
            case = cases.get_case(session, number)
            return [(e.stage_key, e.episode) for e in stage_events.history(session, case)]

    def two_sweeps(self) -> None:
        """Stalled cases, swept twice at the same moment on the pool, three times over
        (each time further on, so each climbs a rung): every rung told once."""
        from casework import demo

        stalled = self.open_cases(5, full=False)
        demo.drive(stalled, patience=600)  # each waits at assessment
        since = datetime.now(UTC)
        for days in (45, 51, 57):
            as_of = (since + timedelta(days=days)).date().isoformat()
            argv = ["sweep", "--on-pool", "--watch", "stalled-cases", "--as-of", as_of]
            sweeps = [
                subprocess.Popen(
                    [sys.executable, "-m", "casework", *argv],
                    env=self.env("operator"),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(2)
            ]
            said = [process.communicate(timeout=900) for process in sweeps]
            for process, (out, err) in zip(sweeps, said, strict=True):
                if process.returncode:
                    raise Failed(f"casework sweep --on-pool: {err.strip() or out.strip()}")
            raised = [out.split("raised ")[1].split(",")[0] for out, _ in said]
            self.say(f"two stalled-case sweeps at once, as of {as_of}: raised {', '.join(raised)}")
        self.told_once(self.rungs([c.number for c in stalled]), since)

    def told_once(self, rungs: dict[int, int], since: datetime) -> None:
        """Each rung (escalation id -> level): one Prefect event, one signed webhook."""
        if not rungs:
            raise Failed("the sweeps raised no rung")
        events = wait_for(
            "an event for every rung",
            lambda: (found := self.events(since)) and set(found) >= set(rungs) and found,
            120,
            every=2,
        )
        hooks = wait_for(
            "a webhook for every rung",
            lambda: (
                (found := Counter(body["escalation_id"] for body, _ in self.hooks.received))
                and set(found) >= set(rungs)
                and found
            ),
            120,
            every=1,
        )
        twice = sorted(i for i in rungs if events[i] != 1 or hooks[i] != 1)
        levels = dict(sorted(Counter(rungs.values()).items()))
        self.say(
            f"{len(rungs)} rung(s) raised (how many at each level: {levels}); "
            f"Prefect events per rung: {dict(Counter(events[i] for i in rungs))}, signed webhooks "
            f"per rung: {dict(Counter(hooks[i] for i in rungs))}; unsigned: {self.hooks.refused}"
        )
        if twice or self.hooks.refused:
            raise Failed(f"rungs told other than once: escalation ids {twice[:10]}")

    def rungs(self, numbers: list[str]) -> dict[int, int]:
        from casework.core.db import session_scope
        from casework.models import escalations

        with session_scope(read_only=True) as session:
            return {
                row.id: row.level
                for number in numbers
                for row in escalations.listing(session, open_only=False, case_number=number)
            }

    def events(self, since: datetime) -> Counter[int]:
        body: dict[str, Any] = {
            "filter": {
                "event": {"prefix": ["casework.case."]},
                "occurred": {"since": since.isoformat()},
            },
            "limit": 50,  # the most the events API gives per page
        }
        found: Counter[int] = Counter()
        response = self.http().post("events/filter", json=body)
        response.raise_for_status()
        page = response.json()
        while True:
            for event in page["events"]:
                if "escalation_id" in event["payload"]:
                    found[int(event["payload"]["escalation_id"])] += 1
            if not page.get("next_page"):
                return found
            page = self.http().get(page["next_page"]).json()

    # -- the end -------------------------------------------------------------------------

    def clean_up(self) -> None:
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(30)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(process.pid, signal.SIGKILL)
        if self.args.keep:
            print(f"kept: {self.home} and databases {self.prefect_db}, {self.store_db}")
            return
        import psycopg

        with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
            for database in (self.prefect_db, self.store_db):
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            found = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [self.service])
            if found.fetchone():
                admin.execute(f'DROP ROLE "{self.service}"')
        shutil.rmtree(self.home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--limit", type=int, default=4, help="each worker's concurrency")
    parser.add_argument("--lost-run-seconds", type=int, default=60)
    parser.add_argument("--heartbeat-seconds", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument(
        "--unless-no-postgresql",
        action="store_true",
        help="skip (exit 0, saying so) when PostgreSQL does not answer, as the tests do",
    )
    args = parser.parse_args()
    if not pg_answers():
        print("walkthrough: PostgreSQL does not answer on 127.0.0.1:5432", file=sys.stderr)
        return 0 if args.unless_no_postgresql else 2
    walk = Walkthrough(args)
    try:
        walk.run()
    except Exception as exc:  # noqa: BLE001 - any failure: one line, and the logs kept
        if not isinstance(exc, Failed | AssertionError):  # a check, or a wait that timed out
            traceback.print_exc()
        print(f"walkthrough FAILED: {exc} (logs: {walk.home})", file=sys.stderr)
        walk.args.keep = True
        return 1
    finally:
        walk.clean_up()
    walk.say("walkthrough passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
