"""Stage forms travel on Prefect surfaces: they must not be able to carry free text."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from casework.models.codes import NeedsDomain, Objective
from casework.models.forms import Goal
from casework.models.lifecycle import STAGES
from tests import factories


def _string_leaves(schema: dict[str, Any], defs: dict[str, Any], path: str = "") -> list[str]:
    """Paths of string fields in a JSON schema that accept arbitrary text."""
    if "$ref" in schema:
        return _string_leaves(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, path)
    found: list[str] = []
    for option in schema.get("anyOf", []):
        found += _string_leaves(option, defs, path)
    if schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            found += _string_leaves(sub, defs, f"{path}.{name}")
    if schema.get("type") == "array":
        found += _string_leaves(schema["items"], defs, f"{path}[]")
    if schema.get("type") == "string" and not ({"enum", "pattern", "format"} & set(schema)):
        found.append(path)
    return found


@pytest.mark.parametrize("stage", [s for s, spec in STAGES.items() if spec.form is not None])
def test_stage_forms_accept_no_free_text(stage: Any) -> None:
    form = STAGES[stage].form
    assert form is not None
    schema = form.model_json_schema()
    assert _string_leaves(schema, schema.get("$defs", {})) == []


def test_forms_refuse_unknown_fields() -> None:
    data = factories.closure().model_dump(mode="json") | {"summary": "Client moved to Ohio"}
    with pytest.raises(ValidationError, match="summary"):
        type(factories.closure()).model_validate(data)


def test_goal_objective_must_belong_to_its_domain() -> None:
    with pytest.raises(ValidationError, match="belongs to domain housing"):
        Goal(
            domain=NeedsDomain.FOOD,
            objective=Objective.SECURE_PERMANENT_HOUSING,
            target_date="2027-01-01",
        )


def test_scores_stay_on_the_scale() -> None:
    given = factories.assessment().model_dump(mode="json")
    given["self_sufficiency_matrix"]["scores"]["housing"] = 7
    with pytest.raises(ValidationError, match="self_sufficiency_matrix.scores.housing"):
        type(factories.assessment()).model_validate(given)
