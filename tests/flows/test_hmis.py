"""A HUD-funded program's project start and exit on the real stack, as a case manager
gives them: intake with a household member, HMIS's start questions by `casework
intake-details`, the run walked to closure, and HMIS's exit questions with the closure
form by `casework submit`. The coded answers travel with the run's form; those bearing
identity (race and ethnicity, domestic violence) never reach a Prefect surface. The
supervisor's `casework export hmis-csv` then holds the project start and exit."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from casework.cli import main
from casework.models.codes import NeedsDomain, Stage, Trigger
from tests import factories
from tests.casework.test_cli import approved_by_cli
from tests.casework.test_hmis import check_against_specification
from tests.conftest import acting_as
from tests.prefect_surfaces import identity_strings, surfaces_text

pytestmark = pytest.mark.prefect
ACTOR = "tester"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _submit(case_number: str, stage: Stage, form, **kwargs) -> None:  # type: ignore[no-untyped-def]
    # A plan or closure is approved by the program's supervisor, as its program asks.
    result = factories.submit_approved(case_number, stage, form, ACTOR, **kwargs)
    assert result.outcome == "moved", result


def test_a_hud_funded_case_starts_and_exits_with_hmis_answers(
    capsys, stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head, child = factories.client_in(), factories.client_in()
    child = child.model_copy(update={"date_of_birth": date.today() - timedelta(days=6 * 365)})
    files = {}
    for name, person in (("head", head), ("child", child)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(person.model_dump(mode="json")))
    code, out, err = _cli(
        capsys, "intake", "--program", "housing", "--file", str(files["head"]),
        "--member", f"child={files['child']}", "--json",
    )  # fmt: skip
    assert code == 0, err
    number = json.loads(out)["case_number"]
    start = tmp_path / "start.json"
    start.write_text(
        json.dumps(
            {
                "hmis_prior_living_situation": "hud_116",
                "hmis_income_from_any_source": "hud_1",
                "hmis_total_monthly_income": 640,
                "hmis_race_black_af_american": True,
                "hmis_dv_survivor": "hud_1",
                "hmis_dv_currently_fleeing": "hud_0",
            }
        )
    )
    code, _, err = _cli(capsys, "intake-details", number, "--file", str(start))
    assert code == 0, err
    code, out, _ = _cli(capsys, "household", number, "--json")
    [member] = [
        s["client_number"] for s in json.loads(out)["stays"] if s["relationship"] == "child"
    ]
    theirs = tmp_path / "member.json"
    theirs.write_text(json.dumps({"hmis_race_asian": True, "hmis_disabling_condition": "hud_0"}))
    code, out, err = _cli(
        capsys, "intake-details", number, "--member", member, "--file", str(theirs)
    )
    assert code == 0, err
    assert f"intake details recorded for {member}" in out

    _submit(number, Stage.ASSESSMENT, factories.assessment(housing=2))
    _submit(number, Stage.PLAN, factories.plan(NeedsDomain.HOUSING))
    _submit(number, Stage.REFERRAL, factories.referral())
    _submit(number, Stage.MONITORING, factories.monitoring(Trigger.CLOSE))
    closure = tmp_path / "closure.json"
    closure.write_text(
        json.dumps(
            factories.closure().model_dump(mode="json")
            | {
                "questions": {
                    "hmis_destination": "hud_435",
                    "hmis_income_from_any_source": "hud_1",
                    "hmis_total_monthly_income": 910,
                    "hmis_dv_survivor": "hud_1",
                    "hmis_dv_currently_fleeing": "hud_0",
                }
            }
        )
    )
    code, _, err = _cli(capsys, "submit", number, "closure", "--file", str(closure), "--wait")
    assert code == 0, err
    approved_by_cli(capsys, number)  # housing's supervisor signs the closure off

    code, out, _ = _cli(capsys, "show", number, "--json")
    shown = json.loads(out)
    assert shown["status"] == "closed"
    seen = surfaces_text(stack, [shown["flow_run_id"]])
    for person in (head, child):
        for value in identity_strings(person):
            assert value not in seen
    assert "hmis_destination" in seen  # the coded exit answers travel with the run's form
    for kept_apart in ("hmis_dv_survivor", "hmis_dv_currently_fleeing", "hmis_race"):
        assert kept_apart not in seen

    monkeypatch.setenv("CASEWORK_AGENCY_NAME", "Riverside Family Services")
    today = date.today().isoformat()
    dest = tmp_path / "hmis.zip"
    with acting_as("sup.tester"):
        code, _, err = _cli(capsys, "export", "hmis-csv", "--from", today, "--to", today, str(dest))
    assert code == 0, err
    check_against_specification(dest)
    with zipfile.ZipFile(dest) as archive:
        read = {
            n.removesuffix(".csv"): list(csv.DictReader(io.StringIO(archive.read(n).decode())))
            for n in archive.namelist()
        }
    enrollments = [r for r in read["Enrollment"] if r["EnrollmentID"].startswith(number)]
    assert sorted(r["RelationshipToHoH"] for r in enrollments) == ["1", "2"]
    [child_in] = [r for r in enrollments if r["PersonalID"] == member]
    assert child_in["DisablingCondition"] == "0"
    [child_out] = [r for r in read["Exit"] if r["EnrollmentID"] == child_in["EnrollmentID"]]
    assert child_out["Destination"] == "435"  # left with the case, where its head went
    [child_row] = [r for r in read["Client"] if r["PersonalID"] == member]
    assert child_row["Asian"] == "1"
    [entry] = [r for r in enrollments if r["EnrollmentID"] == number]
    assert entry["LivingSituation"] == "116"
    [left] = [r for r in read["Exit"] if r["EnrollmentID"] == number]
    assert (left["ExitDate"], left["Destination"]) == (today, "435")
    income = {
        r["DataCollectionStage"]: r["TotalMonthlyIncome"]
        for r in read["IncomeBenefits"]
        if r["EnrollmentID"] == number
    }
    assert income == {"1": "640.00", "3": "910.00"}
    dv = {
        r["DataCollectionStage"]: (r["DomesticViolenceSurvivor"], r["CurrentlyFleeing"])
        for r in read["HealthAndDV"]
        if r["EnrollmentID"] == number
    }
    assert dv == {"1": ("1", "0"), "3": ("1", "0")}
    [client] = [r for r in read["Client"] if r["PersonalID"] == entry["PersonalID"]]
    assert (client["FirstName"], client["BlackAfAmerican"]) == (head.given_name, "1")
