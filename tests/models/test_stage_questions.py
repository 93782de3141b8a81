"""A program's own questions on its stage forms (`[[housing.closure]]`): the coded ones are
a field of the form a run waits for and kept with the move; those bearing identity are
taken outside it, as an instrument's answers in words are; a changed declaration changes
the stage's wait tag (so waiting runs are carried over); mistakes refused in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from casework.core.errors import InputError
from casework.models import stage_questions
from casework.models.codes import Program, Stage
from casework.models.forms import ClosureForm
from casework.models.lifecycle import example_form, form_for, stale_wait, wait_tag
from casework.services.stages import run_input, take_written, written_with
from tests.programs import configured, programs_file, refused_in_one_line

DESTINATION = """
[[housing.closure]]
id = "destination"
label = "Where the client went"
type = "choice"
identity = false
required = true
options = [
  { code = "rental_no_subsidy", label = "Rental by client, no ongoing subsidy" },
  { code = "with_family", label = "Staying with family, temporary" },
]
"""
FORWARDING = """
[[housing.closure]]
id = "forwarding_address"
label = "Forwarding address"
type = "text"
identity = true
"""
ADDRESS = "12 Harbour Row, Flat 3"


@pytest.fixture
def with_questions(tmp_path: Path) -> Iterator[Path]:
    with configured(programs_file(tmp_path, DESTINATION + FORWARDING)) as path:
        yield path


def _given(**questions: Any) -> dict[str, Any]:
    return {
        "submitted_by": "cm.a",
        "reason": "goals_met",
        "follow_up_consent": True,
        "questions": questions,
    }


def test_the_coded_questions_are_the_forms_and_identity_stays_outside(
    with_questions: Path,
) -> None:
    form_type = form_for(Stage.CLOSURE, Program.HOUSING)
    assert form_type is not None
    assert issubclass(form_type, ClosureForm)
    schema = json.dumps(form_type.model_json_schema())
    assert "rental_no_subsidy" in schema
    assert "forwarding_address" not in schema
    assert form_for(Stage.CLOSURE, Program.GERIATRIC) is ClosureForm  # another program's

    data, given = take_written(
        form_type, _given(destination="with_family", **{"forwarding_address": ADDRESS})
    )
    form = form_type.model_validate(data)
    assert written_with(form, given) == {"questions": {"forwarding_address": ADDRESS}}
    assert stage_questions.coded_answers(form) == {"destination": "with_family"}
    handed = json.dumps(run_input(form))
    assert ADDRESS not in handed
    assert "Staying with family, temporary" in handed  # by its label, as a dialog gives it


def test_a_required_coded_question_left_out_is_refused_by_name(with_questions: Path) -> None:
    form_type = form_for(Stage.CLOSURE, Program.HOUSING)
    assert form_type is not None
    with pytest.raises(ValueError, match=r"questions\.destination\s+Field required"):
        form_type.model_validate(_given())


def test_an_answer_bearing_identity_that_does_not_fit_is_refused_by_name(
    with_questions: Path,
) -> None:
    form_type = form_for(Stage.CLOSURE, Program.HOUSING)
    assert form_type is not None
    data, given = take_written(
        form_type, _given(destination="with_family", forwarding_address="x" * 2001)
    )
    with pytest.raises(InputError) as refused:
        written_with(form_type.model_validate(data), given)
    assert str(refused.value) == (
        "assessment form: questions.forwarding_address: String should have at most 2000 characters"
    ).replace("assessment form", "closure form")


def test_the_example_answers_the_coded_questions(with_questions: Path) -> None:
    form = example_form(Stage.CLOSURE, date.today(), "cm.a", Program.HOUSING)
    answers = stage_questions.coded_answers(form)
    assert answers is not None
    assert answers["destination"] == "rental_no_subsidy"
    # and HMIS's coded exit questions (housing is HUD-funded), each with a value that fits
    assert answers["hmis_destination"].startswith("hud_")


def test_a_change_to_a_stages_questions_makes_its_waiting_runs_stale(tmp_path: Path) -> None:
    before = {stage: wait_tag(stage, Program.HOUSING) for stage in Stage}
    geriatric = wait_tag(Stage.CLOSURE, Program.GERIATRIC)
    with configured(programs_file(tmp_path, DESTINATION)):
        after = {stage: wait_tag(stage, Program.HOUSING) for stage in Stage}
        assert wait_tag(Stage.CLOSURE, Program.GERIATRIC) == geriatric
        # A housing run waiting under the tag it had is carried over; another program's
        # runs, waiting under theirs, stay.
        old = before[Stage.CLOSURE]
        assert stale_wait(["casework", "program:housing", old]) is not None
        assert stale_wait(["casework", "program:geriatric", geriatric]) is None
        assert stale_wait(["casework", "program:housing", after[Stage.CLOSURE]]) is None
    assert [s for s in Stage if before[s] != after[s]] == [Stage.CLOSURE]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            FORWARDING.replace("identity = true", "identity = false"),
            "housing.closure.0: Value error, a text field bears identity",
        ),
        (DESTINATION + DESTINATION, "housing: closure: destination declared twice"),
        (
            DESTINATION.replace("[[housing.closure]]", "[[housing.intake_questions]]"),
            "housing.intake_questions: Extra inputs are not permitted",
        ),
    ],
    ids=["text_coded", "twice", "unknown_stage"],
)
def test_a_mistaken_question_is_refused_in_one_line(
    tmp_path: Path, extra: str, expected: str
) -> None:
    said = refused_in_one_line(programs_file(tmp_path, extra))
    assert expected.replace("Value error, ", "") in said, said
