"""Many case managers at once: intakes in parallel, then stage forms in parallel, each
with its narrative, on one SQLite store and one stack (its Prefect server on SQLite, as
`casework up` runs it). Every one succeeds, none fails on a locked store or on a locked
Prefect database, and nothing a client told us shows in any error. The suite runs 10 at
once; `bench/parallel.py` runs 20 (the number a probe once saw fail) the same way and
prints the outcome, and `bench/lifecycle.py` moves 20 through every stage."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from bench.parallel import intakes_then_submits
from casework import services
from casework.core import prefect_api
from casework.core.db import session_scope
from casework.core.settings import SERVER_LOG, get_settings
from casework.models import cases, contacts
from casework.models.codes import Program, Stage
from casework.services import case_runs
from tests import factories
from tests.conftest import SESSION_DIR
from tests.prefect_surfaces import identity_strings

pytestmark = pytest.mark.prefect
PARALLEL = 10


def _server_locked_lines() -> int:
    return (SESSION_DIR / SERVER_LOG).read_text(errors="replace").count("database is locked")


def test_parallel_intakes_and_submits_all_succeed(stack: str) -> None:
    clients = [factories.client_in() for _ in range(PARALLEL)]
    locked_before = _server_locked_lines()
    outcome = intakes_then_submits(clients, timeout=400)
    assert outcome.failures == [], outcome.failures[0] if outcome.failures else ""
    # Retried requests hide a locked Prefect database from the user, until one runs out
    # of retries and leaves a case in Submitting: the server must not refuse them at all.
    assert _server_locked_lines() == locked_before, "the Prefect server's SQLite was locked"
    assert len(set(outcome.cases)) == PARALLEL
    with session_scope(read_only=True) as session:
        for number in outcome.cases:
            case = cases.get_case(session, number)
            assert case.stage == Stage.PLAN.value
            kept = contacts.narratives_for(session, case)
            assert outcome.narratives[number] in kept.values(), "every narrative kept"
            assert all("~" not in key for key in kept), "no narrative left held"
    for client in clients:
        assert [v for v in identity_strings(client) if v in "".join(outcome.failures)] == []


def _store_is_free() -> bool:
    """Whether another writer could take the store's write lock this instant."""
    path = get_settings().store_url.split("///", 1)[1]
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def test_no_store_lock_is_held_while_prefect_is_asked(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What made parallel intakes fail: the store's write lock held across a call to
    Prefect, so twenty callers queued behind each other's network calls until SQLite's
    busy wait ran out. The real calls are made; each first looks whether the store is free."""
    looked: list[tuple[str, bool]] = []

    def looking(module: Any, name: str) -> None:
        real = getattr(module, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            looked.append((name, _store_is_free()))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, call)

    looking(case_runs, "start_case_run")
    looking(prefect_api, "resume_with_form")
    opened = services.cases.intake(factories.client_in(), Program.HOUSING, "cm.tester", "tester")
    services.stages.submit(
        opened.case_number,
        Stage.ASSESSMENT,
        factories.assessment(),
        narrative="Met at the shelter.",
        actor="tester",
    )
    # A hand-over that comes a moment before the run has stored its form is made again
    # (FormNotAwaitedYet): each call, first or again, with the store free.
    names = [name for name, _ in looked]
    assert names[0] == "start_case_run", looked
    assert set(names[1:]) == {"resume_with_form"}, looked
    assert all(free for _, free in looked), looked
