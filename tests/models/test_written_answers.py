"""An instrument's items answered in words: never a field of the form a run waits for (so
never in its run input or Resume dialog), taken from the form the desk or the command line
gives, checked there, and refused in one line when the declaration misuses them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from casework.core.errors import InputError
from casework.models import assessments, instruments
from casework.models.instruments import SHIPPED_DIR, InstrumentError
from casework.services.stages import run_input
from tests.programs import HOUSING_BARRIERS, agency_instrument

WORDS = "Evicted in 2023 when the landlord sold the building"
MATRIX = instruments.load(SHIPPED_DIR / "self_sufficiency_matrix.toml")
STORY = "housing_barriers.barriers.eviction_story"


@pytest.fixture
def form_type(tmp_path: Path) -> type[assessments.AssessmentForm]:
    barriers = instruments.load(agency_instrument(tmp_path))
    return assessments.form_of((MATRIX, barriers))


def _data(form_type: type[assessments.AssessmentForm], evicted: bool) -> dict[str, Any]:
    matrix = instruments.example(MATRIX)
    return {
        "submitted_by": "cm.a",
        "self_sufficiency_matrix": matrix,
        "housing_barriers": {"barriers": {"evicted": evicted, "eviction_story": WORDS}},
        "client_participated": True,
    }


def test_words_are_no_field_of_the_form_the_run_waits_for(form_type: Any) -> None:
    schema = json.dumps(form_type.model_json_schema())
    assert "eviction_story" not in schema
    # Where to give them is said, in the dialog's description of the instrument.
    assert "not here: What happened, in the client's words" in schema
    with pytest.raises(ValueError, match="eviction_story"):  # nor may the form carry them
        form_type.model_validate(_data(form_type, True))


def test_words_are_taken_out_checked_and_never_handed_to_the_run(form_type: Any) -> None:
    rest, given = assessments.take_written(form_type, _data(form_type, True))
    assert given == {STORY: WORDS}
    form = form_type.model_validate(rest)
    assert assessments.check_written(form, given) == {"housing_barriers": {"eviction_story": WORDS}}
    assert WORDS not in json.dumps(run_input(form))
    assert "eviction_story" not in form.housing_barriers.answers()  # the form's answers only


@pytest.mark.parametrize(
    ("evicted", "words", "expected"),
    [
        (False, WORDS, f"{STORY}: answer only when evicted is yes"),
        (True, "x" * (instruments.TEXT_LIMIT + 1), f"{STORY}: at most 4000 characters"),
        (True, 42, f"{STORY}: give it as words (a JSON string)"),
    ],
    ids=["not_asked", "too_long", "not_words"],
)
def test_bad_words_are_refused_in_one_line_naming_the_item(
    form_type: Any, evicted: bool, words: Any, expected: str
) -> None:
    data = _data(form_type, evicted)
    data["housing_barriers"]["barriers"]["eviction_story"] = words
    rest, given = assessments.take_written(form_type, data)
    form = form_type.model_validate(rest)
    with pytest.raises(InputError) as refused:
        assessments.check_written(form, given)
    assert str(refused.value) == f"assessment form: {expected}"


def test_blank_words_are_no_answer(form_type: Any) -> None:
    data = _data(form_type, True)
    data["housing_barriers"]["barriers"]["eviction_story"] = "   "
    rest, given = assessments.take_written(form_type, data)
    assert assessments.check_written(form_type.model_validate(rest), given) == {}


RISK_ON_WORDS = '\n[[risk]]\nlevel = "high"\nwhen = [{ item = "eviction_story", equals = "x" }]\n'
SCORE_OF_WORDS = (
    '\n[[scores]]\nid = "told"\ntitle = "Told"\nrule = "sum"\nitems = ["eviction_story"]\n'
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HOUSING_BARRIERS.replace('type = "text"\n', 'type = "text"\nrequired = true\n'),
            "items[1] (eviction_story): a text item cannot be required: the Prefect Resume "
            "dialog does not ask it",
        ),
        (
            HOUSING_BARRIERS.replace('type = "text"\n', 'type = "text"\ndomain = "housing"\n'),
            "items[1] (eviction_story): a text item speaks to no domain: only a scale item's "
            "answer is its score",
        ),
        (
            HOUSING_BARRIERS + RISK_ON_WORDS,
            "risk[0] (high): eviction_story is a text; conditions test answers that count",
        ),
        (
            HOUSING_BARRIERS + SCORE_OF_WORDS,
            "scores[0] (told): item eviction_story is a text; a score adds numbers",
        ),
    ],
    ids=["required", "domain", "condition", "score"],
)
def test_a_text_item_misused_is_refused_in_one_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = agency_instrument(tmp_path, text)
    with pytest.raises(InstrumentError) as refused:
        instruments.load(path)
    assert str(refused.value) == f"{path}: {expected}"
