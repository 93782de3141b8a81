"""Benchmark: what a stage transition costs, the stock start next to the Casework worker.

One Prefect server (SQLite, or PostgreSQL with --prefect-database-url), one case store
(SQLite). For each mode, in one run:

  * stock     Prefect's Runner serving every deployment; each flow run is a new
              `python -m prefect.engine` process (how `casework up` ran before);
  * casework  `casework worker` on the work pool; each flow run a child forked from a
              template process that imported Prefect and the project once;
  * casework-2  two `casework worker` processes on the pool, each with a home of its own
              and the same concurrency limit as the one (--limit): the many-machine
              setup on one host. With --think 0 the cases keep the workers busy, and the
              report gives transitions per minute, 2 workers / 1, and CPU per transition
              per worker.

N cases (default 20) at once, each moved intake -> assessment -> plan -> referral ->
monitoring -> closure (6 transitions) by its own case manager, who waits --think seconds
(randomised +-50%) between one form being recorded and submitting the next. Prints, per
mode and per transition:

  * CPU by process: flow-run processes (read from their parent's reaped-children time once
    every one has exited: a wait on each process, nothing missed or carried over), the
    server, the worker or runner, the template, the callers (this process);
  * API requests from the flow-run processes (counted by bench/probe/sitecustomize.py);
  * submit-to-next-stage latency, median and p90 (`submit --wait`, in this process);
  * `database is locked` lines in the server's log, and cases not closed at the end;
  * the CPU and wall time of one `casework submit --wait` command (its own process).

    .venv/bin/python bench/lifecycle.py [--cases 20] [--think 20] [--modes stock,casework]
        [--port P] [--prefect-database-url postgresql://...] [--limit 10]
    .venv/bin/python bench/lifecycle.py --cases 20 --think 0 --modes casework,casework-2

With --api-servers N (and --prefect-database-url) the Prefect server is the scaled-out one
`casework prefect-server --api-servers N` runs: N API servers behind HAProxy, the
background services in their own process, Redis. The report then gives the server's CPU
per transition by process (each API server, the services, Redis, HAProxy, and PostgreSQL
as a whole), and what that predicts for more API server hosts:

    .venv/bin/python bench/lifecycle.py --cases 20 --think 0 --modes casework \
        --api-servers 2 --prefect-database-url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project and its tests' helpers, run as a script

from tests.polling import wait_for  # noqa: E402

if TYPE_CHECKING:
    from casework.prefect_cluster import Cluster

TICK = os.sysconf("SC_CLK_TCK")
TRANSITIONS_PER_CASE = 6
IDLE_SECONDS = 15


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def own_cpu(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def reaped_children_cpu(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[13]) + int(fields[14])) / TICK


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if int(_stat(int(entry.name))[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def tree_cpu(pid: int) -> float:
    """A process, its live descendants and the children it has reaped."""
    total = own_cpu(pid) + reaped_children_cpu(pid)
    return total + sum(tree_cpu(child) for child in children_of(pid))


def _environment(port: int, probe: Path, prefect_database_url: str | None) -> Path:
    data_dir = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    from casework.core.settings import get_settings, prefect_credential, prefect_env

    # The worker polls as `up` has it (a fallback; it is woken by run events); Prefect's
    # runner, which has no such wake-up, polls every second.
    poll = get_settings().runner_poll_seconds
    os.environ.update(prefect_env(data_dir, f"http://127.0.0.1:{port}/api", poll))
    os.environ["PREFECT_API_AUTH_STRING"] = str(prefect_credential(data_dir, create=True))
    os.environ.update(
        {
            "CASEWORK_ACTOR": "bench",
            "CASEWORK_SCHEDULES": "off",
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "CASEWORK_BENCH_PROBE": str(probe),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "bench" / "probe"), str(ROOT)]),
        }
    )
    if prefect_database_url:
        os.environ["CASEWORK_PREFECT_DATABASE_URL"] = prefect_database_url
    # The shipped roster, plus the bench's case managers and its actor, whom this login is
    # (the `casework submit` processes sign in as it).
    import getpass

    programs = '["housing", "healthcare", "child_welfare", "substance_use", "geriatric", '
    programs += '"criminal_justice"]'
    roster = data_dir / "staff.toml"
    roster.write_text(
        (ROOT / "models" / "staff.toml").read_text()
        + "".join(  # cm.tester: who the forms (tests/factories.py) say submitted them
            f'\n[[staff]]\nid = "{staff}"\nrole = "case_manager"\nprograms = {programs}\n'
            for staff in ("cm.bench", "cm.tester")
        )
        + f'\n[[staff]]\nid = "bench"\nrole = "case_manager"\nprograms = {programs}\n'
        + f'login = "{getpass.getuser()}"\n'
    )
    os.environ["CASEWORK_STAFF_FILE"] = str(roster)
    get_settings.cache_clear()  # read again, with this data directory
    return data_dir


def _ready() -> bool:
    from casework.core.prefect_api import OrchestratorUnavailable, check_ready

    try:
        check_ready()
        return True
    except OrchestratorUnavailable:
        return False


@dataclass
class Executor:
    mode: str
    processes: list[subprocess.Popen[bytes]]

    def flow_run_parents(self, process: subprocess.Popen[bytes] | None = None) -> list[int]:
        """The processes whose children are the flow runs (the runner, or the templates)."""
        if self.mode == "stock":
            return [self.processes[0].pid]
        return [
            pid
            for worker in ([process] if process else self.processes)
            for pid in children_of(worker.pid)
            if b"casework.template" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]

    def cpu(self) -> dict[str, float]:
        figures = {
            "flow-run processes": sum(reaped_children_cpu(p) for p in self.flow_run_parents()),
            "runner / worker": sum(own_cpu(p.pid) for p in self.processes),
        }
        if self.mode != "stock":
            figures["template"] = sum(own_cpu(pid) for pid in self.flow_run_parents())
        return figures

    def per_worker(self) -> list[float]:
        """Each worker's whole CPU: itself, its templates and the runs they forked."""
        if self.mode == "stock":
            runner = self.processes[0].pid
            return [own_cpu(runner) + reaped_children_cpu(runner)]
        return [
            own_cpu(worker.pid)
            + sum(own_cpu(t) + reaped_children_cpu(t) for t in self.flow_run_parents(worker))
            for worker in self.processes
        ]

    def quiet(self) -> bool:
        return not any(children_of(pid) for pid in self.flow_run_parents())

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(60)


def start_executor(mode: str, log: Path, limit: int) -> Executor:
    if mode == "stock":
        commands = [[sys.executable, str(ROOT / "bench" / "stock_runner.py")]]
    else:
        import asyncio

        from casework.deployments import all_deployments
        from casework.worker import register

        deployments = all_deployments(schedules=False)
        asyncio.run(register(deployments))
        worker = [sys.executable, "-m", "casework", "worker", "--limit", str(limit)]
        commands = [worker] * (2 if mode == "casework-2" else 1)
    processes = []
    for n, command in enumerate(commands):
        # Each worker a home of its own, as on its own machine; results on shared storage.
        env = {**os.environ, "PREFECT_HOME": str(log.parent / f"{mode}-home-{n}")}
        processes.append(
            subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
        )
    wait_for(f"{mode} executor serving", _ready, timeout=120, every=0.5)
    executor = Executor(mode, processes)
    if mode != "stock":
        for process in processes:
            wait_for(
                "template ready", lambda p=process: executor.flow_run_parents(p), 60, every=0.2
            )
    return executor


def _at(number: str, stage: str) -> bool:
    from casework import services

    return services.cases.show(number).stage == stage


@dataclass
class Workload:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)


def run_cases(count: int, think: float) -> Workload:
    from casework import services
    from casework.models.codes import Program, Stage, Trigger
    from tests import factories

    steps = [
        (Stage.ASSESSMENT, factories.assessment(housing=1)),
        (Stage.PLAN, factories.plan()),
        (Stage.REFERRAL, factories.referral()),
        (Stage.MONITORING, factories.monitoring(Trigger.CLOSE)),
        (Stage.CLOSURE, factories.closure()),
    ]
    done = Workload()
    lock = threading.Lock()

    def manage(index: int) -> None:
        rng = random.Random(index)
        time.sleep(rng.uniform(0, think))  # case managers do not all start at once
        number = services.cases.intake(
            factories.client_in(), list(Program)[index % 6], "cm.bench", "bench"
        ).case_number
        with lock:
            done.numbers.append(number)
        wait_for("intake recorded", lambda: not _at(number, "intake"), 300, every=0.1)
        for stage, form in steps:
            time.sleep(think * rng.uniform(0.5, 1.5))
            begun = time.monotonic()
            result = services.stages.submit(
                number, stage, form, actor="bench", wait=True, timeout=600
            )
            with lock:
                if result.outcome == "moved":
                    done.latencies.append(time.monotonic() - begun)
                else:
                    done.failures.append(f"{number} {stage.value}: {result.outcome}")

    with ThreadPoolExecutor(max_workers=count) as pool:
        for future in [pool.submit(manage, index) for index in range(count)]:
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
                done.failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    return done


def cli_submit(samples: int) -> tuple[float, float]:
    """Median CPU and wall seconds of one `casework submit --wait` (its own process)."""
    from casework import services
    from casework.models.codes import Program
    from tests import factories

    form = Path(tempfile.mkdtemp()) / "assessment.json"
    form.write_text(factories.assessment().model_dump_json())
    cpu, wall = [], []
    for _ in range(samples):
        number = services.cases.intake(
            factories.client_in(), Program.HOUSING, "cm.bench", "bench"
        ).case_number
        wait_for("intake recorded", lambda n=number: _at(n, "assessment"), 300, every=0.1)  # type: ignore[misc]
        begun = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "casework", "submit", number, "assessment"]
            + ["--file", str(form), "--wait"],
            stdout=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall.append(time.monotonic() - begun)
        cpu.append(usage.ru_utime + usage.ru_stime)
        assert process.returncode == 0, f"casework submit exited {process.returncode}"
    return statistics.median(cpu), statistics.median(wall)


def requests(probe: Path) -> Counter[str]:
    counted: Counter[str] = Counter()
    for log in probe.glob("flowrun-*.log"):
        counted.update(line.strip() for line in log.read_text().splitlines())
    return counted


def locked_lines(data_dir: Path) -> int:
    from casework.core.settings import SERVER_LOG

    log = data_dir / SERVER_LOG  # a scaled-out server (PostgreSQL) has none
    return log.read_text(errors="replace").count("database is locked") if log.exists() else 0


def postmaster() -> int | None:
    """The local PostgreSQL's postmaster (its backends are its children), if readable."""
    for pidfile in Path("/var/run/postgresql").glob("*.pid"):
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return None


def parts_cpu(parts: dict[str, int]) -> dict[str, float]:
    return {name: tree_cpu(pid) for name, pid in parts.items()}


def measure(mode: str, args: argparse.Namespace, data_dir: Path, parts: dict[str, int]) -> dict:
    """`parts`: the Prefect server's processes by name (one, or a scaled-out server's), and
    with a scaled-out server PostgreSQL's postmaster as "postgresql" (not in "server")."""
    prefect = {name: pid for name, pid in parts.items() if name != "postgresql"}
    probe = Path(os.environ["CASEWORK_BENCH_PROBE"])
    for old in probe.glob("*.log"):
        old.unlink()
    executor = start_executor(mode, data_dir / f"{mode}.log", args.limit)
    try:
        idle0, idle_started = sum(parts_cpu(prefect).values()), time.monotonic()
        time.sleep(IDLE_SECONDS)  # the server's own services, and the polls, with no cases
        idle_rate = (sum(parts_cpu(prefect).values()) - idle0) / (time.monotonic() - idle_started)
        before_locked = locked_lines(data_dir)
        server0, caller0 = parts_cpu(parts), resource.getrusage(resource.RUSAGE_SELF)
        executor0, workers0 = executor.cpu(), executor.per_worker()
        started = time.monotonic()
        work = run_cases(args.cases, args.think)
        wait_for("every flow-run process ended", executor.quiet, timeout=120, every=0.2)
        elapsed = time.monotonic() - started
        caller1, executor1 = resource.getrusage(resource.RUSAGE_SELF), executor.cpu()
        workers = [b - a for a, b in zip(workers0, executor.per_worker(), strict=True)]
        server1 = parts_cpu(parts)
        transitions = args.cases * TRANSITIONS_PER_CASE
        counted = requests(probe)
        not_closed = [n for n in work.numbers if not _at(n, "closure")]
        cli_cpu, cli_wall = cli_submit(3)
    finally:
        executor.stop()
    cpu = {name: (executor1[name] - executor0[name]) / transitions for name in executor1}
    by_part = {name: (server1[name] - server0[name]) / transitions for name in parts}
    cpu["server"] = sum(by_part[name] for name in prefect)
    idle_share = idle_rate * elapsed / transitions
    cpu["callers (this process)"] = (
        caller1.ru_utime + caller1.ru_stime - caller0.ru_utime - caller0.ru_stime
    ) / transitions
    return {
        "mode": mode,
        "cpu": cpu,
        "whole": sum(cpu.values()),
        "server_idle": idle_share,
        "requests": sum(counted.values()) / transitions,
        "top": [(path, n / transitions) for path, n in counted.most_common(12)],
        "latency": work.latencies,
        "failures": work.failures,
        "locked": locked_lines(data_dir) - before_locked,
        "not_closed": not_closed,
        "elapsed": elapsed,
        "transitions": transitions,
        "per_minute": transitions / elapsed * 60,
        "per_worker": [cpu_s / transitions for cpu_s in workers],
        "cli": (cli_cpu, cli_wall),
        "server_parts": by_part if len(parts) > 1 else {},
    }


def report(results: list[dict], args: argparse.Namespace) -> None:
    print(
        f"{args.cases} cases at once, {TRANSITIONS_PER_CASE} transitions each, think {args.think} s"
    )
    for r in results:
        lat = sorted(r["latency"]) or [float("nan")]
        p90 = lat[min(len(lat) - 1, int(0.9 * len(lat)))]
        print(
            f"\n== {r['mode']}: {r['transitions']} transitions in {r['elapsed']:.0f} s "
            f"({r['per_minute']:.1f} per minute)"
        )
        if len(r["per_worker"]) > 1:
            shares = ", ".join(f"{cpu_s:.3f}" for cpu_s in r["per_worker"])
            print(f"  CPU s per transition, each worker (with its templates and runs): {shares}")
        for name, value in r["cpu"].items():
            print(f"  CPU s per transition, {name:<24} {value:6.3f}")
        print(f"  CPU s per transition, {'whole (all processes)':<24} {r['whole']:6.3f}")
        if r["server_parts"]:
            print("  the server's CPU s per transition, by process:")
            for name, value in r["server_parts"].items():
                print(f"      {value:6.3f}  {name}")
            predict_servers(r["server_parts"])
        print(
            f"    of which the server's idle load (measured with no cases, over the same "
            f"time): {r['server_idle']:.3f}"
        )
        print(f"  API requests per transition from the flow-run process: {r['requests']:.1f}")
        for path, per in r["top"]:
            print(f"      {per:5.2f}  {path}")
        print(
            f"  submit -> next stage: median {statistics.median(lat):.2f} s, p90 {p90:.2f} s "
            f"({len(r['latency'])} submits)"
        )
        print(f"  `casework submit --wait`: CPU {r['cli'][0]:.2f} s, wall {r['cli'][1]:.2f} s")
        print(
            f"  'database is locked' in the server log: {r['locked']}; cases not closed: "
            f"{len(r['not_closed'])}; failures: {len(r['failures'])}"
        )
        for failure in r["failures"][:5]:
            print(f"      {failure}")
    modes = {r["mode"]: r for r in results}
    if {"stock", "casework"} <= set(modes):
        stock, ours = modes["stock"], modes["casework"]
        flow_ratio = stock["cpu"]["flow-run processes"] / ours["cpu"]["flow-run processes"]
        print(f"\nflow-run process CPU, stock / casework: {flow_ratio:.1f}x (target >= 5)")
        print(
            f"whole-transition CPU, stock / casework: {stock['whole'] / ours['whole']:.1f}x "
            "(target >= 3)"
        )
        net = (stock["whole"] - stock["server_idle"]) / (ours["whole"] - ours["server_idle"])
        print(f"whole-transition CPU net of the server's idle load, stock / casework: {net:.1f}x")
    if {"casework", "casework-2"} <= set(modes):
        one, two = modes["casework"], modes["casework-2"]
        print(
            f"\ntransitions per minute, 2 workers / 1 (same --limit each): "
            f"{two['per_minute'] / one['per_minute']:.2f} "
            f"({two['per_minute']:.1f} / {one['per_minute']:.1f}): bound by --limit, this is "
            "the second worker's slots; bound by CPU (a high --limit), one host's cores cap it "
            "near 1, and CPU per transition per worker is what predicts more machines"
        )
        print(
            f"CPU s per transition on the workers' side: 1 worker {sum(one['per_worker']):.3f}, "
            f"2 workers {sum(two['per_worker']):.3f} in all "
            f"({', '.join(f'{c:.3f}' for c in two['per_worker'])})"
        )
        predict(sum(two["per_worker"]), two["cpu"]["server"])
    print(json.dumps({r["mode"]: {k: r[k] for k in ("cpu", "whole", "requests")} for r in results}))


def predict(worker_cpu: float, server_cpu: float, cores: int = 2) -> None:
    """Transitions per minute on many machines, from CPU per transition: each worker host
    of `cores` cores runs at most cores / worker_cpu transitions a second, the server's
    host at most cores / server_cpu, and a pool runs at the lower of the two (the case
    store, PostgreSQL, is not the bound at these rates). A worker's `--limit` must allow
    it: limit / (seconds one transition takes) per worker."""
    per_host = cores / worker_cpu * 60
    server = cores / server_cpu * 60
    hosts = ", ".join(f"{n}: {min(n * per_host, server):.0f}" for n in (1, 2, 4, 8))
    print(
        f"predicted transitions per minute, by {cores}-core worker hosts (CPU-bound): {hosts} "
        f"(a worker host: {per_host:.0f}/min; the {cores}-core server's host caps all at "
        f"{server:.0f}/min)"
    )


def predict_servers(per_transition: dict[str, float], cores: int = 2) -> None:
    """Transitions per minute the Prefect server's side allows, from its CPU per transition
    by process, with its API servers on K hosts of `cores` cores each: the API servers
    share the load evenly (HAProxy's least-connections), so K hosts allow
    K * cores / (their CPU per transition); the services process and Redis each run on one
    core (one Python process; Redis is single-threaded), PostgreSQL on a host of its own.
    The lowest is the bound."""
    api = sum(v for k, v in per_transition.items() if k.startswith("api-"))
    fixed = {
        "the services process (one core)": 60 / max(per_transition.get("services", 0), 1e-6),
        "Redis (one core)": 60 / max(per_transition.get("redis", 0), 1e-6),
        "HAProxy (one core)": 60 / max(per_transition.get("haproxy", 0), 1e-6),
    }
    if "postgresql" in per_transition:
        fixed[f"PostgreSQL ({cores} cores)"] = cores * 60 / max(per_transition["postgresql"], 1e-6)
    name, cap = min(fixed.items(), key=lambda item: item[1])
    hosts = ", ".join(f"{k}: {min(k * cores * 60 / api, cap):.0f}" for k in (1, 2, 4, 8))
    print(
        f"  predicted transitions per minute the server side allows, by {cores}-core API "
        f"server hosts: {hosts} (an API host: {cores * 60 / api:.0f}/min from {api:.3f} s "
        f"per transition across the API servers; then {name} caps all at {cap:.0f}/min)"
    )


def start_cluster(data_dir: Path, port: int, api_servers: int) -> Cluster:
    """A scaled-out Prefect server as `casework prefect-server` starts it, in this process."""
    from casework.core.settings import get_settings
    from casework.prefect_cluster import Cluster

    database = get_settings().prefect_database_url
    if database is None:
        raise SystemExit("--api-servers needs --prefect-database-url (PostgreSQL)")
    cluster = Cluster(data_dir, port, database, api_servers, None)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--think", type=float, default=20.0)
    parser.add_argument("--modes", default="stock,casework")
    parser.add_argument("--port", type=int, default=4321)
    parser.add_argument("--prefect-database-url")
    parser.add_argument("--limit", type=int, default=10, help="flow runs at once, per worker")
    parser.add_argument("--api-servers", type=int, default=0, help="a scaled-out server")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    probe = Path(tempfile.mkdtemp(prefix="casework-probe-"))
    data_dir = _environment(args.port, probe, args.prefect_database_url)
    from casework.core.db import migrate
    from casework.stack import start_server, stop_server

    if args.api_servers:
        cluster = start_cluster(data_dir, args.port, args.api_servers)
        parts = {part.name: part.pid for part in cluster.parts}
        if (pg := postmaster()) is not None:
            parts["postgresql"] = pg
        stop = cluster.stop
    else:
        server = start_server(data_dir, args.port)
        parts = {"server": server.pid}

        def stop() -> None:
            stop_server(server)

    try:
        migrate()
        results = [measure(mode, args, data_dir, parts) for mode in args.modes.split(",")]
    finally:
        stop()
    report(results, args)


if __name__ == "__main__":
    main()
