"""A household of three through `casework intake --member` on the real stack: the head's
case starts its run and waits, the child and the partner are registered with it (each
through the duplicate check), the household reads back through `household` and `show`,
and no member's identity reaches a Prefect surface. A likely duplicate member stops the
whole intake before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from casework.cli import main
from casework.core.db import session_scope
from casework.models.orm import Case, Client
from tests import factories
from tests.polling import wait_for
from tests.prefect_surfaces import identity_strings, surfaces_text

pytestmark = pytest.mark.prefect


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _counts() -> tuple[int | None, int | None]:
    with session_scope() as session:
        cases = session.scalar(select(func.count(Case.id)))
        return cases, session.scalar(select(func.count(Client.id)))


def _file(tmp_path: Path, name: str, person: object) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(person.model_dump(mode="json")))  # type: ignore[attr-defined]
    return path


def test_a_household_of_three_comes_in_through_intake(capsys, stack: str, tmp_path: Path) -> None:
    head, child, partner = factories.client_in(), factories.client_in(), factories.client_in()
    files = [
        _file(tmp_path, n, p) for n, p in (("head", head), ("child", child), ("partner", partner))
    ]
    code, out, err = _cli(
        capsys,
        "intake",
        "--program",
        "housing",
        "--file",
        str(files[0]),
        "--member",
        f"child={files[1]}",
        "--member",
        f"spouse_partner={files[2]}",
        "--json",
    )
    assert code == 0, err
    opened = json.loads(out)
    number = opened["case_number"]
    code, out, err = _cli(capsys, "household", number)
    assert code == 0, err
    assert f"{head.given_name} {head.family_name}" in out
    born = f"{child.given_name} {child.family_name}, born {child.date_of_birth}"
    assert f"{born}: Head of household's child" in out
    assert f"{partner.given_name} {partner.family_name}" in out
    assert "Head of household's spouse or partner" in out
    code, shown, err = _cli(capsys, "show", number)
    assert code == 0, err
    assert "household HH-" in shown

    # The case's run waits as any case's does; no member is named on any Prefect surface.
    def waiting() -> bool:
        code, out, _ = _cli(capsys, "show", number, "--json")
        return code == 0 and json.loads(out)["flow_run_id"] is not None

    wait_for("the case's run", waiting)
    code, out, _ = _cli(capsys, "show", number, "--json")
    run_id = json.loads(out)["flow_run_id"]
    seen = surfaces_text(stack, [run_id])
    for person in (head, child, partner):
        for value in identity_strings(person):
            assert value not in seen

    # A member likely registered already stops the whole intake: no case, no client.
    with session_scope() as session:
        before = (
            session.scalar(select(func.count(Case.id))),
            session.scalar(select(func.count(Client.id))),
        )
    newcomer = _file(tmp_path, "newcomer", factories.client_in())
    code, _, err = _cli(
        capsys,
        "intake",
        "--program",
        "housing",
        "--file",
        str(newcomer),
        "--member",
        f"child={files[1]}",
    )
    assert code == 1
    assert err.count("\n") == 1
    assert "member: the child is likely registered already as CLIENT-" in err
    with session_scope() as session:
        after = (
            session.scalar(select(func.count(Case.id))),
            session.scalar(select(func.count(Client.id))),
        )
    assert after == before
