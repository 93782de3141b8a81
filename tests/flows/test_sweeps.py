"""The sweeps as real flow runs on the session's Prefect server: escalations told by event
and webhook (a real HTTP server on loopback, healthy, failing or silent), the table
artifact, the level-3 automation, and the reassessment cadence resuming real case runs.
Time moves by `as_of` or by back-dating a case in the store, never by sleeping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from casework import services
from casework.core.db import session_scope
from casework.core.settings import get_settings, prefect_auth_headers
from casework.flows.sweeps import reassessment_cadence, stalled_case_sweep
from casework.models import cases
from casework.models.codes import Program, StaffRole, Stage
from casework.models.orm import AuditEvent, Case, Escalation
from casework.models.programs import DEFAULT_PROGRAMS_FILE
from casework.models.schemas import ContactIn
from casework.partner import WebhookReceiver
from casework.tasks.notifications import signature
from tests import factories
from tests.polling import wait_for
from tests.prefect_surfaces import api_post, case_events, identity_strings, surfaces_text

PARTNERS = Path(__file__).resolve().parents[2] / "docs" / "partners.md"

pytestmark = pytest.mark.prefect


def docs_receiver() -> Callable[[bytes, str, str, str], bool]:
    """The receiver of docs/partners.md, run as it is written there (each call a fresh one)."""
    text = PARTNERS.read_text()
    start = text.index("    import hashlib, hmac, time")
    end = text.index("\n\n", text.index("        return True", start))
    namespace: dict[str, Any] = {}
    exec("\n".join(line.removeprefix("    ") for line in text[start:end].splitlines()), namespace)
    return namespace["verified"]  # type: ignore[no-any-return]


def test_the_docs_receiver_refuses_what_we_did_not_sign_and_a_replay() -> None:
    verified = docs_receiver()
    body = b'{"event":"casework.case.escalated","case_number":"CASE-000001"}'
    key = "casework-escalation-1"
    now = int(time.time())
    good = signature("whsec_x", body, key, now)
    assert not verified(body.replace(b"0001", b"0002"), good, key, "whsec_x")  # body changed
    assert not verified(body, good, "casework-escalation-2", "whsec_x")  # key changed
    assert not verified(body, good, key, "whsec_other")  # another secret
    assert not verified(body, signature("whsec_x", body, key, now - 3600), key, "whsec_x")
    assert not verified(body, "", key, "whsec_x")  # anyone's POST
    assert verified(body, good, key, "whsec_x")
    assert not verified(body, good, key, "whsec_x"), "the same delivery again: a replay"
    # A retry is signed again (a nonce of its own), even within the same second.
    assert verified(body, signature("whsec_x", body, key, now), key, "whsec_x")


@pytest.fixture
def partner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A loopback webhook configured for the geriatric program (in this process's sweeps)."""
    receiver = WebhookReceiver(docs_receiver())  # checked as the docs' receiver does
    config = DEFAULT_PROGRAMS_FILE.read_text().replace(
        "[geriatric]\n", f'[geriatric]\nwebhook_url = "{receiver.url}"\n'
    )
    (tmp_path / "programs.toml").write_text(config)
    monkeypatch.setenv("CASEWORK_PROGRAMS_FILE", str(tmp_path / "programs.toml"))
    monkeypatch.setenv("CASEWORK_WEBHOOK_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("CASEWORK_WEBHOOK_ATTEMPTS", "2")
    get_settings.cache_clear()
    # The secret as an administrator hands it to the receiver's owner.
    shown = subprocess.run(
        [sys.executable, "-m", "casework", "webhook-secret", "geriatric"],
        capture_output=True,
        text=True,
        check=True,
    )
    receiver.secret = shown.stdout.strip()
    yield receiver
    assert receiver.refused == 0, "a POST not signed with the program's secret"
    receiver.close()
    monkeypatch.undo()
    get_settings.cache_clear()


def _escalations(case_number: str) -> list[Escalation]:
    with session_scope() as session:
        query = select(Escalation).where(Escalation.case_number == case_number)
        return list(session.scalars(query.order_by(Escalation.id)))


def _sweep(case_number: str, as_of: datetime | None = None) -> str:
    """Sweep one case in this process (a real flow run); returns the run's id."""
    state = stalled_case_sweep(as_of=as_of, case_number=case_number, return_state=True)
    assert state.is_completed(), state
    return str(state.state_details.flow_run_id)


def test_a_stalled_case_is_escalated_by_event_webhook_and_artifact(
    stack: str, partner: WebhookReceiver
) -> None:
    case_number, client = factories.stalled_case()
    run_id = _sweep(case_number)

    [row] = _escalations(case_number)
    assert (row.rule, row.level, row.recipient) == ("stage_overdue", 1, factories.STAFF)
    assert row.delivered_at is not None
    [(body, key)] = [(b, k) for b, k in partner.received if b["case_number"] == case_number]
    assert (body["rule"], body["level"], body["measured"]) == (
        "stage_overdue",
        1,
        "10 days in intake",
    )
    assert key == f"casework-escalation-{row.id}"
    events = wait_for("the escalation event", lambda: case_events(stack, case_number), 30)
    assert [(e["event"], e["resource"]["casework.level"]) for e in events] == [
        ("casework.case.escalated", "1")
    ]
    [table] = api_post(
        stack,
        "artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [run_id]}, "type": {"any_": ["table"]}}},
    )
    assert {"case_number": case_number, "rule": "stage_overdue", "level": 1} | {
        "action": "escalated to level 1"
    } in json.loads(table["data"])

    seen = surfaces_text(stack, [run_id]) + json.dumps(events) + json.dumps(partner.received)
    assert [value for value in identity_strings(client) if value in seen] == []

    _sweep(case_number)  # again: nothing new, nothing sent twice
    assert len(_escalations(case_number)) == 1
    assert [b for b, _ in partner.received if b["case_number"] == case_number] == [body]


def test_a_failing_webhook_is_retried_next_sweep_and_never_lost(
    stack: str, partner: WebhookReceiver
) -> None:
    first, _ = factories.stalled_case()
    second, _ = factories.stalled_case()
    partner.mode = "fail"
    _sweep(first)
    [failed] = _escalations(first)
    assert failed.delivered_at is None
    assert (failed.delivery_error, failed.delivery_attempts) == ("HTTP 500", 1)
    assert partner.attempts == 2  # CASEWORK_WEBHOOK_ATTEMPTS, with backoff between

    _sweep(second)  # the first is retried (and fails again); the second waits its turn
    [waiting] = _escalations(second)
    assert waiting.delivery_error is not None
    assert waiting.delivery_error.startswith("deferred")
    assert waiting.delivery_attempts == 0
    assert _escalations(first)[0].delivery_attempts == 2

    partner.mode = "ok"
    _sweep(first)
    assert all(row.delivered_at is not None for row in _escalations(first) + _escalations(second))
    delivered = {b["case_number"] for b, _ in partner.received}
    assert {first, second} <= delivered


def test_concurrent_sweeps_deliver_each_rung_once(stack: str, partner: WebhookReceiver) -> None:
    """Three sweeps at once, as of one moment: each escalation rung is claimed by one of
    them, so one webhook POST and one event per rung (and so one level-3 brief)."""
    numbers = [factories.stalled_case()[0]]
    as_of = datetime.now(UTC)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda n: _sweep(n, as_of), numbers * 3))
    rows = [row for n in numbers for row in _escalations(n)]
    assert len(rows) == 1
    assert all(row.delivered_at is not None and row.claimed_until is None for row in rows)
    posted = sorted(key for b, key in partner.received if b["case_number"] in numbers)
    assert posted == sorted(f"casework-escalation-{row.id}" for row in rows)
    for number in numbers:
        events = wait_for("the escalation event", lambda n=number: case_events(stack, n), 30)
        assert len(events) == 1


def test_a_silent_webhook_times_out_without_holding_the_sweep(
    stack: str, partner: WebhookReceiver
) -> None:
    first, _ = factories.stalled_case()
    second, _ = factories.stalled_case()
    partner.mode = "silent"
    _sweep(first)
    _sweep(second)
    assert _escalations(first)[0].delivery_error == "timed out"
    # Two timed-out attempts per sweep for the oldest; the newer one is not even tried.
    assert partner.attempts == 4
    assert (_escalations(second)[0].delivery_error or "").startswith("deferred")

    partner.mode = "ok"
    partner.release.set()
    _sweep(second)
    assert all(row.delivered_at is not None for row in _escalations(first) + _escalations(second))


def _latest(stack: str, key: str) -> dict[str, Any] | None:
    found = api_post(stack, "artifacts/latest/filter", {"artifacts": {"key": {"any_": [key]}}})
    return found[0] if found else None


def test_a_sweep_or_report_as_of_a_future_day_is_a_preview_that_writes_nothing(
    stack: str, partner: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Without the development switch a future `as_of` is a preview: the sweep says what
    it would raise and send, under `preview-` artifact keys, and writes no escalation,
    sends no webhook, emits no event and replaces no live artifact; the report likewise.
    Before, a sweep as of next month escalated and notified for real, and a report as of
    next month replaced the dashboard's live one."""
    from casework.cli import main
    from casework.flows.caseload_report import caseload_report

    case_number, _ = factories.stalled_case()
    monkeypatch.setenv("CASEWORK_WRITE_AHEAD", "off")
    get_settings.cache_clear()
    live_sweep = _latest(stack, "sweep-stalled-cases")
    live_report = _latest(stack, "caseload-report")
    ahead = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    with pytest.raises(SystemExit) as exited:
        main(["sweep", "--watch", "stalled-cases", "--case", case_number, "--as-of", ahead])
    assert exited.value.code in (0, None)
    out = capsys.readouterr().out
    assert out.startswith("stalled-cases (preview: nothing written or sent): breaches 1,")
    assert "raised 1" in out
    assert "notifications_would_send 1" in out
    assert _escalations(case_number) == []
    preview = _latest(stack, "preview-sweep-stalled-cases")
    assert preview is not None
    assert preview["description"].startswith("PREVIEW, nothing written or sent: ")
    assert case_number in preview["data"]
    assert _latest(stack, "sweep-stalled-cases") == live_sweep
    state = caseload_report(as_of=datetime.now(UTC) + timedelta(days=30), return_state=True)
    assert state.is_completed(), state
    assert _latest(stack, "caseload-report") == live_report
    previewed = _latest(stack, "preview-caseload-report")
    assert previewed is not None
    assert previewed["data"].startswith("# Preview: caseload as it would stand")

    # Today's sweep writes and tells, once: the preview emitted and sent nothing before it.
    _sweep(case_number)
    assert [(r.rule, r.level) for r in _escalations(case_number)] == [("stage_overdue", 1)]
    events = wait_for("the escalation event", lambda: case_events(stack, case_number), 30)
    assert len(events) == 1
    assert [b["level"] for b, _ in partner.received if b["case_number"] == case_number] == [1]


def test_a_future_as_of_writes_only_with_the_development_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CASEWORK_WRITE_AHEAD", "on")
    monkeypatch.setenv("CASEWORK_DEV_MODE", "off")
    get_settings.cache_clear()
    try:
        with pytest.raises(Exception, match="CASEWORK_WRITE_AHEAD is for development only"):
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_crisis_is_escalated_at_once_and_level_3_briefs_the_program_manager(
    stack: str,
) -> None:
    opened = services.cases.intake(factories.client_in(), Program.HOUSING, "cm.tester", "tester")
    case_number = opened.case_number
    warning = services.cases.note(
        case_number, ContactIn(text="Client fears for her safety.", crisis=True), "cm.tester"
    )
    assert warning is None
    # The note started a sweep of this case on the runner: the supervisor is told at once.
    wait_for("the crisis escalation", lambda: _escalations(case_number))
    assert [(r.rule, r.level) for r in _escalations(case_number)] == [("crisis", 2)]
    # Its run has taken it past intake (a day's SLA) before the clock moves three days on.
    wait_for("intake to complete", lambda: services.cases.show(case_number).stage == "assessment")

    _sweep(case_number, as_of=datetime.now(UTC) + timedelta(days=3))  # housing: 3-day rungs
    assert [(r.rule, r.level) for r in _escalations(case_number)] == [("crisis", 2), ("crisis", 3)]

    def tags() -> list[str]:
        run = httpx.get(
            f"{stack}/flow_runs/{opened.flow_run_id}", timeout=10, headers=prefect_auth_headers()
        ).json()
        return list(run["tags"])

    wait_for("the level-3 automation to tag the case run", lambda: "escalation:level-3" in tags())
    briefs = api_post(
        stack,
        "artifacts/filter",
        {"artifacts": {"key": {"any_": [f"escalations-{case_number.lower()}"]}}},
    )
    assert "crisis" in briefs[0]["data"]
    assert "pm.housing" in briefs[0]["data"]

    # A calm assessment closes the crisis; the next sweep resolves it and untags the run.
    result = services.stages.submit(
        case_number, Stage.ASSESSMENT, factories.assessment(), actor="cm.tester", wait=True
    )
    assert result.outcome == "moved"
    _sweep(case_number, as_of=datetime.now(UTC) + timedelta(days=3))
    assert all(r.resolved_at is not None for r in _escalations(case_number))
    assert "escalation:level-3" not in tags()


def test_reassessment_cadence_resumes_only_the_cases_that_are_due(stack: str) -> None:
    due = factories.case_in_monitoring()
    with session_scope() as session:
        not_due = factories.walk_to(
            session,
            factories.case_opened_at(session, datetime.now(UTC)),
            Stage.MONITORING,
            datetime.now(UTC),
        ).case_number
        long_ago = datetime.now(UTC) - timedelta(days=100)  # housing reassesses every 90 days
        session.execute(
            update(Case)
            .where(Case.case_number == due)
            .values(stage_entered_at=long_ago, last_assessed_at=long_ago)
        )

    state = reassessment_cadence(return_state=True)
    assert state.is_completed(), state
    # The session's store holds other tests' cases; some opened long ago may be due too.
    assert state.result()["reassessed"] >= 1
    wait_for(
        "the due case to go back to assessment",
        lambda: services.cases.show(due).stage == "assessment",
    )
    assert services.cases.show(not_due or "").stage == "monitoring"
    with session_scope() as session:
        case = cases.get_case(session, due)
        [request] = session.scalars(
            select(AuditEvent).where(
                AuditEvent.case_id == case.id, AuditEvent.action == "reassessment_requested"
            )
        )
        assert (request.actor, request.detail["reason"]) == ("casework.sweep", "scheduled_review")


def test_a_crisis_screen_in_an_assessment_is_escalated_at_once(stack: str) -> None:
    opened = services.cases.intake(factories.client_in(), Program.HOUSING, "cm.tester", "tester")
    form = factories.assessment(crisis=("homeless_tonight",))
    result = services.stages.submit(
        opened.case_number, Stage.ASSESSMENT, form, actor="cm.tester", wait=True
    )
    assert result.outcome == "moved"
    # The case's own run started a sweep of the case: no waiting for the next schedule.
    wait_for("the crisis escalation", lambda: _escalations(opened.case_number))
    assert [(r.rule, r.level, r.recipient) for r in _escalations(opened.case_number)] == [
        ("crisis", 2, "sup.housing")
    ]


def test_the_caseload_report_publishes_its_tables(stack: str) -> None:
    from casework.flows.caseload_report import caseload_report, due_artifact_key
    from casework.services.reports import caseload_report as caseload_report_at
    from casework.services.reports import tables

    def caseload_report_now():  # type: ignore[no-untyped-def]
        return caseload_report_at(datetime.now(UTC))

    state = caseload_report(return_state=True)
    assert state.is_completed(), state
    run_id = str(state.state_details.flow_run_id)
    found = api_post(stack, "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    keys = {artifact["key"] for artifact in found}
    assert {"caseload-report", "report-cases-by-program-and-stage"} <= keys
    assert "report-caseload-per-case-manager" in keys
    # One page in a fixed order, what needs attention first, then every table.
    [page] = [a for a in found if a["key"] == "caseload-report"]
    titles = [line[3:] for line in page["data"].splitlines() if line.startswith("## ")]
    assert titles[:3] == ["Needs attention", "Notices due within a week", "Weekly trends"]
    assert titles == [table.title for table in tables(caseload_report_now())]
    # Each case manager's due list for the week: case numbers and labels, no identity; and
    # every case manager on the roster has one, saying so when nothing is due.
    with session_scope() as session:
        case = factories.new_case(session)
        number, client = case.case_number, case.client
        names = (client.given_name, client.family_name, str(client.date_of_birth))
    idle = f"cm.idle{os.getpid()}"  # a case manager with no case yet
    services.staff.add_staff(idle, StaffRole.CASE_MANAGER, [Program.HOUSING], None, "tests")
    state = caseload_report(return_state=True)
    run_id = str(state.state_details.flow_run_id)
    found = api_post(stack, "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    [mine] = [a for a in found if a["key"] == "due-cm-tester"]
    assert f"· {number} · Housing · Intake form: " in mine["data"]
    [nothing] = [a for a in found if a["key"] == due_artifact_key(idle)]
    assert f"Nothing due from {idle} by " in nothing["data"]
    assert not any(name in json.dumps(found) for name in names)


def test_casework_sweep_prints_its_counts_and_no_prefect_log_lines(stack: str) -> None:
    """What the sweep's flow run logged is on the dashboard; the terminal gets its counts."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "casework", "sweep", "--watch", "benefits"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PREFECT_LOGGING_LEVEL": "INFO"},  # as a user has it
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("benefits: breaches "), done.stdout
    assert done.stdout.count("\n") == 1, done.stdout
    assert done.stderr == ""


def test_a_sweep_on_the_pool_runs_as_a_deployment_run_and_says_what_it_found(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`casework sweep --on-pool`: the worker runs it (not this process), and the command
    waits for it and prints its counts."""
    from tests.casework.test_cli import run_cli

    number, _ = factories.stalled_case()
    code, out, err = run_cli(
        capsys, "sweep", "--on-pool", "--watch", "stalled-cases", "--case", number, "--json"
    )
    assert code == 0, err
    [line] = json.loads(out).values()
    assert line.startswith(f"stalled-case-sweep-{number}-")
    assert "breaches 1, raised 1" in line
    run = api_post(
        stack,
        "flow_runs/filter",
        {"flow_runs": {"name": {"any_": [line.split(": ")[0]]}}},
    )[0]
    assert run["deployment_id"]  # a deployment run, on the pool
    assert [(r.rule, r.level) for r in _escalations(number)] == [("stage_overdue", 1)]


def test_silence_about_appointments_is_escalated_by_the_sweep(stack: str) -> None:
    """An appointment nobody recorded, and one missed with nothing booked since, are
    escalated by the stalled-case sweep as a real flow run, by number and code (whom the
    client saw is on no Prefect surface); tomorrow's appointment is not."""
    from casework.models import appointments
    from casework.models.appointments import Booking
    from casework.models.codes import AppointmentKind, AppointmentStatus

    now = datetime.now(UTC)
    judge = "Judge Okafor, family court"
    booked = {}
    with session_scope() as session:
        for name, days_ago in (("unrecorded", 3), ("missed", 12), ("coming", -1)):
            case = factories.new_case(session)
            booking = Booking(now - timedelta(days=days_ago), AppointmentKind.COURT, judge)
            row = appointments.book(session, case, booking, factories.STAFF, now)
            booked[name] = (case.case_number or "", row.number or "")
        missed = appointments.get(session, booked["missed"][1])
        appointments.record(
            session, missed, AppointmentStatus.MISSED, factories.STAFF, now - timedelta(days=10)
        )

    runs = []
    for name, rule in (("unrecorded", "appointment_unrecorded"), ("missed", "appointment_missed")):
        case_number, number = booked[name]
        runs.append(_sweep(case_number))
        [row] = _escalations(case_number)
        assert (row.rule, row.level, row.subject, row.recipient) == (
            rule,
            1,
            number,
            factories.STAFF,
        )
    coming = booked["coming"][0]
    runs.append(_sweep(coming))  # tomorrow's: nothing is late
    assert _escalations(coming) == []
    assert judge not in surfaces_text(stack, runs)
