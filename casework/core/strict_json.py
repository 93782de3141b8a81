"""JSON as people hand it to us (forms, client files, directories, partners files), read
strictly: a key given twice in one object, a number longer than any field holds, and
NaN or Infinity are refused by name, instead of the last key silently winning or a
5,000-digit number failing somewhere deep inside as "unexpected"."""

from __future__ import annotations

import json
import math
from typing import Any

from casework.core.errors import UserError

MAX_DIGITS = 100  # past any field of ours; within that, each field states its own bounds


class JSONRefused(UserError, ValueError):
    """Parsed text that is not JSON we take; the message names what (one line)."""


class NotJSON(JSONRefused):
    """Text that is not JSON at all, or nested deeper than its reader takes: the message
    reads after the name of what was read ("not valid JSON (line 1 column 2: …)")."""


def parse(text: str, max_depth: int) -> Any:
    """JSON a person handed us, read strictly (as `loads`) and no deeper than `max_depth`:
    NotJSON for text that is not JSON or is too deep, JSONRefused for what `loads` refuses."""
    try:
        data = loads(text)
    except json.JSONDecodeError as exc:
        raise NotJSON(f"not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except RecursionError:  # json.loads ran out of recursion: deeper than any limit
        raise NotJSON(f"nested more than {max_depth} levels deep") from None
    if _depth(data, max_depth) > max_depth:
        raise NotJSON(f"nested more than {max_depth} levels deep")
    return data


def _depth(value: Any, limit: int, level: int = 1) -> int:
    if level > limit or not isinstance(value, (dict, list)):
        return level
    children = value.values() if isinstance(value, dict) else value
    return max((_depth(child, limit, level + 1) for child in children), default=level)


def loads(text: str) -> Any:
    """`json.loads`, strict as above: JSONRefused for what it refuses, and
    json.JSONDecodeError (a ValueError) for text that is not JSON at all."""
    return json.loads(
        text,
        object_pairs_hook=_object,
        parse_int=_int,
        parse_float=_float,
        parse_constant=_constant,
    )


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    held: dict[str, Any] = {}
    for key, value in pairs:
        if key in held:
            raise JSONRefused(f'the key "{key[:60]}" is given twice in one object')
        held[key] = value
    return held


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise JSONRefused(f"a number of {digits} digits (at most {MAX_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or len(text) > 2 * MAX_DIGITS:
        raise JSONRefused(f"a number too large or too long ({text[:20]}…)")
    return value


def _constant(text: str) -> Any:
    raise JSONRefused(f"{text} is not a number JSON allows")
