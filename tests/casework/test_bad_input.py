"""The bad-input matrix: over a hundred things a person can type wrong, each refused in
one line that names what is wrong, with a non-zero exit (1; 2 for a usage error, as
argparse has it), and nothing changed in the store. No traceback, ever."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from casework.core.db import engine_for, migrate, session_scope
from casework.core.settings import get_settings
from casework.models import benefits, stage_events
from casework.models.base import Base
from casework.models.codes import BenefitKind, Program, Stage
from casework.models.lifecycle import STAGES
from tests import factories
from tests.casework.test_cli import run_cli

USAGE, REFUSED = 2, 1
ROOT = Path(__file__).resolve().parents[2]
STORE = engine_for(get_settings().store_url)
TODAY = date.today()
FAR = "9999-12-31"
ESC, NUL = "\x1b[31m", "\x00"


def _example(stage: Stage) -> dict[str, Any]:
    example = STAGES[stage].example
    assert example is not None
    return example(TODAY, "cm.a", Program.HOUSING).model_dump(mode="json")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _client(**changes: Any) -> dict[str, Any]:
    return {
        "given_name": "Ana",
        "family_name": "Zed",
        "date_of_birth": "1990-01-01",
        "phone": "555 0100",
    } | changes


def _assessment(**changes: Any) -> dict[str, Any]:
    return _example(Stage.ASSESSMENT) | changes


def _matrix(scores: dict[str, Any] | None = None, **screen: Any) -> dict[str, Any]:
    """The assessment with the matrix's scores replaced (or changed) and its screen changed."""
    matrix = _example(Stage.ASSESSMENT)["self_sufficiency_matrix"]
    given = {
        "scores": matrix["scores"] if scores is None else scores,
        "crisis_screen": matrix["crisis_screen"] | screen,
    }
    return _assessment(self_sufficiency_matrix=given)


def _scores(**changes: Any) -> dict[str, Any]:
    return _matrix(_example(Stage.ASSESSMENT)["self_sufficiency_matrix"]["scores"] | changes)


def _plan(**changes: Any) -> dict[str, Any]:
    return _example(Stage.PLAN) | changes


def _goal(**changes: Any) -> dict[str, Any]:
    return _plan(goals=[_example(Stage.PLAN)["goals"][0] | changes])


FILES: dict[str, bytes | str | dict[str, Any] | list[Any]] = {
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfd",
    "nested": _nested(5000),
    "nested30": _nested(30),
    "empty": "",
    "list": [1, 2, 3],
    "no_family": {"given_name": "Ana", "date_of_birth": "1990-01-01"},
    "dob_future": _client(date_of_birth=(TODAY + timedelta(days=3)).isoformat()),
    "dob_1800": _client(date_of_birth="1800-01-01"),
    "dob_text": _client(date_of_birth="last spring"),
    "dob_number": _client(date_of_birth=19900101),
    "name_nul": _client(given_name=f"Ana{NUL}"),
    "name_esc": _client(given_name=f"{ESC}Ana"),
    "name_crlf": _client(family_name="Zed\r\nInjected: yes"),
    "address_newline": _client(address="1 Main St\nApt 2"),
    "phone_letters": _client(phone="call me maybe"),
    "language": _client(language="english"),
    "preference": _client(contact_preference="carrier pigeon"),
    "extra": _client(ssn="123-45-6789"),
    "name_blank": _client(given_name="   "),
    "name_long": _client(given_name="A" * 101),
    "name_number": _client(given_name=5),
    "score_text": _scores(housing="1"),
    "score_true": _scores(housing=True),
    "score_float": _scores(housing=1.0),
    "score_zero": _scores(housing=0),
    "score_six": _scores(housing=6),
    "score_missing": _matrix({"housing": 3}),
    "participated_text": _assessment(client_participated="yes"),
    "participated_one": _assessment(client_participated=1),
    "crisis_text": _matrix(homeless_tonight="true"),
    "strength_unknown": _assessment(strengths=["charisma"]),
    "form_extra": _assessment(mood="fine"),
    "submitter_bad": _assessment(submitted_by="Bad Name"),
    "submitter_nul": _assessment(submitted_by=f"cm.a{NUL}"),
    "agreed_far": _plan(agreed_on=FAR),
    "agreed_1999": _plan(agreed_on="1999-01-01"),
    "agreed_number": _plan(agreed_on=20260101),
    "agreed_future": _plan(agreed_on=(TODAY + timedelta(days=2)).isoformat()),
    "goals_empty": _plan(goals=[]),
    "goal_domain": _goal(domain="legal"),
    "target_far": _goal(target_date=FAR),
    "referral_unknown": {
        "submitted_by": "cm.a",
        "referrals": [{"service": "housing_search", "provider": "no-such-agency"}],
    },
    "referral_code": {
        "submitted_by": "cm.a",
        "referrals": [{"service": "housing_search", "provider": "has spaces"}],
    },
    "monitoring_decision": {"submitted_by": "cm.a", "decision": "vanish"},
    "closure_reason": {"submitted_by": "cm.a", "reason": "bored", "follow_up_consent": True},
    "closure_consent": {"submitted_by": "cm.a", "reason": "goals_met", "follow_up_consent": "no"},
    "narrative_esc": f"Met the client.{ESC} Fine.",
    "narrative_blank": "   \n",
    "hsds_list": [],
    "existing": "my own file\n",
    "toml_binary": b"\xff\xfe[housing]\x00",
    # Numbers past any field, and keys given twice (the last would silently win).
    "phone_huge": '{"given_name": "Ana", "family_name": "Zed", "phone": ' + "9" * 5000 + "}",
    "score_huge": json.dumps(_assessment()).replace('"housing": ', '"housing": ' + "1" * 5000, 1),
    "score_inf": json.dumps(_assessment()).replace('"housing": ', '"housing": 1e400, "x": ', 1),
    "score_nan": json.dumps(_assessment()).replace('"housing": ', '"housing": NaN, "y": ', 1),
    "name_twice": '{"given_name": "Ana", "given_name": "Eve", "family_name": "Zed"}',
    "hsds_twice": '{"services": [], "services": [{"id": "x"}]}',
}


def _write(folder: Path, name: str, content: Any) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    return path


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    migrate()
    folder = tmp_path_factory.mktemp("bad-input")
    found = {name: str(_write(folder, name, content)) for name, content in FILES.items()}
    with session_scope() as session:
        case = factories.new_case(session)
        stage_events.record_stage(
            session, case.case_number or "", 1, case.stage_key, None, "system", factories.now()
        )
        at_referral = factories.walk_to(
            session, factories.new_case(session), Stage.REFERRAL, factories.now()
        )
        found |= {"case": case.case_number or "", "referral_case": at_referral.case_number or ""}
        # A case with SNAP and a notice whose aid-continuing deadline has passed.
        with_notice = factories.new_case(session)
        benefits.record_benefit(
            session,
            with_notice,
            BenefitKind.SNAP,
            TODAY + timedelta(days=90),
            "cm.a",
            factories.now(),
        )
        factories.notice(
            session, with_notice, TODAY - timedelta(days=20), TODAY - timedelta(days=5)
        )
        found["notice_case"] = with_notice.case_number or ""
    # An agency's programs file asking an instrument of its own, whose file has a mistake.
    agency = folder / "agency"
    (agency / "instruments").mkdir(parents=True)
    (agency / "programs.toml").write_text(
        (ROOT / "models" / "programs.toml")
        .read_text()
        .replace("[housing]\n", '[housing]\nassessment = ["hunger_vital_sign"]\n', 1)
    )
    (agency / "instruments" / "hunger_vital_sign.toml").write_text(
        (ROOT / "models" / "instruments" / "hunger_vital_sign.toml")
        .read_text()
        .replace('type = "choice"', 'type = "slider"', 1)
    )
    found["bad_instrument"] = str(agency / "programs.toml")
    found["agency"] = str(agency)
    found["missing"] = str(folder / "missing.json")
    found["esc_text"] = f"Called the client.{ESC} Fine."
    found["cr_text"] = "Called.\rOverwritten"
    found["folder"] = str(folder)
    found["store"] = get_settings().store_url.split("///", 1)[1]
    found["data"] = str(get_settings().data_dir)
    return found


_PAST = str(TODAY - timedelta(days=1))
_SOON = str(TODAY + timedelta(days=30))
_WEEK_AGO = str(TODAY - timedelta(days=7))
_LONG_AGO = str(TODAY - timedelta(days=200))
# (argv with {placeholders}, what the one line must say, exit code)
MATRIX: list[tuple[str, str, int]] = [
    # intake: the client file
    ("intake --program housing --file {binary}", "is not UTF-8 text", REFUSED),
    ("intake --program housing --file {nested}", "nested more than 20 levels", REFUSED),
    ("intake --program housing --file {nested30}", "nested more than 20 levels", REFUSED),
    ("intake --program housing --file {empty}", "client is not valid JSON", REFUSED),
    ("intake --program housing --file {list}", "client: form: Input should be", REFUSED),
    ("intake --program housing --file {no_family}", "family_name: Field required", REFUSED),
    ("intake --program housing --file {phone_huge}", "a number of 5000 digits (at", REFUSED),
    ("intake --program housing --file {name_twice}", 'key "given_name" is given twice', REFUSED),
    ("intake --program housing --file {dob_future}", "date_of_birth: Value error", REFUSED),
    ("intake --program housing --file {dob_1800}", "date_of_birth: Value error", REFUSED),
    ("intake --program housing --file {dob_text}", "date_of_birth:", REFUSED),
    ("intake --program housing --file {dob_number}", "not a number", REFUSED),
    ("intake --program housing --file {name_nul}", "without control characters", REFUSED),
    ("intake --program housing --file {name_esc}", "without control characters", REFUSED),
    ("intake --program housing --file {name_crlf}", "family_name:", REFUSED),
    ("intake --program housing --file {address_newline}", "address:", REFUSED),
    ("intake --program housing --file {phone_letters}", "phone:", REFUSED),
    ("intake --program housing --file {language}", "language:", REFUSED),
    ("intake --program housing --file {preference}", "contact_preference:", REFUSED),
    ("intake --program housing --file {extra}", "ssn: Extra inputs are not permitted", REFUSED),
    ("intake --program housing --file {name_blank}", "given_name:", REFUSED),
    ("intake --program housing --file {name_long}", "given_name:", REFUSED),
    ("intake --program housing --file {name_number}", "given_name:", REFUSED),
    ("intake --program housing --file {missing}", "cannot read", REFUSED),
    ("intake --program housing --file {folder}", "cannot read", REFUSED),
    ("intake --program astrology --file {list}", "invalid choice: 'astrology'", USAGE),
    ("intake --program housing", "one of the arguments --file --client is required", USAGE),
    ("intake --program housing --client 42", "'42' is not a client number", USAGE),
    ("intake --program housing --client CLIENT-999999", "no client CLIENT-999999", REFUSED),
    ("intake --program housing --file {list} --client CLIENT-1", "not allowed with", USAGE),
    ("intake --program housing --file {list} --new-client maybe", "invalid choice", USAGE),
    # one person, many cases; transfers; the due list
    ("duplicates --min-score 0", "0 is not between 1 and 100", USAGE),
    ("merge CLIENT-1 Maria", "'Maria' is not a client number", USAGE),
    ("transfer {case} --to cm.a", "the following arguments are required: --reason", USAGE),
    ("transfer {case} --to cm.a --reason bored", "invalid choice: 'bored'", USAGE),
    ("transfer --to cm.a --reason staff_left", "give the cases to move, or --from", REFUSED),
    ("transfer {case} --from cm.a --to cm.tester --reason staff_left", "not both", REFUSED),
    ("transfer CASE-999999 --to cm.a --reason staff_left", "no case CASE-999999", REFUSED),
    ("transfer --from nobody --to cm.a --reason staff_left", "nobody has no open cases", REFUSED),
    ("transfer {case} --to Jane --reason staff_left", "'Jane' is not a staff id", USAGE),
    ("due --within -1", "-1 is not between 0 and 366", USAGE),
    ("due --within week", "'week' is not a whole number", USAGE),
    ("due --manager nobody", "--manager: nobody is not on the staff roster", REFUSED),
    # submit: the stage form
    ("submit {case} assessment --file {binary}", "is not UTF-8 text", REFUSED),
    ("submit {case} assessment --file {nested}", "nested more than 20 levels", REFUSED),
    ("submit {case} assessment --file {empty}", "is not valid JSON", REFUSED),
    ("submit {case} assessment --file {list}", "assessment form: form:", REFUSED),
    ("submit {case} assessment --file {score_text}", "scores.housing:", REFUSED),
    ("submit {case} assessment --file {score_true}", "scores.housing:", REFUSED),
    ("submit {case} assessment --file {score_float}", "scores.housing:", REFUSED),
    ("submit {case} assessment --file {score_zero}", "scores.housing:", REFUSED),
    ("submit {case} assessment --file {score_six}", "scores.housing:", REFUSED),
    ("submit {case} assessment --file {score_huge}", "digits (at most 100)", REFUSED),
    ("submit {case} assessment --file {score_inf}", "a number too large", REFUSED),
    ("submit {case} assessment --file {score_nan}", "NaN is not a number JSON allows", REFUSED),
    ("submit {case} assessment --file {score_missing}", "Field required", REFUSED),
    ("submit {case} assessment --file {participated_text}", "client_participated:", REFUSED),
    ("submit {case} assessment --file {participated_one}", "client_participated:", REFUSED),
    ("submit {case} assessment --file {crisis_text}", "homeless_tonight:", REFUSED),
    ("submit {case} assessment --file {strength_unknown}", "strengths.0:", REFUSED),
    ("submit {case} assessment --file {form_extra}", "mood: Extra inputs", REFUSED),
    ("submit {case} assessment --file {submitter_bad}", "submitted_by:", REFUSED),
    ("submit {case} assessment --file {submitter_nul}", "submitted_by:", REFUSED),
    ("submit {case} assessment --file {missing}", "cannot read", REFUSED),
    ("submit {case} plan --file {agreed_far}", "agreed_on:", REFUSED),
    ("submit {case} plan --file {agreed_1999}", "agreed_on:", REFUSED),
    ("submit {case} plan --file {agreed_number}", "agreed_on:", REFUSED),
    (
        "submit {case} plan --file {agreed_future}",
        "agreed_on: Value error, must not be in the future",
        REFUSED,
    ),
    ("submit {case} plan --file {goals_empty}", "goals:", REFUSED),
    ("submit {case} plan --file {goal_domain}", "belongs to domain", REFUSED),
    ("submit {case} plan --file {target_far}", "target_date:", REFUSED),
    (
        "submit {referral_case} referral --file {referral_unknown}",
        "no active provider no-such-agency",
        REFUSED,
    ),
    ("submit {referral_case} referral --file {referral_code}", "referrals.0.provider:", REFUSED),
    ("submit {case} monitoring --file {monitoring_decision}", "decision:", REFUSED),
    ("submit {case} closure --file {closure_reason}", "reason:", REFUSED),
    ("submit {case} closure --file {closure_consent}", "follow_up_consent:", REFUSED),
    ("submit {case} plan --file {agreed_1999} --wait", "agreed_on:", REFUSED),
    (
        "submit {case} assessment --file {score_text} --narrative-file {binary}",
        "scores.housing:",
        REFUSED,
    ),
    # The assessment form is the case's program's own: the case is looked up first.
    ("submit CASE-999999 assessment --file {list}", "no case CASE-999999", REFUSED),
    ("submit {case} intake --file {list}", "invalid choice: 'intake'", USAGE),
    ("submit {case} assessment --file {list} --timeout nan", "--timeout", USAGE),
    ("submit {case} assessment --file {list} --timeout inf", "--timeout", USAGE),
    ("submit {case} assessment --file {list} --timeout -1", "--timeout", USAGE),
    ("submit {case} assessment --file {list} --timeout soon", "--timeout", USAGE),
    # narratives, notes, reasons: text a person typed
    ("note {case} --text", "expected one argument", USAGE),
    ("note {case} --text ' '", "note: text:", REFUSED),
    ("note {case} --text {esc_text}", "without control characters", REFUSED),
    ("note {case} --text {cr_text}", "without control characters", REFUSED),
    ("note {case} --text hi --type telepathy", "invalid choice: 'telepathy'", USAGE),
    ("note CASE-999999 --text hi", "no case CASE-999999", REFUSED),
    ("note not-a-case --text hi", "no case", REFUSED),
    ("reopen {case} --reason ' '", "--reason:", REFUSED),
    ("reopen {case} --reason {esc_text}", "without control characters", REFUSED),
    ("reassess {case} --reason whim", "invalid choice: 'whim'", USAGE),
    ("reassess {case} --reason crisis --note {esc_text}", "--note:", REFUSED),
    ("show CASE-999999", "no case CASE-999999", REFUSED),
    ("show ''", "no case", REFUSED),
    ("cases --stage limbo", "invalid choice: 'limbo'", USAGE),
    ("cases --program astrology", "invalid choice", USAGE),
    ("cases --page 0", "--page", USAGE),
    ("form intake", "invalid choice: 'intake'", USAGE),
    # time travel and sweeps
    (f"sweep --as-of {FAR}", "--as-of", USAGE),
    ("sweep --as-of 0001-01-01", "--as-of", USAGE),
    ("sweep --as-of yesterday", "is not a date or ISO time", USAGE),
    ("sweep --watch everything", "invalid choice: 'everything'", USAGE),
    (f"report --as-of {FAR}", "--as-of", USAGE),
    ("report --as-of soon", "is not a date or ISO time", USAGE),
    ("escalations --case CASE-999999", "no case CASE-999999", REFUSED),
    # benefits, waivers, follow-ups
    ("benefit {case} --kind snap --recertify-by " + _PAST, "is not in the future", REFUSED),
    ("benefit {case} --kind lottery --recertify-by " + _SOON, "invalid choice: 'lottery'", USAGE),
    ("benefit {case} --kind snap --recertify-by 2026-13-01", "is not a date", USAGE),
    ("benefit {case} --kind snap --recertify-by " + _SOON + " --ended", "not allowed with", USAGE),
    ("benefit {case} --kind snap", "one of the arguments", USAGE),
    ("waiver {case} --requirement homeless --expires " + _PAST, "is not in the future", REFUSED),
    ("waiver {case} --requirement nap --expires " + _SOON, "invalid choice: 'nap'", USAGE),
    ("follow-up {case} --day 99999999999999999999 --unreachable", "--day", USAGE),
    ("follow-up {case} --day abc --unreachable", "--day", USAGE),
    ("follow-up {case} --day 0 --unreachable", "--day", USAGE),
    (
        "follow-up {case} --day 30 --unreachable",
        "is open; follow-ups are for closed cases",
        REFUSED,
    ),
    ("follow-up {case} --day 30 --housing-kept maybe", "invalid choice: 'maybe'", USAGE),
    ("follow-up {case} --day 30", "give both", REFUSED),
    # notices of adverse action and fair hearings
    (
        "notice {case} --benefit snap --action discontinue --notice-date "
        + _PAST
        + " --effective "
        + _SOON,
        "--benefit: {case} has no active snap benefit to discontinue; record it first",
        REFUSED,
    ),
    (
        "notice {notice_case} --benefit snap --action reduce --notice-date "
        + _SOON
        + " --effective "
        + _SOON,
        "--notice-date: " + _SOON + " is in the future",
        REFUSED,
    ),
    (
        "notice {notice_case} --benefit snap --action reduce --notice-date "
        + _PAST
        + " --effective "
        + _WEEK_AGO,
        "--effective: " + _WEEK_AGO + " is before the notice date",
        REFUSED,
    ),
    (
        "notice {notice_case} --benefit snap --action reduce --notice-date "
        + _LONG_AGO
        + " --effective "
        + _PAST,
        "the window to request a hearing on a snap notice dated " + _LONG_AGO + " closed on",
        REFUSED,
    ),
    (
        "notice {notice_case} --benefit snap --action discontinue --notice-date "
        + str(TODAY - timedelta(days=20))
        + " --effective "
        + str(TODAY - timedelta(days=5)),
        "is already recorded as notice 1 of",
        REFUSED,
    ),
    (
        "notice {notice_case} --benefit lottery --action reduce --notice-date "
        + _PAST
        + " --effective "
        + _SOON,
        "invalid choice: 'lottery'",
        USAGE,
    ),
    (
        "notice {notice_case} --benefit snap --action stop --notice-date "
        + _PAST
        + " --effective "
        + _SOON,
        "invalid choice: 'stop'",
        USAGE,
    ),
    (
        "notice {notice_case} --benefit snap --action reduce --notice-date 2026-02-30 "
        "--effective " + _SOON,
        "is not a date",
        USAGE,
    ),
    (
        "notice {notice_case} --benefit snap --action reduce --notice-date " + _PAST,
        "the following arguments are required: --effective",
        USAGE,
    ),
    (
        "notice {notice_case} --benefit snap --action reduce --notice-date "
        + _PAST
        + " --effective "
        + _SOON
        + " --reason whim",
        "invalid choice: 'whim'",
        USAGE,
    ),
    (
        "notice CASE-999999 --benefit snap --action deny --notice-date "
        + _PAST
        + " --effective "
        + _SOON,
        "no case CASE-999999",
        REFUSED,
    ),
    ("hearing {notice_case} --notice 1", "one of the arguments", USAGE),
    ("hearing {notice_case} --notice 0 --requested-on " + _PAST, "--notice", USAGE),
    (
        "hearing {notice_case} --notice 7 --requested-on " + _PAST,
        "--notice: {notice_case} has no notice 7; recorded: 1",
        REFUSED,
    ),
    (
        "hearing {notice_case} --notice 1 --requested-on " + _PAST + " --declined-on " + _PAST,
        "not allowed with",
        USAGE,
    ),
    ("hearing {notice_case} --notice 1 --requested-on " + _SOON, "is in the future", REFUSED),
    (
        "hearing {notice_case} --notice 1 --requested-on " + _LONG_AGO,
        "is before the notice's date",
        REFUSED,
    ),
    (
        "hearing {notice_case} --notice 1 --requested-on " + str(TODAY) + " --aid-continuing yes",
        "--aid-continuing: aid cannot continue: requested after the aid-continuing deadline",
        REFUSED,
    ),
    (
        "hearing {notice_case} --notice 1 --declined-on " + _PAST + " --aid-continuing no",
        "--aid-continuing: goes with --requested-on",
        REFUSED,
    ),
    (
        "hearing {notice_case} --notice 1 --decision upheld",
        "--on: give the decision's date",
        REFUSED,
    ),
    (
        "hearing {notice_case} --notice 1 --requested-on " + _PAST + " --on " + _PAST,
        "--on: give the decision's date with --decision, and only with it",
        REFUSED,
    ),
    (
        "hearing {notice_case} --notice 1 --decision upheld --on " + _PAST,
        "--decision: no hearing on notice 1 of {notice_case} was requested",
        REFUSED,
    ),
    ("hearing {notice_case} --notice 1 --decision maybe --on " + _PAST, "invalid choice", USAGE),
    ("hearing CASE-999999 --notice 1 --declined-on " + _PAST, "no case CASE-999999", REFUSED),
    ("doc {notice_case} hearing-request", "needs the notice (--notice N)", REFUSED),
    ("doc {notice_case} plan --notice 1", "only a hearing-request letter takes one", REFUSED),
    ("doc {notice_case} notes --format docx", "--format: invalid choice: 'docx'", USAGE),
    ("report --pdf {data}/report.pdf", "report.pdf is inside Casework's data", REFUSED),
    (
        "doc {notice_case} hearing-request --notice 4",
        "--notice: {notice_case} has no notice 4",
        REFUSED,
    ),
    # the provider directory, consent, referral answers
    ("providers import {binary}", "is not UTF-8 text", REFUSED),
    ("providers import {hsds_twice}", 'the key "services" is given twice', REFUSED),
    ("providers import {nested}", "nested more than 40 levels", REFUSED),
    ("providers import {missing} --partners {binary}", "is not UTF-8 text", REFUSED),
    ("providers import {missing}", "cannot read", REFUSED),
    ("providers list --service magic", "invalid choice: 'magic'", USAGE),
    ("consent {case} --provider nobody-here", "no provider nobody-here", REFUSED),
    ("consent {case} --provider '*' --given-on " + _SOON, "is in the future", REFUSED),
    ("consent {case} --provider '*' --given-on someday", "is not a date", USAGE),
    ("referral REF-999999 --status accepted", "REF-999999", REFUSED),
    ("referral REF-999999 --status maybe", "invalid choice: 'maybe'", USAGE),
    ("referral REF-999999 --status rejected --reason {esc_text}", "--reason:", REFUSED),
    # documents and reports: where they go
    (
        "doc {case} notes --from " + _PAST + " --to " + _PAST + " --out /proc/nope/x.md",
        "cannot write",
        REFUSED,
    ),
    (
        "doc {case} notes --from " + _PAST + " --to " + _PAST + " --out {store} --force",
        "inside Casework's data",
        REFUSED,
    ),
    (
        "doc {case} notes --from " + _PAST + " --to " + _PAST + " --out {data}/x.md",
        "inside Casework's data",
        REFUSED,
    ),
    (
        "doc {case} notes --from " + _PAST + " --to " + _PAST + " --out {existing}",
        "already exists",
        REFUSED,
    ),
    (
        "doc {case} notes --from " + _PAST + " --to " + _PAST + " --out {folder}",
        "is a directory",
        REFUSED,
    ),
    ("doc {case} notes --from " + str(TODAY) + " --to " + _PAST, "--from not after --to", REFUSED),
    ("doc {case} notes", "needs both dates", REFUSED),
    ("doc {case} referral", "needs the referral", REFUSED),
    ("doc {case} plan REF-000001", "only a referral letter or a consent form takes one", REFUSED),
    ("doc {case} plan", "has no plan yet", REFUSED),
    ("doc {case} memo", "invalid choice: 'memo'", USAGE),
    ("report --html {existing}", "already exists", REFUSED),
    ("report --html {store} --force", "inside Casework's data", REFUSED),
    # the stack
    ("up --port 99999", "not a TCP port", USAGE),
    ("up --port 0", "not a TCP port", USAGE),
    ("up --port http", "not a port number", USAGE),
    ("up --demo -1", "--demo", USAGE),
    ("up --prefect-database-url mysql://db/prefect", "is not a postgresql:// URL", USAGE),
    ("up --prefect-database-url sqlite:///x.db", "is not a postgresql:// URL", USAGE),
    ("prefect-server --api-servers 0", "--api-servers", USAGE),
    ("prefect-server --redis-url http://x", "is not a redis://host:port/db URL", USAGE),
    ("prefect-server --prefect-database-url sqlite:///x.db", "is not a postgresql:// URL", USAGE),
    ("worker --pool Casework!", "is not a work pool name", USAGE),
    ("worker --limit 0", "--limit", USAGE),
    ("demo --cases 0", "--cases", USAGE),
    ("demo --cases 100000", "--cases", USAGE),
    ("repair CASE-999999", "no case CASE-999999", REFUSED),
    ("launch", "invalid choice: 'launch'", USAGE),
    # staff, the access log, webhook secrets
    ("staff add Rivera", "is not a staff id", USAGE),
    ("staff add cm.new --role case_manager --programs housing,mars", "unknown program mars", USAGE),
    ("staff add cm.new --role case_manager", "is not on the roster file", REFUSED),
    ("staff add cm.rivera --role supervisor", "is case_manager on the roster file", REFUSED),
    ("staff add cm.new --role chief --programs housing", "invalid choice: 'chief'", USAGE),
    ("staff add cm.new --role case_manager --programs housing --login 'a b'", "OS login", USAGE),
    ("staff deactivate cm.rivera", "set active = false there", REFUSED),
    ("staff deactivate cm.nobody", "cm.nobody is not on the roster", REFUSED),
    ("access-log --case CASE-999999", "no case CASE-999999", REFUSED),
    ("access-log --staff 'Bad Name'", "is not a staff id", USAGE),
    ("webhook-secret mars", "invalid choice: 'mars'", USAGE),
    # messages to clients: how to reach them, their consent
    ("messaging {case} --allow fax", "invalid choice: 'fax'", USAGE),
    (
        "messaging {case} --email not-an-address --allow sms",
        "--email: 'not-an-address' is not an email address",
        REFUSED,
    ),
    ("messaging {case} --phone 12 --allow sms", "--phone: '12' is not a phone number", REFUSED),
    ("messaging {case} --allow sms --withdraw sms", "name the same channel", REFUSED),
    ("messaging {case} --withdraw email", "no consent to email messages to withdraw", REFUSED),
    ("messaging {case} --on 2026-01-01", "--on: the day a consent given with --allow", REFUSED),
    ("messaging {case} --allow sms --on 2099-01-01", "--on: 2099-01-01 is in the future", REFUSED),
    ("messaging CASE-999999 --allow sms", "no case CASE-999999", REFUSED),
]

# Bad settings: each names its variable.
SETTINGS: list[tuple[str, str, str]] = [
    ("CASEWORK_RUNNER_POLL_SECONDS", "abc", "CASEWORK_RUNNER_POLL_SECONDS:"),
    ("CASEWORK_RUNNER_POLL_SECONDS", "nan", "CASEWORK_RUNNER_POLL_SECONDS:"),
    ("CASEWORK_PARTNER_RETRY_SECONDS", "notalist", "CASEWORK_PARTNER_RETRY_SECONDS:"),
    ("CASEWORK_PARTNER_RETRY_SECONDS", "[-5]", "CASEWORK_PARTNER_RETRY_SECONDS:"),
    ("CASEWORK_PARTNER_TIMEOUT_SECONDS", "inf", "CASEWORK_PARTNER_TIMEOUT_SECONDS:"),
    ("CASEWORK_WEBHOOK_ATTEMPTS", "many", "CASEWORK_WEBHOOK_ATTEMPTS:"),
    ("CASEWORK_HEARTBEAT_SECONDS", "10", "CASEWORK_HEARTBEAT_SECONDS:"),
    ("CASEWORK_LOST_RUN_SECONDS", "soon", "CASEWORK_LOST_RUN_SECONDS:"),
    # Two variables that must fit together: the line names both.
    (
        "CASEWORK_HEARTBEAT_SECONDS",
        "60",
        "CASEWORK_LOST_RUN_SECONDS (90) must be at least twice CASEWORK_HEARTBEAT_SECONDS (60)",
    ),
    ("CASEWORK_REDIS_URL", "http://redis", "CASEWORK_REDIS_URL:"),
    ("CASEWORK_PREFECT_RETENTION_DAYS", "0", "CASEWORK_PREFECT_RETENTION_DAYS:"),
    ("CASEWORK_ACTOR", "Bad Actor", "CASEWORK_ACTOR:"),
    ("CASEWORK_ACTOR", "pm.housing", "CASEWORK_ACTOR: pm.housing is not a staff id your login"),
    ("CASEWORK_DEV_MODE", "maybe", "CASEWORK_DEV_MODE:"),
    ("CASEWORK_DATABASE_URL", "mysql://db/casework", "CASEWORK_DATABASE_URL:"),
    (
        "CASEWORK_DATABASE_URL",
        "sqlite:////etc/passwd",
        "sqlite:////etc/passwd is not a case store Casework can open (file is not a database)",
    ),
    ("CASEWORK_DATABASE_URL", "sqlite:////tmp", "sqlite:////tmp is not a case store"),
    ("CASEWORK_SCHEDULES", "sometimes", "CASEWORK_SCHEDULES:"),
    ("CASEWORK_QUIET_HOURS", "25:00-08:00", "CASEWORK_QUIET_HOURS:"),
    ("CASEWORK_QUIET_HOURS", "evenings", "CASEWORK_QUIET_HOURS:"),
    ("CASEWORK_SMS_URL", "json://gateway/sms", "CASEWORK_SMS_URL:"),
    ("CASEWORK_SMTP_URL", "http://relay", "CASEWORK_SMTP_URL:"),
    ("CASEWORK_SMS_REPLY_TOKEN", "short", "CASEWORK_SMS_REPLY_TOKEN:"),
    ("CASEWORK_MESSAGE_RETRY_MINUTES", "[]", "CASEWORK_MESSAGE_RETRY_MINUTES:"),
    ("CASEWORK_PREFECT_DATABASE_URL", "sqlite:///p.db", "CASEWORK_PREFECT_DATABASE_URL:"),
    ("CASEWORK_WORK_POOL", "My Pool", "CASEWORK_WORK_POOL:"),
    ("CASEWORK_PROGRAMS_FILE", "{toml_binary}", "CASEWORK_PROGRAMS_FILE:"),
]


def _fingerprint() -> dict[str, int]:
    """Rows in every table, read with the store's engine as the suite configured it (a
    bad setting under test must not change which store is looked at)."""
    with session_scope(STORE, read_only=True) as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def _argv(template: str, places: dict[str, str]) -> list[str]:
    import shlex

    return [part.format(**places) for part in shlex.split(template)]


def _refused_in_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> str:
    before = _fingerprint()
    got, out, err = run_cli(capsys, *argv)
    assert (got, out) == (code, ""), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert "unexpected" not in err, err
    assert _fingerprint() == before, "a refused command changed the store"
    return err


def _ids(rows: list[tuple[str, ...]]) -> list[str]:
    return [row[0][:60] for row in rows]


@pytest.mark.parametrize(("template", "expected", "code"), MATRIX, ids=_ids(MATRIX))
def test_bad_input_is_refused_in_one_line(capsys, places, template, expected, code) -> None:
    err = _refused_in_one_line(capsys, _argv(template, places), code)
    assert expected.format(**places) in err
    assert ESC not in err
    assert NUL not in err


@pytest.mark.parametrize(("variable", "value", "expected"), SETTINGS, ids=_ids(SETTINGS))
def test_a_bad_setting_names_its_variable(
    capsys, places, monkeypatch, variable, value, expected
) -> None:
    monkeypatch.setenv(variable, value.format(**places))
    get_settings.cache_clear()
    from casework.models.programs import load_programs

    load_programs.cache_clear()
    try:
        err = _refused_in_one_line(capsys, ["cases"], REFUSED)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        load_programs.cache_clear()
    assert err.startswith(f"casework: error: {expected}"), err


@pytest.mark.parametrize(
    ("variable", "content", "expected"),
    [
        ("CASEWORK_NOTICES_FILE", "toml_binary", "CASEWORK_NOTICES_FILE:"),
        ("CASEWORK_NOTICES_FILE", "list", "CASEWORK_NOTICES_FILE:"),
        ("CASEWORK_PROGRAMS_FILE", "list", "CASEWORK_PROGRAMS_FILE:"),
        (
            "CASEWORK_PROGRAMS_FILE",
            "bad_instrument",
            "{agency}/instruments/hunger_vital_sign.toml: "
            "items[0] (worried_food_would_run_out).type: Input should be",
        ),
    ],
)
def test_casework_up_refuses_a_bad_configuration_file_before_it_starts(
    places: dict[str, str], tmp_path: Path, variable: str, content: str, expected: str
) -> None:
    """`up` reads every configuration file first: a bad one stops it in one line, before a
    server starts (the benefits watch would otherwise fail on it every morning)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {variable: places[content], "CASEWORK_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "casework", "up", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(f"casework: error: {expected.format(**places)}"), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Dashboard" not in done.stdout
