"""The one clock. Every rule that depends on the date takes `as_of`; what is recorded as
happening now is recorded at this."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
