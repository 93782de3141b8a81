"""The environment is the locked one: every package `requirements.lock` pins is installed
at exactly that version, so what the tests pass on is what a new machine gets."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.version import Version

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)")


def _pins() -> dict[str, str]:
    return {
        m.group(1): m.group(2) for line in LOCK.read_text().splitlines() if (m := PIN.match(line))
    }


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    pins = _pins()
    assert {"prefect", "sqlalchemy", "fastapi", "pydantic"} <= set(pins)
    wrong = {
        name: (pinned, installed(name))
        for name, pinned in pins.items()
        if installed(name) is None or Version(installed(name) or "0") != Version(pinned)
    }
    assert wrong == {}, "reinstall from the lock: pip install -c requirements.lock -e '.[dev]'"


def test_the_lock_keeps_the_pins_prefect_3_8_needs() -> None:
    pins = _pins()
    assert Version("3.8") <= Version(pins["prefect"]) < Version("3.9")
    assert Version(pins["sqlalchemy"]) < Version("2.1")  # 2.1 breaks Prefect's scheduler
    assert Version(pins["fastapi"]) < Version("0.151")  # newer breaks Prefect's server
