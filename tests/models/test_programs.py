"""Program configuration is refused at load when incomplete or nonsensical."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework.models.codes import Program, Stage
from casework.models.programs import DEFAULT_PROGRAMS_FILE, ProgramError, load_programs


def test_shipped_configuration_covers_every_program_and_stage() -> None:
    programs = load_programs()
    assert set(programs) == set(Program)
    assert all(set(config.sla_days) == set(Stage) for config in programs.values())


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "programs.toml"
    path.write_text(DEFAULT_PROGRAMS_FILE.read_text().replace(old, new, 1))
    return path


def test_missing_stage_sla_is_named(tmp_path: Path) -> None:
    path = _variant(tmp_path, ", closure = 7 }", " }")
    with pytest.raises(ProgramError, match="housing.*sla_days lacks closure"):
        load_programs(path)


def test_unknown_program_is_named(tmp_path: Path) -> None:
    path = _variant(tmp_path, "[housing]", "[housinq]")
    with pytest.raises(ProgramError, match="unknown program.*housinq"):
        load_programs(path)


def test_malformed_file_is_named(tmp_path: Path) -> None:
    path = _variant(tmp_path, "[housing]", "[housing")
    with pytest.raises(ProgramError, match=str(path)):
        load_programs(path)


def test_the_shipped_staff_roster_names_every_programs_supervisor_and_manager() -> None:
    from casework.models.codes import StaffRole
    from casework.models.staff import DEFAULT_STAFF_FILE, load_roster

    roster = load_roster(DEFAULT_STAFF_FILE)
    for program, config in load_programs(DEFAULT_PROGRAMS_FILE).items():
        assert roster[config.supervisor].role is StaffRole.SUPERVISOR
        assert program in roster[config.program_manager].programs
        assert any(
            m.role is StaffRole.CASE_MANAGER and program in m.programs for m in roster.values()
        ), f"no case manager for {program}"
