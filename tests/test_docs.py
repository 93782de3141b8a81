"""The docs as readers use them: a short README whose commands run as written, pages whose
links lead somewhere, and a configuration reference equal to the settings it describes.
(The case managers' page's commands are run, in order, by tests/flows/test_demo.py, against
the stack `casework up --demo` leaves running.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from casework.core.settings import configuration_reference
from tests.docs import DOCS, README, ROOT, command_blocks

PAGES = [README, ROOT / "bench" / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_short_and_names_a_page_for_every_reader() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    for page in ("case-managers", "program-managers", "operators", "partners", "design"):
        assert f"docs/{page}.md" in text


def test_the_configuration_reference_is_made_from_the_settings() -> None:
    """Regenerate with `python -m casework.core.settings > docs/configuration.md`."""
    assert (DOCS / "configuration.md").read_text() == configuration_reference()


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_leads_to_a_file_and_a_heading_that_are_there(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists() or (anchor and anchor not in _anchors(where)):
            broken.append(target)
    assert broken == []


def test_the_readmes_commands_run_as_written(tmp_path: Path) -> None:
    """Every command block of the README but the two commands (which `.ci/run` runs, and
    test_readme keeps equal to it) runs from the clone, in a shell whose PATH does not have
    `casework` yet: the block puts it there."""
    blocks = command_blocks(README)
    two = [b for b in blocks if "python3 -m venv .venv" in b]
    rest = [b for b in blocks if b not in two]
    assert len(two) == 2
    assert rest
    if not (ROOT / ".venv" / "bin" / "casework").exists():
        pytest.skip("the README's set-up command made no .venv in this clone")
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    env = {**os.environ, "PATH": path, "CASEWORK_DATA_DIR": str(tmp_path / "data")}
    for block in rest:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, block + "\n" + done.stderr
    assert "casework 0." in done.stdout
