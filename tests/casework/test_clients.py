"""One person, many cases: intake stops at a likely duplicate (numbers and scores only),
links an existing client, registers a new one with an audited reason; `show` lists the
client's other cases; `duplicates` and `merge` for supervisors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework.cli import main
from casework.core.db import session_scope
from casework.models import cases, clients
from casework.models.codes import Program
from casework.models.matching import Identity, score, transposed
from casework.models.orm import AuditEvent, Case, Client
from tests import factories

MARIA = {
    "given_name": "Maria",
    "family_name": "Lopez",
    "date_of_birth": "1985-03-12",
    "phone": "555-0142-7781",
}
MARIA_AGAIN = {**MARIA, "given_name": "María", "family_name": "López-Ruiz", "phone": None}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _count(model: type) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _file(tmp_path: Path, name: str, data: dict[str, object]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    return str(path)


def test_scores_fold_accents_and_see_transposed_birth_dates() -> None:
    maria = Identity.of("Maria", "Lopez", date(1985, 3, 12))
    assert score(maria, Identity.of("MARÍA", "López-Ruiz", date(1985, 3, 12))).score == 100
    swapped = score(maria, Identity.of("Maria", "Lopez", date(1985, 12, 3)))
    assert swapped.signals == ("name", "birth_transposed")
    assert swapped.score >= 85
    assert transposed(date(1985, 3, 12), date(1958, 3, 12))
    assert not transposed(date(1985, 3, 12), date(1985, 3, 21 - 9))  # same date: not swapped
    stranger = score(maria, Identity.of("Kwame", "Mensah", date(1985, 3, 12)))
    assert stranger.score < 85
    # The same name, another birth date: a namesake, not a match, unless the ID agrees.
    assert score(maria, Identity.of("Maria", "Lopez", date(1990, 7, 1))).score < 85
    same_id = Identity.of("Maria", "Lopez", date(1990, 7, 1), id_number="x-123")
    assert (
        score(Identity.of("Maria", "Lopez", date(1985, 3, 12), id_number="X123"), same_id).score
        >= 85
    )


@pytest.mark.prefect
def test_one_person_across_programs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stack: str
) -> None:
    first = _file(tmp_path, "maria.json", MARIA)
    code, out, err = run_cli(capsys, "intake", "--program", "housing", "--file", first, "--json")
    assert code == 0, err
    opened = json.loads(out)
    client = opened["client_number"]
    assert client.startswith("CLIENT-")

    # The same woman, entered again with accents and a second family name: stopped, with
    # her client number and score only, and nothing written.
    before = (_count(Client), _count(Case))
    again = _file(tmp_path, "again.json", MARIA_AGAIN)
    code, _, err = run_cli(capsys, "intake", "--program", "healthcare", "--file", again)
    assert code == 1
    assert err.count("\n") == 1
    assert f"likely already registered as {client} (score 100)" in err
    for identity in ("Mar", "pez", "1985", "0142"):
        assert identity not in err
    assert (_count(Client), _count(Case)) == before

    # Linked instead: one client, two cases; each case lists the other.
    code, out, err = run_cli(
        capsys, "intake", "--program", "healthcare", "--client", client.lower(), "--json"
    )
    assert code == 0, err
    second = json.loads(out)["case_number"]
    assert _count(Client) == before[0]
    code, out, _ = run_cli(capsys, "show", opened["case_number"])
    assert f"client {client}: Maria Lopez" in out
    assert f"also {second} (healthcare, " in out
    code, out, _ = run_cli(capsys, "show", second, "--json")
    assert [o["case_number"] for o in json.loads(out)["other_cases"]] == [opened["case_number"]]

    # A second open case in the same program is refused; so is an unknown client.
    code, _, err = run_cli(capsys, "intake", "--program", "housing", "--client", client)
    assert code == 1
    assert f"already has an open housing case ({opened['case_number']})" in err
    code, _, err = run_cli(capsys, "intake", "--program", "housing", "--client", "CLIENT-999999")
    assert code == 1
    assert "no client CLIENT-999999" in err
    code, _, err = run_cli(
        capsys, "intake", "--program", "housing", "--client", client, "--file", first
    )
    assert code == 2
    assert "not allowed with argument" in err

    # Someone who only looks like her: registered anyway, with the reason audited.
    code, out, err = run_cli(
        capsys,
        "intake",
        "--program",
        "geriatric",
        "--file",
        again,
        "--new-client",
        "relative",
        "--json",
    )
    assert code == 0, err
    twin = json.loads(out)["client_number"]
    with session_scope() as session:
        case = cases.get_case(session, json.loads(out)["case_number"])
        row = session.scalars(
            select(AuditEvent).where(
                AuditEvent.case_id == case.id, AuditEvent.action == "client_registered"
            )
        ).one()
        assert row.detail == {"client": twin, "reason": "relative", "set_aside": f"{client}:100"}


@pytest.mark.prefect
def test_supervisors_list_duplicates_and_merge_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stack: str, as_supervisor: None
) -> None:
    with session_scope() as session:
        kept = factories.new_case(session, Program.HOUSING)
        twin = factories.client_in().model_copy(
            update={"given_name": "Zoë", "family_name": "Brennan-Okafor"}
        )
        other = factories.new_case(session, Program.SUBSTANCE_USE, twin)
        first = factories.client_in().model_copy(
            update={
                "given_name": "Zoe",
                "family_name": "Brennan",
                "date_of_birth": twin.date_of_birth,
            }
        )
        mine = factories.new_case(session, Program.HOUSING, first)
        numbers = (mine.client.client_number, other.client.client_number)
        kept_number, other_case = kept.client.client_number, other.case_number
    code, out, err = run_cli(capsys, "duplicates", "--json")
    assert code == 0, err
    listed = {frozenset(p["clients"]): p for p in json.loads(out)}
    assert listed[frozenset(numbers)]["score"] >= 85
    assert "birth" in listed[frozenset(numbers)]["signals"]
    assert "Zo" not in out
    assert "Brennan" not in out

    code, out, err = run_cli(capsys, "merge", numbers[0], numbers[1])
    assert (code, out.strip()) == (0, f"{numbers[1]} merged into {numbers[0]}: 1 case(s) moved")
    code, out, _ = run_cli(capsys, "show", other_case)
    assert f"client {numbers[0]}: Zoe Brennan" in out
    with session_scope() as session:
        merged = session.scalars(select(Client).where(Client.client_number == numbers[1])).one()
        assert (merged.given_name, merged.merged_into_id is not None) == ("Zoë", True)
        trail = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "client_merged")
        ).all()
        assert {"kept": numbers[0], "merged": numbers[1]} in [row.detail for row in trail]
    code, out, _ = run_cli(capsys, "duplicates", "--json")
    assert frozenset(numbers) not in {frozenset(p["clients"]) for p in json.loads(out)}
    code, _, err = run_cli(capsys, "merge", kept_number or "", numbers[1])
    assert code == 1
    assert f"{numbers[1]} was merged into {numbers[0]}" in err
    # Both with an open housing case: refused, nothing moved.
    code, _, err = run_cli(capsys, "merge", kept_number or "", numbers[0])
    assert code == 1
    assert "both clients have an open housing case" in err


def test_merging_and_duplicates_are_a_supervisors_work(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_cli(capsys, "duplicates")
    assert code == 1
    assert "tester is not a supervisor or admin" in err
    code, _, err = run_cli(capsys, "merge", "CLIENT-000001", "CLIENT-000002")
    assert code == 1
    assert "merge: a supervisor's work; tester is not a supervisor" in err


def test_other_programs_cases_are_numbers_and_crisis_only() -> None:
    with session_scope() as session:
        case = factories.new_case(session, Program.HOUSING)
        elsewhere = cases.open_case(
            session, case.client_id, Program.CHILD_WELFARE, "cm.a", "cm.a", factories.now()
        )
        elsewhere.crisis_since = factories.now()
        session.flush()
        [other] = clients.other_cases(session, case, {"housing"})
        assert (other.case_number, other.program, other.stage, other.crisis) == (
            elsewhere.case_number,
            None,
            None,
            True,
        )
        [seen] = clients.other_cases(session, case, {"housing", "child_welfare"})
        assert (seen.program, seen.stage) == ("child_welfare", "intake")


def test_the_scan_finds_what_its_minimum_asks_for(session: Session) -> None:
    """At the usual minimum, people who merely share a birthday are not a pair; asked for
    everything from 40 up, they are (their block is then scored in full)."""
    born = date(1990, 6, 15)
    people = [("Ana", "Okafor"), ("Kwame", "Mensah"), ("Ana", "Okafor-Reyes")]
    made = [
        factories.new_case(
            session,
            Program.HOUSING,
            factories.client_in().model_copy(
                update={"given_name": g, "family_name": f, "date_of_birth": born, "id_number": None}
            ),
        ).client.client_number
        for g, f in people
    ]
    likely = {frozenset((p.first, p.second)) for p in clients.likely_pairs(session)}
    assert likely == {frozenset((made[0], made[2]))}
    everything = {frozenset((p.first, p.second)) for p in clients.likely_pairs(session, 40)}
    assert frozenset((made[0], made[1])) in everything
