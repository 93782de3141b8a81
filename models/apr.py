"""The headline counts of HUD's Annual Performance Report, from the HMIS export's own rows
(models.hmis_export.Rows), so the counts and the CSV files a funder receives agree:

- persons served, by household type (APR Q7a): a household is "adults only", "adults and
  children" or "children only" by the ages of its members at their start; "unknown" when
  anyone's age is unknown;
- leavers by destination class (APR Q23c): HMIS 3.12's number ranges, 100s homeless,
  200s institutional, 300s temporary, 400s permanent, any other number "other";
- length of participation (APR Q22a1): days from entry to exit, or to the period's end for
  those still enrolled (stayers), in the APR's brackets;
- income change from start to exit (APR Q19a, for adult leavers): total monthly income
  at exit above, equal to or below that at start; "not recorded" when either is missing.

Counts only: no one's identity, so a program manager may run them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from statistics import median
from typing import Any

from casework.models.hmis_export import Rows

HOUSEHOLD_TYPES = ("adults only", "adults and children", "children only", "unknown")
DESTINATION_CLASSES = ("permanent", "temporary", "institutional", "homeless", "other")
STAY_BRACKETS = (
    (30, "30 days or less"),
    (60, "31 to 60 days"),
    (90, "61 to 90 days"),
    (180, "91 to 180 days"),
    (365, "181 to 365 days"),
    (730, "366 to 730 days"),
    (1095, "731 to 1,095 days"),
    (None, "more than 1,095 days"),
)
INCOME_CHANGES = ("increased", "same", "decreased", "not recorded")


@dataclass
class Counts:
    start: date
    end: date
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def destination_class(number: int) -> str:
    """HMIS 3.12's class of a destination number (8, 9, 17, 24, 30 and 99 are "other")."""
    return {1: "homeless", 2: "institutional", 3: "temporary", 4: "permanent"}.get(
        number // 100, "other"
    )


def household_type(adults: list[bool | None]) -> str:
    if any(a is None for a in adults) or not adults:
        return "unknown"
    if all(adults):
        return "adults only"
    if any(adults):
        return "adults and children"
    return "children only"


def bracket(days: int) -> str:
    for most, words in STAY_BRACKETS:
        if most is None or days <= most:
            return words
    raise AssertionError("the last bracket has no upper bound")


def count(rows: Rows, start: date, end: date) -> Counts:
    enrollments = rows.files.get("Enrollment", [])
    exits = {e["EnrollmentID"]: e for e in rows.files.get("Exit", [])}
    counts = Counts(start, end)
    counts.sections["persons served by household type"] = _served(rows, enrollments)
    counts.sections["leavers by destination"] = _destinations(exits)
    counts.sections["length of participation"] = _lengths(enrollments, exits, end)
    counts.sections["income change from start to exit, adult leavers"] = _income_change(rows, exits)
    return counts


def _served(rows: Rows, enrollments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    members: dict[str, list[bool | None]] = {}
    for enrollment in enrollments:
        members.setdefault(enrollment["HouseholdID"], []).append(
            rows.adult.get(enrollment["EnrollmentID"])
        )
    kinds = {household: household_type(adults) for household, adults in members.items()}
    served: dict[str, Counter[str]] = {kind: Counter() for kind in HOUSEHOLD_TYPES}
    counted: set[tuple[str, str]] = set()
    for enrollment in enrollments:
        person = (enrollment["PersonalID"], enrollment["HouseholdID"])
        if person in counted:
            continue
        counted.add(person)
        adult = rows.adult.get(enrollment["EnrollmentID"])
        tally = served[kinds[enrollment["HouseholdID"]]]
        tally["unknown_age" if adult is None else ("adults" if adult else "children")] += 1
        tally["persons"] += 1
        tally["households"] += enrollment["RelationshipToHoH"] == 1
    served["total"] = sum(served.values(), Counter())
    return [
        {"household_type": kind}
        | {
            key: tally[key]
            for key in ("households", "persons", "adults", "children", "unknown_age")
        }
        for kind, tally in served.items()
    ]


def _destinations(exits: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    classes = Counter(destination_class(e["Destination"]) for e in exits.values())
    leavers = len(exits)
    return [
        {"destination": kind, "leavers": classes[kind], "share": _share(classes[kind], leavers)}
        for kind in DESTINATION_CLASSES
    ] + [{"destination": "total", "leavers": leavers, "share": _share(leavers, leavers)}]


def _lengths(
    enrollments: list[dict[str, Any]], exits: dict[str, dict[str, Any]], end: date
) -> list[dict[str, Any]]:
    stays: dict[str, Counter[str]] = {"leavers": Counter(), "stayers": Counter()}
    days_of: dict[str, list[int]] = {"leavers": [], "stayers": []}
    for enrollment in enrollments:
        left = exits.get(enrollment["EnrollmentID"])
        who = "leavers" if left else "stayers"
        days = ((left["ExitDate"] if left else end) - enrollment["EntryDate"]).days
        stays[who][bracket(days)] += 1
        days_of[who].append(days)
    return [
        {"days": words, "leavers": stays["leavers"][words], "stayers": stays["stayers"][words]}
        for _, words in STAY_BRACKETS
    ] + [
        {
            "days": "median days",
            "leavers": _median(days_of["leavers"]),
            "stayers": _median(days_of["stayers"]),
        }
    ]


def _income_change(rows: Rows, exits: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    incomes: dict[tuple[str, int], Decimal | None] = {}
    for income in rows.files.get("IncomeBenefits", []):
        amount = income["TotalMonthlyIncome"]
        key = (income["EnrollmentID"], income["DataCollectionStage"])
        incomes[key] = None if amount is None else Decimal(amount)
    change: Counter[str] = Counter()
    for enrollment_id in exits:
        if rows.adult.get(enrollment_id) is not True:
            continue
        at_start, at_exit = incomes.get((enrollment_id, 1)), incomes.get((enrollment_id, 3))
        if at_start is None or at_exit is None:
            change["not recorded"] += 1
        elif at_exit > at_start:
            change["increased"] += 1
        elif at_exit == at_start:
            change["same"] += 1
        else:
            change["decreased"] += 1
    adult_leavers = sum(change.values())
    return [
        {"change": kind, "adults": change[kind], "share": _share(change[kind], adult_leavers)}
        for kind in INCOME_CHANGES
    ]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _median(days: list[int]) -> int | float | str:
    return median(days) if days else "-"
