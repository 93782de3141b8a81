"""Text a person typed, checked at the edge: no control characters (a NUL, an escape
sequence or a carriage return would be stored and later printed raw to someone's
terminal or document), and for one-line fields no line breaks either."""

from __future__ import annotations

import unicodedata

from pydantic import AfterValidator

_PROSE_ALLOWED = {"\n", "\t"}


def _control_characters(value: str, allowed: set[str]) -> bool:
    return any(
        unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} and ch not in allowed for ch in value
    )


def one_line(value: str) -> str:
    if _control_characters(value, set()):
        raise ValueError("must be one line of text without control characters")
    return value


def prose(value: str) -> str:
    if _control_characters(value, _PROSE_ALLOWED):
        raise ValueError("must be text without control characters (line breaks and tabs are fine)")
    return value


# Markers for Annotated[str, ...] fields.
OneLine = AfterValidator(one_line)
NoControls = AfterValidator(prose)
