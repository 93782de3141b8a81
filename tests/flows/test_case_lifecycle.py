"""The case lifecycle on a real Prefect server and runner (`casework up`, started once per
session), driven through the same operations the CLI uses."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.states import Scheduled
from sqlalchemy import func, select

from casework import services
from casework.cli.views import case_text
from casework.core import prefect_api
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.core.settings import prefect_auth_headers
from casework.models import audit, cases, stage_events
from casework.models.codes import NeedsDomain, Program, ReassessmentReason, Stage, Trigger
from casework.models.labels import to_labels
from casework.models.orm import Assessment, AuditEvent, StageEvent
from tests import factories
from tests.casework.test_transfers import prefect_away
from tests.conftest import SESSION_DIR
from tests.polling import wait_for
from tests.prefect_surfaces import api_post, identity_strings, surfaces_text

pytestmark = pytest.mark.prefect
ACTOR = "tester"


def _open(program: Program = Program.HOUSING) -> tuple[str, str, object]:
    client = factories.client_in()
    result = services.cases.intake(client, program, "cm.tester", ACTOR)
    return result.case_number, result.flow_run_id, client


def _submit(case_number: str, stage: Stage, form, **kwargs) -> services.stages.SubmitResult:  # type: ignore[no-untyped-def]
    # A plan or closure is approved by the program's supervisor, as its program asks.
    result = factories.submit_approved(case_number, stage, form, ACTOR, **kwargs)
    assert result.outcome == "moved", result
    return result


def _to_monitoring(case_number: str) -> None:
    _submit(
        case_number,
        Stage.ASSESSMENT,
        factories.assessment(housing=1),
        narrative="Client was served an eviction notice last week.",
    )
    _submit(case_number, Stage.PLAN, factories.plan(NeedsDomain.HOUSING))
    _submit(case_number, Stage.REFERRAL, factories.referral())


def _rows(case_number: str) -> dict[str, int]:
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        count = lambda model: session.scalar(  # noqa: E731
            select(func.count()).select_from(model).where(model.case_id == case.id)
        )
        return {
            "events": count(StageEvent),
            "audit": count(AuditEvent),
            "assessments": count(Assessment),
        }


def _wait_for_state(flow_run_id: str, state_type: str, timeout: float = 180) -> prefect_api.RunView:
    deadline = time.monotonic() + timeout
    while (run := prefect_api.read_run(flow_run_id)).state_type != state_type:
        assert time.monotonic() < deadline, f"run stayed {run.state_name}"
        time.sleep(0.25)
    return run


def test_case_runs_from_intake_to_closure_and_reopens_as_a_new_episode(stack: str) -> None:
    case_number, flow_run_id, client = _open()
    _to_monitoring(case_number)
    _submit(case_number, Stage.MONITORING, factories.monitoring(Trigger.CLOSE))
    _submit(case_number, Stage.CLOSURE, factories.closure(), narrative="Housed; goals met.")

    detail = services.cases.show(case_number)
    assert (detail.status, detail.stage, detail.closure_reason) == (
        "closed",
        "closure",
        "goals_met",
    )
    # The plan and the closure each waited for housing's supervisor, then moved.
    assert [(h.to_stage, h.outcome) for h in detail.history] == [
        ("assessment", "moved"),
        ("plan", "moved"),
        ("referral", "awaiting_approval"),
        ("referral", "moved"),
        ("monitoring", "moved"),
        ("closure", "moved"),
        (None, "awaiting_approval"),
        (None, "moved"),
    ]
    assert detail.latest_assessment is not None
    assert detail.latest_assessment.risk_level == "high"
    assert _rows(case_number)["events"] == 8
    # Each form was handed over by a signed-in command: audited as such, with who; the
    # approved ones moved the case as the supervisor's act.
    with session_scope(read_only=True) as session:
        trail = audit.for_case(session, cases.get_case(session, case_number))
    moves = [e for e in trail if e.action == "stage_moved"]
    sources = ["system", "cli", "approval", "cli", "cli", "approval"]  # intake: no form
    assert [e.detail["source"] for e in moves] == sources
    assert {e.actor for e in trail if e.action == "form_handed_over"} == {ACTOR}
    # Audited as the signed-in actor who handed each form over (or the supervisor who
    # approved it); the form's own submitted_by (another staff id here) is kept beside it.
    who = {"cli": ACTOR, "approval": "sup.housing"}
    assert [(e.actor, e.detail.get("submitted_by")) for e in moves[1:]] == [
        (who[source], factories.STAFF) for source in sources[1:]
    ]

    run = _wait_for_state(flow_run_id, "COMPLETED")
    assert run.name == case_number
    # One card on the run, the current one, rewritten at each of its six stops: before,
    # the run's Artifacts tab listed every version, the first clicked often a stale one.
    cards = api_post(
        stack,
        "artifacts/filter",
        {
            "artifacts": {
                "key": {"any_": [case_number.lower()]},
                "flow_run_id": {"any_": [flow_run_id]},
            }
        },
    )
    assert len(cards) == 1
    assert cards[0]["description"].startswith(f"{case_number} closed: card of ")
    assert "- closed " in cards[0]["data"]
    # Nothing a resume needs is a result (the store and the run's input are): none is kept,
    # so workers on many machines need no shared storage (docs/operators.md says so).
    storage = SESSION_DIR / "prefect" / "storage"
    assert not storage.exists() or [p.name for p in storage.rglob("*") if p.is_file()] == []
    assert {"program:housing", "stage:closure", "status:closed"} <= set(run.tags)
    with get_client(sync_client=True) as prefect:
        ended = prefect.read_flow_run(UUID(flow_run_id))
        assert ended.parameters == {"case_number": case_number, "episode": 1}
        assert ended.state is not None
        assert ended.state.data is None  # no result kept

    text = surfaces_text(stack, [flow_run_id])
    assert case_number in text, "the surfaces were read"
    assert "prefect.flow-run." in text, "the events were read"
    leaks = [
        value
        for value in [
            *identity_strings(client),
            "served an eviction notice last week",
            "goals met.",
        ]
        if value in text
    ]
    assert leaks == []

    # Closed: no more forms. Reopened: a new episode with a run of its own.
    with pytest.raises(cases.CaseClosed):
        services.stages.submit(
            case_number, Stage.MONITORING, factories.monitoring(Trigger.CLOSE), actor=ACTOR
        )
    reopened = services.cases.reopen(case_number, "Client lost housing again", ACTOR)
    assert reopened.flow_run_id != flow_run_id
    _submit(case_number, Stage.ASSESSMENT, factories.assessment())
    detail = services.cases.show(case_number)
    assert (detail.episode, detail.stage, detail.status) == (2, "plan", "open")
    assert prefect_api.read_run(reopened.flow_run_id).name == case_number


def test_reassessment_loop_returns_to_assessment_and_on(stack: str) -> None:
    case_number = factories.case_in_monitoring(Program.SUBSTANCE_USE)
    flow_run_id = factories.where_it_waits(case_number).flow_run_id
    _submit(case_number, Stage.MONITORING, factories.monitoring(Trigger.CONTINUE))
    _submit(case_number, Stage.MONITORING, factories.monitoring(Trigger.REASSESS))
    _submit(case_number, Stage.ASSESSMENT, factories.assessment(housing=2))
    result = _submit(case_number, Stage.PLAN, factories.plan(NeedsDomain.HOUSING))

    assert result.stage == "referral"
    assert _rows(case_number)["assessments"] == 2
    run = _wait_for_state(flow_run_id, "PAUSED")
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        assert run.pause_key == case.stage_key == "referral-9"
    assert "stage:referral" in run.tags
    assert "program:substance_use" in run.tags


def test_second_submission_of_a_stage_is_refused_and_changes_nothing(stack: str) -> None:
    case_number, _ = factories.case_waiting_at(Stage.PLAN)  # its assessment recorded
    before = _rows(case_number)
    with pytest.raises(InputError, match="at plan, not assessment \\(already recorded\\)"):
        services.stages.submit(case_number, Stage.ASSESSMENT, factories.assessment(), actor=ACTOR)
    with pytest.raises(InputError, match="client_participated"):
        services.stages.submit(
            case_number, Stage.PLAN, factories.plan(participated=False), actor=ACTOR
        )
    assert _rows(case_number) == before


def test_a_form_the_flow_refuses_is_shown_where_it_was_given_and_the_case_waits_again(
    stack: str,
) -> None:
    """The Prefect UI path: a form that passes the dialog's JSON schema but not our rules
    (labels, as the dialog sends them). The refusal names every problem; it is in the
    case's history with who and when, on its card, in a WARNING that says "refused", and
    in the next dialog's description."""
    case_number, _ = factories.case_waiting_at(Stage.PLAN)
    key, _, flow_run_id = factories.where_it_waits(case_number)
    bad = factories.plan(NeedsDomain.HOUSING).model_dump(mode="json")
    bad["goals"][0]["objective"] = "food_security"  # not a housing objective
    bad["goals"].append(dict(bad["goals"][0], objective="maintain_recovery"))  # nor this
    _wait_for_state(flow_run_id, "PAUSED")
    prefect_api.resume_with_form(flow_run_id, key, to_labels(bad))
    outcome = services.stages.wait_for_stage(case_number, 1, key, flow_run_id, 60)
    assert outcome.outcome == "rejected"
    assert "goals.0: Value error, objective food_security belongs to domain food" in (
        outcome.error or ""
    )
    assert "goals.1: Value error, objective maintain_recovery belongs to domain substance_use" in (
        outcome.error or ""
    )

    refused = [h for h in services.cases.show(case_number).history if h.outcome == "rejected"]
    assert [(h.from_stage, h.actor) for h in refused] == [("plan", factories.STAFF)]
    assert "REFUSED (cm.tester): goals.0" in case_text(services.cases.show(case_number))

    run = _wait_for_state(flow_run_id, "PAUSED")
    assert run.pause_key == f"{key}-retry1"
    state = prefect_api.rest_api("GET", f"/flow_runs/{flow_run_id}")["state"]
    keyset = state["state_details"]["run_input_keyset"]
    text = prefect_api.read_run_input(flow_run_id, keyset["description"])
    assert f"Plan form for {case_number}" in text
    assert "The last plan form was refused" in text
    assert "belongs to domain food" in text

    def refused_warning() -> bool:  # logs reach the server in batches: wait for it
        warnings = api_post(
            stack,
            "logs/filter",
            {"logs": {"flow_run_id": {"any_": [flow_run_id]}, "level": {"ge_": 30}}},
        )
        return any(
            f"{case_number} {key} form refused" in log["message"] and "closed" not in log["message"]
            for log in warnings
        )

    wait_for("the run's WARNING that the form was refused", refused_warning)
    card = prefect_api.rest_api("GET", f"/artifacts/{case_number.lower()}/latest")["data"]
    assert "last plan form refused" in card
    assert "belongs to domain food" in card
    assert _submit(case_number, Stage.PLAN, factories.plan(NeedsDomain.HOUSING)).stage == "referral"


def test_the_dialog_refuses_what_its_schema_can_state(stack: str) -> None:
    """A plan not agreed with the client, or one without a goal for a domain the
    assessment scored 1, is refused by Prefect itself (the dialog's schema): the case
    records nothing and still waits for its plan."""
    case_number, flow_run_id, _ = _open()
    _submit(case_number, Stage.ASSESSMENT, factories.assessment(housing=1))
    key = factories.where_it_waits(case_number).stage_key
    _wait_for_state(flow_run_id, "PAUSED")
    before = _rows(case_number)
    unagreed = factories.plan(NeedsDomain.HOUSING, participated=False).model_dump(mode="json")
    assert "client_participated" in _refused(flow_run_id, key, to_labels(unagreed))
    no_housing = factories.plan(NeedsDomain.FOOD).model_dump(mode="json")
    assert "goals" in _refused(flow_run_id, key, to_labels(no_housing))
    assert _rows(case_number) == before
    assert prefect_api.read_run(flow_run_id).pause_key == key


def _refused(flow_run_id: str, key: str, form: dict[str, Any]) -> str:
    """Prefect's refusal of a form, once the run has stored its form's schema: a run just
    paused may not have yet (Prefect writes the schema after the Paused state), and a form
    handed over that moment early is told to come back, not judged."""
    deadline = time.monotonic() + 60
    while True:
        try:
            prefect_api.resume_with_form(flow_run_id, key, form)
        except prefect_api.FormNotAwaitedYet:
            assert time.monotonic() < deadline, "the run never stored its form's schema"
            time.sleep(0.25)
        except prefect_api.SubmissionRefused as exc:
            return str(exc)
        else:
            raise AssertionError("Prefect took a form its schema should refuse")


def _waits_at(flow_run_id: str, key: str) -> bool:
    run = prefect_api.read_run(flow_run_id)
    return run.state_type == "PAUSED" and run.pause_key == key


def test_a_forced_rerun_writes_nothing_twice(stack: str) -> None:
    """A waiting run scheduled again (as the crashed-run automation and `casework repair`
    do, after a kill or a lost heartbeat) comes back to a key nobody gave a form at: it
    waits again under the next key and records no refusal. Before, Prefect's empty form
    was recorded as `form REFUSED (system): submitted_by: Field required`, once per
    re-run."""
    case_number = factories.case_in_monitoring()
    flow_run_id = factories.where_it_waits(case_number).flow_run_id
    before = _rows(case_number)
    for attempt in (1, 2):
        _wait_for_state(flow_run_id, "PAUSED")  # its process has finished suspending
        with get_client(sync_client=True) as prefect:
            prefect.set_flow_run_state(UUID(flow_run_id), Scheduled(), force=True)
        # Not a wait for Scheduled: the worker may take the run and it may suspend again
        # between two looks. The next key is only ever waited at after the re-run.
        key = f"monitoring-5-retry{attempt}"
        wait_for(f"the run waiting again at {key}", lambda key=key: _waits_at(flow_run_id, key))
    after = _rows(case_number)
    assert (after["assessments"], after["events"]) == (before["assessments"], before["events"])
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        assert not [
            e
            for e in stage_events.history(session, case, refused=True)
            if e.outcome == stage_events.REJECTED
        ]
        again = [r for r in audit.for_case(session, case) if r.action == "form_awaited_again"]
        assert [r.detail["stage_key"] for r in again] == ["monitoring-5", "monitoring-5-retry1"]
        assert "REFUSED" not in case_text(services.cases.show(case_number)).upper()
    assert (
        _submit(case_number, Stage.MONITORING, factories.monitoring(Trigger.CLOSE)).stage
        == "closure"
    )


def test_nothing_is_written_when_the_server_is_down(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(services.cases.caseload())
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    with pytest.raises(prefect_api.OrchestratorUnavailable, match="not answering"):
        services.cases.intake(factories.client_in(), Program.HOUSING, "cm.tester", ACTOR)
    assert len(services.cases.caseload()) == before


def test_a_deployment_no_runner_serves_is_reported(stack: str) -> None:
    with pytest.raises(prefect_api.OrchestratorUnavailable, match="not registered") as found:
        prefect_api.check_ready("case-lifecycle/nobody-serves-this")
    assert str(found.value).endswith("; start `casework up`")  # this data directory's stack


def test_a_worker_of_a_running_stack_that_asks_late_is_not_reported_gone(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy host's worker asks for runs late (and right after a restart the last poll is
    from before it): with `casework up` running, its worker is in `up`'s own process, so a
    command goes ahead, and its run is taken when the worker next asks. Nobody is told to
    start a worker that is there."""
    assert prefect_api.stack_alive()
    polls = []
    real = prefect_api._deployment

    def stale(name: str) -> dict[str, object]:
        polls.append(name)
        return {**real(name), "last_polled": "2026-01-01T00:00:00+00:00"}

    monkeypatch.setattr(prefect_api, "_deployment", stale)
    prefect_api.check_ready()  # no refusal: the worker's process is alive
    assert polls == [prefect_api.LIFECYCLE_DEPLOYMENT], "asked once, not waited on"


def test_on_a_shared_server_errors_name_the_server_the_pool_and_the_worker_command(
    stack: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A data directory whose `casework up` is not the server PREFECT_API_URL names: the
    server is shared, its runs are on a work pool, and `casework up` is not the answer."""
    from casework.core.settings import get_settings

    monkeypatch.setenv("CASEWORK_DATA_DIR", str(tmp_path))  # no stack file: not ours
    get_settings.cache_clear()
    try:
        with pytest.raises(prefect_api.OrchestratorUnavailable) as found:
            prefect_api.check_ready("case-lifecycle/nobody-serves-this")
        said = str(found.value)
        assert f"not registered at {stack}" in said
        assert "on the casework work pool: `casework deploy`" in said
        assert "casework worker --pool casework" in prefect_api.what_to_start("worker")
        monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
        with pytest.raises(prefect_api.OrchestratorUnavailable) as found:
            prefect_api.check_ready()
        said = str(found.value)
        assert "Prefect server at http://127.0.0.1:9/api is not answering" in said
        assert "it is a shared server (PREFECT_API_URL)" in said
        assert "casework up" not in said
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    # What is left for later is left to the pool's own scheduled runs, not to `up`.
    case_number = factories.case_in_monitoring()
    with prefect_away():  # not the server this data directory's `casework up` serves
        held = services.stages.reassess(
            case_number, ReassessmentReason.CIRCUMSTANCES_CHANGED, ACTOR
        )
    assert held.outcome == "held"
    assert "the stalled-case sweep on the work pool wakes it once the server answers" in (
        held.error or ""
    )
    assert "casework up" not in (held.error or "")


def test_a_run_that_died_while_suspending_is_repaired_by_the_next_submit(stack: str) -> None:
    """Its process died after suspending but before storing the form's schema."""
    case_number, flow_run_id, _ = _open()
    run = _wait_for_state(flow_run_id, "PAUSED")
    with get_client(sync_client=True) as prefect:
        prefect.delete_flow_run_input(UUID(flow_run_id), f"suspended-{run.pause_key}-schema")
    result = _submit(case_number, Stage.ASSESSMENT, factories.assessment())
    assert result.stage_key == "assessment-2-retry1"
    assert result.stage == "plan"


def test_a_run_left_running_by_a_dead_runner_is_revived(stack: str) -> None:
    from prefect.states import Running

    case_number, flow_run_id, _ = _open()
    _wait_for_state(flow_run_id, "PAUSED")
    with get_client(sync_client=True) as prefect:
        prefect.set_flow_run_state(UUID(flow_run_id), Running(), force=True)
    assert prefect_api.revive_interrupted_runs() >= 1
    _wait_for_state(flow_run_id, "PAUSED")
    assert _submit(case_number, Stage.ASSESSMENT, factories.assessment()).stage == "plan"


def test_a_wait_reports_where_its_own_form_took_the_case(stack: str) -> None:
    """`submit --wait` prints what its form did, read from that form's own event, even when
    the case has moved on again by the time it looks (another form, another machine)."""
    case_number, _, _ = _open()
    wait_for("intake to complete", lambda: services.cases.show(case_number).stage == "assessment")
    first = _submit(case_number, Stage.ASSESSMENT, factories.assessment())
    _submit(case_number, Stage.PLAN, factories.plan(NeedsDomain.HOUSING))
    waiting = factories.where_it_waits(case_number)
    assert waiting.stage_key.startswith("referral")
    again = services.stages.wait_for_stage(
        case_number, waiting.episode, first.stage_key, waiting.flow_run_id, 10
    )
    assert (again.outcome, again.stage) == ("moved", "plan")  # not where the case is now


class _LosesAnswers(httpx.BaseTransport):
    """The real server, but the answers to some requests are lost on the way back (the
    request was handled): a connection reset under load."""

    def __init__(self, lose: Callable[[httpx.Request], bool]) -> None:
        self.real = httpx.HTTPTransport()
        self.lose = lose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.real.handle_request(request)
        if self.lose(request):
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


@contextlib.contextmanager
def _answers_lost(lose: Callable[[httpx.Request], bool]) -> Iterator[None]:
    url = prefect_api.api_url()
    saved = prefect_api._http.get(url)
    prefect_api._http[url] = httpx.Client(
        base_url=url.rstrip("/") + "/",
        timeout=30,
        headers=prefect_auth_headers(),
        transport=_LosesAnswers(lose),
    )
    try:
        yield
    finally:
        prefect_api._http[url].close()
        if saved is None:
            del prefect_api._http[url]
        else:
            prefect_api._http[url] = saved


def test_a_hand_over_whose_answer_was_lost_says_only_what_is_known(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The resume reached the server and its answer was lost: the run is asked, and the
    form counts as taken when the run has moved on (its narrative kept). When the run
    cannot be asked either, the command says the form was handed over, not confirmed, and
    exits 3; before, it said "Prefect server … not answering", exit 1, and the form was
    applied."""
    from casework.cli import main

    case_number, flow_run_id, _ = _open()
    _wait_for_state(flow_run_id, "PAUSED")
    resumes = lambda request: request.url.path.endswith("/resume")  # noqa: E731
    with _answers_lost(resumes):
        result = services.stages.submit(
            case_number,
            Stage.ASSESSMENT,
            factories.assessment(),
            narrative="Met at the shelter.",
            actor=ACTOR,
            wait=True,
        )
    assert (result.outcome, result.stage) == ("moved", "plan")
    assert services.cases.show(case_number).narratives  # kept as the stage's own
    plan = SESSION_DIR / "lost-plan.json"
    plan.write_text(
        json.dumps(to_labels(factories.plan(NeedsDomain.HOUSING).model_dump(mode="json")))
    )
    _wait_for_state(flow_run_id, "PAUSED")
    seen = {"resumed": False}

    def after_the_resume(request: httpx.Request) -> bool:
        seen["resumed"] = seen["resumed"] or request.url.path.endswith("/resume")
        return seen["resumed"]

    with _answers_lost(after_the_resume), pytest.raises(SystemExit) as exited:
        main(["submit", case_number, "plan", "--file", str(plan)])
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{case_number}: plan-3 form handed over; not yet confirmed" in err
    assert f"`casework show {case_number}`" in err
    held = lambda: (a := services.cases.show(case_number).approval) and a.status == "requested"  # noqa: E731
    wait_for("the plan to be taken (held for approval, as housing asks)", held)
