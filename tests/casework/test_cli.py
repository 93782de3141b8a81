"""The command line without Prefect: parsing, bad input (one line, exit 1, nothing
changed), forms, notes and case listings, on the session's case store."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from casework.cli import main
from casework.core.db import migrate, session_scope
from casework.core.settings import get_settings
from casework.models import stage_events
from casework.models.cases import get_case as cases_get
from casework.models.codes import Program, Stage, Watch
from casework.models.lifecycle import STAGES
from casework.models.orm import AuditEvent, Case, Contact
from tests import factories
from tests.conftest import unconfigured_env


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def approved_by_cli(capsys: pytest.CaptureFixture[str], case_number: str) -> str:
    """`casework approve CASE --wait`, signed in as the suite's supervisor (of every
    program): the form the case waits with, approved as its program asks; what it said."""
    from tests.conftest import acting_as

    with acting_as("sup.tester"):
        code, out, err = run_cli(capsys, "approve", case_number, "--wait")
    assert code == 0, err
    return out


def _store_size() -> tuple[int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(Case)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


@pytest.fixture
def waiting_case() -> Iterator[str]:
    """A case at assessment (recorded through the store, no flow run needed for refusals)."""
    with session_scope() as session:
        case = factories.new_case(session)
        stage_events.record_stage(
            session, case.case_number or "", 1, case.stage_key, None, "system", factories.now()
        )
        number = case.case_number or ""
    return number


def _refused(capsys, argv: list[str], expected: str) -> str:  # type: ignore[no-untyped-def]
    before = _store_size()
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert err.startswith("casework: error: "), err
    assert err.count("\n") == 1, err
    assert expected in err
    assert _store_size() == before
    return err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"given_name": "Ana",', "--file: client is not valid JSON (line 1"),
        (
            '{"given_name": "Ana", "date_of_birth": "1990-01-01"}',
            "client: family_name: Field required",
        ),
        (
            '{"given_name": "Ana", "family_name": "Zed", "date_of_birth": "2999-01-01"}',
            "client: date_of_birth: Value error, must be a real date of birth",
        ),
        (
            '{"given_name": "Ana", "family_name": "Zed", "date_of_birth": "1990-01-01", "ssn": 1}',
            "client: ssn: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_client_file_is_refused(capsys, tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "client.json"
    path.write_text(content)
    err = _refused(capsys, ["intake", "--program", "housing", "--file", str(path)], expected)
    assert "2999" not in err, "the value a user typed is not echoed"


def test_unknown_program_is_a_usage_error(capsys, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["intake", "--program", "astrology", "--file", str(tmp_path / "x.json")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'astrology'" in err
    assert err.count("\n") == 1, "a usage error is one line too"


def _form_file(tmp_path: Path, stage: Stage, **changes: object) -> str:
    example = STAGES[stage].example
    assert example is not None
    from datetime import date

    path = tmp_path / f"{stage.value}.json"
    form = example(date.today(), "tester", Program.HOUSING).model_dump(mode="json")
    path.write_text(json.dumps(form | changes))
    return str(path)


def test_unknown_case_is_refused(capsys, tmp_path: Path) -> None:
    _refused(
        capsys,
        ["submit", "CASE-999999", "assessment", "--file", _form_file(tmp_path, Stage.ASSESSMENT)],
        "no case CASE-999999",
    )


def test_form_failing_validation_names_the_field(capsys, tmp_path, waiting_case) -> None:
    matrix = factories.assessment(housing=9 - 6).model_dump(mode="json")["self_sufficiency_matrix"]
    matrix["scores"]["housing"] = 9
    path = _form_file(tmp_path, Stage.ASSESSMENT, self_sufficiency_matrix=matrix)
    _refused(
        capsys,
        ["submit", waiting_case, "assessment", "--file", path],
        "assessment form: self_sufficiency_matrix.scores.housing",
    )


def test_form_for_the_wrong_stage_is_refused(capsys, tmp_path, waiting_case) -> None:
    _refused(
        capsys,
        ["submit", waiting_case, "plan", "--file", _form_file(tmp_path, Stage.PLAN)],
        f"stage: {waiting_case} is at assessment, not plan",
    )


def test_closed_case_is_refused(capsys, tmp_path, waiting_case) -> None:
    from casework.models import cases

    with session_scope() as session:
        cases.close(session, cases.get_case(session, waiting_case), factories.now())
    _refused(
        capsys,
        ["submit", waiting_case, "assessment", "--file", _form_file(tmp_path, Stage.ASSESSMENT)],
        "is closed; reopen it first",
    )


def test_form_prints_schema_and_a_valid_example(capsys) -> None:
    code, out, _ = run_cli(capsys, "form", "plan")
    assert code == 0
    assert json.loads(out)["title"] == "PlanForm"
    code, out, _ = run_cli(capsys, "form", "plan", "--example")
    assert code == 0
    STAGES[Stage.PLAN].form.model_validate(json.loads(out))  # type: ignore[union-attr]


def test_note_is_recorded_without_touching_prefect(capsys, waiting_case) -> None:
    code, out, _ = run_cli(
        capsys, "note", waiting_case, "--text", "Left voicemail", "--type", "phone"
    )
    assert code == 0
    assert "phone recorded" in out
    code, out, _ = run_cli(capsys, "show", waiting_case, "--json")
    shown = json.loads(out)
    assert shown["contacts"][0]["text"] == "Left voicemail"
    assert {"case_number", "program", "stage", "status", "episode", "history"} <= set(shown)
    assert (shown["stage"], shown["status"], shown["episode"]) == ("assessment", "open", 1)
    assert [h["to_stage"] for h in shown["history"]] == ["assessment"]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) >= 1


def test_empty_note_is_refused(capsys, waiting_case) -> None:
    _refused(capsys, ["note", waiting_case, "--text", "   "], "note: text")


def test_caseload_lists_and_filters(capsys, waiting_case) -> None:
    code, out, _ = run_cli(capsys, "cases", "--stage", "assessment", "--json")
    rows = json.loads(out)
    assert code == 0
    assert waiting_case in {row["case_number"] for row in rows}
    assert {row["stage"] for row in rows} == {"assessment"}
    code, out, _ = run_cli(capsys, "cases", "--stage", "closure", "--program", "geriatric")
    assert waiting_case not in out


def test_caseload_comes_a_page_at_a_time_and_whole_as_json(capsys) -> None:
    """A large caseload: 100 cases a page, with where the page is and the next page's
    command; `--json` every case (written as read); a page past the last refused."""
    from casework.models.codes import Program

    with session_scope() as session:
        for _ in range(130):
            factories.new_case(session, Program.GERIATRIC)
    filters = ("--program", "geriatric", "--status", "open")
    code, out, _ = run_cli(capsys, "cases", *filters, "--json")
    every = [row["case_number"] for row in json.loads(out)]
    assert code == 0
    assert len(every) == len(set(every)) >= 130
    pages = -(-len(every) // 100)

    code, out, _ = run_cli(capsys, "cases", *filters)
    lines = out.strip().splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines[1:101]] == every[:100]
    assert lines[-1] == (
        f"page 1 of {pages} ({len(every)} cases); "
        "next: casework cases --program geriatric --status open --page 2"
    )
    code, out, _ = run_cli(capsys, "cases", *filters, "--page", str(pages), "--json")
    assert [row["case_number"] for row in json.loads(out)] == every[(pages - 1) * 100 :]

    code, out, err = run_cli(capsys, "cases", *filters, "--page", str(pages + 1))
    assert (code, out) == (2, "")
    assert err.strip() == (
        f"casework cases: error: argument --page: {pages + 1} is past the last page ({pages})"
        " (see --help)"
    )


def test_caseload_shows_when_the_stage_is_due(capsys, waiting_case) -> None:
    code, out, _ = run_cli(capsys, "cases", "--stage", "assessment", "--json")
    row = next(r for r in json.loads(out) if r["case_number"] == waiting_case)
    entered = date.fromisoformat(row["stage_entered_at"][:10])
    assert date.fromisoformat(row["stage_due_on"]) == entered + timedelta(days=14)  # housing SLA


def test_case_manager_must_be_a_staff_id(capsys, tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    path.write_text('{"given_name": "Ana", "family_name": "Zed", "date_of_birth": "1990-01-01"}')
    argv = ["intake", "--program", "housing", "--file", str(path), "--case-manager", "Jane Doe"]
    _refused(capsys, argv, "--case-manager: must be a staff id")


def test_benefit_is_recorded_renewed_and_shown(capsys, waiting_case) -> None:
    soon = (date.today() + timedelta(days=20)).isoformat()
    later = (date.today() + timedelta(days=200)).isoformat()
    code, out, _ = run_cli(
        capsys, "benefit", waiting_case, "--kind", "snap", "--recertify-by", soon
    )
    assert (code, out.strip()) == (0, f"{waiting_case}: snap to recertify by {soon}")
    run_cli(capsys, "benefit", waiting_case, "--kind", "snap", "--recertify-by", later)
    run_cli(capsys, "waiver", waiting_case, "--requirement", "homeless", "--expires", soon)
    code, out, _ = run_cli(capsys, "show", waiting_case, "--json")
    shown = json.loads(out)
    assert shown["benefits"] == [{"kind": "snap", "recertify_by": later, "active": True}]
    assert shown["waivers"] == [{"requirement": "homeless", "expires_on": soon, "active": True}]


def test_benefit_date_in_the_past_is_refused(capsys, waiting_case) -> None:
    _refused(
        capsys,
        ["benefit", waiting_case, "--kind", "medicaid", "--recertify-by", "2020-01-31"],
        "--recertify-by: 2020-01-31 is not in the future",
    )


def test_bad_dates_are_usage_errors(capsys, waiting_case) -> None:
    for argv in (
        ["benefit", waiting_case, "--kind", "snap", "--recertify-by", "next week"],
        ["sweep", "--as-of", "31/12/2026"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert "is not a date" in capsys.readouterr().err


def test_follow_up_needs_a_closed_case_and_a_scheduled_check(capsys, waiting_case) -> None:
    argv = ["follow-up", waiting_case, "--day", "30", "--housing-kept", "yes"]
    _refused(capsys, argv, "--housing-kept/--benefits-continuing: give both")
    argv += ["--benefits-continuing", "yes"]
    _refused(capsys, argv, "is open; follow-ups are for closed cases")


def test_failed_follow_up_proposes_reopening(capsys) -> None:
    with session_scope() as session:
        case = factories.walk_to(
            session, factories.new_case(session), Stage.CLOSURE, factories.now()
        )
        factories.move(session, case, factories.closure(), factories.now())
        number = case.case_number or ""
    _refused(
        capsys,
        ["follow-up", number, "--day", "60", "--unreachable"],
        f"--day: {number} has no day-60 check; scheduled: 30, 90",
    )
    code, out, _ = run_cli(
        capsys,
        "follow-up",
        number,
        "--day",
        "30",
        "--housing-kept",
        "no",
        "--benefits-continuing",
        "yes",
    )
    assert code == 0
    assert "needs_help; reopening proposed" in out


def test_escalations_are_listed(capsys, waiting_case) -> None:
    from casework.models import escalations
    from casework.models.programs import programs
    from casework.models.rules import Scope

    with session_scope() as session:
        case = cases_get(session, waiting_case)
        later = factories.now() + timedelta(days=20)
        escalations.sweep(session, Watch.STALLED_CASES, Scope(later, case.id), programs())
    code, out, _ = run_cli(capsys, "escalations", "--open", "--case", waiting_case, "--json")
    assert code == 0
    [row] = json.loads(out)
    assert (row["rule"], row["level"], row["measured"]) == (
        "stage_overdue",
        1,
        "20 days in assessment",
    )
    code, out, _ = run_cli(capsys, "escalations", "--case", waiting_case)
    assert f"{waiting_case} stage_overdue L1 -> {factories.STAFF}" in out
    _refused(capsys, ["escalations", "--case", "CASE-999999"], "no case CASE-999999")


def test_providers_import_reports_bad_entries_and_imports_the_rest(capsys, tmp_path) -> None:
    from casework import examples

    data = json.loads((Path(examples.__file__).parent / "providers.hsds.json").read_text())
    data["services"].append({"id": "broken", "organization_id": "org-hope", "name": "No extension"})
    data["services"].append(
        {**data["services"][0], "id": "ghost", "organization_id": "org-nowhere"}
    )
    path = tmp_path / "providers.json"
    path.write_text(json.dumps(data))
    code, out, err = run_cli(capsys, "providers", "import", str(path))
    assert code == 0
    assert "directory main (flat JSON): 6 added, 0 updated, 0 unchanged" in out
    assert "0 inactivated, 1 skipped" in out
    assert err == "casework: skipped services[6]: organization_id: no organization org-nowhere\n"
    code, out, _ = run_cli(capsys, "providers", "show", "broken")
    assert "referral:       no electronic referral: make it by hand" in out, "directory-only"
    code, out, _ = run_cli(capsys, "providers", "list", "--service", "housing_search", "--json")
    [row] = json.loads(out)
    assert (row["key"], row["location"], row["response_days"]) == (
        "hope-housing",
        "Springfield, IL",
        7,
    )
    assert "token" not in row


@pytest.mark.parametrize(
    ("endpoint", "dev_mode", "problem"),
    [
        ("http://referrals.example.org/casework", "on", "must be an https:// address"),
        (
            "http://127.0.0.1:9/casework",
            "off",
            "127.0.0.1 is a loopback address: for dev mode only (CASEWORK_DEV_MODE=on)",
        ),
        (
            "https://[::ffff:127.0.0.1]/casework",
            "off",
            "::ffff:7f00:1 is a loopback address: for dev mode only",  # as pydantic writes it
        ),
        ("https://localhost./casework", "off", "localhost. is a loopback address"),
        ("https://10.20.30.40/casework", "off", "10.20.30.40 is a private-range address"),
        ("https://192.168.1.5/casework", "off", "192.168.1.5 is a private-range address"),
        (
            "https://169.254.169.254/latest",
            "on",
            "169.254.169.254 is a link-local address: never a partner's",
        ),
        ("https://0.0.0.0/casework", "on", "0.0.0.0 is an unspecified address"),
        (
            "https://agency:hunter2@referrals.example.org/casework",
            "on",
            "must not carry a user name or password",
        ),
    ],
)
def test_referrals_go_to_https_endpoints_only(
    capsys, tmp_path, monkeypatch, endpoint: str, dev_mode: str, problem: str
) -> None:
    """Referrals carry client data: a directory may not point them anywhere in the clear
    (plain http on loopback only in dev mode, for the demo's and the tests' partners)."""
    from casework import examples
    from casework.core.settings import get_settings

    data = json.loads((Path(examples.__file__).parent / "providers.hsds.json").read_text())
    [service] = [s for s in data["services"] if s["id"] == "hope-housing"]
    data["services"] = [{**service, "id": "clear-text"}]
    data["services"][0]["x-casework"] = {**service["x-casework"], "referral_endpoint": endpoint}
    path = tmp_path / "providers.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("CASEWORK_DEV_MODE", dev_mode)
    monkeypatch.setenv("CASEWORK_WRITE_AHEAD", "off")  # which needs dev mode
    get_settings.cache_clear()
    code, out, err = run_cli(capsys, "providers", "import", str(path), "--directory", "https-check")
    get_settings.cache_clear()
    assert "0 added, 0 updated, 0 unchanged, 0 inactivated, 1 skipped" in out, err
    assert f"services[0]: x-casework.referral_endpoint: {problem}" in err
    code, out, _ = run_cli(capsys, "providers", "list", "--json")
    assert "clear-text" not in out


def test_an_unreadable_provider_file_is_named(capsys, tmp_path) -> None:
    _refused(
        capsys,
        ["providers", "import", str(tmp_path / "missing.json")],
        f"file: cannot read {tmp_path / 'missing.json'}",
    )


def test_consent_for_an_unknown_provider_is_refused(capsys, waiting_case) -> None:
    _refused(
        capsys,
        ["consent", waiting_case, "--provider", "nobody-here"],
        "provider: no provider nobody-here in the directory",
    )


def test_a_referral_never_sent_cannot_be_answered_by_hand(capsys) -> None:
    _refused(
        capsys,
        ["referral", "REF-999999", "--status", "accepted"],
        "referral: no referral REF-999999",
    )


def test_a_case_waiting_on_partners_takes_no_form(capsys, tmp_path) -> None:
    from casework.models import consents

    with session_scope() as session:
        case = factories.walk_to(
            session, factories.new_case(session), Stage.REFERRAL, factories.now()
        )
        factories.provider(session, "hope-housing")
        consents.give(session, case, "*", date.today(), "cm.tester", factories.now())
        factories.move(session, case, factories.referral_to("hope-housing"), factories.now())
        number = case.case_number or ""
    _refused(
        capsys,
        ["submit", number, "referral", "--file", _form_file(tmp_path, Stage.REFERRAL)],
        "is waiting on partner agencies' answers to its referrals",
    )


def test_every_directory_finds_the_same_store_and_a_missing_one_is_named(
    tmp_path: Path,
) -> None:
    """No CASEWORK_DATA_DIR: the per-user data directory serves every working directory;
    a missing store is named with the option that picks another, and nothing is created."""
    env = unconfigured_env()
    env |= {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "home" / "data")}
    env |= {"CASEWORK_STAFF_FILE": os.environ["CASEWORK_STAFF_FILE"]}

    def casework(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
        cwd.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "casework", *argv]
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)

    missing = casework(tmp_path / "a", "cases")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert str(tmp_path / "home" / "data" / "casework") in missing.stderr
    assert "--data-dir" in missing.stderr
    assert not (tmp_path / "home" / "data" / "casework").exists()

    assert casework(tmp_path / "a", "migrate").returncode == 0
    elsewhere = casework(tmp_path / "b" / "deeper", "cases")
    assert (elsewhere.returncode, elsewhere.stdout.strip()) == (0, "no cases")
    assert (tmp_path / "home" / "data" / "casework" / "casework.db").exists()
    assert not (tmp_path / "a" / ".casework").exists()
    assert not (tmp_path / "b" / "deeper" / ".casework").exists()

    (tmp_path / "c" / ".casework").mkdir(parents=True, mode=0o700)
    local = casework(tmp_path / "c", "cases")  # a project-local store is used where it is
    assert local.returncode == 1
    assert str(tmp_path / "c" / ".casework") in local.stderr
    assert "--data-dir" in local.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly() -> None:
    """`casework form plan | head -1`: the pipe closes before the output is written."""
    child = subprocess.Popen(
        [sys.executable, "-m", "casework", "form", "plan"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    child.stdout.close()  # the reader is gone before the command has printed anything
    _, err = child.communicate(timeout=60)
    assert (child.returncode, err) == (0, "")


def test_intake_refuses_a_case_manager_not_on_the_programs_roster(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client = tmp_path / "client.json"
    client.write_text(factories.client_in().model_dump_json())
    before = _store_size()
    for manager, why in [
        ("cm.osei", "cm.osei is not an active case manager of housing"),  # child welfare
        ("sup.housing", "sup.housing is not an active case manager of housing"),  # a role
        ("nobody", "nobody is not an active case manager of housing"),
    ]:
        code, _, err = run_cli(
            capsys,
            "intake",
            "--program",
            "housing",
            "--file",
            str(client),
            "--case-manager",
            manager,
        )
        assert code == 1
        assert f"--case-manager: {why} on the staff roster" in err
        assert err.count("\n") == 1
    assert _store_size() == before


def test_on_sqlite_the_actor_is_the_os_login_mapped_through_the_roster(capsys) -> None:
    login = getpass.getuser()
    os.environ["CASEWORK_ACTOR"] = "pm.housing"
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["note", "CASE-000001", "--type", "phone", "--text", "x"])
        assert exit_info.value.code == 1
        err = capsys.readouterr().err
        assert f"CASEWORK_ACTOR: pm.housing is not a staff id your login {login} holds" in err
    finally:
        os.environ["CASEWORK_ACTOR"] = "tester"
        get_settings.cache_clear()


def test_every_read_of_a_client_is_in_the_access_log(capsys, waiting_case, tmp_path) -> None:
    """show and doc write who read which case, and when, before they show anything."""
    assert run_cli(capsys, "show", waiting_case)[0] == 0
    out_file = tmp_path / "notes.md"
    code, _, err = run_cli(
        capsys,
        "doc",
        waiting_case,
        "notes",
        "--from",
        "2026-01-01",
        "--to",
        "2030-01-01",
        "--out",
        str(out_file),
    )
    assert code == 0, err
    code, out, _ = run_cli(capsys, "access-log", "--case", waiting_case, "--json")
    assert code == 0
    entries = json.loads(out)
    assert [(e["staff"], e["case_number"], e["what"]) for e in entries] == [
        ("tester", waiting_case, "doc:notes"),
        ("tester", waiting_case, "show"),
    ]
    code, out, _ = run_cli(capsys, "access-log", "--staff", "tester")
    assert f"tester           {waiting_case}  show" in out
    _refused(capsys, ["access-log", "--case", "CASE-999999"], "no case CASE-999999")


def test_due_lists_what_is_due_from_a_case_manager(capsys) -> None:
    with session_scope() as session:
        case = factories.case_opened_at(session, factories.now() - timedelta(days=5))
        case.case_manager = "bench"
        number = case.case_number
    code, out, err = run_cli(capsys, "due", "--manager", "bench", "--json")
    assert code == 0, err
    [item] = json.loads(out)
    assert (item["case_number"], item["what"], item["subject"], item["overdue"]) == (
        number,
        "stage",
        "intake-1",
        True,
    )
    code, out, _ = run_cli(capsys, "due", "--manager", "bench")
    assert f"OVERDUE  {number}  stage" in out
    code, out, _ = run_cli(capsys, "due")  # the signed-in case manager's own
    assert code == 0
    assert number not in out
    _refused(capsys, ["due", "--manager", "nobody"], "--manager: nobody is not on the staff roster")


def test_one_login_may_act_as_several_staff_ids_and_picks_one(tmp_path: Path) -> None:
    """A small agency's one machine: the same OS login is the housing case manager and its
    supervisor; CASEWORK_ACTOR says which, and nothing is done until it does."""
    env = unconfigured_env()
    env["CASEWORK_DATA_DIR"] = str(tmp_path / "agency")
    login = getpass.getuser()

    def casework(*argv: str, actor: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "casework", *argv],
            env={**env, **({"CASEWORK_ACTOR": actor} if actor else {})},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert casework("migrate").returncode == 0
    for staff_id in ("cm.rivera", "sup.housing"):
        added = casework("staff", "add", staff_id, "--login", login)
        assert added.returncode == 0, added.stderr
    unsure = casework("due")  # whose due list?
    assert unsure.returncode == 1
    assert "holds several staff ids (cm.rivera, sup.housing)" in unsure.stderr
    assert casework("duplicates", actor="sup.housing").stdout.strip() == "no likely duplicates"
    refused = casework("duplicates", actor="cm.rivera")
    assert "cm.rivera is not a supervisor or admin" in refused.stderr


def _every_command() -> list[list[str]]:
    import click

    from casework.cli import root

    found = []
    ctx = click.Context(root)
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        found.append([name])
        if isinstance(command, click.Group):
            found += [[name, sub] for sub in command.list_commands(ctx)]
    return found


@pytest.mark.parametrize("words", _every_command(), ids=" ".join)
def test_every_command_explains_itself(capsys, words: list[str]) -> None:
    """`casework COMMAND --help` for each of the commands the root lists (and a group's
    own commands): its usage line and its options, exit 0, nothing run."""
    code, out, err = run_cli(capsys, *words, "--help")
    assert (code, err) == (0, "")
    assert out.startswith(f"Usage: casework {' '.join(words)}")
    assert "-h, --help" in out


@pytest.mark.parametrize("words", [[], ["providers"], ["staff"]], ids=str)
def test_a_command_left_out_is_named_in_one_line(capsys, words: list[str]) -> None:
    code, out, err = run_cli(capsys, *words)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "error: the following arguments are required: COMMAND (see --help)" in err


# -- appointments ------------------------------------------------------------------------


def test_an_appointment_is_booked_shown_and_moved_from_the_command_line(
    capsys, waiting_case, monkeypatch
) -> None:
    monkeypatch.setenv("CASEWORK_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    try:
        code, out, err = run_cli(
            capsys,
            "appointment",
            waiting_case,
            "--at",
            "2031-03-10 09:30",
            "--kind",
            "court",
            "--with",
            "Family court, Judge Okafor",
            "--place",
            "Room 12",
        )
        assert code == 0, err
        number = out.split(":")[0]
        assert out.strip() == f"{number}: court on {waiting_case} at 2031-03-10 09:30 EDT"
        code, out, err = run_cli(
            capsys, "appointment", number, "--rescheduled-to", "2031-03-01 09:30"
        )
        assert code == 0, err
        moved = out.strip().split("now ")[1].split(" ")[0]
        assert out.strip() == f"{number}: rescheduled; now {moved} at 2031-03-01 09:30 EST"
        code, out, _ = run_cli(capsys, "show", waiting_case)
        assert (
            f"appointment {number}: court at 2031-03-10 09:30 EDT with Family court, Judge "
            f"Okafor (Room 12) [rescheduled to {moved}]" in out
        )
        assert f"appointment {moved}: court at 2031-03-01 09:30 EST" in out
        _refused(
            capsys,
            ["appointment", moved, "--attended"],
            f"{moved} is not due until 2031-03-01 14:30 UTC",
        )
    finally:
        get_settings.cache_clear()


OFFICE = ["--kind", "office", "--with", "Ms Lee"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--at", "2031-03-09 02:30", *OFFICE], "--at: 2031-03-09 02:30 does not exist in"),
        (["--at", "tomorrow", *OFFICE], "--at: 'tomorrow' is not a date and time"),
        (["--at", "2031-01-01 10:00", "--kind", "office"], "--with: required to book"),
        (["--at", "2031-01-01 10:00", "--kind", "office", "--with", " "], "--with: say whom"),
        (["--missed"], "record an outcome on an appointment (APT-…), not on a case"),
    ],
    ids=["skipped_hour", "words", "no_with", "blank_with", "outcome_on_case"],
)
def test_a_bad_booking_is_refused_in_one_line_and_changes_nothing(
    capsys, waiting_case, monkeypatch, argv: list[str], expected: str
) -> None:
    monkeypatch.setenv("CASEWORK_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    try:
        _refused(capsys, ["appointment", waiting_case, *argv], expected)
    finally:
        get_settings.cache_clear()


def test_an_unknown_time_zone_is_refused_in_one_line(capsys, waiting_case, monkeypatch) -> None:
    before = _store_size()
    monkeypatch.setenv("CASEWORK_TIMEZONE", "Mars/Olympus_Mons")
    get_settings.cache_clear()
    try:
        code, _, err = run_cli(capsys, "appointment", waiting_case, "--at", "2031-01-01 10:00")
    finally:
        monkeypatch.delenv("CASEWORK_TIMEZONE")
        get_settings.cache_clear()
    assert (code, err.count("\n")) == (1, 1)
    assert (
        "CASEWORK_TIMEZONE: 'Mars/Olympus_Mons' is not a time zone (e.g. America/New_York)" in err
    )
    assert _store_size() == before
