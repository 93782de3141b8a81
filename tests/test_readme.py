"""The docs document the lifecycle from its one declaration; CI runs the README's test
command."""

from pathlib import Path

from casework.models.lifecycle import lifecycle_table


def test_readme_lifecycle_table_matches_the_declaration() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "case-managers.md").read_text()
    assert lifecycle_table() in page


def test_ci_runs_the_readmes_test_command_and_both_commands_install_from_the_lock() -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    commands = [line.strip() for line in readme.splitlines() if "python3 -m venv .venv" in line]
    assert len(commands) == 2
    assert all("pip install -c requirements.lock -e '.[dev]'" in c for c in commands)
    test_command = next(c for c in commands if ".venv/bin/pytest" in c)
    assert test_command in (root / ".ci" / "run").read_text().splitlines()
