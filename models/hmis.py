"""HUD's HMIS, as Casework writes it (HMIS Data Standards and CSV Format Specifications,
FY2026), from data files, not code:

- `hmis.toml`: the HMIS numbers and HUD's labels of Casework's own codes that stand for
  HMIS values (relationship to the head of household);
- `hmis_data/lists.json`: HUD's code lists the export writes and the questions offer;
- `hmis_data/elements.toml`: the data elements a HUD-funded program asks at project start
  and exit, each a question of its intake or closure form, and where the export writes it;
- `hmis_data/csv_fy2026.json`: the CSV specification's files, columns, types and required
  columns, which the export writes and its test checks it against."""

from __future__ import annotations

import json
import tomllib
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from casework.models.instruments import Code

LISTS_FILE = Path(__file__).with_name("hmis.toml")
DATA = Path(__file__).with_name("hmis_data")
PREFIX = "hmis_"  # the questions Casework asks for HMIS; a program's own may not take it
CHOSEN = "hud_"  # an answer chosen from a HUD list is kept as hud_N (N: HUD's number)
NOT_COLLECTED = 99  # "Data not collected": what HMIS records for a question not answered
At = Literal["start", "update", "exit"]


@cache
def lists() -> dict[str, dict[str, dict[str, Any]]]:
    """Each HMIS list by its CSV field name: our code -> {hmis: number, label: HUD's}."""
    return tomllib.loads(LISTS_FILE.read_text())


def number(field: str, code: str) -> int:
    """The HMIS number of one of our codes in the list of `field` (RelationshipToHoH)."""
    return int(lists()[field][code]["hmis"])


def labels() -> dict[str, str]:
    """HUD's label of each of our codes that stands for an HMIS value."""
    return {code: entry["label"] for found in lists().values() for code, entry in found.items()}


@cache
def hud_lists() -> dict[str, dict[int | str, str]]:
    """HUD's code lists by their number ("3.12"): each value's key -> its description."""
    data = json.loads((DATA / "lists.json").read_text())
    return {
        found["code"]: {value["key"]: value["description"] for value in found["values"]}
        for found in data["lists"]
    }


def hud_label(list_code: str, key: int) -> str:
    return hud_lists()[list_code][key]


class Element(BaseModel):
    """One HMIS data element a HUD-funded program asks (hmis_data/elements.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Code
    label: str
    type: Literal["choice", "yes_no", "number", "date"] = "choice"
    list: str | None = None
    min: int | None = None
    max: int | None = None
    csv: str  # FILE.Column, or Disabilities.TYPE
    at: tuple[At, ...] = Field(min_length=1)
    identity: bool

    @property
    def file(self) -> str:
        return self.csv.split(".", 1)[0]

    @property
    def column(self) -> str:
        return self.csv.split(".", 1)[1]


@cache
def elements() -> tuple[Element, ...]:
    raw = tomllib.loads((DATA / "elements.toml").read_text())
    found = tuple(Element.model_validate(entry) for entry in raw["element"])
    for element in found:
        if not element.id.startswith(PREFIX):
            raise ValueError(f"hmis_data/elements.toml: {element.id} does not start {PREFIX}")
        if (element.type == "choice") != (element.list is not None):
            raise ValueError(f"hmis_data/elements.toml: {element.id}: a choice names its list")
        if element.list is not None and element.list not in hud_lists():
            raise ValueError(f"hmis_data/elements.toml: {element.id}: no HUD list {element.list}")
    return found


def questions(at: At) -> list[dict[str, Any]]:
    """The elements asked at project `at` (start: intake details; update: a monitoring
    review; exit: closure), as a program's own fields are declared there
    (models.intake_fields.IntakeField): none required, since HMIS records what was not
    asked as "Data not collected"."""
    asked = []
    for element in elements():
        if at not in element.at:
            continue
        field: dict[str, Any] = {
            "id": element.id,
            "label": element.label,
            "type": element.type,
            "identity": element.identity,
        }
        if element.list is not None:
            field["options"] = [
                {"code": f"{CHOSEN}{key}", "label": label}
                for key, label in hud_lists()[element.list].items()
            ]
        if element.type == "number":
            field["min"], field["max"] = element.min, element.max
        if element.type == "date":
            field["past_only"] = True
        asked.append(field)
    return asked


def chosen(answer: Any) -> int | None:
    """HUD's number of an answer kept as hud_N; None when there is no such answer."""
    if isinstance(answer, str) and answer.startswith(CHOSEN):
        return int(answer.removeprefix(CHOSEN))
    return None


@cache
def csv_spec() -> dict[str, list[dict[str, Any]]]:
    """The CSV specification: each file's columns in order, with type, limit, required."""
    return dict(json.loads((DATA / "csv_fy2026.json").read_text())["files"])


def csv_version() -> str:
    return str(json.loads((DATA / "csv_fy2026.json").read_text())["version"])


def adult_on(born: date, on: date) -> bool:
    """Whether someone born on `born` is 18 or over on `on`, as HUD counts adults."""
    return (on.year, on.month, on.day) >= (born.year + 18, born.month, born.day)
