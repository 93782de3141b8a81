"""Households through the command line and the store: a household of three registered with
its case, shown by `household`, `show` and the service plan; a member who leaves and one
who moves to another household, their history kept; a merge that carries a member's stays;
bad input refused in one line with nothing written; HUD's codes for the relationships.
Intake with members on the real stack: tests/flows/test_households.py; what each role sees
on PostgreSQL: tests/casework/test_access.py."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from casework.cli import main
from casework.core.db import migrate, session_scope
from casework.models import cases, clients, hmis
from casework.models.codes import HouseholdRelationship, Program, Stage
from casework.models.orm import HouseholdMember
from casework.models.schemas import ClientIn
from casework.services import cases as case_service
from tests import factories

TODAY = date.today()


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    return out


def _person(tmp_path: Path, given: str, family: str, born: str) -> tuple[ClientIn, Path]:
    data = {
        "given_name": given,
        "family_name": family,
        "date_of_birth": born,
        "contact_preference": "phone",
    }
    path = tmp_path / f"{given}-{family}.json"
    path.write_text(json.dumps(data))
    return ClientIn.model_validate(data), path


def _household_case(tmp_path: Path, family: str) -> tuple[str, list[str]]:
    """A housing case opened, as intake's store half does, with a child and a partner."""
    head, _ = _person(tmp_path, "Maria", family, "1985-03-01")
    child, _ = _person(tmp_path, "Ana", family, "2015-06-02")
    partner, _ = _person(tmp_path, "Jorge", f"{family}z", "1983-01-09")
    position, number = case_service.open_case(
        head,
        Program.HOUSING,
        "cm.tester",
        "tester",
        members=[
            (HouseholdRelationship.CHILD, child),
            (HouseholdRelationship.SPOUSE_PARTNER, partner),
        ],
    )
    with session_scope() as session:
        case = cases.get_case(session, position.case_number)
        numbers = [clients.client_number_for(s.client_id) for s in _stays(session, case)]
    assert numbers[0] == number
    return position.case_number, numbers


def _stays(session, case):  # type: ignore[no-untyped-def]
    query = select(HouseholdMember).where(HouseholdMember.household_id == case.household_id)
    return list(session.scalars(query.order_by(HouseholdMember.id)))


def test_a_household_of_three_is_registered_with_its_case_and_shown(capsys, tmp_path: Path) -> None:
    family = factories.unique_word("Lopez")
    case_number, (head, child, partner) = _household_case(tmp_path, family)
    out = _ok(capsys, "household", case_number)
    lines = out.splitlines()
    assert lines[0].startswith("household HH-")
    assert lines[0].endswith(f"of {case_number}:")
    assert (
        lines[1]
        == f"  {head} Maria {family}, born 1985-03-01: Self (head of household), from {TODAY}"
    )
    assert (
        lines[2]
        == f"  {child} Ana {family}, born 2015-06-02: Head of household's child, from {TODAY}"
    )
    assert "Head of household's spouse or partner" in lines[3]
    shown = _ok(capsys, "show", case_number)
    assert f"  {child} Ana {family}, born 2015-06-02: Head of household's child" in shown
    as_json = json.loads(_ok(capsys, "show", case_number, "--json"))
    assert [m["relationship"] for m in as_json["household"]] == ["head", "child", "spouse_partner"]
    # The service plan lists the household's members; the referral letter never does.
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        factories.walk_to(session, case, Stage.REFERRAL, datetime.now(UTC))
    plan = Path(_ok(capsys, "doc", case_number, "plan").split(" (sha256")[0]).read_text()
    assert "## Household" in plan
    assert f"| Ana {family} | {child} | Head of household's child | {TODAY} |" in plan


def test_a_member_leaves_and_another_moves_with_the_history_kept(capsys, tmp_path: Path) -> None:
    first, (_, child, partner) = _household_case(tmp_path, factories.unique_word("Ortiz"))
    second, (other_head, *_) = _household_case(tmp_path, factories.unique_word("Vega"))
    _ok(capsys, "household", first, "--leaves", partner, "--on", str(TODAY))
    out = _ok(
        capsys,
        "household",
        first,
        "--move",
        child,
        "--to",
        second,
        "--relationship",
        "other_relation",
    )
    [stayed] = [line for line in out.splitlines() if child in line]
    assert stayed.endswith(f"Head of household's child, from {TODAY} to {TODAY} (left)")
    [left] = [line for line in out.splitlines() if partner in line]
    assert left.endswith(f"from {TODAY} to {TODAY} (left)")
    second_out = _ok(capsys, "household", second)
    assert f"{child} Ana" in second_out
    assert "Head of household's other relation member" in second_out
    with session_scope() as session:
        stays = session.scalars(
            select(HouseholdMember).where(
                HouseholdMember.client_id == clients.find_client(session, child).client_id
            )
        ).all()
        assert sorted((s.left_on is None, s.relationship) for s in stays) == [
            (False, "child"),
            (True, "other_relation"),
        ]
    # Someone in a household already joins another only by moving.
    code, _, err = _run(capsys, "household", first, "--add", f"child={child}")
    assert code == 1
    assert f"{child} is a member of HH-" in err
    assert f"--move {child}" in err
    assert other_head not in out


def test_a_merge_carries_a_members_stays(capsys, tmp_path: Path) -> None:
    family = factories.unique_word("Reyes")
    case_number, (_, child, _) = _household_case(tmp_path, family)
    # The same child registered again, later, as a client of their own.
    with session_scope() as session:
        again = clients.create_client(
            session,
            ClientIn(
                given_name="Anna",
                family_name=family,
                date_of_birth=date(2015, 6, 2),
                contact_preference="phone",
            ),
        )
        duplicate = again.client_number or ""
        moved = clients.merge(session, child, duplicate, "sup.tester", datetime.now(UTC), set())
        assert moved == 0
    with session_scope() as session:
        kept = clients.find_client(session, child).client_id
        assert (
            len(
                session.scalars(
                    select(HouseholdMember).where(HouseholdMember.client_id == kept)
                ).all()
            )
            == 1
        )
    assert f"{child} Ana" in _ok(capsys, "household", case_number)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--add", "head=CLIENT-000001"], "the relationship one of child, spouse_partner"),
        (["--add", "cousin=x.json"], "the relationship one of child"),
        (["--add", "child"], "give RELATIONSHIP=FILE or RELATIONSHIP=CLIENT-"),
        (["--leaves", "CLIENT-999999"], "no client CLIENT-999999"),
        (["--move", "CLIENT-000001"], "--move: give the member, --to CASE and --relationship"),
        (["--leaves", "CLIENT-000001", "--on", "2999-01-01"], "--on: 2999-01-01 is in the future"),
        (["--add", "child=CLIENT-000001", "--leaves", "CLIENT-000001"], "one change at a time"),
    ],
)
def test_bad_household_input_is_refused_in_one_line_and_changes_nothing(
    capsys, tmp_path: Path, argv: list[str], expected: str
) -> None:
    case_number, _ = _household_case(tmp_path, factories.unique_word("Bad"))
    with session_scope() as session:
        before = session.scalar(select(func.count(HouseholdMember.id)))
    code, out, err = _run(capsys, "household", case_number, *argv)
    assert code in (1, 2), err
    assert err.count("\n") == 1, err
    assert expected in err, err
    with session_scope() as session:
        assert session.scalar(select(func.count(HouseholdMember.id))) == before


def test_a_likely_duplicate_member_is_refused_with_the_way_to_add_them(
    capsys, tmp_path: Path
) -> None:
    family = factories.unique_word("Diaz")
    case_number, (_, child, _) = _household_case(tmp_path, family)
    _, again = _person(tmp_path, "Ana", family, "2015-06-02")
    with session_scope() as session:
        before = session.scalar(select(func.count(HouseholdMember.id)))
    code, _, err = _run(capsys, "household", case_number, "--add", f"child={again}")
    assert code == 1
    assert f"the child is likely registered already as {child} (score " in err
    assert f"give them as child={child}" in err
    with session_scope() as session:
        assert session.scalar(select(func.count(HouseholdMember.id))) == before


def test_relationships_are_huds_codes_with_huds_labels() -> None:
    declared = tomllib.loads(hmis.LISTS_FILE.read_text())["RelationshipToHoH"]
    assert list(declared) == [r.value for r in HouseholdRelationship]
    assert [hmis.number("RelationshipToHoH", r.value) for r in HouseholdRelationship] == [
        1,
        2,
        3,
        4,
        5,
    ]
