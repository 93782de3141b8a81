"""Benchmark: duplicate detection against a large client register, straight on the store.

Fills a fresh store with N synthetic clients (bulk insert: the identity, its match row and
its blocking keys, as registering writes them), 1% of them planted re-entries of another
client (accents dropped, a second family name added, day and month swapped, a typo, a
middle name). Then, from one run, prints:
  * the intake check (models.clients.candidates, what `casework intake` runs before it
    registers anyone): mean and 95th-percentile milliseconds over 400 checks, half of
    them re-entries of a registered client and half new people (target: under 50 ms);
  * the full-store scan (`casework duplicates`): seconds, blocks, pairs scored, likely
    pairs found, and how many of the planted re-entries it found (target: under 30 s);
on SQLite, and on PostgreSQL when one answers (as its owner: through the same functions
of definer's rights staff use, which score inside the database: identity never leaves it).

    .venv/bin/python bench/duplicates.py [--clients 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert, text  # noqa: E402

from bench.sweep import PG_DEFAULT, _drop_pg, fresh_pg  # noqa: E402
from casework.core.db import make_engine, migrate, session_scope  # noqa: E402
from casework.models import clients  # noqa: E402
from casework.models.matching import LIKELY, Identity  # noqa: E402
from casework.models.orm import Client, ClientKey, ClientMatch  # noqa: E402

GIVEN = (
    "Maria José Ana Luis Carlos Juan Sofia Lucia Mateo Diego Elena Carmen Pablo Rosa Jorge "
    "Miguel Laura Sara David Daniel Fatima Amina Omar Yusuf Aisha Hassan Mei Wei Li Jun "
    "Hiroshi Yuki Olga Ivan Anna Piotr Kasia Tomasz Ewa Marek John Mary James Patricia "
    "Robert Jennifer Michael Linda William Elizabeth Richard Barbara Joseph Susan Thomas "
    "Jessica Charles Sarah Christopher Karen Chloe Emma Noah Liam Olivia Ava Isabella "
    "Ethan Mason Lucas Amelia Harper Evelyn Abigail Emily Ella Scarlett Grace Zoe Nora "
    "Femi Chidi Ngozi Kwame Ama Kofi Abena Thi Minh Anh Quang Lan Hoa Priya Arjun Ravi "
    "Deepa Sunita Vikram Anil Kavya Rohan Ines Hugo Chloé Zoë Renée André Noël Jürgen"
).split()
FAMILY = (
    "García Martínez López González Rodríguez Fernández Pérez Sánchez Ramírez Torres Flores "
    "Rivera Gómez Díaz Reyes Cruz Morales Ortiz Gutiérrez Chávez Ramos Ruiz Mendoza Herrera "
    "Aguilar Jiménez Moreno Álvarez Romero Vargas Castillo Silva Smith Johnson Williams "
    "Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Jackson Martin Lee "
    "Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott Hill "
    "Green Adams Baker Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker Evans "
    "Edwards Collins Stewart Morris Murphy Cook Rogers Morgan Peterson Cooper Reed Bailey "
    "Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray James Hughes "
    "Price Sanders Myers Long Ross Foster Nguyen Tran Le Pham Hoang Phan Vu Dang Bui Do "
    "Kim Park Choi Jung Kang Cho Yoon Jang Lim Han Wang Zhang Liu Chen Yang Huang Zhao Wu "
    "Zhou Xu Sun Ma Zhu Hu Guo He Lin Okafor Okeke Adeyemi Mensah Owusu Boateng Diallo "
    "Traoré Kowalski Nowak Wiśniewski Wójcik Kamiński Lewandowski Zieliński Haddad "
    "Khoury Hassan Ali Ahmed Mohamed Ibrahim Yilmaz Kaya Demir Şahin Çelik Patel Shah "
    "Singh Kumar Sharma Gupta Das Moreau Dubois Lefèvre Laurent Müller Schmidt Schneider "
    "Fischer Weber Meyer Wagner Becker Schulz Hoffmann Rossi Russo Ferrari Esposito "
    "Bianchi Romano Colombo Ricci Marino Greco Tanaka Suzuki Takahashi Watanabe Ito "
    "Yamamoto Nakamura Kobayashi Kato Brennan Murphy O'Brien Walsh Byrne Ryan O'Connor"
).split()
CHUNK = 5000


def person(rng: random.Random) -> dict[str, Any]:
    family = rng.choice(FAMILY)
    if rng.random() < 0.1:
        family = f"{family}-{rng.choice(FAMILY)}"
    return {
        "given_name": rng.choice(GIVEN),
        "family_name": family,
        "date_of_birth": date(1935, 1, 1) + timedelta(days=rng.randrange(26000)),
        "phone": f"555-{rng.randrange(10**6, 10**7)}" if rng.random() < 0.7 else None,
        "id_number": f"ID{rng.randrange(10**8, 10**9)}" if rng.random() < 0.6 else None,
    }


def _plain(text: str) -> str:
    return text.translate(
        str.maketrans("áéíóúÁÉñüçèëàšłśńźżćęąöäÜÖŞşÇÁ", "aeiouAEnuceeaslsnzzceaoaUOSsCA")
    )


def reentry(rng: random.Random, original: dict[str, Any]) -> dict[str, Any]:
    """The same person entered again, differently (and without the phone or ID, half the
    time: a second intake often lacks them)."""
    again = dict(original)
    born: date = original["date_of_birth"]
    change = rng.randrange(5)
    if change == 0:
        again["given_name"], again["family_name"] = (
            _plain(again["given_name"]),
            _plain(again["family_name"]),
        )
    elif change == 1:
        again["family_name"] = f"{again['family_name']}-{rng.choice(FAMILY)}"
    elif change == 2 and born.day <= 12 and born.day != born.month:
        again["date_of_birth"] = born.replace(month=born.day, day=born.month)
    elif change == 3 and len(again["family_name"]) > 3:
        name = again["family_name"]
        at = rng.randrange(1, len(name) - 1)
        again["family_name"] = name[:at] + name[at + 1] + name[at] + name[at + 2 :]
    else:
        again["given_name"] = f"{again['given_name']} {rng.choice(GIVEN)}"
    if rng.random() < 0.5:
        again["phone"] = again["id_number"] = None
    return again


def fill(
    engine: Engine, count: int, rng: random.Random
) -> tuple[list[dict[str, Any]], set[frozenset[str]]]:
    """Insert `count` clients (1% planted re-entries); returns the people and the planted
    pairs' client numbers."""
    people: list[dict[str, Any]] = []
    planted: set[frozenset[str]] = set()
    for index in range(count):
        if people and rng.random() < 0.01:
            original = rng.randrange(len(people))
            people.append(reentry(rng, people[original]))
            planted.add(frozenset(clients.client_number_for(n + 1) for n in (original, index)))
        else:
            people.append(person(rng))
    now = datetime.now(UTC)
    stamp = {"created": now, "updated": now}
    with session_scope(engine) as session:
        for start in range(0, count, CHUNK):
            chunk = people[start : start + CHUNK]
            session.execute(
                insert(Client),
                [
                    {
                        "id": start + i + 1,
                        "client_number": clients.client_number_for(start + i + 1),
                        "contact_preference": "phone",
                        "language": "en",
                        **p,
                        **stamp,
                    }
                    for i, p in enumerate(chunk)
                ],
            )
            matches, keys = [], []
            for i, p in enumerate(chunk):
                who = Identity.of(**p)
                row = {"client_id": start + i + 1, **stamp}
                matches.append(
                    {
                        **row,
                        "given": who.given,
                        "family": who.family,
                        "born": who.born,
                        "phone": who.phone,
                        "id_number": who.id_number,
                        "sounds": who.sounds(),
                    }
                )
                keys += [{**row, "key": key} for key in who.keys()]
            session.execute(insert(ClientMatch), matches)
            session.execute(insert(ClientKey), keys)
    if engine.dialect.name == "postgresql":  # as autovacuum would soon after a bulk load
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return people, planted


def run(url: str, count: int) -> dict[str, Any]:
    rng = random.Random(20261127)
    engine = make_engine(url)
    migrate(engine)
    started = time.perf_counter()
    people, planted = fill(engine, count, rng)
    filled = time.perf_counter() - started
    probes = [reentry(rng, rng.choice(people)) for _ in range(200)]
    probes += [person(rng) for _ in range(200)]
    timings: list[float] = []
    stopped = [0, 0]  # re-entries, new people
    with session_scope(engine, read_only=True) as session:
        clients.candidates(session, Identity.of(**probes[0]))  # the first query plans
        for probe in probes:
            began = time.perf_counter()
            found = clients.candidates(session, Identity.of(**probe))
            timings.append(time.perf_counter() - began)
            stopped[probes.index(probe) >= 200] += bool(found)
        began = time.perf_counter()
        pairs = clients.likely_pairs(session)
        scanned = time.perf_counter() - began
    engine.dispose()
    timings.sort()
    return {
        "fill": filled,
        "check_mean_ms": 1000 * statistics.fmean(timings),
        "check_p95_ms": 1000 * timings[int(0.95 * len(timings))],
        "stopped": stopped,
        "scan": scanned,
        "pairs": len(pairs),
        "planted": len(planted),
        "found": len(planted & {frozenset((p.first, p.second)) for p in pairs}),
    }


def report(backend: str, count: int, result: dict[str, Any]) -> None:
    print(
        f"{backend}: {count} clients (filled in {result['fill']:.1f} s)\n"
        f"  intake check: mean {result['check_mean_ms']:.1f} ms, "
        f"p95 {result['check_p95_ms']:.1f} ms (target < 50 ms); "
        f"stopped at score >= {LIKELY}: {result['stopped'][0]} of 200 re-entries, "
        f"{result['stopped'][1]} of 200 new people\n"
        f"  full scan: {result['scan']:.1f} s (target < 30 s); {result['pairs']} likely "
        f"pairs, {result['found']} of the {result['planted']} planted re-entries among them"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("CASEWORK_TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report("sqlite", args.clients, run(f"sqlite:///{folder}/bench.db", args.clients))
    pg = args.database_url or PG_DEFAULT
    label = f"bench_duplicates_{os.getpid()}"
    fresh = fresh_pg(pg, label)
    if fresh is not None:
        try:
            report("postgresql", args.clients, run(fresh, args.clients))
        finally:
            _drop_pg(pg, [label])


if __name__ == "__main__":
    main()
