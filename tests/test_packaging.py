"""What installing Casework puts in site-packages: `casework` alone. flows/, tasks/,
models/ and deployments/ stay at the top of the repository and are installed as
casework.flows and so on, so that no other project's `models` meets ours."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_casework_alone_with_its_folders_and_data(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("casework-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "casework",
        wheel.name.split("-py")[0] + ".dist-info",
    }
    for folder in ("flows", "tasks", "models", "deployments"):
        assert f"casework/{folder}/__init__.py" in names
    assert "casework/models/staff.toml" in names
    for data in ("lists.json", "csv_fy2026.json", "elements.toml"):  # HUD's HMIS, as data
        assert f"casework/models/hmis_data/{data}" in names
    assert "casework/flows/case_lifecycle.py" in names
    assert "casework/migrations/env.py" in names
    assert "casework/templates/closure.j2" in names


def test_the_installed_project_offers_no_top_level_models() -> None:
    """Outside the checkout (as a flow run's process may be), only casework imports."""
    probe = (
        "import importlib.util, casework.models.codes; "
        "print([n for n in ('models', 'flows', 'tasks', 'deployments') "
        "if importlib.util.find_spec(n) is not None])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd="/", check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_worker_sees_every_folder_of_the_code_from_anywhere() -> None:
    """The worker starts a new template when the code changes (a deploy): run from outside
    the checkout, as `casework up` is, it still looks at flows, tasks, models and
    deployments (links inside casework, which a walk of casework alone would not follow)."""
    probe = "from casework.worker import code_fingerprint; print(code_fingerprint()[1])"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd="/", check=True
    )
    folders = ("casework", "flows", "tasks", "models", "deployments")
    files = {
        path.resolve()
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")  # the links themselves are not followed
    }
    assert int(done.stdout) == len(files)
