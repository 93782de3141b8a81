"""Fixtures of the store-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from casework.core.settings import get_settings

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneInfo]:
    """The agency keeps New York time (CASEWORK_TIMEZONE) for the test."""
    monkeypatch.setenv("CASEWORK_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    yield NEW_YORK
    monkeypatch.delenv("CASEWORK_TIMEZONE")
    get_settings.cache_clear()
