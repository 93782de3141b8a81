"""The Resume dialog's schema for each stage, as the case's run stores it (Prefect's own
schema of the form, then shaped): what the case manager is offered, in labels."""

from __future__ import annotations

from typing import Any

from prefect._internal.pydantic.v2_schema import create_v2_schema
from prefect.input.run_input import run_input_subclass_from_type

from models.codes import Stage
from models.dialogs import DialogContext, dialog_schema, title
from models.forms import ClosureForm, MonitoringForm, ReferralForm, StageForm


def _shaped(form: type[StageForm], stage: Stage, **context: Any) -> dict[str, Any]:
    base = run_input_subclass_from_type(form)
    schema = create_v2_schema(base.__name__, model_base=base)
    found = DialogContext("CASE-000042", "housing", stage, "purpose", ("cm.rivera",), **context)
    return dialog_schema(schema, form, found)


def test_a_referral_is_made_to_a_provider_chosen_from_the_programs_directory() -> None:
    shaped = _shaped(ReferralForm, Stage.REFERRAL, providers=("hope-housing", "hope-rental"))
    assert shaped["title"] == title(DialogContext("CASE-000042", "housing", Stage.REFERRAL, "", ()))
    request = shaped["definitions"]["ReferralRequest"]
    assert request["properties"]["provider"]["enum"] == ["hope-housing", "hope-rental"]
    assert "Housing search" in request["properties"]["service"]["enum"]
    # The need behind it: a labelled choice that may stay empty, not a "str | None" picker.
    reason = request["properties"]["reason"]
    assert "anyOf" not in reason
    assert "Income and benefits" in reason["enum"]
    assert "default" not in reason
    assert "reason" not in request.get("required", [])
    assert shaped["properties"]["submitted_by"]["enum"] == ["cm.rivera"]


def test_monitoring_and_closure_offer_their_choices_by_label() -> None:
    monitoring = _shaped(MonitoringForm, Stage.MONITORING)
    assert monitoring["properties"]["decision"]["enum"] == [
        "Continue monitoring",
        "Reassess",
        "Revise the plan",
        "Close the case",
    ]
    closure = _shaped(ClosureForm, Stage.CLOSURE)
    assert "Goals met" in closure["properties"]["reason"]["enum"]
    assert "goals_met" not in closure["properties"]["reason"]["enum"]
