"""Many case managers at once: intakes in parallel, then stage forms in parallel, each
with its narrative, on one SQLite store and one stack. Every one succeeds, none fails on
a locked store, and nothing a client told us shows in any error. Each case costs two
flow-run processes, so the suite runs 6 at once; `bench/parallel.py` runs 20 (the
number a probe once saw fail) the same way and prints the outcome."""

from __future__ import annotations

import pytest

from bench.parallel import intakes_then_submits
from casework.db import session_scope
from models import cases, contacts
from models.codes import Stage
from tests import factories
from tests.prefect_surfaces import identity_strings

pytestmark = pytest.mark.prefect
PARALLEL = 6


def test_parallel_intakes_and_submits_all_succeed(stack: str) -> None:
    clients = [factories.client_in() for _ in range(PARALLEL)]
    outcome = intakes_then_submits(clients, timeout=400)
    assert outcome.failures == [], outcome.failures[0] if outcome.failures else ""
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
