"""HUD's HMIS for a HUD-funded program (housing, in the shipped programs file): its intake
and closure forms ask HMIS's data elements; `casework export hmis-csv` writes the CSV
files of the FY2026 specification, checked here file by file against an open HMIS's own
FY2026 headers (tests/data/hmis/fy2026_headers.txt, a source apart from the one the export
writes from), column types, lengths, required columns and HUD's code lists; and
`casework apr` counts a known caseload. What each role may export, on PostgreSQL as that
role: tests/casework/test_access.py. Through the real stack: tests/flows/test_hmis.py."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from casework.cli import main
from casework.core.db import migrate, session_scope
from casework.models import hmis, households, intake_fields
from casework.models.clients import client_number_for, create_client
from casework.models.codes import HouseholdRelationship, Program, Stage, Trigger
from casework.models.forms import ClosureForm
from casework.models.lifecycle import form_for
from casework.models.orm import AccessEntry, Case, Client, MemberAnswers
from tests import factories
from tests.programs import programs_file, refused_in_one_line

HEADERS = Path(__file__).parents[1] / "data" / "hmis" / "fy2026_headers.txt"
# Which of HUD's lists each coded column's values come from (HMIS CSV FY2026, appendix).
CODED = {
    "SourceType": "1.9",
    "ExportPeriodType": "1.1",
    "ExportDirective": "1.2",
    "HashStatus": "1.5",
    "VictimServiceProvider": "1.10",
    "ContinuumProject": "1.10",
    "ProjectType": "2.02.6",
    "Funder": "2.06.1",
    "NameDataQuality": "3.01.5",
    "SSNDataQuality": "3.02.2",
    "DOBDataQuality": "3.03.2",
    "Sex": "4.21",
    "AmIndAKNative": "1.10",
    "Asian": "1.10",
    "BlackAfAmerican": "1.10",
    "HispanicLatinao": "1.10",
    "MidEastNAfrican": "1.10",
    "NativeHIPacific": "1.10",
    "White": "1.10",
    "RaceNone": "1.6",
    "VeteranStatus": "1.8",
    "RelationshipToHoH": "3.15.1",
    "LivingSituation": "3.917",
    "LengthOfStay": "3.917.2",
    "TimesHomelessPastThreeYears": "3.917.4",
    "MonthsHomelessPastThreeYears": "3.917.5",
    "DisablingCondition": "1.8",
    "Destination": "3.12",
    "IncomeFromAnySource": "1.8",
    "BenefitsFromAnySource": "1.8",
    "InsuranceFromAnySource": "1.8",
    "DataCollectionStage": "5.03.1",
    "DisabilityType": "1.3",
    "DomesticViolenceSurvivor": "1.8",
    "WhenOccurred": "4.11.A",
    "CurrentlyFleeing": "1.8",
}
FROM, TO = "2026-01-01", "2026-06-30"


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


@pytest.fixture
def agency(monkeypatch: pytest.MonkeyPatch) -> None:
    from casework.core.settings import get_settings

    monkeypatch.setenv("CASEWORK_AGENCY_NAME", "Riverside Family Services")
    get_settings.cache_clear()


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def _start(session: Any, case: Case, **answers: Any) -> None:
    form_type, fields = intake_fields.form_of(Program(case.program))
    intake_fields.record(session, case, form_type.model_validate(answers), fields, "cm.tester")


def _exit(session: Any, case: Case, day: str, destination: int, income: int | None = None) -> None:
    """Close `case` on `day`, HMIS's exit questions answered: where the client went, and
    their income (from some source) when `income` is given."""
    answers: dict[str, Any] = {"hmis_destination": f"hud_{destination}"}
    if income is not None:
        answers |= {"hmis_income_from_any_source": "hud_1", "hmis_total_monthly_income": income}
    form = form_for(Stage.CLOSURE, Program.HOUSING)
    assert form is not None
    closure = form.model_validate(
        factories.closure().model_dump(mode="json") | {"questions": answers}
    )
    assert isinstance(closure, ClosureForm)
    factories.move(session, case, closure, _at(day))


def _review(session: Any, case: Case, day: str, **answers: Any) -> None:
    """A monitoring review on `day` that keeps the case in monitoring, HMIS's update
    questions answered with `answers` (income from some source)."""
    form = form_for(Stage.MONITORING, Program.HOUSING)
    assert form is not None
    given = {"hmis_income_from_any_source": "hud_1", **answers}
    factories.move(
        session,
        case,
        form.model_validate(
            factories.monitoring(Trigger.CONTINUE).model_dump(mode="json") | {"questions": given}
        ),
        _at(day),
    )


def _person(born: date) -> Any:
    return factories.client_in().model_copy(update={"date_of_birth": born})


@pytest.fixture(scope="module")
def caseload() -> dict[str, str]:
    """Housing (HUD-funded) cases around the first half of 2026, and one case of a program
    that is not: a family (adult head, child) who left for a rental; an adult still
    enrolled; an adult who left for a shelter with less income; a case closed before."""
    found: dict[str, str] = {}
    with session_scope() as session:
        family = factories.case_opened_at(session, _at("2026-01-10"))
        family.case_manager = "tester"
        child = create_client(session, _person(date(2019, 5, 1)))
        households.add_member(
            session, family, child, HouseholdRelationship.CHILD, "cm.tester",
            _at("2026-01-10"), date(2026, 1, 10),
        )  # fmt: skip
        _start(
            session,
            family,
            hmis_prior_living_situation="hud_116",
            hmis_length_of_stay="hud_4",
            hmis_income_from_any_source="hud_1",
            hmis_total_monthly_income=500,
            hmis_race_asian=True,
            hmis_sex="hud_0",
            hmis_veteran_status="hud_0",
            hmis_dv_survivor="hud_1",
            hmis_dv_when_occurred="hud_2",
            hmis_mental_health_disorder="hud_1",
            hmis_ssn_data_quality="hud_9",
            hmis_date_to_street="2025-11-01",
            hmis_times_homeless="hud_2",
            hmis_months_homeless="hud_104",
        )
        # The child's own answers at start (`casework intake-details --member`).
        form_type, fields = intake_fields.member_form_of(Program.HOUSING)
        answers = {
            "hmis_race_white": True,
            "hmis_sex": "hud_1",
            "hmis_prior_living_situation": "hud_116",
        }
        intake_fields.record(
            session, family, form_type.model_validate(answers), fields, "cm.tester", child.id
        )
        factories.walk_to(session, family, Stage.CLOSURE, _at("2026-02-01"))
        _exit(session, family, "2026-03-11", 410, income=800)
        found["family"] = family.case_number or ""
        found["child"] = client_number_for(child.id)

        stayer = factories.case_opened_at(session, _at("2026-02-01"))
        _start(session, stayer, hmis_income_from_any_source="hud_0", hmis_total_monthly_income=0)
        found["stayer"] = stayer.case_number or ""

        # A year on: its monitoring reviews near the anniversary (the annual assessment) and
        # after it (an update) answer HMIS's income and domestic-violence questions.
        reviewed = factories.case_opened_at(session, _at("2025-02-01"))
        _start(session, reviewed, hmis_income_from_any_source="hud_0", hmis_total_monthly_income=0)
        factories.walk_to(session, reviewed, Stage.MONITORING, _at("2025-03-01"))
        _review(
            session,
            reviewed,
            "2026-01-20",
            hmis_total_monthly_income=700,
            hmis_move_in_date="2025-03-15",
        )
        _review(session, reviewed, "2026-04-15", hmis_total_monthly_income=750)
        found["reviewed"] = reviewed.case_number or ""

        shelter = factories.case_opened_at(session, _at("2025-12-01"))
        _start(session, shelter, hmis_income_from_any_source="hud_1", hmis_total_monthly_income=300)
        factories.walk_to(session, shelter, Stage.CLOSURE, _at("2025-12-20"))
        _exit(session, shelter, "2026-01-05", 101, income=200)
        found["shelter"] = shelter.case_number or ""

        before = factories.case_opened_at(session, _at("2025-09-01"))
        factories.walk_to(session, before, Stage.CLOSURE, _at("2025-10-01"))
        _exit(session, before, "2025-11-01", 410)
        found["before"] = before.case_number or ""
        found["geriatric"] = (
            factories.case_opened_at(session, _at("2026-02-01"), Program.GERIATRIC).case_number
            or ""
        )
    return found


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _files(dest: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(dest) as archive:
        return {
            name.removesuffix(".csv"): list(
                csv.DictReader(io.StringIO(archive.read(name).decode()))
            )
            for name in archive.namelist()
        }


def _ours(files: dict[str, list[dict[str, str]]], caseload: dict[str, str]) -> set[str]:
    """The export's enrollments of this module's cases (other tests' cases share the store)."""
    numbers = {
        caseload[k] for k in ("family", "stayer", "reviewed", "shelter", "before", "geriatric")
    }
    return {
        row["EnrollmentID"]
        for row in files["Enrollment"]
        if row["EnrollmentID"].split("-M")[0] in numbers
    }


def expected_headers() -> dict[str, list[str]]:
    found = {}
    for line in HEADERS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, header = line.split(": ", 1)
            found[name] = header.split(",")
    return found


def check_against_specification(dest: Path) -> dict[str, list[dict[str, str]]]:
    """Every file of the ZIP read back as an HMIS importer would: the FY2026 header, each
    value of its column's type and length, required columns filled, codes from HUD's lists,
    and the files' keys joined up."""
    headers = expected_headers()
    spec = hmis.csv_spec()
    with zipfile.ZipFile(dest) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode("utf-8")
            assert text.endswith("\r\n")
            file = name.removesuffix(".csv")
            reader = csv.reader(io.StringIO(text))
            assert next(reader) == headers[file], file
            columns = {c["name"]: c for c in spec[file]}
            for row in reader:
                for column_name, value in zip(headers[file], row, strict=True):
                    _check_value(file, columns[column_name], value, row, headers[file])
    files = _files(dest)
    persons = {r["PersonalID"] for r in files.get("Client", [])}
    enrollments = {r["EnrollmentID"]: r for r in files["Enrollment"]}
    projects = {r["ProjectID"] for r in files["Project"]}
    export_ids = {r["ExportID"] for r in files["Export"]}
    for enrollment in enrollments.values():
        assert enrollment["ProjectID"] in projects
        if "Client" in files:
            assert enrollment["PersonalID"] in persons
    for file in ("Exit", "IncomeBenefits", "Disabilities", "HealthAndDV"):
        for row in files.get(file, []):
            assert enrollments[row["EnrollmentID"]]["PersonalID"] == row["PersonalID"]
    for rows in files.values():
        for row in rows:
            assert row.get("ExportID", next(iter(export_ids))) in export_ids
    return files


def _check_value(
    file: str, column: dict[str, Any], value: str, row: list[str], header: list[str]
) -> None:
    where = f"{file}.{column['name']}"
    if value == "":
        assert not column.get("required"), f"{where} is required"
        return
    kind = column["type"]
    if kind == "integer":
        assert re.fullmatch(r"-?\d+", value), where
    elif kind == "date":
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), where
        date.fromisoformat(value)
    elif kind == "datetime":
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", value), where
    if column.get("check") == "money":
        assert re.fullmatch(r"\d+\.\d{2}", value), where
    if "limit" in column:
        assert len(value) <= column["limit"], where
    list_code = CODED.get(column["name"])
    if column["name"] == "DisabilityResponse":
        kind_of = int(row[header.index("DisabilityType")])
        list_code = "4.10.2" if kind_of == 10 else "1.8"
    if list_code is not None:
        assert int(value) in hmis.hud_lists()[list_code], f"{where}: {value} not in {list_code}"


def test_a_hud_funded_program_asks_hmis_questions_at_start_and_exit() -> None:
    from casework.models.programs import programs

    housing, geriatric = programs()[Program.HOUSING], programs()[Program.GERIATRIC]
    assert housing.hmis is not None
    assert geriatric.hmis is None
    asked = {field.id: field for field in housing.intake}
    assert {"hmis_prior_living_situation", "hmis_race_asian", "hmis_dv_survivor"} <= set(asked)
    assert asked["hmis_race_asian"].identity
    assert not asked["hmis_prior_living_situation"].identity
    exit_ids = {field.id for field in housing.closure}
    assert "hmis_destination" in exit_ids
    assert "hmis_prior_living_situation" not in exit_ids
    destination = next(f for f in housing.closure if f.id == "hmis_destination")
    assert "Rental by client, no ongoing housing subsidy" in {o.label for o in destination.options}
    assert not [f for f in geriatric.intake if f.id.startswith("hmis_")]


def test_a_mistaken_hmis_declaration_is_refused_in_one_line(tmp_path: Path) -> None:
    path = programs_file(tmp_path)
    path.write_text(path.read_text().replace("project_type = 13", "project_type = 77"))
    assert refused_in_one_line(path).endswith(
        "housing.hmis: project_type: 77 is not in HMIS list 2.02.6"
    )
    own = '[[housing.intake]]\nid = "hmis_shoe_size"\nlabel = "x"\ntype = "number"\n'
    path = programs_file(tmp_path, own + "identity = false\n")
    assert "intake[0]: hmis_shoe_size: ids starting hmis_ are HMIS's questions" in (
        refused_in_one_line(path)
    )


def test_the_hmis_csv_export_holds_the_specifications_files_and_columns(
    capsys, as_supervisor, agency, caseload, tmp_path: Path
) -> None:
    dest = tmp_path / "hmis.zip"
    code, _, err = _cli(capsys, "export", "hmis-csv", "--from", FROM, "--to", TO, str(dest))
    assert code == 0, err
    files = check_against_specification(dest)
    assert set(files) == set(expected_headers())  # every file, identity-bearing ones too
    ours = _ours(files, caseload)
    family, child = caseload["family"], caseload["child"]
    [member] = [e for e in ours if e.startswith(f"{family}-M")]
    reviewed = caseload["reviewed"]
    assert ours == {family, member, caseload["stayer"], reviewed, caseload["shelter"]}
    enrollment = {r["EnrollmentID"]: r for r in files["Enrollment"]}
    assert enrollment[family]["EntryDate"] == "2026-01-10"
    assert enrollment[family]["RelationshipToHoH"] == "1"
    assert enrollment[family]["LivingSituation"] == "116"
    assert enrollment[family]["LengthOfStay"] == "4"
    assert (
        enrollment[family]["DateToStreetESSH"],
        enrollment[family]["TimesHomelessPastThreeYears"],
        enrollment[family]["MonthsHomelessPastThreeYears"],
    ) == ("2025-11-01", "2", "104")
    assert enrollment[member]["PersonalID"] == child
    assert enrollment[member]["RelationshipToHoH"] == "2"
    assert enrollment[member]["HouseholdID"] == enrollment[family]["HouseholdID"]
    assert enrollment[member]["LivingSituation"] == "116"  # the child's own answer
    assert enrollment[member]["DisablingCondition"] == "99"  # not asked of them
    exits = {r["EnrollmentID"]: r for r in files["Exit"]}
    assert (exits[family]["ExitDate"], exits[family]["Destination"]) == ("2026-03-11", "410")
    # the household left with its case, and went where its head went
    assert (exits[member]["ExitDate"], exits[member]["Destination"]) == ("2026-03-11", "410")
    assert caseload["stayer"] not in exits
    income = {(r["EnrollmentID"], r["DataCollectionStage"]): r for r in files["IncomeBenefits"]}
    assert income[(family, "1")]["TotalMonthlyIncome"] == "500.00"
    assert income[(family, "3")]["TotalMonthlyIncome"] == "800.00"
    assert (member, "1") not in income  # a child: income is asked of adults
    # The review within 30 days of the first anniversary is the annual assessment; the
    # later one an update; both with the day of the review.
    reviews = sorted(
        (r["DataCollectionStage"], r["InformationDate"], r["TotalMonthlyIncome"])
        for r in files["IncomeBenefits"]
        if r["EnrollmentID"] == reviewed and r["DataCollectionStage"] != "1"
    )
    assert reviews == [("2", "2026-04-15", "750.00"), ("5", "2026-01-20", "700.00")]
    assert enrollment[reviewed]["MoveInDate"] == "2025-03-15"  # as the review said
    assert enrollment[family]["MoveInDate"] == ""  # never said
    clients = {r["PersonalID"]: r for r in files["Client"]}
    head = clients[enrollment[family]["PersonalID"]]
    assert (head["Asian"], head["White"], head["RaceNone"], head["Sex"]) == ("1", "0", "", "0")
    assert head["FirstName"]
    # the SSN's quality as the client gave it; the name's and birth date's, unanswered: full
    assert (head["SSNDataQuality"], head["NameDataQuality"], head["DOBDataQuality"]) == (
        "9",
        "1",
        "1",
    )
    assert head["DOB"]
    child_row = clients[child]
    assert (child_row["White"], child_row["Asian"], child_row["RaceNone"], child_row["Sex"]) == (
        "1",
        "0",
        "",
        "1",
    )
    assert child_row["VeteranStatus"] == "99"
    dv = {(r["EnrollmentID"], r["DataCollectionStage"]): r for r in files["HealthAndDV"]}
    assert (dv[(family, "1")]["DomesticViolenceSurvivor"], dv[(family, "1")]["WhenOccurred"]) == (
        "1",
        "2",
    )
    disabilities = {
        (r["EnrollmentID"], r["DataCollectionStage"], r["DisabilityType"]): r["DisabilityResponse"]
        for r in files["Disabilities"]
    }
    assert disabilities[(family, "1", "9")] == "1"
    assert disabilities[(family, "3", "9")] == "99"
    [project] = files["Project"]
    assert (project["ProjectID"], project["ProjectType"]) == ("housing", "13")
    assert files["Funder"][0]["GrantID"] == "EXAMPLE-COC-RRH"
    assert files["Organization"][0]["OrganizationName"] == "Riverside Family Services"
    assert files["Export"][0]["CSVVersion"] == "2026"
    assert (files["Export"][0]["ExportStartDate"], files["Export"][0]["ExportEndDate"]) == (
        FROM,
        TO,
    )
    for empty in ("EmploymentEducation", "Services", "CurrentLivingSituation", "Assessment"):
        assert files[empty] == []
    with session_scope() as session:
        logged = set(
            session.scalars(
                select(Case.case_number)
                .join(AccessEntry, AccessEntry.case_id == Case.id)
                .where(AccessEntry.what == "export:hmis-csv-identity")
            )
        )
    assert {family, caseload["stayer"], reviewed, caseload["shelter"]} <= logged
    assert caseload["before"] not in logged


def test_the_apr_counts_a_known_caseload(capsys, as_supervisor, agency, caseload) -> None:
    code, out, err = _cli(capsys, "apr", "--from", FROM, "--to", TO, "--json")
    assert code == 0, err
    # Other tests' housing cases share the store: count this module's against a period
    # only they fill, by exporting the same rows and keeping ours.
    sections = json.loads(out)["sections"]
    assert list(sections) == [
        "persons served by household type",
        "leavers by destination",
        "length of participation",
        "income change from start to exit, adult leavers",
    ]
    from casework.models import apr, hmis_export
    from casework.services import hmis as service

    rows, _ = service.rows("sup.tester", date(2026, 1, 1), date(2026, 6, 30), None,
                           identity=False)  # fmt: skip
    mine = {e for e in rows.adult if e.split("-M")[0] in set(caseload.values())}
    only = hmis_export.Rows(rows.export_id, adult={e: rows.adult[e] for e in mine})
    for file, found in rows.files.items():
        only.files[file] = [r for r in found if r.get("EnrollmentID", "") in mine]
    counts = apr.count(only, date(2026, 1, 1), date(2026, 6, 30)).sections
    served = {r["household_type"]: r for r in counts["persons served by household type"]}
    assert (
        served["adults and children"]["households"],
        served["adults and children"]["persons"],
    ) == (1, 2)
    assert (served["adults only"]["households"], served["adults only"]["persons"]) == (3, 3)
    assert served["total"]["children"] == 1
    assert served["total"]["adults"] == 4
    leavers = {r["destination"]: r["leavers"] for r in counts["leavers by destination"]}
    assert leavers == {
        "permanent": 2, "temporary": 0, "institutional": 0, "homeless": 1, "other": 0, "total": 3,
    }  # fmt: skip
    lengths = {r["days"]: r for r in counts["length of participation"]}
    assert lengths["31 to 60 days"]["leavers"] == 3  # the family (60 days), the shelter (35)
    assert lengths["91 to 180 days"]["stayers"] == 1  # 2026-02-01 to 2026-06-30: 149 days
    assert lengths["366 to 730 days"]["stayers"] == 1  # from 2025-02-01: 514 days
    change = {
        r["change"]: r["adults"] for r in counts["income change from start to exit, adult leavers"]
    }
    assert change == {"increased": 1, "same": 0, "decreased": 1, "not recorded": 0}


def test_hmis_export_bad_input_is_refused_in_one_line_and_writes_nothing(
    capsys, as_supervisor, agency, caseload, tmp_path: Path
) -> None:
    dest = tmp_path / "never.zip"
    with session_scope() as session:
        before = session.scalar(select(func.count(AccessEntry.id)))
    for argv, expected in (
        (["--from", TO, "--to", FROM, str(dest)], f"--to: {FROM} is before --from {TO}"),
        (["--to", TO, str(dest)], "--from and --to: give the period's first and last day"),
        (["--from", FROM, "--to", TO], "DEST: name the ZIP file"),
        (
            ["--from", FROM, "--to", TO, "--program", "geriatric", str(dest)],
            "--program: geriatric is not HUD-funded",
        ),
        (["--from", FROM, "--to", TO, "--identity", str(dest)], "hmis-csv: HMIS's files are CSV"),
        (["--from", "2026-02-30", "--to", TO, str(dest)], "--from"),
    ):
        code, _, err = _cli(capsys, "export", "hmis-csv", *argv)
        assert code != 0, argv
        assert expected in err, err
        assert err.strip().count("\n") == 0, err
    assert not dest.exists()
    # A file there already is kept, and no export is logged that did not go out.
    there = tmp_path / "there.zip"
    there.write_bytes(b"an analyst's own file")
    code, _, err = _cli(capsys, "export", "hmis-csv", "--from", FROM, "--to", TO, str(there))
    assert code != 0
    assert "already exists; give --force to replace it" in err
    assert there.read_bytes() == b"an analyst's own file"
    with session_scope() as session:
        assert session.scalar(select(func.count(AccessEntry.id))) == before
    code, _, err = _cli(capsys, "export", "cases", str(dest))
    assert code != 0
    assert "DEST, --from and --to belong to hmis-csv" in err


def test_without_an_agency_name_the_export_says_what_to_set(
    capsys, as_supervisor, caseload, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from casework.core.settings import get_settings

    monkeypatch.delenv("CASEWORK_AGENCY_NAME", raising=False)
    get_settings.cache_clear()
    code, _, err = _cli(
        capsys, "export", "hmis-csv", "--from", FROM, "--to", TO, str(tmp_path / "x.zip")
    )
    assert code != 0
    assert "CASEWORK_AGENCY_NAME" in err
    assert not (tmp_path / "x.zip").exists()


def test_adult_at_start_is_fixed_when_the_case_opens(caseload) -> None:
    with session_scope() as session:
        family = session.scalars(select(Case).where(Case.case_number == caseload["family"])).one()
        born = session.get_one(Client, family.client_id).date_of_birth
        assert family.adult_at_start is hmis.adult_on(born, date(2026, 1, 10))
    assert hmis.adult_on(date(2008, 3, 1), date(2026, 3, 1))
    assert not hmis.adult_on(date(2008, 3, 2), date(2026, 3, 1))


def test_a_members_answers_are_refused_for_anyone_outside_the_household(
    capsys, caseload, tmp_path: Path
) -> None:
    answers = tmp_path / "member.json"
    answers.write_text(json.dumps({"hmis_sex": "hud_0"}))
    for case, member, expected in (
        (caseload["stayer"], caseload["child"], "is not a member of"),
        (caseload["geriatric"], caseload["child"], "the geriatric program is not HUD-funded"),
    ):
        code, _, err = _cli(
            capsys, "intake-details", case, "--member", member, "--file", str(answers)
        )
        assert code != 0
        assert expected in err
        assert err.strip().count("\n") == 0
    with session_scope() as session:  # nothing recorded: the child's answers only, as before
        kept = session.scalars(
            select(MemberAnswers)
            .join(Case, Case.id == MemberAnswers.case_id)
            .where(
                Case.case_number.in_(
                    [caseload["family"], caseload["stayer"], caseload["geriatric"]]
                )
            )
        ).all()
        assert [(row.coded, row.identity["hmis_sex"]) for row in kept] == [
            ({"hmis_prior_living_situation": "hud_116"}, "hud_1")
        ]
