"""Analysts' exports through `casework export`, read back as an analyst would: CSV through
the csv module, spreadsheets through openpyxl. What each holds (codes, labels beside them
when asked, every kind), identity only when asked and then in the access log, cells a
spreadsheet would run as formulas kept as text, and bad input refused with nothing
written. What each role may export, on PostgreSQL as that role: tests/casework/test_access.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from casework.cli import main
from casework.core.db import migrate, session_scope
from casework.models import consents
from casework.models.codes import NoticeAction, Program, Stage
from casework.models.orm import AccessEntry, Client, Escalation
from tests import factories


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", *argv])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _csv(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, str]]:
    """The export's rows by their first column (the case, or the row's own number)."""
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    key = next(iter(rows[0])) if rows else "case_number"
    return {row[key]: row for row in rows}


@pytest.fixture(scope="module")
def referred() -> tuple[str, str]:
    """A case of the child-welfare program at referral (assessed, planned, referred) with a
    notice, whose client's family name a spreadsheet would run as a formula."""
    at = datetime.now(UTC) - timedelta(days=3)
    with session_scope() as session:
        case = factories.new_case(session, Program.CHILD_WELFARE)
        session.get_one(Client, case.client_id).family_name = '=HYPERLINK("http://x","y")'
        factories.walk_to(session, case, Stage.REFERRAL, at)
        factories.provider(session, "exports-housing")
        consents.give(session, case, "exports-housing", at.date(), "cm.tester", at)
        factories.move(session, case, factories.referral_to("exports-housing"), at)
        today = date.today()
        factories.notice(session, case, today, today + timedelta(days=12), NoticeAction.DENY)
        session.add(
            Escalation(
                case_id=case.id,
                case_number=case.case_number,
                program=case.program,
                rule="stage_overdue",
                subject=case.stage_key,
                level=1,
                threshold="14 days",
                measured="20 days",
                as_of=at,
                recipient="cm.tester",
                recipient_role="case_manager",
            )
        )
        return case.case_number or "", case.client.client_number or ""


def test_each_kind_exports_codes_with_their_labels_beside_them(
    capsys, as_supervisor, referred
) -> None:
    number, client_number = referred
    program = ["--program", "child_welfare", "--with-labels"]
    row = _csv(capsys, "cases", *program)[number]
    assert (row["program"], row["program_label"]) == ("child_welfare", "Child welfare")
    assert (row["stage"], row["stage_label"]) == ("referral", "Referral")
    assert (row["status"], row["client_number"]) == ("open", client_number)
    assert datetime.fromisoformat(row["opened_at"]).tzinfo is not None  # times say they are UTC
    assert "family_name" not in row  # no identity unless asked

    [referral] = [
        r for r in _csv(capsys, "referrals", *program).values() if r["case_number"] == number
    ]
    assert (referral["provider"], referral["status_label"]) == ("exports-housing", "Requested")

    [notice] = [n for n in _csv(capsys, "notices", *program).values() if n["case_number"] == number]
    assert (notice["benefit_label"], notice["action"]) == ("SNAP (food assistance)", "deny")

    assessment = _csv(capsys, "assessments", *program)[number]
    assert assessment["risk_level_label"]
    assert assessment["score_housing"].isdigit()
    [escalation] = [
        e for e in _csv(capsys, "escalations", *program).values() if e["case_number"] == number
    ]
    assert (escalation["rule_label"], escalation["level"]) == ("Stage overdue", "1")
    assert (escalation["measured"], escalation["threshold"]) == ("20 days", "14 days")

    # Without --with-labels, codes only; and another program's cases are not in this one's.
    plain = _csv(capsys, "cases", "--program", "housing")
    assert number not in plain
    assert all("program_label" not in r for r in plain.values())


def test_identity_when_asked_is_logged_and_a_formula_stays_text(
    capsys, as_supervisor, referred, tmp_path: Path
) -> None:
    number, _ = referred
    with session_scope() as session:
        logged = session.scalar(select(func.count()).where(AccessEntry.what == "export:cases"))
    out = tmp_path / "cases.csv"
    code, _, err = _run(
        capsys, "cases", "--program", "child_welfare", "--identity", "--out", str(out)
    )
    assert code == 0, err
    rows = {r["case_number"]: r for r in csv.DictReader(out.open(newline=""))}
    exported = len(rows)
    assert f"cases: {exported} row(s) written to {out}; {exported} case(s) in the access log" in err
    assert rows[number]["family_name"] == '\'=HYPERLINK("http://x","y")'
    with session_scope() as session:
        now_logged = session.scalar(select(func.count()).where(AccessEntry.what == "export:cases"))
        assert now_logged == logged + exported
        readers = session.scalars(
            select(AccessEntry.staff).where(AccessEntry.what == "export:cases").distinct()
        ).all()
        assert readers == ["sup.tester"]

    sheet = tmp_path / "cases.xlsx"
    code, _, err = _run(
        capsys,
        "cases",
        "--program",
        "child_welfare",
        "--identity",
        "--with-labels",
        "--format",
        "xlsx",
        "--out",
        str(sheet),
    )
    assert code == 0, err
    book = load_workbook(sheet)
    cells = book["cases"]
    headers = [c.value for c in cells[1]]
    assert headers[:5] == [
        "case_number",
        "client_number",
        "given_name",
        "family_name",
        "date_of_birth",
    ]
    assert cells[1][0].font.bold
    found = {
        r[0]: dict(zip(headers, r, strict=True))
        for r in cells.iter_rows(min_row=2, values_only=True)
    }
    assert found[number]["family_name"] == '=HYPERLINK("http://x","y")'  # a string, not a formula
    assert found[number]["program_label"] == "Child welfare"
    assert isinstance(found[number]["opened_at"], datetime)
    assert isinstance(found[number]["date_of_birth"], datetime)


def test_bad_input_is_refused_in_one_line_and_writes_nothing(
    capsys, as_supervisor, tmp_path: Path
) -> None:
    for argv, expected, exit_code in (
        (["households"], "invalid choice: 'households'", 2),
        (["cases", "--format", "ods"], "--format: invalid choice: 'ods'", 2),
        (["cases", "--program", "nope"], "--program: invalid choice: 'nope'", 2),
        (["cases", "--format", "xlsx"], "--out: a spreadsheet is written to a file", 1),
        (["cases", "--out", str(tmp_path)], "is a directory; name a file", 1),
    ):
        code, out, err = _run(capsys, *argv)
        assert code == exit_code, (argv, err)
        assert err.count("\n") == 1, err
        assert expected in err, err
        assert out == ""
    existing = tmp_path / "kept.csv"
    existing.write_text("the analyst's own work")
    code, _, err = _run(capsys, "cases", "--out", str(existing))
    assert code == 1
    assert "already exists; give --force to replace it" in err
    assert existing.read_text() == "the analyst's own work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv"]
