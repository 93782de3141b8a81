"""Benchmark: importing an Open Referral HSDS 3.0 tabular data package of 10,000 services.

Writes a package as a 211 system exports one (the specification's own datapackage.json,
with organizations, services, locations, service_at_location, addresses, phones,
languages, schedules, taxonomy terms and attributes as CSV files), zips it, and runs
`casework providers import` on it as a user does (a new process, a fresh SQLite store in a
new data directory), three times:

1. the first import (every service added);
2. the same file again (every service unchanged);
3. a later export: 1% of the services renamed, 1% gone (marked inactive), 1% new.

Then `casework providers list` with every filter on the 10,000. It prints, from one run,
each step's wall time, services per second, and its ratio to the 10 s target.

    .venv/bin/python bench/hsds_import.py [--services 10000]
"""

from __future__ import annotations

import argparse
import csv
import getpass
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTOR = ROOT / "tests" / "data" / "hsds" / "csv" / "datapackage.json"
TARGET_SECONDS = 10.0
LANGUAGES = [("English", "en"), ("Spanish", "es"), ("Polish", "pl"), ("Urdu", "ur")]
TERMS = 50
OPERATOR = "ops.bench"


def tables(count: int, version: int) -> dict[str, list[dict[str, object]]]:
    """The directory's tables; `version` 2 renames 1%, drops 1%, adds 1%."""
    out: dict[str, list[dict[str, object]]] = {
        name: []
        for name in (
            "organizations",
            "services",
            "locations",
            "service_at_location",
            "addresses",
            "phones",
            "languages",
            "schedules",
            "taxonomy_terms",
            "attributes",
        )
    }
    for term in range(TERMS):
        out["taxonomy_terms"].append(
            {"id": f"term-{term}", "code": f"BD-{1000 + term}", "name": f"Need {term}"}
        )
    gone = range(0, count, 100) if version == 2 else range(0)
    numbers = [n for n in range(count) if n not in gone]
    numbers += list(range(count, count + count // 100)) if version == 2 else []
    organizations: set[str] = set()
    for n in numbers:
        org = f"org-{n // 10}"
        if org not in organizations:
            organizations.add(org)
            out["organizations"].append(
                {"id": org, "name": f"Community Agency {n // 10}", "description": "Nonprofit"}
            )
        renamed = version == 2 and n % 100 == 1
        service, location = f"svc-{n:06d}", f"loc-{n:06d}"
        out["services"].append(
            {
                "id": service,
                "organization_id": org,
                "name": f"Service {n}{' (renamed)' if renamed else ''}",
                "description": f"Help with need {n % TERMS} for residents of district {n % 97}.",
                "status": "active",
                "eligibility_description": "Residents of the county",
                "minimum_age": 18,
            }
        )
        out["locations"].append({"id": location, "organization_id": org, "name": f"Site {n}"})
        out["service_at_location"].append(
            {"id": f"sal-{n:06d}", "service_id": service, "location_id": location}
        )
        out["addresses"].append(
            {
                "id": f"adr-{n:06d}",
                "location_id": location,
                "address_1": f"{n} Main Street",
                "city": "Springfield",
                "state_province": "IL",
                "postal_code": f"{62700 + n % 99}",
                "country": "US",
                "address_type": "physical",
            }
        )
        out["phones"].append({"id": f"ph-{n:06d}", "service_id": service, "number": "555-0100"})
        for index in (n % 4, (n + 1) % 4):
            name, code = LANGUAGES[index]
            out["languages"].append(
                {"id": f"lang-{n:06d}-{code}", "service_id": service, "name": name, "code": code}
            )
        out["schedules"].append(
            {
                "id": f"sch-{n:06d}",
                "service_id": service,
                "byday": "MO,TU,WE,TH,FR",
                "opens_at": "09:00:00",
                "closes_at": "17:00:00",
            }
        )
        out["attributes"].append(
            {
                "id": f"att-{n:06d}",
                "link_id": service,
                "taxonomy_term_id": f"term-{n % TERMS}",
                "link_type": "service",
                "link_entity": "service",
            }
        )
    return out


def package(to: Path, count: int, version: int) -> Path:
    with zipfile.ZipFile(to, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(DESCRIPTOR, "export/datapackage.json")
        for name, rows in tables(count, version).items():
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=sorted({k for r in rows for k in r}))
            writer.writeheader()
            writer.writerows(rows)
            file_name = "service_at_location.csv" if name == "service_at_location" else name
            archive.writestr(f"export/{file_name.removesuffix('.csv')}.csv", text.getvalue())
    return to


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the child's), and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "casework", *argv], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"casework {' '.join(argv)} failed: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout.strip()


def sign_in(data_dir: Path) -> None:
    """An operator, mapped to this login (imports are an operator's or an admin's)."""
    os.environ["CASEWORK_DATA_DIR"] = str(data_dir)
    sys.path.insert(0, str(ROOT))
    from casework.models.codes import Program, StaffRole
    from casework.services.staff import add_staff

    add_staff(OPERATOR, StaffRole.OPERATOR, list(Program), getpass.getuser(), "bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="casework-bench-hsds-"))
    try:
        data_dir = tmp / "data"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREFECT_", "CASEWORK_")) and k != "PYTHONDONTWRITEBYTECODE"
        } | {"CASEWORK_DATA_DIR": str(data_dir), "CASEWORK_ACTOR": OPERATOR}
        first = package(tmp / "directory.zip", args.services, 1)
        later = package(tmp / "directory-later.zip", args.services, 2)
        size = first.stat().st_size / 1e6
        print(f"package: {args.services} services, {size:.1f} MB zipped; SQLite store, one run")
        run(["migrate"], env)
        sign_in(data_dir)
        print(f"{'step':<44} {'wall s':>7} {'cpu s':>7} {'services/s':>11} {'x target':>9}")
        steps = [
            ("first import (all added)", ["providers", "import", str(first)]),
            ("same file again (all unchanged)", ["providers", "import", str(first)]),
            ("a later export (1% renamed, gone, new)", ["providers", "import", str(later)]),
        ]
        for name, argv in steps:
            wall, cpu, out = run(argv, env)
            rate, ratio = args.services / wall, wall / TARGET_SECONDS
            print(f"{name:<44} {wall:>7.2f} {cpu:>7.2f} {rate:>11.0f} {ratio:>9.2f}")
            print(f"    {out}")
        search = [
            "providers",
            "list",
            "--language",
            "polish",
            "--near",
            "62750",
            "--text",
            "need 7",
        ]
        wall, cpu, out = run(search, env)
        print(
            f"{'providers list --language --near --text':<44} {wall:>7.2f} {cpu:>7.2f} "
            f"{'':>11} {'':>9}"
        )
        print(f"    {len(out.splitlines())} provider(s) found")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
