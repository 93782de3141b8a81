"""An agency's programs file, as tests write one: Casework's own with declarations added."""

from __future__ import annotations

import os
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
