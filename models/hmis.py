"""HUD's HMIS codes that Casework's codes stand for (`models/hmis.toml`): the number the
HMIS CSV export writes for each of our codes, and HUD's label, which Casework shows."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LISTS_FILE = Path(__file__).with_name("hmis.toml")


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
