"""An agency's programs file, as tests write one: Casework's own with declarations added."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from casework.core.settings import get_settings
from casework.models.programs import DEFAULT_PROGRAMS_FILE, ProgramError, load_programs


def programs_file(folder: Path, extra: str = "", housing: str = "") -> Path:
    """Casework's programs file with `extra` declarations appended and `housing` lines put
    at the top of the housing program's entry."""
    path = folder / "programs.toml"
    text = DEFAULT_PROGRAMS_FILE.read_text().replace("[housing]\n", f"[housing]\n{housing}", 1)
    path.write_text(text + extra)
    return path


def refused_in_one_line(path: Path) -> str:
    """Why the file at `path` is refused: one line, beginning with the file's name."""
    with pytest.raises(ProgramError) as refused:
        load_programs(path)
    said = str(refused.value)
    assert "\n" not in said
    assert said.startswith(f"{path}: ")
    return said


@contextmanager
def configured(path: Path) -> Iterator[Path]:
    """`path` as CASEWORK_PROGRAMS_FILE while the block runs, then what was set before."""
    before = os.environ.get("CASEWORK_PROGRAMS_FILE")
    os.environ["CASEWORK_PROGRAMS_FILE"] = str(path)
    get_settings.cache_clear()
    try:
        yield path
    finally:
        if before is None:
            del os.environ["CASEWORK_PROGRAMS_FILE"]
        else:
            os.environ["CASEWORK_PROGRAMS_FILE"] = before
        get_settings.cache_clear()


# An agency's own instrument, with an item answered in words (asked when a yes/no says so).
HOUSING_BARRIERS = """\
id = "housing_barriers"
title = "Housing barriers"
version = 1
source = "The agency's own (tests)"
licence = "The agency's own"

[[sections]]
id = "barriers"
title = "Barriers to housing"

[[items]]
id = "evicted"
section = "barriers"
label = "Evicted in the past five years"
type = "yes_no"
required = false

[[items]]
id = "eviction_story"
section = "barriers"
label = "What happened, in the client's words"
type = "text"
show_if = { item = "evicted", equals = true }

[[items]]
id = "housing_stability"
section = "barriers"
label = "How settled the client feels where they live"
type = "scale"
min = 1
max = 5
anchors = { 1 = "not at all", 5 = "fully" }
required = false

[[items]]
id = "evicted_on"
section = "barriers"
label = "When the eviction happened"
type = "date"
past_only = true
required = false
show_if = { item = "evicted", equals = true }
"""


def agency_instrument(folder: Path, text: str = HOUSING_BARRIERS) -> Path:
    """`text` as an instrument of the agency's own, beside its programs file in `folder`."""
    directory = folder / "instruments"
    directory.mkdir(exist_ok=True)
    path = directory / f"{tomllib.loads(text)['id']}.toml"
    path.write_text(text)
    return path
