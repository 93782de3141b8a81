"""The records-retention run as `casework up` serves it, on the session's Prefect server:
what a program's periods make due goes into a batch on the ladder, the run waits for the
approval, the CLI's approval wakes it and it masks; a preview as of a future date writes
nothing; an erasure asked for by one supervisor waits for someone else's approval. No
identity reaches Prefect, before or after."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from casework.cli import main
from casework.core import prefect_api
from casework.core.db import session_scope
from casework.models import contacts
from casework.models.codes import BatchStatus, Program, Stage
from casework.models.orm import Case, Client, Escalation, RetentionBatch
from casework.models.schemas import ContactIn
from tests import factories
from tests.conftest import SESSION_DIR, acting_as, environment, roster_text
from tests.polling import wait_for
from tests.prefect_surfaces import surfaces_text

pytestmark = pytest.mark.prefect

# Closed long ago: nothing another test makes is closed so early.
CLOSED = datetime(2001, 1, 10, 12, tzinfo=UTC)
DUE = "2008-06-01T00:00:00+00:00"  # housing: records after 5 years, identity after 7


def _code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exit_info:
        return int(exit_info.code or 0)
    return 0


def _closed(family: str, at: datetime = CLOSED) -> tuple[str, str]:
    with session_scope() as session:
        client = factories.client_in().model_copy(update={"family_name": family})
        case = factories.new_case(session, Program.HOUSING, client)
        factories.walk_to(session, case, Stage.CLOSURE, at)
        factories.move(session, case, factories.closure(), at)
        contacts.add_contact(session, case, ContactIn(text=f"Saw {family} today"), "cm.a", at)
        case.opened_at, case.closed_at = at, at
        return case.case_number or "", case.client.client_number or ""


def _batch(status: str | None = None) -> RetentionBatch | None:
    with session_scope(read_only=True) as session:
        query = select(RetentionBatch).order_by(RetentionBatch.id.desc())
        if status:
            query = query.where(RetentionBatch.status == status)
        return session.scalars(query).first()


def _family(client_number: str) -> str:
    with session_scope(read_only=True) as session:
        return session.scalars(
            select(Client.family_name).where(Client.client_number == client_number)
        ).one()


@pytest.fixture
def admin_roster(tmp_path: Path) -> Path:
    """The suite's roster with the suite's login as an admin too (`adm.tester`)."""
    import getpass

    path = tmp_path / "staff.toml"
    path.write_text(
        roster_text("nobody")
        + '\n[[staff]]\nid = "adm.tester"\nrole = "admin"\nprograms = ["housing"]\n'
        + f'login = "{getpass.getuser()}"\n'
    )
    return path


def test_the_weekly_run_waits_for_approval_and_then_masks(stack: str, capsys) -> None:  # type: ignore[no-untyped-def]
    family = "Retentionfamilyqq"
    case_number, client_number = _closed(family)
    # A preview as of a date to come writes nothing.
    preview = prefect_api.start_run(
        prefect_api.RECORDS_RETENTION_DEPLOYMENT, {"as_of": "2031-01-01T00:00:00+00:00"}
    )
    wait_for("the preview", lambda: prefect_api.read_run(preview).state_type == "COMPLETED")
    with acting_as("sup.tester"):
        assert _code(["retention", "--as-of", "2008-06-01"]) == 0
    said = capsys.readouterr().out
    assert f"{client_number}  {case_number}" in said
    assert "housing.records_years=5" in said

    run = prefect_api.start_run(prefect_api.RECORDS_RETENTION_DEPLOYMENT, {"as_of": DUE})
    wait_for("the run to wait", lambda: prefect_api.read_run(run).waiting, timeout=240)
    batch = _batch(BatchStatus.WAITING.value)
    assert batch is not None
    assert batch.flow_run_id == run
    number = batch.number or ""
    # On the ladder: the case's supervisor is told (a stalled-case sweep raises it).
    with acting_as("sup.tester"):
        assert _code(["sweep", "--watch", "stalled-cases", "--case", case_number]) == 0
    with session_scope(read_only=True) as session:
        rungs = session.scalar(
            select(func.count())
            .select_from(Escalation)
            .where(
                Escalation.case_number == case_number,
                Escalation.rule == "retention_approval",
                Escalation.subject == number,
            )
        )
    assert rungs == 1
    assert _family(client_number) == family  # nothing masked before the approval

    with acting_as("sup.tester"):
        assert _code(["approve-retention", number]) == 0
    assert f"{number} approved: its run masks it now" in capsys.readouterr().out
    wait_for("the run to finish", lambda: prefect_api.read_run(run).state_type == "COMPLETED")
    assert _family(client_number) == "(masked)"
    assert _batch().status == BatchStatus.APPLIED.value  # type: ignore[union-attr]
    log = SESSION_DIR / "masking-log.jsonl"
    assert client_number in log.read_text()
    shown = surfaces_text(stack, [run, preview])
    assert number in shown
    assert family not in shown
    assert "Saw " not in shown


def test_an_erasure_waits_for_someone_elses_approval(
    stack: str, capsys, admin_roster: Path
) -> None:  # type: ignore[no-untyped-def]
    family = "Erasurefamilyqq"
    case_number, client_number = _closed(family, datetime.now(UTC))
    with acting_as("sup.tester"):
        assert _code(["erase", client_number, "--reason", "client_request"]) == 0
        said = capsys.readouterr().out
        number = said.split(":")[0]
        assert number.startswith("RET-")
        assert _code(["approve-retention", number]) == 1
        assert "another supervisor or an admin decides it" in capsys.readouterr().err
    batch = _batch(BatchStatus.WAITING.value)
    assert batch is not None
    run = batch.flow_run_id or ""
    wait_for("the erasure to wait", lambda: prefect_api.read_run(run).waiting, timeout=240)
    with environment(CASEWORK_STAFF_FILE=str(admin_roster), CASEWORK_ACTOR="adm.tester"):
        assert _code(["approve-retention", number]) == 0
    wait_for("the erasure", lambda: prefect_api.read_run(run).state_type == "COMPLETED")
    assert _family(client_number) == "(masked)"
    with session_scope(read_only=True) as session:
        case = session.scalars(select(Case).where(Case.case_number == case_number)).one()
        assert case.records_masked_at is not None
    assert family not in surfaces_text(stack, [run])
