"""The layer contract covers the whole house: every module of the project is in one of
`.importlinter`'s layers, so a new module cannot stand outside the contract (and import
anything) unnoticed. `lint-imports` (in .ci/run) checks the contract itself."""

from __future__ import annotations

import configparser
import importlib
import pkgutil
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = {"casework", "casework.examples"}  # the package itself (its version); data files


def _layers() -> list[list[str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    contract = config["importlinter:contract:layers"]
    return [
        [name.strip() for name in line.replace("|", ":").split(":")]
        for line in contract["layers"].strip().splitlines()
    ]


def _modules() -> list[str]:
    package = importlib.import_module("casework")
    return ["casework"] + [m.name for m in pkgutil.walk_packages(package.__path__, "casework.")]


def test_every_module_is_in_a_layer_of_the_contract() -> None:
    layers = [name for layer in _layers() for name in layer]
    outside = [
        module
        for module in _modules()
        if module not in OUTSIDE
        and not any(module == name or module.startswith(name + ".") for name in layers)
    ]
    assert outside == []


def test_the_layers_run_from_the_interfaces_down_to_the_floor() -> None:
    layers = _layers()
    assert "casework.cli" in layers[0]
    assert layers[1] == ["casework.flows", "casework.deployments"]
    assert layers[2:] == [
        ["casework.tasks"],
        ["casework.services"],
        ["casework.models"],
        ["casework.core"],
    ]


TOP_LEVEL = re.compile(r"^\s*(from|import) (models|flows|tasks|deployments)\b", re.MULTILINE)


def test_nothing_imports_the_top_level_folders_beside_casework() -> None:
    """flows/, tasks/, models/ and deployments/ are casework.flows and so on: imported by
    their top-level names too, they would load a second copy of each module (two ORMs, two
    sets of settings). `lint-imports` holds casework to it; this, the rest of the tree."""
    found = []
    for folder in ("tests", "bench", "deploy", "casework/migrations"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text()
            found += [
                f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
                for m in TOP_LEVEL.finditer(text)
            ]
    assert found == []
