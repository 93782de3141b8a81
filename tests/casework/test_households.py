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
from casework.models.codes import HouseholdRelationship, Stage
from casework.models.orm import HouseholdMember
from casework.models.schemas import ClientIn
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


def _file(tmp_path: Path, person: ClientIn) -> Path:
    path = tmp_path / f"{person.given_name}.json"
    path.write_text(json.dumps(person.model_dump(mode="json")))
    return path


def _household_case(tmp_path: Path) -> tuple[str, list[str], list[ClientIn]]:
    """A housing case opened, as intake's store half does, with a child and a partner: three
    people no one else in the store resembles."""
    number, head, (child, partner) = factories.household_case(
        HouseholdRelationship.CHILD, HouseholdRelationship.SPOUSE_PARTNER
    )
    with session_scope() as session:
        case = cases.get_case(session, number)
        numbers = [clients.client_number_for(s.client_id) for s in _stays(session, case)]
    assert numbers[0] == clients.client_number_for(case.client_id)
    return number, numbers, [head, child, partner]


def _stays(session, case):  # type: ignore[no-untyped-def]
    query = select(HouseholdMember).where(HouseholdMember.household_id == case.household_id)
    return list(session.scalars(query.order_by(HouseholdMember.id)))


def test_a_household_of_three_is_registered_with_its_case_and_shown(capsys, tmp_path: Path) -> None:
    case_number, (head, child, partner), (maria, ana, _) = _household_case(tmp_path)
    out = _ok(capsys, "household", case_number)
    lines = out.splitlines()
    assert lines[0].startswith("household HH-")
    assert lines[0].endswith(f"of {case_number}:")
    who = f"{maria.given_name} {maria.family_name}, born {maria.date_of_birth}"
    assert lines[1] == f"  {head} {who}: Self (head of household), from {TODAY}"
    kid = f"{ana.given_name} {ana.family_name}, born {ana.date_of_birth}"
    assert lines[2] == f"  {child} {kid}: Head of household's child, from {TODAY}"
    assert lines[3].startswith(f"  {partner} ")
    assert "Head of household's spouse or partner" in lines[3]
    shown = _ok(capsys, "show", case_number)
    assert f"  {child} {kid}: Head of household's child" in shown
    as_json = json.loads(_ok(capsys, "show", case_number, "--json"))
    assert [m["relationship"] for m in as_json["household"]] == ["head", "child", "spouse_partner"]
    # The service plan lists the household's members; the referral letter never does.
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        factories.walk_to(session, case, Stage.REFERRAL, datetime.now(UTC))
    plan = Path(_ok(capsys, "doc", case_number, "plan").split(" (sha256")[0]).read_text()
    assert "## Household" in plan
    named = f"{ana.given_name} {ana.family_name}"
    assert f"| {named} | {child} | Head of household's child | {TODAY} |" in plan


def test_a_member_leaves_and_another_moves_with_the_history_kept(capsys, tmp_path: Path) -> None:
    first, (_, child, partner), (_, ana, _) = _household_case(tmp_path)
    second, (other_head, *_), _ = _household_case(tmp_path)
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
    assert f"{child} {ana.given_name} {ana.family_name}" in second_out
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
    """The child was registered twice: the household's record is merged into the other,
    which takes its stay in the household."""
    case_number, (_, child, _), (_, ana, _) = _household_case(tmp_path)
    with session_scope() as session:
        other = clients.create_client(session, ana.model_copy(update={"given_name": "Anna"}))
        kept = other.client_number or ""
        moved = clients.merge(session, kept, child, "sup.tester", datetime.now(UTC), set())
        assert moved == 0  # the child has no case of their own; only their stay moves
    with session_scope() as session:
        kept_id = clients.find_client(session, kept).client_id
        query = select(HouseholdMember).where(HouseholdMember.client_id == kept_id)
        assert [s.relationship for s in session.scalars(query)] == ["child"]
    out = _ok(capsys, "household", case_number)
    assert (
        f"  {kept} Anna {ana.family_name}, born {ana.date_of_birth}: Head of household's child"
        in out
    )
    assert child not in out


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
    case_number, _, _ = _household_case(tmp_path)
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
    case_number, (_, child, _), (_, ana, _) = _household_case(tmp_path)
    again = _file(tmp_path, ana)  # the same child, typed again
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
