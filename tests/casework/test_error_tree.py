"""One error tree: every error Casework raises derives from CaseworkError, every error a
user can cause is a UserError, and a user error about one input names that input in the
services' word, which each surface turns into its own (the CLI its flag, a run form its
parameter)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from casework.cli import flag_for
from casework.core.errors import CaseworkError, UserError


def _project_exceptions() -> list[type[BaseException]]:
    found = []
    package = importlib.import_module("casework")
    names = ["casework"] + [
        m.name
        for m in pkgutil.walk_packages(package.__path__, "casework.")
        if ".migrations" not in m.name and not m.name.endswith("__main__")
    ]
    for name in names:
        module = importlib.import_module(name)
        found += [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, BaseException)
            and value.__module__ == name
        ]
    return found


def test_every_error_casework_defines_has_the_one_base() -> None:
    errors = _project_exceptions()
    assert len(errors) >= 30
    outside = sorted(e.__qualname__ for e in errors if not issubclass(e, CaseworkError))
    assert outside == []


@pytest.mark.parametrize(
    ("field", "argv", "flag"),
    [
        ("notice_date", ["notice", "CASE-000001"], "--notice-date"),
        ("effective", ["notice", "CASE-000001", "--effective", "2026-01-01"], "--effective"),
        ("case_number", ["sweep", "--watch", "benefits"], "--case"),
        ("to_staff", ["transfer", "CASE-000001"], "--to"),
        ("stage", ["reassess", "CASE-000001"], "stage"),  # not an input of the command
        ("role", ["staff", "add", "cm.new"], "--role"),  # a subcommand's subcommand
        ("case_number", ["show", "CASE-000001"], "case_number"),  # a positional argument
    ],
)
def test_the_command_line_names_a_field_by_its_flag(field: str, argv: list[str], flag: str) -> None:
    assert flag_for(field, argv) == flag


def test_a_user_error_keeps_its_field_apart_from_its_line() -> None:
    error = UserError("2026-01-01 is before the notice date 2026-02-01", field="effective")
    assert str(error) == "2026-01-01 is before the notice date 2026-02-01"
    assert error.field == "effective"
    assert not CaseworkError("x").end_at_once
