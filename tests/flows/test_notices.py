"""A notice of adverse action walked through each path on the real stack (the session's
`casework up`: its Prefect server and runner), with the commands a case manager types:
a hearing requested in time with aid continuing, a hearing requested late, and no request
at all (the benefits watch climbing the ladder on the configured days, at `as_of` dates).
Time moves by `as_of` and by the notice's own dates, never by sleeping."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from casework.core.db import session_scope
from casework.flows.sweeps import benefits_watch
from casework.models import cases
from casework.models.codes import NeedsDomain, Stage, Trigger
from casework.models.orm import Escalation
from tests import factories
from tests.casework.test_cli import approved_by_cli, run_cli
from tests.casework.test_transfers import prefect_away
from tests.polling import wait_for
from tests.prefect_surfaces import api_post, case_events, identity_strings, surfaces_text

pytestmark = pytest.mark.prefect
TODAY = date.today()


def _ladder(case_number: str) -> list[tuple[int, str, bool]]:
    """(level, recipient, still open) of the case's notice escalations."""
    with session_scope(read_only=True) as session:
        rows = session.scalars(
            select(Escalation)
            .where(Escalation.case_number == case_number, Escalation.rule == "adverse_notice")
            .order_by(Escalation.level)
        )
        return [(row.level, row.recipient, row.resolved_at is None) for row in rows]


def _watch(case_number: str, day: date) -> None:
    """The benefits watch for one case, as of 09:00 UTC on `day` (a real flow run)."""
    as_of = datetime.combine(day, time(9), tzinfo=UTC)
    state = benefits_watch(as_of=as_of, case_number=case_number, return_state=True)
    assert state.is_completed(), state


def _card(stack: str, case_number: str) -> str:
    """The newest case card on the case's own run."""
    with session_scope(read_only=True) as session:
        run_id = cases.episode_of(session, cases.get_case(session, case_number)).flow_run_id
    found = api_post(
        stack,
        "artifacts/filter",
        {
            "artifacts": {
                "key": {"any_": [case_number.lower()]},
                "flow_run_id": {"any_": [run_id]},
            },
            "sort": "CREATED_DESC",
            "limit": 1,
        },
    )
    return str(found[0]["data"]) if found else ""


def _with_snap(capsys: pytest.CaptureFixture[str]) -> tuple[str, object]:
    case_number, client = factories.case_waiting_at(Stage.MONITORING)
    recertify = str(TODAY + timedelta(days=120))
    code, _, err = run_cli(
        capsys, "benefit", case_number, "--kind", "snap", "--recertify-by", recertify
    )
    assert code == 0, err
    return case_number, client


def _ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert err == "", err  # no warning: Prefect took the case's sweep
    return out


def _notice(case_number: str, action: str, dated: date, effective: date) -> list[str]:
    """`casework notice` for the case's SNAP, as a case manager types it."""
    return [
        "notice",
        case_number,
        "--benefit",
        "snap",
        "--action",
        action,
        "--notice-date",
        str(dated),
        "--effective",
        str(effective),
    ]


def _submit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case_number: str, stage: str, form
) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{stage}-{form.__class__.__name__}.json"
    path.write_text(form.model_dump_json())
    return run_cli(capsys, "submit", case_number, stage, "--file", str(path), "--wait")


def test_a_hearing_requested_in_time_keeps_aid_stops_the_ladder_and_a_reversal_restores_it(
    stack: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    case_number, client = _with_snap(capsys)
    effective = TODAY + timedelta(days=14)
    out = _ok(
        capsys,
        *_notice(case_number, "discontinue", TODAY, effective),
        "--reason",
        "income_over_limit",
    )
    aid_deadline = TODAY + timedelta(days=13)
    assert f"notice 1 recorded (snap discontinue, effective {effective})" in out
    assert f"a hearing requested by {aid_deadline} keeps aid unchanged" in out
    assert f"last day to request a hearing {TODAY + timedelta(days=90)}" in out
    # Recording it swept the case on the runner: its case manager is told at once...
    wait_for("the notice's first rung", lambda: _ladder(case_number))
    assert _ladder(case_number) == [(1, "cm.tester", True)]
    # ...and the case card on the case's run shows the notice with its deadline.
    wait_for("the card to show the notice", lambda: "notice 1" in _card(stack, case_number))
    text = _card(stack, case_number)
    assert f"aid-continuing deadline {aid_deadline}" in text
    assert "open escalation: Notice of adverse action, level 1" in text

    out = _ok(capsys, "hearing", case_number, "--notice", "1", "--requested-on", str(TODAY))
    assert f"hearing requested {TODAY} (aid continuing)" in out
    wait_for("the ladder to stop", lambda: not any(still for *_, still in _ladder(case_number)))
    assert "awaiting the decision" in wait_for(
        "the card to show the request",
        lambda: "awaiting" in (card := _card(stack, case_number)) and card,
    )

    # The request letter, kept with the case: the client's name and address as the form
    # needs them, the notice's facts, and that aid is asked to continue.
    out = _ok(capsys, "doc", case_number, "hearing-request", "--notice", "1", "--format", "html")
    letter = Path(out.split(" (sha256")[0]).read_text()
    assert f"{client.family_name}, {client.given_name}" in letter  # type: ignore[attr-defined]
    assert "I ask that my benefits continue unchanged" in letter
    assert str(aid_deadline) in letter
    assert "Income over limit" in letter

    out = _ok(
        capsys,
        "hearing",
        case_number,
        "--notice",
        "1",
        "--decision",
        "reversed",
        "--on",
        str(TODAY),
    )
    assert "decided reversed" in out
    assert "snap is active again" in out
    shown = json.loads(_ok(capsys, "show", case_number, "--json"))
    assert [(b["kind"], b["active"]) for b in shown["benefits"]] == [("snap", True)]
    assert shown["notices"][0]["decision"] == "reversed"
    assert shown["notices"][0]["aid_continuing"] is True

    report = json.loads(_ok(capsys, "report", "--json"))
    [housing] = [row for row in report["notices"] if row["program"] == "housing"]
    assert housing["requested_in_time"] >= 1
    # None of it carries the client's identity onto Prefect.
    with session_scope(read_only=True) as session:
        run_id = cases.episode_of(session, cases.get_case(session, case_number)).flow_run_id
    seen = surfaces_text(stack, [run_id or ""]) + json.dumps(case_events(stack, case_number))
    assert not [value for value in identity_strings(client) if value in seen]


def test_a_late_request_gets_no_aid_and_an_upheld_notice_holds_monitoring_until_the_plan_covers_it(
    stack: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    case_number, _ = _with_snap(capsys)
    # Dated 20 days ago, effective 5 days ago: the aid-continuing deadline has passed.
    _ok(
        capsys,
        *_notice(case_number, "discontinue", TODAY - timedelta(20), TODAY - timedelta(5)),
    )
    # Past its deadline, every rung is told at once.
    wait_for("the notice's rungs", lambda: len(_ladder(case_number)) == 3)
    assert [recipient for _, recipient, _ in _ladder(case_number)] == [
        "cm.tester",
        "sup.housing",
        "pm.housing",
    ]
    code, out, err = run_cli(
        capsys,
        "hearing",
        case_number,
        "--notice",
        "1",
        "--requested-on",
        str(TODAY),
        "--aid-continuing",
        "yes",
    )
    assert (code, out) == (1, "")
    assert (
        "--aid-continuing: aid cannot continue: requested after the aid-continuing deadline" in err
    )
    out = _ok(capsys, "hearing", case_number, "--notice", "1", "--requested-on", str(TODAY))
    assert "(aid not continuing)" in out
    wait_for("the ladder to stop", lambda: not any(still for *_, still in _ladder(case_number)))

    out = _ok(
        capsys, "hearing", case_number, "--notice", "1", "--decision", "upheld", "--on", str(TODAY)
    )
    assert "the plan must now cover income_benefits" in out
    shown = json.loads(_ok(capsys, "show", case_number, "--json"))
    assert [(b["kind"], b["active"]) for b in shown["benefits"]] == [("snap", False)]

    # Monitoring may not go on, nor close, until the plan covers income and benefits.
    for decision in (Trigger.CONTINUE, Trigger.CLOSE):
        code, out, err = _submit(
            capsys, tmp_path, case_number, "monitoring", factories.monitoring(decision)
        )
        assert (code, out) == (1, ""), err
        assert "was upheld on" in err
        assert "choose revise_plan" in err
    code, out, err = _submit(
        capsys, tmp_path, case_number, "monitoring", factories.monitoring(Trigger.REVISE_PLAN)
    )
    assert code == 0, err
    plan = factories.plan(NeedsDomain.HOUSING, NeedsDomain.INCOME_BENEFITS)
    for stage, form in (("plan", plan), ("referral", factories.referral())):
        code, _, err = _submit(capsys, tmp_path, case_number, stage, form)
        assert code == 0, err
        if stage == "plan":  # housing's supervisor signs the revised plan off
            approved_by_cli(capsys, case_number)
    code, out, err = _submit(
        capsys, tmp_path, case_number, "monitoring", factories.monitoring(Trigger.CONTINUE)
    )
    assert code == 0, err
    assert "monitoring" in out


def test_an_unanswered_notice_climbs_on_the_configured_days_until_the_client_decides(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case_number, _ = _with_snap(capsys)
    _ok(
        capsys,
        *_notice(case_number, "reduce", TODAY, TODAY + timedelta(days=14)),
    )  # aid-continuing deadline: 13 days on
    wait_for("the notice's first rung", lambda: _ladder(case_number))
    _watch(case_number, TODAY + timedelta(days=9))  # 4 days left: the case manager's still
    assert _ladder(case_number) == [(1, "cm.tester", True)]
    _watch(case_number, TODAY + timedelta(days=10))  # 3 days before it: the supervisor
    assert _ladder(case_number)[1:] == [(2, "sup.housing", True)]
    _watch(case_number, TODAY + timedelta(days=12))  # the day before: the program manager
    assert _ladder(case_number)[2:] == [(3, "pm.housing", True)]
    _watch(case_number, TODAY + timedelta(days=45))  # the deadline passed: it stays there
    assert [still for *_, still in _ladder(case_number)] == [True, True, True]
    # Each rung went out as an event, coded only.
    events = wait_for(
        "the escalation events",
        lambda: len(found := case_events(stack, case_number)) >= 3 and found,
    )
    notices = [e for e in events if e["payload"].get("rule") == "adverse_notice"]
    assert sorted(e["payload"]["level"] for e in notices) == [1, 2, 3]

    out = _ok(capsys, "hearing", case_number, "--notice", "1", "--declined-on", str(TODAY))
    assert "not appealed (client's decision" in out
    wait_for("the ladder to stop", lambda: not any(still for *_, still in _ladder(case_number)))
    shown = json.loads(_ok(capsys, "show", case_number, "--json"))
    assert [(b["kind"], b["active"]) for b in shown["benefits"]] == [("snap", True)]  # reduced


def test_with_prefect_away_a_notice_is_kept_and_the_scheduled_watch_escalates_it(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case_number, _ = _with_snap(capsys)
    with prefect_away():
        code, out, err = run_cli(
            capsys,
            *_notice(case_number, "discontinue", TODAY, TODAY + timedelta(days=14)),
        )
    assert code == 0, err
    assert "notice 1 recorded" in out
    assert "the next scheduled benefits watch follows it up" in err
    assert _ladder(case_number) == []
    _watch(case_number, TODAY)
    assert _ladder(case_number) == [(1, "cm.tester", True)]
