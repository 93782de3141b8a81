"""A supervisor moves a case, or a whole caseload, to another case manager: refused past
the program's maximum caseload unless the supervisor overrides; audited; the run re-tagged;
a `casework.case.transferred` event; open escalations follow the case."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from casework import services
from casework.cli import main
from casework.core.db import session_scope
from casework.models import cases
from casework.models.codes import Program, Stage
from casework.models.orm import AuditEvent, Case, Escalation
from casework.models.programs import programs
from tests import factories
from tests.conftest import acting_as
from tests.polling import wait_for
from tests.prefect_surfaces import api_post, case_events

pytestmark = pytest.mark.prefect


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _managers(numbers: list[str]) -> set[str]:
    with session_scope() as session:
        return {cases.get_case(session, n).case_manager for n in numbers}


def test_a_supervisor_moves_a_case_and_a_whole_caseload(
    capsys: pytest.CaptureFixture[str], stack: str, as_supervisor: None
) -> None:
    opened = services.cases.intake(factories.client_in(), Program.GERIATRIC, "cm.a", "tester")
    number = opened.case_number
    with session_scope() as session:
        case = cases.get_case(session, number)
        session.add(
            Escalation(
                case_id=case.id,
                case_number=number,
                program="geriatric",
                rule="stage_overdue",
                subject="e1:assessment-2",
                level=1,
                threshold="x",
                measured="y",
                as_of=factories.now(),
                recipient="cm.a",
                recipient_role="case_manager",
            )
        )
    code, out, err = run_cli(
        capsys, "transfer", number, "--to", "cm.bench", "--reason", "staff_left"
    )
    assert code == 0, err
    assert out.strip() == f"{number}: cm.a -> cm.bench (1 open escalation(s) handed over)"
    with session_scope() as session:
        case = cases.get_case(session, number)
        assert case.case_manager == "cm.bench"
        escalation = session.scalars(select(Escalation).where(Escalation.case_id == case.id)).one()
        assert escalation.recipient == "cm.bench"
        row = session.scalars(
            select(AuditEvent).where(
                AuditEvent.case_id == case.id, AuditEvent.action == "case_transferred"
            )
        ).one()
        assert (row.actor, row.detail["from_manager"], row.detail["reason"]) == (
            "sup.tester",
            "cm.a",
            "staff_left",
        )
    run = api_post(stack, "flow_runs/filter", {"flow_runs": {"id": {"any_": [opened.flow_run_id]}}})
    assert "manager:cm.bench" in run[0]["tags"]
    assert "manager:cm.a" not in run[0]["tags"]
    event = wait_for(
        "the transferred event",
        lambda: next(
            (e for e in case_events(stack, number) if e["event"] == "casework.case.transferred"),
            None,
        ),
    )
    assert event["payload"]["to_manager"] == "cm.bench"

    # A whole caseload: cm.bench leaves, their open cases go to cm.busy.
    with session_scope() as session:
        extra = factories.new_case(session, Program.HEALTHCARE)
        extra.case_manager = "cm.bench"
        second = extra.case_number or ""
    code, out, err = run_cli(
        capsys, "transfer", "--from", "cm.bench", "--to", "cm.busy", "--reason", "staff_left"
    )
    assert code == 0, err
    assert _managers([number, second]) == {"cm.busy"}
    with session_scope() as session:
        left = session.scalars(
            select(Case).where(Case.case_manager == "cm.bench", Case.status == "open")
        ).all()
        assert left == []


def test_a_full_caseload_refuses_more_unless_its_supervisor_overrides(
    capsys: pytest.CaptureFixture[str], stack: str, as_supervisor: None
) -> None:
    limit = programs()[Program.CHILD_WELFARE].maximum_caseload
    with session_scope() as session:
        for _ in range(limit):
            factories.new_case(session, Program.CHILD_WELFARE).case_manager = "cm.full"
        one = factories.new_case(session, Program.CHILD_WELFARE).case_number or ""
    code, _, err = run_cli(
        capsys, "transfer", one, "--to", "cm.full", "--reason", "caseload_balance"
    )
    assert code == 1
    assert err.count("\n") == 1
    assert f"cm.full holds {limit} open child_welfare case(s); 1 more would pass" in err
    assert _managers([one]) == {factories.STAFF}
    # An operator may move cases, but not past the limit.
    with acting_as("tester"):
        code, _, err = run_cli(
            capsys, "transfer", one, "--to", "cm.full", "--reason", "caseload_balance", "--override"
        )
    assert code == 1
    assert "is the work of its supervisor or an operator; tester is neither" in err
    code, out, err = run_cli(
        capsys,
        "transfer",
        one,
        "--to",
        "cm.full",
        "--reason",
        "caseload_balance",
        "--override",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)[0]["to_manager"] == "cm.full"
    code, _, err = run_cli(capsys, "transfer", one, "--to", "sup.housing", "--reason", "staff_left")
    assert code == 1
    assert "--to: sup.housing is not an active case manager of child_welfare" in err


@contextlib.contextmanager
def prefect_away() -> Iterator[None]:
    """Prefect's server not answering, for this process: its address a closed port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    saved = os.environ["PREFECT_API_URL"]
    os.environ["PREFECT_API_URL"] = closed
    try:
        yield
    finally:
        os.environ["PREFECT_API_URL"] = saved


def test_what_prefect_missed_while_away_is_told_once_it_is_back(
    capsys: pytest.CaptureFixture[str], stack: str, as_supervisor: None
) -> None:
    """A transfer and a reassessment asked for while the server is away are kept; once it
    answers, `casework up` tags the run, sends the event and wakes the run, once."""
    opened = services.cases.intake(factories.client_in(), Program.HOUSING, "cm.a", "tester")
    number = opened.case_number
    at_plan, _ = factories.case_waiting_at(Stage.PLAN)
    with prefect_away():
        code, out, err = run_cli(
            capsys, "transfer", number, "--to", "cm.busy", "--reason", "client_request"
        )
        assert code == 0, err
        assert "Prefect is told (the runs' manager tags, the transferred events) once" in err
        code, out, err = run_cli(capsys, "reassess", at_plan, "--reason", "crisis")
        assert code == 0, err  # asked for, and kept: it moves once Prefect answers
        assert out.startswith(f"{at_plan}: reassessment asked for at plan-")
        assert "casework: warning: reassessment recorded; the case moves once its run" in err
    assert _managers([number]) == {"cm.busy"}
    # `casework up`'s upkeep (every 10 s) tells Prefect, as it does for a user.
    runs = {"flow_runs": {"id": {"any_": [opened.flow_run_id]}}}
    wait_for(
        "the run's new manager tag",
        lambda: "manager:cm.busy" in api_post(stack, "flow_runs/filter", runs)[0]["tags"],
        timeout=120,
    )
    wait_for(
        "the transferred event",
        lambda: [
            e for e in case_events(stack, number) if e["event"] == "casework.case.transferred"
        ],
    )
    wait_for(
        "the case to go back to assessment",
        lambda: services.cases.show(at_plan).stage == "assessment",
        timeout=120,
    )
    assert services.sweeps.catch_up() == []  # told once
