"""The Resume dialog's schema for each stage, as the case's run stores it (Prefect's own
schema of the form, then shaped): what the case manager is offered, in labels."""

from __future__ import annotations

from typing import Any

import jsonschema
from prefect._internal.pydantic.v2_schema import create_v2_schema
from prefect.input.run_input import run_input_subclass_from_type

from casework.models.codes import NeedsDomain, ServiceCategory, Stage
from casework.models.dialogs import DialogContext, dialog_schema, title
from casework.models.forms import (
    ClosureForm,
    MonitoringForm,
    ReferralForm,
    ReferralRequest,
    StageForm,
)
from casework.services.stages import run_input


def _shaped(form: type[StageForm], stage: Stage, **context: Any) -> dict[str, Any]:
    base = run_input_subclass_from_type(form)
    schema = create_v2_schema(base.__name__, model_base=base)
    found = DialogContext("CASE-000042", "housing", stage, "purpose", ("cm.rivera",), **context)
    return dialog_schema(schema, form, found)


def test_a_referral_is_made_to_a_provider_chosen_from_the_programs_directory() -> None:
    shaped = _shaped(ReferralForm, Stage.REFERRAL, providers=("hope-housing", "hope-rental"))
    assert shaped["title"] == title(DialogContext("CASE-000042", "housing", Stage.REFERRAL, "", ()))
    request = shaped["definitions"]["ReferralRequest"]
    # Named in its description, not a fixed list: one imported later must be accepted.
    provider = request["properties"]["provider"]
    assert "enum" not in provider
    assert "Housing now: hope-housing, hope-rental" in provider["description"]
    assert "Housing search" in request["properties"]["service"]["enum"]
    # The need behind it: a labelled choice that may stay empty, not a "str | None" picker.
    reason = request["properties"]["reason"]
    assert "anyOf" not in reason
    assert "Income and benefits" in reason["enum"]
    assert "default" not in reason
    assert "reason" not in request.get("required", [])
    assert shaped["properties"]["submitted_by"]["enum"] == ["cm.rivera"]


def test_a_long_directory_is_named_in_part_and_directory_only_services_are_pointed_to() -> None:
    many = tuple(f"partner-{n:02d}" for n in range(30))
    shaped = _shaped(ReferralForm, Stage.REFERRAL, providers=many)
    described = shaped["definitions"]["ReferralRequest"]["properties"]["provider"]["description"]
    assert "partner-24 and 5 more; or a directory-only service from" in described
    assert "partner-25" not in described


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


def test_a_form_given_from_the_cli_fits_the_dialogs_schema() -> None:
    """Prefect's server checks a resumed form against the dialog's schema: a referral with
    no reason given, and one with a reason, both as `casework submit` hands them over, to
    a provider the directory did not have when the case started waiting."""
    shaped = _shaped(ReferralForm, Stage.REFERRAL, providers=("hope-housing",))
    for reason in (None, NeedsDomain.HOUSING):
        form = ReferralForm(
            submitted_by="cm.rivera",
            referrals=[
                ReferralRequest(
                    service=ServiceCategory.HOUSING_SEARCH, provider="new-provider", reason=reason
                )
            ],
        )
        jsonschema.validate(run_input(form), shaped)
