"""Benchmark: CPU cost of the store-only CLI commands, and whether they import Prefect.

Fills a fresh data directory with a few cases (store functions, no Prefect server), then
runs each store-only command as a user does (`casework …`, a new process each time) and
prints, from one run, its CPU time (user + system, of the child) and whether `prefect` was
imported (read from `python -X importtime`). Target: under 0.4 s of CPU (#34), no Prefect.

It also prints the floor on this machine: the CPU of a bare `import sqlalchemy.orm,
pydantic`, which every store command needs. The commands run with Python's bytecode cache
on, as on a user's machine after the first run (this environment sets
PYTHONDONTWRITEBYTECODE, which would make every run recompile the project).

    .venv/bin/python bench/cli.py [--repeat 3]

With `--libraries` it measures instead what the CLI was built on: the candidates' own
start-up (argparse, click, typer, cyclopts), each running one command of an app of 45
commands with 3 options each, as `casework` has, in a new process.
"""

from __future__ import annotations

import argparse
import getpass
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMMANDS = [
    ["show", "CASE-000001"],
    ["show", "CASE-000001", "--json"],
    ["cases"],
    ["escalations"],
    ["form", "plan", "--example"],
    ["form", "plan"],
    ["providers", "list"],
    ["report"],
    ["show", "CASE-999999"],  # an error: as quick as the rest
]
TARGET_SECONDS = 0.4  # #34


def fill(data_dir: Path) -> None:
    os.environ["CASEWORK_DATA_DIR"] = str(data_dir)
    from casework.core.db import default_engine, migrate, session_scope
    from tests import factories

    migrate(default_engine())
    with session_scope() as session:
        for _ in range(5):
            factories.new_case(session)
    from casework.services.staff import add_staff

    add_staff("cm.rivera", None, None, getpass.getuser(), "bench")  # who `show` logs


def cpu_of(argv: list[str], env: dict[str, str], trace: bool = False) -> tuple[float, bool, int]:
    """CPU seconds the command took; whether it imported Prefect (with `trace`); its exit."""
    return _cpu([*(["-X", "importtime"] if trace else []), "-m", "casework", *argv], env)


def _cpu(python_args: list[str], env: dict[str, str]) -> tuple[float, bool, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, *python_args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    prefect = any(line.rstrip().endswith("| prefect") for line in done.stderr.splitlines())
    return cpu, prefect, done.returncode


APPS = {
    "argparse": """
import argparse
parser = argparse.ArgumentParser(prog="app")
sub = parser.add_subparsers(dest="command", required=True)
for i in range(45):
    one = sub.add_parser(f"cmd{i}")
    for j in range(3):
        one.add_argument(f"--opt{j}")
args = parser.parse_args(["cmd7", "--opt1", "x"])
""",
    "click": """
import click
@click.group()
def app(): pass
def command(i):
    @app.command(f"cmd{i}")
    @click.option("--opt0")
    @click.option("--opt1")
    @click.option("--opt2")
    def run(opt0, opt1, opt2): pass
for i in range(45):
    command(i)
app(["cmd7", "--opt1", "x"], standalone_mode=False)
""",
    "typer": """
import typer
app = typer.Typer()
def command(i):
    @app.command(f"cmd{i}")
    def run(opt0: str = "", opt1: str = "", opt2: str = ""): pass
for i in range(45):
    command(i)
app(["cmd7", "--opt1", "x"], standalone_mode=False)
""",
    "cyclopts": """
import cyclopts
app = cyclopts.App()
def command(i):
    @app.command(name=f"cmd{i}")
    def run(opt0: str = "", opt1: str = "", opt2: str = ""): pass
for i in range(45):
    command(i)
app(["cmd7", "--opt1", "x"], exit_on_error=False)
""",
}


def libraries(repeat: int) -> None:
    """CPU of each candidate running one command of a 45-command app, less bare Python's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    floor = min(_cpu(["-c", "pass"], env)[0] for _ in range(repeat))
    print(f"bare python: {floor:.3f} s of CPU (min of {repeat}); each below is on top of it")
    base = None
    for name, source in APPS.items():
        cpu = min(_cpu(["-c", source], env)[0] for _ in range(repeat)) - floor
        base = base or cpu
        print(f"{name:<10} {cpu:.3f} s  ({cpu / base:.1f} x argparse)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--libraries", action="store_true")
    args = parser.parse_args()
    if args.libraries:
        libraries(args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        fill(data_dir)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PREFECT_", "CASEWORK_")) and key != "PYTHONDONTWRITEBYTECODE"
        } | {"CASEWORK_DATA_DIR": str(data_dir), "CASEWORK_ACTOR": "cm.rivera"}
        floor = min(
            _cpu(["-c", "import sqlalchemy.orm, pydantic"], env)[0] for _ in range(args.repeat)
        )
        print(f"{'command':<32} {'cpu s (min of ' + str(args.repeat) + ')':>18} prefect  exit")
        worst = 0.0
        for argv in COMMANDS:
            cpu = min(cpu_of(argv, env)[0] for _ in range(args.repeat))
            _, prefect, code = cpu_of(argv, env, trace=True)
            worst = max(worst, cpu)
            name = " ".join(argv)
            print(f"{name:<32} {cpu:>18.3f} {'YES' if prefect else 'no':>7} {code:>5}")
        print(
            f"slowest: {worst:.3f} s of CPU; {worst / TARGET_SECONDS:.2f} x the "
            f"{TARGET_SECONDS} s target"
        )
        print(
            f"floor: `import sqlalchemy.orm, pydantic` alone takes {floor:.3f} s of CPU here "
            f"({floor / worst:.0%} of the slowest command)"
        )


if __name__ == "__main__":
    main()
