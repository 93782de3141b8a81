"""A program's own goals, declared in its programs-file entry: offered by its plan and
monitoring forms (and only by its own), labelled as declared everywhere, refused in one line
when they clash with a goal or label that exists."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from casework.core.settings import get_settings
from casework.models.codes import Program, Stage
from casework.models.lifecycle import form_for, wait_tag
from tests.programs import configured, programs_file, refused_in_one_line

VOUCHER = """
[[housing.goals]]
code = "obtain_housing_voucher"
domain = "housing"
label = "Obtain a housing voucher"
measure = "voucher issued"
"""
SHOWN = "Housing: obtain a housing voucher (voucher issued)"


@pytest.fixture
def with_voucher(tmp_path: Path) -> Iterator[Path]:
    with configured(programs_file(tmp_path, VOUCHER)) as path:
        yield path


def _plan(objective: str) -> dict[str, object]:
    target = str(date.today() + timedelta(days=60))
    return {
        "submitted_by": "cm.a",
        "goals": [{"objective": objective, "target_date": target}],
        "client_participated": True,
        "agreed_on": str(date.today()),
    }


def test_a_programs_own_goal_is_offered_by_its_forms_only(with_voucher: Path) -> None:
    housing = form_for(Stage.PLAN, Program.HOUSING)
    assert housing is not None
    plan = housing.model_validate(_plan("obtain_housing_voucher"))
    [goal] = plan.goals  # type: ignore[attr-defined]
    assert (goal.domain.value, goal.objective.value) == ("housing", "obtain_housing_voucher")
    # A Resume dialog sends the goal's label; the form keeps its code.
    assert housing.model_validate(_plan(SHOWN)) == plan
    geriatric = form_for(Stage.PLAN, Program.GERIATRIC)
    assert geriatric is not None
    with pytest.raises(ValidationError, match="goals.0.objective"):
        geriatric.model_validate(_plan("obtain_housing_voucher"))
    review = form_for(Stage.MONITORING, Program.HOUSING)
    assert review is not None
    review.model_validate(
        {
            "submitted_by": "cm.a",
            "decision": "continue",
            "goal_updates": [{"objective": "obtain_housing_voucher", "status": "met"}],
        }
    )
    # Casework's own goals stay every program's.
    housing.model_validate(_plan("secure_permanent_housing"))


def test_a_programs_own_goal_is_labelled_as_declared_and_named_in_its_dialog(
    with_voucher: Path,
) -> None:
    from casework.models.dialogs import DialogContext, dialog_schema
    from casework.models.labels import label

    form = form_for(Stage.PLAN, Program.HOUSING)
    assert form is not None
    assert label("obtain_housing_voucher") == SHOWN
    context = DialogContext("CASE-000001", "housing", Stage.PLAN, "plan", ("cm.a",), ("housing",))
    from prefect.input.run_input import run_input_subclass_from_type

    from casework.core.prefect_private import form_schema

    stored = form_schema(run_input_subclass_from_type(form))  # as the flow stores it
    schema = dialog_schema(stored, form, context)
    text = str(schema)
    assert SHOWN in text  # a choice, and one that answers the housing crisis
    assert "obtain_housing_voucher" not in text


def test_adding_goals_carries_over_the_runs_waiting_at_plan(tmp_path: Path) -> None:
    """A case waiting at plan under the catalogue before is carried over by the restart."""
    get_settings.cache_clear()
    before = wait_tag(Stage.PLAN, Program.HOUSING)
    assert before == "wait:plan.v1.l1"  # no goals of its own: as every release had it
    with configured(programs_file(tmp_path, VOUCHER)):
        after = wait_tag(Stage.PLAN, Program.HOUSING)
        assert after != before
        assert after.startswith("wait:plan.v1.g")
        assert wait_tag(Stage.PLAN, Program.GERIATRIC) == before
        assert wait_tag(Stage.MONITORING, Program.HOUSING).startswith("wait:monitoring.v1.g")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            VOUCHER.replace("obtain_housing_voucher", "secure_permanent_housing"),
            "housing: goals[0] (secure_permanent_housing): "
            "secure_permanent_housing is one of Casework's own goals",
        ),
        (VOUCHER + VOUCHER, "goals[1] (obtain_housing_voucher): declared twice"),
        (VOUCHER.replace('"housing"', '"shelter"'), "housing.goals.0.domain: Input should be"),
        (
            VOUCHER.replace("obtain_housing_voucher", "housing"),
            "housing.goals[0] (housing): housing is already a code, labelled 'Housing'",
        ),
        (
            VOUCHER.replace("Obtain a housing voucher", "Secure permanent housing")
            .replace("voucher issued", "lease signed and moved in")
            .replace("obtain_housing_voucher", "secure_housing_again"),
            "the label 'Housing: secure permanent housing (lease signed and moved in)' is "
            "already secure_permanent_housing's",
        ),
    ],
    ids=["shipped", "twice", "domain", "code", "label"],
)
def test_a_mistaken_goal_is_refused_in_one_line(tmp_path: Path, extra: str, expected: str) -> None:
    said = refused_in_one_line(programs_file(tmp_path, extra))
    assert expected in said, said
