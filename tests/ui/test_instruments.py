"""An agency adds the Hunger Vital Sign and an instrument of its own (with an item answered
in words) to its housing program's assessment, and a goal of its own to the program's
catalogue, by editing files only, and restarts `casework up`. A housing case already
waiting at its assessment is carried over and asks the new form; cases are then assessed
with it through the command line, the Prefect Resume dialog (Chromium) and the desk, and
each assessment keeps the instrument's answers and the version they were given under; the
words are kept in the store and never reach Prefect. A plan then sets the program's own
goal, and the program's own questions are asked at closure: the coded one in the run's
form, the one bearing identity outside it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from casework import services
from casework.core.db import session_scope
from casework.core.settings import get_settings
from casework.models import assessments, cases, hmis
from casework.models.codes import Program, Stage
from casework.models.lifecycle import wait_tag
from casework.models.programs import load_programs
from tests import factories
from tests.conftest import Stack
from tests.models.test_goals import VOUCHER
from tests.models.test_intake_fields import HOUSEHOLD, LANDLORD
from tests.models.test_stage_questions import ADDRESS, DESTINATION, FORWARDING
from tests.polling import wait_for
from tests.prefect_surfaces import surfaces_text
from tests.programs import agency_instrument, programs_file
from tests.ui.conftest import MARKS, SHOTS
from tests.ui.desk import DESK, MATRIX_DOMAINS, look, signed_in_page
from tests.ui.test_resume_dialog import _choose, _field, _open_dialog

pytestmark = [*MARKS, pytest.mark.restarts_stack]
PASSWORD = "a long desk password 4 tests"
WORRIED = "Within the past 12 months we worried whether our food would run out"
DID_NOT_LAST = "Within the past 12 months the food we bought just didn't last"
STORY = "What happened, in the client's words"
WORDS = "Evicted in 2023 when the landlord sold the building"
ASSESSED = '["self_sufficiency_matrix", "hunger_vital_sign", "housing_barriers"]'


def _reload() -> None:
    get_settings.cache_clear()
    load_programs.cache_clear()


@pytest.fixture
def carried_case(stack: str) -> tuple[str, str]:
    """A housing case waiting at its assessment under the matrix alone, before the change;
    and the wait tag it waits under."""
    case_number, _ = factories.case_waiting_at(Stage.ASSESSMENT)
    return case_number, wait_tag(Stage.ASSESSMENT, Program.HOUSING)


@pytest.fixture
def carried_closure(stack: str) -> tuple[str, str]:
    """A housing case waiting at closure before the program's questions are added there;
    and the wait tag it waits under."""
    case_number, _ = factories.case_waiting_at(Stage.CLOSURE)
    return case_number, wait_tag(Stage.CLOSURE, Program.HOUSING)


@pytest.fixture
def with_hunger_screen(
    carried_case: tuple[str, str],
    running_stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """The agency's programs file: Casework's, with one line added to housing, and its own
    instrument beside it; `up` restarted on them. Afterwards `up` is restarted on Casework's
    own again."""
    programs = programs_file(
        tmp_path,
        VOUCHER + HOUSEHOLD + LANDLORD + DESTINATION + FORWARDING,
        housing=f"assessment = {ASSESSED}\n",
    )
    agency_instrument(tmp_path)
    running_stack.stop()
    monkeypatch.setenv("CASEWORK_PROGRAMS_FILE", str(programs))
    _reload()
    running_stack.start()
    try:
        yield programs
    finally:
        running_stack.stop()
        monkeypatch.delenv("CASEWORK_PROGRAMS_FILE")
        _reload()
        running_stack.start()


def _answers(worried: str, did_not_last: str) -> dict[str, dict[str, str]]:
    return {
        "food_security": {"worried_food_would_run_out": worried, "food_did_not_last": did_not_last}
    }


def _hunger_screen(case_number: str, instrument: str = "hunger_vital_sign") -> dict[str, object]:
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        latest = assessments.latest(session, case)
        assert latest is not None, case_number
        return dict(latest.instruments[instrument]) | {"risk_level": latest.risk_level}


def _moved_to_plan(case_number: str) -> bool:
    with session_scope(read_only=True) as session:
        return cases.get_case(session, case_number).stage == Stage.PLAN.value


def _waits_under(case_number: str, tag: str) -> bool:
    from casework.core import prefect_api

    waiting = factories.where_it_waits(case_number)
    run = prefect_api.read_run(waiting.flow_run_id)
    return run.waiting and run.pause_key == waiting.stage_key and tag in run.tags


def _carried_over(waited: tuple[str, str], stage: Stage) -> tuple[str, str]:
    """The case that waited at `stage` before the restart, once it waits under the tag
    this stage has now (another than it had); and that tag."""
    case_number, old_tag = waited
    tag = wait_tag(stage, Program.HOUSING)
    assert tag != old_tag
    wait_for("the waiting case to be carried over", lambda: _waits_under(case_number, tag))
    return case_number, tag


def test_an_agency_adds_the_hunger_vital_sign_by_editing_files_only(  # type: ignore[no-untyped-def]
    browser,
    stack: str,
    carried_case: tuple[str, str],
    with_hunger_screen: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from tests.casework.test_cli import approved_by_cli, run_cli

    # The case that waited under the matrix alone is carried over by the restart: it waits
    # under the new instruments, and its form is the new one.
    carried, new_tag = _carried_over(carried_case, Stage.ASSESSMENT)

    # The command line: the example now has the screen; a form without it is refused by name.
    code, out, _ = run_cli(capsys, "form", "assessment", "--program", "housing", "--example")
    example = json.loads(out)
    assert code == 0
    assert example["hunger_vital_sign"] == _answers("never_true", "never_true")
    without = tmp_path / "without.json"
    without.write_text(json.dumps({k: v for k, v in example.items() if k != "hunger_vital_sign"}))
    code, _, err = run_cli(capsys, "submit", carried, "assessment", "--file", str(without))
    assert (code, err.count("\n")) == (1, 1)
    assert "assessment form: hunger_vital_sign: Field required" in err
    # Words are given in their place; an answer in words not asked is refused in one line.
    assert example["housing_barriers"] == {
        "barriers": {
            "evicted": False,
            "housing_stability": 3,
            "evicted_on": None,
            "eviction_story": "",
        }
    }
    given = tmp_path / "assessment.json"
    screened = example | {"hunger_vital_sign": _answers("sometimes_true", "never_true")}
    told = {"barriers": {"evicted": False, "eviction_story": WORDS}}
    given.write_text(json.dumps(screened | {"housing_barriers": told}))
    code, _, err = run_cli(capsys, "submit", carried, "assessment", "--file", str(given))
    assert (code, err.count("\n")) == (1, 1)
    assert (
        "assessment form: housing_barriers.barriers.eviction_story: answer only when evicted "
        "is yes" in err
    )
    told["barriers"]["evicted"] = True
    given.write_text(json.dumps(screened | {"housing_barriers": told}))
    code, out, err = run_cli(
        capsys, "submit", carried, "assessment", "--file", str(given), "--wait"
    )
    assert code == 0, err
    screen = _hunger_screen(carried)
    assert (screen["version"], screen["risk"], screen["bands"]) == (
        1,
        "medium",
        {"food_insecurity": "positive"},
    )
    assert screen["risk_level"] == "medium"  # the matrix's low, raised by the screen
    code, out, _ = run_cli(capsys, "show", carried)
    assert "hunger_vital_sign v1: risk medium; food_insecurity=1 (positive)" in out
    assert f"  {STORY}: {WORDS}" in out  # kept in the store, read back with the assessment
    assert _hunger_screen(carried, "housing_barriers")["answers"] == {
        "evicted": True,
        "housing_stability": None,  # optional, and not given
        "evicted_on": None,
    }
    run_id = factories.where_it_waits(carried).flow_run_id
    assert WORDS not in surfaces_text(stack, [run_id])  # the run never had them

    # The program's own intake fields, from the command line: a bad answer named, then kept.
    details = tmp_path / "intake.json"
    details.write_text(json.dumps({"household_size": 0}))
    code, _, err = run_cli(capsys, "intake-details", carried, "--file", str(details))
    assert (code, err.count("\n")) == (1, 1)
    assert "intake details: household_size: Input should be greater than or equal to 1" in err
    details.write_text(json.dumps({"household_size": 4, "last_landlord": "Mr Example"}))
    code, out, err = run_cli(capsys, "intake-details", carried, "--file", str(details))
    assert (code, out.strip()) == (0, f"{carried}: intake details recorded (2 answered)"), err

    # The program's own goal, set in a plan from the command line.
    code, out, _ = run_cli(capsys, "form", "plan", "--program", "housing", "--example")
    plan = json.loads(out)
    plan["goals"][0] = plan["goals"][0] | {"objective": "obtain_housing_voucher"}
    plan["goals"][0].pop("domain", None)  # the goal's own, from the catalogue
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    code, out, err = run_cli(
        capsys, "submit", carried, "plan", "--file", str(tmp_path / "plan.json"), "--wait"
    )
    assert code == 0, err
    approved_by_cli(capsys, carried)  # housing's supervisor signs the plan off
    code, out, _ = run_cli(capsys, "show", carried)
    assert "housing: obtain_housing_voucher by" in out
    assert "  People in the household: 4" in out
    code, out, err = run_cli(capsys, "doc", carried, "plan")  # the plan's document, kept
    assert code == 0, err
    document = Path(out.split(" (sha256")[0]).read_text()
    assert "Obtain a housing voucher" in document
    assert "voucher issued" in document

    # The Resume dialog: the questions as declared, the options by their labels.
    in_dialog, _ = factories.case_waiting_at(Stage.ASSESSMENT)
    waiting = wait_for(
        "its run to wait under the new instruments",
        lambda: _waits_under(in_dialog, new_tag) and factories.where_it_waits(in_dialog),
    )
    page, dialog = _open_dialog(
        browser, stack, waiting.flow_run_id, f"Assessment form for {in_dialog}"
    )
    text = dialog.inner_text()
    assert "Hunger Vital Sign (version 1)" in text
    assert WORRIED in text
    # The words are not asked here; where they are is said.
    assert f"Answered on the desk or with casework submit, not here: {STORY}." in text
    _choose(page, _field(page, dialog, "Submitted by"), "cm.park")
    scores = _field(page, dialog, "Needs: each domain").locator("input")
    for index in range(scores.count()):
        scores.nth(index).fill("3")
    _choose(page, _field(page, dialog, WORRIED), "Often true")
    _choose(page, _field(page, dialog, DID_NOT_LAST), "Never true")
    _field(page, dialog, "Client participated").get_by_role("switch").click()
    SHOTS.mkdir(exist_ok=True)
    dialog.screenshot(path=SHOTS / "assessment-dialog-hunger-screen.png")
    dialog.get_by_role("button", name="Submit").click()
    wait_for("the dialog's case to move to plan", lambda: _moved_to_plan(in_dialog), timeout=120)
    screen = _hunger_screen(in_dialog)
    assert screen["answers"] == {
        "worried_food_would_run_out": "often_true",  # chosen by label, kept as its code
        "food_did_not_last": "never_true",
    }
    page.close()

    # The desk: the same questions on the case's page, answered there.
    on_desk, _ = factories.case_waiting_at(Stage.ASSESSMENT)
    wait_for("its run to wait under the new instruments", lambda: _waits_under(on_desk, new_tag))
    page = signed_in_page(browser, "cm.tester", PASSWORD)
    page.goto(f"{DESK}/cases/{on_desk}")
    form = page.locator("#stage-form")
    form.get_by_text("Hunger Vital Sign (version 1)").wait_for()
    look(page, "case-assessment-hunger-screen")
    for domain in MATRIX_DOMAINS:
        form.get_by_role("group", name=f"{domain} (required)").get_by_label("3").check()
    form.get_by_label(re.compile(f"^{WORRIED}")).select_option(label="Never true")
    form.get_by_label(re.compile(f"^{re.escape(DID_NOT_LAST)}")).select_option(
        label="Sometimes true"
    )
    form.get_by_role("group", name=re.compile("^Client participated")).get_by_label("Yes").check()
    # Words given when not asked: refused beside the box, what was typed kept.
    form.get_by_label(re.compile(f"^{STORY}")).fill(WORDS)
    form.get_by_role("button", name="Record the assessment").click()
    form = page.locator("#stage-form")
    form.get_by_text("Answer only when evicted is yes.", exact=True).wait_for()
    assert form.get_by_label(re.compile(f"^{STORY}")).input_value() == WORDS
    look(page, "case-assessment-words-refused")
    form.get_by_label("Evicted in the past five years").check()
    # An optional scale is chosen on its points (and may be taken back); a date is a date.
    settled = form.get_by_role("group", name=re.compile("^How settled the client feels"))
    settled.get_by_label("4").check()
    settled.get_by_label("No answer").check()
    settled.get_by_label("2").check()
    form.get_by_label(re.compile("^When the eviction happened")).fill("2023-05-01")
    form.get_by_role("button", name="Record the assessment").click()
    page.get_by_text("The assessment is recorded. The case is now at plan.").wait_for()
    assert _hunger_screen(on_desk, "housing_barriers")["answers"] == {
        "evicted": True,
        "housing_stability": 2,
        "evicted_on": "2023-05-01",
    }
    assert _hunger_screen(on_desk)["answers"] == {
        "worried_food_would_run_out": "never_true",
        "food_did_not_last": "sometimes_true",
    }
    page.goto(f"{DESK}/cases/{on_desk}")
    page.get_by_text(
        "Food insecurity (statements often or sometimes true): 1 (positive)"
    ).wait_for()
    page.get_by_text("Answers").last.click()  # the housing barriers' answers, words and all
    page.get_by_text(WORDS).wait_for()
    assert WORDS not in surfaces_text(stack, [factories.where_it_waits(on_desk).flow_run_id])
    look(page, "case-hunger-screen-recorded")

    # The intake details on the desk: refused in place, what was typed kept; then recorded.
    details = page.locator("#intake-details")
    details.get_by_label(re.compile("^Last landlord")).fill("Ms Example")
    details.get_by_role("button", name="Record the intake details").click()
    details = page.locator("#intake-details")
    details.get_by_text("Answer this: it is required.").wait_for()
    assert details.get_by_label(re.compile("^Last landlord")).input_value() == "Ms Example"
    details.get_by_label(re.compile("^People in the household")).fill("3")
    details.get_by_role("button", name="Record the intake details").click()
    # Housing is HUD-funded: its intake details ask HMIS's questions too, whose tick boxes
    # (race and ethnicity) are recorded unticked as "no".
    boxes = sum(1 for q in hmis.questions("start") if q["type"] == "yes_no")
    page.get_by_text(f"The intake details are recorded ({2 + boxes} answered).").wait_for()
    page.locator("#intake-details").get_by_text("Ms Example").wait_for()
    look(page, "case-intake-details")
    page.close()


def _closed(case_number: str) -> bool:
    with session_scope(read_only=True) as session:
        return cases.get_case(session, case_number).status == "closed"


def test_an_agency_asks_its_own_questions_at_closure(  # type: ignore[no-untyped-def]
    browser,
    stack: str,
    carried_closure: tuple[str, str],
    with_hunger_screen: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from tests.casework.test_cli import approved_by_cli, run_cli

    # The case that waited at closure before the questions were added is carried over by
    # the restart: it waits under the new questions, and answers them.
    by_cli, tag = _carried_over(carried_closure, Stage.CLOSURE)
    on_desk, _ = factories.case_waiting_at(Stage.CLOSURE)

    # The command line: the example answers the coded question and shows the place of the
    # one bearing identity; a form without the required one is refused by name.
    code, out, _ = run_cli(capsys, "form", "closure", "--program", "housing", "--example")
    example = json.loads(out)
    own = {k: v for k, v in example["questions"].items() if not k.startswith("hmis_")}
    assert own == {"destination": "rental_no_subsidy", "forwarding_address": ""}
    assert example["questions"]["hmis_destination"].startswith("hud_")  # housing: HUD-funded
    form = tmp_path / "closure.json"
    form.write_text(json.dumps({k: v for k, v in example.items() if k != "questions"}))
    code, _, err = run_cli(capsys, "submit", by_cli, "closure", "--file", str(form))
    assert (code, err.count("\n")) == (1, 1)
    assert "closure form: questions: Field required" in err
    answered = {"destination": "with_family", "forwarding_address": ADDRESS}
    form.write_text(json.dumps(example | {"questions": answered}))
    code, out, err = run_cli(capsys, "submit", by_cli, "closure", "--file", str(form), "--wait")
    assert code == 0, err
    approved_by_cli(capsys, by_cli)  # housing's supervisor signs the closure off
    code, out, _ = run_cli(capsys, "show", by_cli)
    assert "    Where the client went: Staying with family, temporary" in out
    assert f"    Forwarding address: {ADDRESS}" in out
    with session_scope(read_only=True) as session:
        run_id = cases.episode_of(session, cases.get_case(session, by_cli)).flow_run_id
    assert run_id is not None
    surfaces = surfaces_text(stack, [run_id])
    assert ADDRESS not in surfaces
    assert "Staying with family, temporary" in surfaces  # the coded answer, as given

    # The Resume dialog asks the coded question by its label and says where the other is.
    waiting = wait_for(
        "its run to wait under the new questions",
        lambda: _waits_under(on_desk, tag) and factories.where_it_waits(on_desk),
    )
    page, dialog = _open_dialog(browser, stack, waiting.flow_run_id, f"Closure form for {on_desk}")
    text = dialog.inner_text()
    assert "Where the client went" in text
    # and, housing being HUD-funded, HMIS's exit questions that bear identity likewise
    not_here = "Answered on the desk or with casework submit, not here: Forwarding address; "
    assert not_here in text
    assert "Survivor of domestic violence (HMIS 4.11)" in text.split(not_here)[1]
    SHOTS.mkdir(exist_ok=True)
    dialog.screenshot(path=SHOTS / "closure-dialog-program-questions.png")
    page.close()

    # The desk: both asked in the closure form; the answers shown in the case's history.
    page = signed_in_page(browser, "cm.tester", PASSWORD)
    page.goto(f"{DESK}/cases/{on_desk}")
    form_on_page = page.locator("#stage-form")
    form_on_page.get_by_role("group", name="The program's questions").wait_for()
    look(page, "case-closure-program-questions")
    form_on_page.get_by_label(re.compile("^Reason")).select_option(label="Goals met")
    form_on_page.get_by_role("group", name=re.compile("^Follow up consent")).get_by_label(
        "Yes"
    ).check()
    form_on_page.get_by_label(re.compile("^Where the client went")).select_option(
        label="Rental by client, no ongoing subsidy"
    )
    form_on_page.get_by_label(re.compile("^Forwarding address")).fill(ADDRESS)
    form_on_page.get_by_role("button", name="Record the closure").click()
    page.get_by_text("The closure form is given; it waits for a supervisor's approval.").wait_for()
    services.approvals.decide(on_desk, "sup.housing", True, wait=True)
    wait_for("the desk's case to close", lambda: _closed(on_desk))
    page.goto(f"{DESK}/cases/{on_desk}")
    history = page.locator("#history")
    history.get_by_text("Rental by client, no ongoing subsidy").wait_for()
    history.get_by_text(ADDRESS).wait_for()
    look(page, "case-closed-program-answers")
    page.close()
