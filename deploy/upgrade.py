"""The upgrade test: the last release makes a data directory with cases waiting at every
stage, and this code, started on it as docs/operators.md's "Upgrading" says, moves every
one of them to closure.

    .venv/bin/python deploy/upgrade.py [--cases 12] [--keep] [--postgresql]

In order, each step timed:

1. the last release's commit, as CHANGELOG.md records it, checked out of this repository
   (`git archive`) and installed in a virtual environment of its own from its own lock;
2. its `casework up --demo N` on a new data directory (SQLite store and Prefect server):
   cases waiting at assessment, plan, referral and monitoring, some closed; then, with its
   own commands, a referral out to a partner agency on loopback that holds its answer, a
   notice of adverse action open, and escalations at level 2 (two sweeps weeks ahead);
3. the old stack stopped (Ctrl-C), every case's history read;
4. the upgrade as docs/operators.md says: `casework backup`, then this code's `casework up` on
   the same data directory; `casework status` must exit 0 with nothing to repair;
5. every open case moved to closure with this code's commands (the held referral answered
   by hand; each plan and closure, which this release holds for a supervisor's approval,
   approved by a supervisor of every program signed in as themselves), each case's
   history before the upgrade still the start of its history after, and no form recorded
   that nobody gave.

With --postgresql (`.ci/run` adds it when PostgreSQL answers on 127.0.0.1:5432) the same
runs with the Prefect server and the case store each on a PostgreSQL database of its own,
the commands signed in as the store's owner; there `casework backup` refuses and names the
pg_dump procedure of docs/operators.md, which step 5 follows instead (both databases
dumped, restored into new ones, and a new data directory started on them with every case there).

Exit 0 and "upgrade test passed" when every check holds; otherwise exit 1 with one line
naming the check that failed. Everything it made is removed at the end (--keep: not).
The partner agency on loopback is a test double, so both releases run with
CASEWORK_DEV_MODE=on (plain http to loopback); nothing else differs from an agency's run."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project, run as a script
from deploy.walkthrough import free_port, pg_answers  # noqa: E402 - the walkthrough's own

CHANGELOG = ROOT / "CHANGELOG.md"
RELEASE = re.compile(r"^## (?P<version>\d+\.\d+\.\d+) .*commit (?P<commit>[0-9a-f]{7,40})", re.M)
PROGRAMS = ["housing", "healthcare", "child_welfare", "substance_use", "geriatric"]
ACTOR = "cm.upgrade"
# Who approves the plans and closures the programs hold for approval (0.2.0 and later).
SUPERVISOR = "sup.upgrade"
ADMIN = "adm.upgrade"  # who approves an erasure the supervisor asks for
HELD_TOKEN = "held-partner-token-0123"
PG = "127.0.0.1:5432"
LOAD = 10  # forms submitted at once while a backup is made
NAMES = [
    ("Amara", "Okafor"),
    ("Bjorn", "Lindahl"),
    ("Chiara", "Bellucci"),
    ("Dmitri", "Volkov"),
    ("Esperanza", "Quintero"),
    ("Farid", "Haddad"),
    ("Grainne", "Ni Bhriain"),
    ("Hiroshi", "Tanaka"),
    ("Ingrid", "Solberg"),
    ("Jomo", "Kenyatta-Wells"),
]


class Failed(Exception):
    """A check of the upgrade test did not hold."""


def last_release() -> tuple[str, str]:
    """(version, commit) of the newest release CHANGELOG.md names a commit for."""
    found = RELEASE.search(CHANGELOG.read_text())
    if found is None:
        raise Failed("CHANGELOG.md names no release with its commit")
    return found["version"], found["commit"]


class Upgrade:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        self.home = Path(tempfile.mkdtemp(prefix="casework-upgrade-"))
        self.data = self.home / "data"
        self.old = self.home / "old"
        self.port = free_port()
        self.partner_port = free_port()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.pg = bool(args.postgresql)
        tag = f"casework_upgrade{os.getpid()}"
        self.databases = {"store": f"{tag}_store", "prefect": f"{tag}_prefect"}

    def say(self, text: str) -> None:
        first, *rest = text.splitlines() or [""]
        print(f"[{time.monotonic() - self.started:6.1f} s] {first}", flush=True)
        for line in rest:
            print(f"           {line}", flush=True)

    # -- the two releases' commands ------------------------------------------------------

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CASEWORK_"))}
        env = keep | {
            "CASEWORK_DATA_DIR": str(self.data),
            "CASEWORK_STAFF_FILE": str(self.home / "staff.toml"),
            "CASEWORK_ACTOR": ACTOR,
            "CASEWORK_DEV_MODE": "on",
            # Kept outside the data directory and its backups, as docs/operators.md says.
            "CASEWORK_MASKING_LOG": str(self.home / "masking-log.jsonl"),
        }
        if self.pg:  # signed in as the store's owner, who is who acts there
            del env["CASEWORK_ACTOR"]
            env["CASEWORK_DATABASE_URL"] = f"postgresql+psycopg://postgres@{PG}/{self.db('store')}"
            env["CASEWORK_PREFECT_DATABASE_URL"] = (
                f"postgresql://postgres@{PG}/{self.db('prefect')}"
            )
        return env

    def db(self, which: str) -> str:
        return self.databases[which]

    def create_databases(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@{PG}/test", autocommit=True) as admin:
            for database in self.databases.values():
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {database}")
            admin.execute(f'DROP ROLE IF EXISTS "{SUPERVISOR}"')  # a run stopped midway
        self.say(f"PostgreSQL: {', '.join(self.databases.values())}")

    def command(
        self, release: str, *argv: str, staff: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`casework ARGV` of the old release or of this code, as a user runs it (as `staff`:
        signed in as them, on PostgreSQL with their own role)."""
        python = self.old / ".venv/bin/python" if release == "old" else Path(sys.executable)
        env = self.env()
        if staff is not None and self.pg:
            env["CASEWORK_DATABASE_URL"] = f"postgresql+psycopg://{staff}@{PG}/{self.db('store')}"
        elif staff is not None:
            env["CASEWORK_ACTOR"] = staff
        return subprocess.run(
            [str(python), "-m", "casework", *argv],
            env=env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def casework(self, release: str, *argv: str, staff: str | None = None) -> str:
        """Its output; a failure is the test's."""
        done = self.command(release, *argv, staff=staff)
        if done.returncode != 0:
            raise Failed(f"{release} casework {' '.join(argv)}: {done.stderr.strip()[-500:]}")
        return done.stdout

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=self.env(), cwd=self.home
        )
        self.processes.append(process)
        return process

    def wait_in_log(self, name: str, text: str, process: subprocess.Popen[bytes]) -> str:
        deadline = time.monotonic() + 900
        log = self.home / f"{name}.log"
        while time.monotonic() < deadline:
            seen = log.read_text(errors="replace") if log.exists() else ""
            if text in seen:
                return seen
            if process.poll() is not None:
                raise Failed(f"{name} exited ({process.returncode}): {seen.strip()[-600:]}")
            time.sleep(1)
        raise Failed(f"{name} did not say {text!r} within 15 minutes")

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            raise Failed("casework up did not stop within 2 minutes of Ctrl-C") from None

    # -- the steps -----------------------------------------------------------------------

    def install_last_release(self) -> None:
        version, commit = last_release()
        self.old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(self.old)], input=archive.stdout, check=True)
        subprocess.run([sys.executable, "-m", "venv", str(self.old / ".venv")], check=True)
        pip = [str(self.old / ".venv/bin/pip"), "install", "-q", "-c", "requirements.lock"]
        subprocess.run([*pip, "-e", "."], cwd=self.old, check=True)
        self.say(f"release {version} ({commit[:7]}) installed in a venv of its own")

    def roster(self) -> None:
        """The shipped roster, and one case manager in every program whom this OS login is."""
        text = (ROOT / "models" / "staff.toml").read_text()
        text += (
            f'\n[[staff]]\nid = "{ACTOR}"\nrole = "case_manager"\n'
            f"programs = {json.dumps([*PROGRAMS, 'criminal_justice'])}\n"
            f'login = "{getpass.getuser()}"\n'
        )
        path = self.home / "staff.toml"
        path.write_text(text)
        path.chmod(0o600)

    def old_stack(self) -> subprocess.Popen[bytes]:
        self.data.mkdir(mode=0o700)
        up = self.start(
            "old-up",
            [str(self.old / ".venv/bin/python"), "-m", "casework", "up", "--port", str(self.port)]
            + ["--demo", str(self.args.cases)],
        )
        log = self.wait_in_log("old-up", "Demo cases:", up)
        deadline = time.monotonic() + 60
        while log.rstrip().count("\n  CASE-") < self.args.cases and time.monotonic() < deadline:
            time.sleep(1)
            log = (self.home / "old-up.log").read_text()
        self.say(f"old casework up --demo {self.args.cases}:\n{log.split('Demo cases:', 1)[1]}")
        return up

    def held_partner(self) -> None:
        """A partner agency on loopback that holds every referral unanswered."""
        self.start(
            "held-partner",
            [sys.executable, "-m", "casework.partner", "--port", str(self.partner_port)]
            + ["--token", HELD_TOKEN, "--default", "hold"],
        )
        directory = json.loads((ROOT / "casework/examples/providers.hsds.json").read_text())
        [service] = [s for s in directory["services"] if s["id"] == "hope-housing"]
        service = service | {"id": "held-agency", "name": "Held agency"}
        service["x-casework"] = service["x-casework"] | {
            "referral_endpoint": f"http://127.0.0.1:{self.partner_port}",
            "token": HELD_TOKEN,
        }
        directory["services"] = [service]
        (self.home / "held.json").write_text(json.dumps(directory))
        self.casework("old", "providers", "import", "held.json", "--directory", "held")

    def shows(self, release: str) -> dict[str, dict[str, Any]]:
        listing = json.loads(self.casework(release, "cases", "--json"))
        numbers = [row["case_number"] for row in listing]
        return {n: json.loads(self.casework(release, "show", n, "--json")) for n in numbers}

    def at(self, shows: dict[str, dict[str, Any]], stage: str) -> list[str]:
        return [
            n
            for n, s in shows.items()
            if s["status"] == "open" and s["stage"] == stage and not s["waiting_on"]
        ]

    def waiting_cases(self) -> dict[str, dict[str, Any]]:
        """With the old release: a referral held by its partner, a notice open, and
        escalations at level 2 (two stalled-case sweeps, 40 and 50 days ahead)."""
        shows = self.shows("old")
        referral, monitoring = self.at(shows, "referral")[0], self.at(shows, "monitoring")[0]
        self.held_partner()
        self.casework("old", "consent", referral, "--provider", "held-agency")
        form = json.loads(self.casework("old", "form", "referral", "--example"))
        form["submitted_by"] = ACTOR
        form["referrals"] = [form["referrals"][0] | {"provider": "held-agency"}]
        (self.home / "held-referral.json").write_text(json.dumps(form))
        submit = ["submit", referral, "referral", "--file", "held-referral.json", "--wait"]
        self.casework("old", *submit)
        today = datetime.now(UTC).date()
        recertify = str(today + timedelta(days=180))
        self.casework("old", "benefit", monitoring, "--kind", "snap", "--recertify-by", recertify)
        self.casework(
            "old",
            "notice",
            monitoring,
            "--benefit",
            "snap",
            "--action",
            "discontinue",
            "--notice-date",
            str(today),
            "--effective",
            str(today + timedelta(days=14)),
        )
        for days in (40, 50):
            ahead = str(today + timedelta(days=days))
            self.casework("old", "sweep", "--as-of", ahead, "--watch", "stalled-cases")
        shows = self.shows("old")
        if not shows[referral]["waiting_on"]:
            raise Failed(f"{referral}: the held referral did not leave the case waiting on it")
        if not shows[monitoring]["notices"]:
            raise Failed(f"{monitoring}: no notice recorded")
        level_2 = sorted(
            n for n, s in shows.items() if any(e["level"] == 2 for e in s["open_escalations"])
        )
        if not level_2:
            raise Failed("no escalation reached level 2")
        stages = sorted(
            {
                s["stage"] + (" (waiting on partners)" if s["waiting_on"] else "")
                for s in shows.values()
                if s["status"] == "open"
            }
        )
        self.say(
            f"{referral}: referral held by a partner on loopback; {monitoring}: notice open; "
            f"level-2 escalations on {', '.join(level_2)}\nopen cases wait at: {', '.join(stages)}"
        )
        return shows

    def upgrade(self) -> subprocess.Popen[bytes]:
        if self.pg:
            refused = self.command("new", "backup", str(self.home / "backup"))
            if refused.returncode != 1 or "pg_dump" not in refused.stderr:
                raise Failed(f"casework backup on PostgreSQL: {refused.stderr.strip()}")
            self.dump("before-upgrade")
        else:
            backup = self.home / "backup"
            self.say(self.casework("new", "backup", str(backup)).strip())
        up = self.start(
            "new-up", [sys.executable, "-m", "casework", "up", "--port", str(self.port)]
        )
        log = self.wait_in_log("new-up", "Ctrl-C stops everything.", up)
        self.say(f"this code's casework up on the same data directory:\n{log.strip()}")
        self.supervisor()
        status = self.command("new", "status")
        if status.returncode != 0 or "All is well." not in status.stdout:
            raise Failed(f"casework status after the upgrade: {status.stdout[-800:]}")
        self.say("casework status: exit 0, all is well")
        return up

    def supervisor(self) -> None:
        """A supervisor of every program, who approves the plans and closures this release
        holds for approval: a staff role of their own on PostgreSQL, else this OS login."""
        every = [*PROGRAMS, "criminal_justice"]
        if self.pg:
            add = [
                "staff",
                "add",
                SUPERVISOR,
                "--role",
                "supervisor",
                "--programs",
                ",".join(every),
            ]
            self.casework("new", *add)
        else:
            path = self.home / "staff.toml"
            path.write_text(
                path.read_text() + f'\n[[staff]]\nid = "{SUPERVISOR}"\nrole = "supervisor"\n'
                f'programs = {json.dumps(every)}\nlogin = "{getpass.getuser()}"\n'
                f'\n[[staff]]\nid = "{ADMIN}"\nrole = "admin"\n'
                f'programs = {json.dumps(every)}\nlogin = "{getpass.getuser()}"\n'
            )
        self.say(f"{SUPERVISOR}: a supervisor of every program, to approve plans and closures")

    def step(self, number: str, show: dict[str, Any]) -> None:
        """Give the one form (or answer, or approval) that moves `number` on, with this
        code's commands."""
        held = show.get("approval")
        if held and held["status"] == "requested":
            self.casework("new", "approve", number, "--wait", staff=SUPERVISOR)
            return
        if show["waiting_on"]:
            for referral in show["referrals"]:
                if referral["status"] in ("requested", "received"):
                    answer = ["referral", referral["reference"], "--status", "accepted"]
                    self.casework("new", *answer)
            return
        stage = show["stage"]
        program = ["--program", show["program"]]  # the assessment's is the program's own
        form = json.loads(self.casework("new", "form", stage, *program, "--example"))
        form["submitted_by"] = ACTOR
        if stage == "monitoring":
            form["decision"] = "close"
        if stage == "referral":
            self.casework("new", "consent", number, "--provider", "hope-housing")
        path = self.home / f"{number}-{stage}.json"
        path.write_text(json.dumps(form))
        self.casework("new", "submit", number, stage, "--file", str(path), "--wait")
        if stage == "referral":
            self.casework("new", "sync-referrals")

    def to_closure(self, before: dict[str, dict[str, Any]]) -> None:
        deadline = time.monotonic() + 1200
        steps = 0
        while True:
            shows = self.shows("new")
            open_cases = {n: s for n, s in shows.items() if s["status"] == "open"}
            if not open_cases:
                break
            if time.monotonic() > deadline:
                raise Failed(f"not closed within 20 minutes: {', '.join(open_cases)}")
            for number, show in open_cases.items():
                self.step(number, show)
                steps += 1
        for number, show in shows.items():
            # What the earlier release said of each entry, said the same (a later release may
            # say more of it: the questions its form answered).
            old = [tuple(sorted(e.items())) for e in before[number]["history"]]
            said = {key for entry in before[number]["history"] for key in entry}
            new = [tuple(sorted(i for i in e.items() if i[0] in said)) for e in show["history"]]
            if new[: len(old)] != old:
                raise Failed(f"{number}: its history before the upgrade is not kept as it was")
            refused = [e for e in show["history"] if e.get("outcome") == "rejected"]
            if refused:
                raise Failed(f"{number}: a form recorded as refused: {refused[0]}")
        self.say(f"every case closed ({len(shows)} cases, {steps} steps); histories kept")
        self.retention_preview(shows)

    def retention_preview(self, shows: dict[str, dict[str, Any]]) -> None:
        """The cases the earlier release opened, closed by this one, come due under housing's
        retention periods (0.2.0 and later): previewed as of six years on, nothing written."""
        ahead = (datetime.now(UTC) + timedelta(days=6 * 366)).date().isoformat()
        said = self.casework("new", "retention", "--as-of", ahead, "--json", staff=SUPERVISOR)
        due = {item["case"] for item in json.loads(said) if item["case"]}
        housing = {n for n, show in shows.items() if show["program"] == "housing"}
        if not housing or not housing <= due:
            raise Failed(f"retention as of {ahead}: housing's closed cases not all due: {said}")
        again = self.casework("new", "retention", "--as-of", ahead, "--json", staff=SUPERVISOR)
        if json.loads(again) != json.loads(said):
            raise Failed("retention's preview changed between two looks: it wrote something")
        self.say(f"retention as of {ahead}: {len(housing)} housing case(s) due, nothing written")

    def run(self) -> None:
        if self.pg:
            self.create_databases()
        self.install_last_release()
        self.roster()
        old_up = self.old_stack()
        before = self.waiting_cases()
        self.stop(old_up)
        self.say("old stack stopped (Ctrl-C)")
        new_up = self.upgrade()
        self.to_closure(before)
        if self.pg:
            self.stop(new_up)
            self.pg_restored()
            return
        acknowledged = self.backup_under_load()
        erased = self.erased_after_backup()
        self.stop(new_up)
        self.restored(acknowledged, erased)

    def dump(self, name: str) -> None:
        """docs/operators.md's procedure: the store first, then the Prefect server's database."""
        for which in ("store", "prefect"):
            target = self.home / f"{name}-{which}.pgdump"
            argv = ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-Fc", "-f", str(target)]
            subprocess.run([*argv, "-d", self.db(which)], check=True, timeout=600)
        self.say(f"pg_dump of the store, then of the Prefect database ({name})")

    def pg_restored(self) -> None:
        """Both databases dumped, restored into new ones as docs/operators.md says, and a new data
        directory (the secrets copied) started on them: every case is there."""
        before = {n: s["status"] for n, s in self.shows("new").items()}
        self.dump("after-upgrade")
        restored = {which: f"{name}_restored" for which, name in self.databases.items()}
        for which, database in restored.items():
            dump = self.home / f"after-upgrade-{which}.pgdump"
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
            argv = ["pg_restore", "-h", "127.0.0.1", "-U", "postgres", "--no-owner"]
            subprocess.run([*argv, "-d", database, str(dump)], check=True, timeout=600)
        self.databases = {**self.databases, **{f"{w}-old": n for w, n in self.databases.items()}}
        self.databases.update(restored)
        secrets = self.data
        self.data = self.home / "restored"
        self.data.mkdir(mode=0o700)
        for name in ("prefect-credential", "partner-tokens.json", "webhook-secrets.json"):
            if (secrets / name).exists():
                shutil.copy2(secrets / name, self.data / name)
        (self.data / "reseat-case-runs").write_text("restored with pg_restore\n")
        (self.data / "reseat-case-runs").chmod(0o600)  # the data directory is private
        argv = [sys.executable, "-m", "casework", "up", "--port", str(free_port())]
        up = self.start("restored-up", argv)
        self.wait_in_log("restored-up", "Ctrl-C stops everything.", up)
        after = {n: s["status"] for n, s in self.shows("new").items()}
        self.stop(up)
        if after != before:
            raise Failed(f"after pg_restore: {after} is not {before}")
        self.say(
            f"pg_restore of both into new databases, a new data directory started on them: "
            f"all {len(after)} cases there, as they were"
        )

    def backup_under_load(self) -> dict[str, float]:
        """Ten assessment forms submitted at once; `casework backup` started once three are
        acknowledged. Returns each case's acknowledgement time, and the backup's start
        (under "backup")."""
        numbers = []
        for index in range(LOAD):
            client = {
                "given_name": NAMES[index][0],
                "family_name": NAMES[index][1],
                "date_of_birth": f"19{50 + index * 4}-0{1 + index % 9}-1{index}",
                "phone": f"555-01{index:02d}",
            }
            (self.home / f"client-{index}.json").write_text(json.dumps(client))
            intake = ["intake", "--program", "housing", "--file", f"client-{index}.json"]
            numbers.append(self.casework("new", *intake).strip())
        form = json.loads(
            self.casework("new", "form", "assessment", "--program", "housing", "--example")
        )
        form["submitted_by"] = ACTOR
        (self.home / "load-assessment.json").write_text(json.dumps(form))
        acknowledged: dict[str, float] = {}

        def submit(number: str) -> None:
            argv = ["submit", number, "assessment", "--file", "load-assessment.json"]
            self.casework("new", *argv, "--timeout", "300")
            acknowledged[number] = time.monotonic()

        threads = [threading.Thread(target=submit, args=(n,)) for n in numbers]
        for thread in threads:
            thread.start()
        while len(acknowledged) < 3 and any(t.is_alive() for t in threads):
            time.sleep(0.05)
        began = time.monotonic()
        self.casework("new", "backup", str(self.home / "backup-under-load"))
        took = time.monotonic() - began
        for thread in threads:
            thread.join(timeout=600)
        early = sorted(n for n, at in acknowledged.items() if at < began)
        if len(acknowledged) != LOAD:
            raise Failed(f"{LOAD - len(acknowledged)} of the {LOAD} submits failed")
        self.say(
            f"{LOAD} assessment forms submitted at once; casework backup began after "
            f"{len(early)} were acknowledged and took {took:.1f} s"
        )
        return acknowledged | {"backup": began}

    def erased_after_backup(self) -> str:
        """After the backup: a client whose cases are closed, erased on the supervisor's
        request and the admin's approval, masked by its run. Returns a case of theirs."""
        closed = [n for n, show in self.shows("new").items() if show["status"] == "closed"]
        if not closed:
            raise Failed("no closed case to erase")
        show = json.loads(self.casework("new", "show", closed[0], "--json"))
        client = show["client"]["client_number"]
        asked = self.casework(
            "new", "erase", client, "--reason", "client_request", staff=SUPERVISOR
        )
        batch = asked.split(":")[0].strip()
        self.casework("new", "approve-retention", batch, staff=ADMIN)
        deadline = time.monotonic() + 300
        while self.family_of(closed[0]) != "(masked)":
            if time.monotonic() > deadline:
                raise Failed(f"{batch}: {client} not masked within 5 minutes of its approval")
            time.sleep(2)
        self.say(f"{client} erased after the backup ({batch}: {SUPERVISOR} asked, {ADMIN} agreed)")
        return closed[0]

    def family_of(self, case_number: str) -> str:
        show = json.loads(self.casework("new", "show", case_number, "--json"))
        return str(show["client"]["family_name"])

    def restored(self, acknowledged: dict[str, float], erased: str) -> None:
        """The backup restored into a new data directory and started: every form
        acknowledged before the backup began is recorded there, none twice; the client
        erased after the backup was made is masked again, from the masking log."""
        began = acknowledged.pop("backup")
        early = sorted(n for n, at in acknowledged.items() if at < began)
        self.data = self.home / "restored"
        self.casework(
            "new", "restore", str(self.home / "backup-under-load"), "--data-dir", str(self.data)
        )
        argv = [sys.executable, "-m", "casework", "up", "--port", str(free_port())]
        up = self.start("restored-up", argv)
        self.wait_in_log("restored-up", "Ctrl-C stops everything.", up)
        deadline = time.monotonic() + 600
        while True:
            shows = {n: json.loads(self.casework("new", "show", n, "--json")) for n in acknowledged}
            recorded = {
                n: [e for e in s["history"] if e["from_stage"] == "assessment"]
                for n, s in shows.items()
            }
            if all(recorded[n] for n in early) or time.monotonic() > deadline:
                break
            time.sleep(2)
        masked_again = self.family_of(erased) == "(masked)"
        self.stop(up)
        if not masked_again:
            raise Failed(
                f"after the restore: {erased}'s client, erased after the backup, is not masked"
            )
        missing = [n for n in early if not recorded[n]]
        twice = [n for n, events in recorded.items() if len(events) > 1]
        if missing or twice:
            raise Failed(f"after the restore: missing {missing}, recorded twice {twice}")
        later = sum(1 for n in acknowledged if n not in early and recorded[n])
        self.say(
            f"restored into a new data directory and started: all {len(early)} forms "
            f"acknowledged before the backup began are recorded, none twice (and {later} of "
            f"the {len(acknowledged) - len(early)} acknowledged after it); {erased}'s client, "
            "erased after the backup, masked again from the masking log"
        )

    def clean_up(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
        if not self.args.keep:
            shutil.rmtree(self.home, ignore_errors=True)
            if self.pg:
                import psycopg

                with psycopg.connect(f"postgresql://postgres@{PG}/test", autocommit=True) as admin:
                    for database in self.databases.values():
                        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
                    admin.execute(f'DROP ROLE IF EXISTS "{SUPERVISOR}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="keep what it made (see its path)")
    parser.add_argument(
        "--postgresql", action="store_true", help="the Prefect server and the store on PostgreSQL"
    )
    parser.add_argument(
        "--unless-no-postgresql",
        action="store_true",
        help="with --postgresql: skip (exit 0, saying so) when PostgreSQL does not answer",
    )
    args = parser.parse_args()
    if args.postgresql and not pg_answers():
        print("upgrade test: PostgreSQL does not answer on 127.0.0.1:5432", file=sys.stderr)
        return 0 if args.unless_no_postgresql else 2
    upgrade = Upgrade(args)
    try:
        upgrade.run()
    except Failed as exc:
        print(f"upgrade test failed: {exc} (logs: {upgrade.home})", flush=True)
        args.keep = True
        return 1
    finally:
        upgrade.clean_up()
    print(f"upgrade test passed in {time.monotonic() - upgrade.started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
