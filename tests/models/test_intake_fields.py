"""A program's own intake fields: declared in its programs-file entry as coded or bearing
identity, checked when the file is read (one line naming the program and the field), and
the answers kept in the store apart: coded, and identity-bearing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from casework.models import audit, intake_fields
from casework.models.codes import Program
from tests import factories
from tests.programs import configured, programs_file, refused_in_one_line

HOUSEHOLD = """
[[housing.intake]]
id = "household_size"
label = "People in the household"
type = "number"
min = 1
max = 20
identity = false
required = true
"""
LANDLORD = """
[[housing.intake]]
id = "last_landlord"
label = "Last landlord's name"
type = "text"
identity = true
"""
FIELDS = (
    HOUSEHOLD
    + """
[[housing.intake]]
id = "veteran"
label = "Served in the armed forces"
type = "yes_no"
identity = false

[[housing.intake]]
id = "tenure"
label = "Housing today"
type = "choice"
options = [{ code = "renting", label = "Renting" }, { code = "no_home", label = "No home" }]
identity = false
"""
    + LANDLORD
)


@pytest.fixture
def with_fields(tmp_path: Path) -> Iterator[Path]:
    with configured(programs_file(tmp_path, FIELDS)) as path:
        yield path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("identity = true", "identity = false"), "a text field bears identity"),
        (
            ("identity = false\nrequired = true", "required = true"),
            "intake.0.identity: Field required",
        ),
        (('id = "veteran"', 'id = "household_size"'), "intake: household_size declared twice"),
        (('type = "yes_no"', 'type = "slider"'), "intake.1.type: Input should be"),
        (("options = [{ code", "choices = [{ code"), "intake.2.choices: Extra inputs"),
    ],
    ids=["text_coded", "undeclared", "twice", "type", "options"],
)
def test_a_mistaken_intake_field_is_refused_in_one_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert change[0] in FIELDS
    said = refused_in_one_line(programs_file(tmp_path, FIELDS.replace(change[0], change[1], 1)))
    assert expected in said, said


def test_the_answers_are_kept_apart_coded_and_bearing_identity(
    session: Session, with_fields: Path
) -> None:
    form_type, fields = intake_fields.form_of(Program.HOUSING)
    case = factories.new_case(session)
    given = {"household_size": 3, "tenure": "No home", "last_landlord": "Mr Example"}
    row = intake_fields.record(session, case, form_type.model_validate(given), fields, "cm.a")
    assert row.coded == {"household_size": 3, "tenure": "no_home"}  # a label read as its code
    assert row.identity == {"last_landlord": "Mr Example"}
    [event] = [e for e in audit.for_case(session, case) if e.action == "intake_details_recorded"]
    assert event.detail == {"fields": ["household_size", "last_landlord", "tenure"]}
    assert intake_fields.shown(fields, row) == [
        ("People in the household", "3"),
        ("Housing today", "No home"),
        ("Last landlord's name", "Mr Example"),
    ]
    with pytest.raises(ValueError, match="household_size"):
        form_type.model_validate({"household_size": 0})
    with pytest.raises(ValueError, match="household_size"):
        form_type.model_validate({"veteran": True})  # required
    geriatric, asked = intake_fields.form_of(Program.GERIATRIC)
    assert asked == []
