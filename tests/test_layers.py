"""The layer contract covers the whole house: every module of the project is in one of
`.importlinter`'s layers, so a new module cannot stand outside the contract (and import
anything) unnoticed. `lint-imports` (in .ci/run) checks the contract itself."""

from __future__ import annotations

import configparser
import importlib
import pkgutil
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
    found = []
    for top in ("casework", "models", "tasks", "flows", "deployments"):
        package = importlib.import_module(top)
        found.append(top)
        found += [m.name for m in pkgutil.walk_packages(package.__path__, f"{top}.")]
    return found


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
    assert layers[-1] == ["casework.core"]
    assert [["tasks"], ["casework.services"], ["models"]] == layers[2:5]
