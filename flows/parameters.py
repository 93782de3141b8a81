"""The deployments' parameters, each with the title and description the Prefect UI's run
form shows beside it. Coded values only: a case number, a reason code, a staff id, a time.

Prefect titles a parameter by its name and takes its description from the default's
`Field`; the title is put back through the field's `json_schema_extra`, which Prefect keeps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from casework.core.settings import STAFF_ID_PATTERN
from casework.models.codes import ReassessmentReason
from casework.models.labels import CODES, label

CaseNumber = Annotated[str, Field(pattern=r"^CASE-\d{6,}$")]
StaffIdParameter = Annotated[str, Field(pattern=STAFF_ID_PATTERN)]
# Chosen by its label in the run form; the CLI's code is accepted too.
Reason = Annotated[
    ReassessmentReason,
    BeforeValidator(lambda value: CODES.get(value, value) if isinstance(value, str) else value),
    WithJsonSchema({"type": "string", "enum": [label(reason) for reason in ReassessmentReason]}),
]


def parameter(title: str, description: str, default: Any = ...) -> Any:
    """A parameter's default, carrying its title and description for the run form."""
    return Field(default, description=description, json_schema_extra={"title": title})


def _case_number(what: str) -> Any:
    return parameter("Case number", f"{what}, by its number only (e.g. CASE-000001)")


AsOf = datetime | None
Weeks = Annotated[int, Field(ge=1, le=104)]
# The parameters' defaults (Prefect reads each one's title and description from here).
CASE = _case_number("the case")
CASE_TO_REASSESS = _case_number(
    "the case (at plan, referral or monitoring) to send back to assessment"
)
ESCALATED_CASE = _case_number("the escalated case")
ONLY_CASE = parameter(
    "Only this case", "sweep one case, by its number (empty: the whole caseload)", None
)
EPISODE = parameter("Episode", "the case's episode: 1, then one more at each reopening", 1)
AS_OF = parameter(
    "As of",
    "look at the caseload as it stands at this time, UTC (empty: now; a later date shows "
    "what will be due by then)",
    None,
)
WEEKS = parameter(
    "Weeks of trends", "how many weeks of weekly trends, ending with this week (1 to 104)", 12
)
REASON = parameter("Reason", "why the case goes back to assessment")
REQUESTED_BY = parameter("Requested by", "your staff id, as on the staff roster (e.g. sup.housing)")
