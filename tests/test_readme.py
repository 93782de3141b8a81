"""The README documents the lifecycle from its one declaration."""

from pathlib import Path

from models.lifecycle import lifecycle_table


def test_readme_lifecycle_table_matches_the_declaration() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert lifecycle_table() in readme
