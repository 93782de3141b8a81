"""No identity in any error. The suite's marker identity (a client whose every value is
unique) is fed through each failure the store can be made to have: the user sees one line
with a reference, the traceback goes to the data directory's 0600 error log, and neither
holds a name, a date of birth, an ID number, an address, a phone number or a note."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from casework.core.db import default_engine, session_scope
from casework.core.error_log import ERROR_LOG
from casework.core.settings import get_settings
from casework.models import providers
from casework.models.codes import Stage
from tests import factories
from tests.casework.test_cli import run_cli
from tests.prefect_surfaces import identity_strings

REFERENCE = re.compile(r"unexpected (\w+) \(reference (E-[0-9a-f-]+)\)")


@pytest.fixture
def refusing(request: pytest.FixtureRequest) -> Iterator[None]:
    """The store refuses every new row of one table (a SQLite trigger), as a full disk,
    a broken constraint or a bug would, at the moment the identity is being written."""
    table = request.param
    engine = default_engine()
    if engine.dialect.name != "sqlite":
        pytest.skip("the session store is SQLite")
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'store refused the row'); END"
            )
        )
    yield
    with engine.begin() as connection:
        connection.execute(text(f"DROP TRIGGER refuse_{table}"))


def _unexpected(err: str, secrets: list[str]) -> str:
    """The one line, and the log entry it points at; neither names the client."""
    assert err.count("\n") == 1, err
    found = REFERENCE.search(err)
    assert found, err
    log = get_settings().data_dir / ERROR_LOG
    assert log.stat().st_mode & 0o777 == 0o600
    entry = log.read_text().split(f"--- {found.group(2)} ", 1)[1].split("\n--- ", 1)[0]
    assert "Traceback" in entry
    for secret in secrets:
        assert secret not in err
        assert secret not in entry, f"{secret!r} is in the error log"
    return entry


@pytest.mark.prefect
@pytest.mark.parametrize("refusing", ["clients"], indirect=True)
def test_a_failed_intake_names_nobody(stack: str, capsys, tmp_path: Path, refusing) -> None:
    client = factories.client_in()
    path = tmp_path / "client.json"
    path.write_text(client.model_dump_json())
    code, out, err = run_cli(capsys, "intake", "--program", "housing", "--file", str(path))
    assert (code, out) == (1, "")
    entry = _unexpected(err, identity_strings(client))
    assert "SQL parameters hidden" in entry or "[parameters: removed]" in entry


@pytest.mark.prefect
@pytest.mark.parametrize("refusing", ["contacts"], indirect=True)
def test_a_failed_note_names_nobody(stack: str, capsys, refusing) -> None:
    with session_scope() as session:
        number = factories.new_case(session).case_number or ""
    note = f"Client disclosed {factories.unique_word('Secret')} at the visit"
    code, _, err = run_cli(capsys, "note", number, "--text", note)
    assert code == 1
    _unexpected(err, [note, note.split()[2]])


@pytest.mark.prefect
@pytest.mark.parametrize("refusing", ["narratives"], indirect=True)
def test_a_failed_submission_names_nobody_and_submits_nothing(
    stack: str, capsys, tmp_path: Path, refusing
) -> None:
    number, client = factories.case_waiting_at(Stage.ASSESSMENT)
    form = tmp_path / "form.json"
    form.write_text(factories.assessment().model_dump_json())
    narrative = tmp_path / "narrative.txt"
    secret = f"{client.given_name} told me about {factories.unique_word('Secret')}"
    narrative.write_text(secret)
    argv = ["submit", number, "assessment", "--file", str(form), "--narrative-file", str(narrative)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 1
    _unexpected(err, [*identity_strings(client), secret])
    from casework import services

    assert services.cases.show(number).stage == "assessment", "the form was not handed over"


def test_a_bad_organization_name_skips_one_provider_on_each_backend(session) -> None:
    from casework import examples

    data = json.loads((Path(examples.__file__).parent / "providers.hsds.json").read_text())
    data["organizations"][0]["name"] = "Hope\x00Housing"
    imported, problems, tokens = providers.import_hsds(session, data)
    bad = "organization: Value error, must be one line of text without control characters"
    assert problems == [f"services[0]: {bad}", f"services[1]: {bad}"], "its two services"
    assert len(imported) == len(tokens) == 3, "the providers of the other organizations import"
