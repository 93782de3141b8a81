"""Many case managers at once, as a busy morning has them: 20 intakes in parallel, then 20
stage forms in parallel, each with its narrative, on one SQLite store and one stack. Every
one succeeds, none fails on a locked store, and nothing a client told us shows in any
error."""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from casework import operations
from casework.db import session_scope
from models import cases, contacts
from models.codes import Program, Stage
from models.orm import Case
from tests import factories
from tests.polling import wait_for
from tests.prefect_surfaces import identity_strings

pytestmark = pytest.mark.prefect
PARALLEL = 20


def _outcome(call: Any) -> tuple[Any, str | None]:
    try:
        return call(), None
    except Exception:  # noqa: BLE001 - every failure is what this test looks at
        return None, traceback.format_exc()


def test_twenty_parallel_intakes_and_submits_all_succeed(stack: str) -> None:
    clients = [factories.client_in() for _ in range(PARALLEL)]

    def intake(client: Any) -> tuple[Any, str | None]:
        return _outcome(lambda: operations.intake(client, Program.HOUSING, "cm.tester", "tester"))

    with ThreadPoolExecutor(PARALLEL) as pool:
        opened = list(pool.map(intake, clients))
    failures = [error for _, error in opened if error]
    assert failures == [], failures[0] if failures else ""
    numbers = [result.case_number for result, _ in opened]
    assert len(set(numbers)) == PARALLEL

    narratives = {number: f"Narrative {factories.unique_word('n')}" for number in numbers}

    def submit(number: str) -> tuple[Any, str | None]:
        return _outcome(
            lambda: operations.submit(
                number,
                Stage.ASSESSMENT,
                factories.assessment(),
                narrative=narratives[number],
                actor="tester",
                timeout=400,
            )
        )

    with ThreadPoolExecutor(PARALLEL) as pool:
        submitted = list(pool.map(submit, numbers))
    failures = [error for _, error in submitted if error]
    assert failures == [], failures[0] if failures else ""
    assert {result.outcome for result, _ in submitted} == {"submitted"}

    def at_plan() -> bool:
        with session_scope(read_only=True) as session:
            query = select(Case.stage).where(Case.case_number.in_(numbers))
            return set(session.scalars(query)) == {Stage.PLAN.value}

    wait_for("all 20 cases to reach plan", at_plan, timeout=400, every=2)
    with session_scope(read_only=True) as session:
        for number in numbers:
            case = cases.get_case(session, number)
            kept = contacts.narratives_for(session, case)
            assert narratives[number] in kept.values(), "every narrative kept, under its stage"
            assert all("~" not in key for key in kept), "no narrative left held"
    everything = "".join(error or "" for _, error in opened + submitted)
    for client in clients:
        assert [v for v in identity_strings(client) if v in everything] == []
