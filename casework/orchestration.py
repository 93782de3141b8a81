"""The Prefect side of case operations: is the orchestrator up, start a case's run,
resume it with a form, watch it. Only case numbers and coded values cross this line."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL
from prefect.states import Scheduled

from casework.stack import api_is_healthy
from models.cases import Position
from tasks.cases import run_tags

LIFECYCLE_DEPLOYMENT = "case-lifecycle/case-lifecycle"  # flow name / deployment name
REASSESS_DEPLOYMENT = "reassess-case/reassess-case"
SWEEP_DEPLOYMENT = "stalled-case-sweep/stalled-case-sweep"
BENEFITS_DEPLOYMENT = "benefits-watch/benefits-watch"
REFERRAL_SYNC_DEPLOYMENT = "referral-status-sync/referral-status-sync"
BRIEF_DEPLOYMENT = "escalation-brief/escalation-brief"
RUNNER_SILENCE_SECONDS = 45


class OrchestratorUnavailable(Exception):
    """The Prefect server or the runner serving our deployments is not there."""


class SubmissionRefused(Exception):
    """The case's flow run is not waiting for this form right now."""


class FormNotAwaitedYet(SubmissionRefused):
    """The run is suspending but its form is not registered yet; asking again shortly works."""


@dataclass(frozen=True)
class RunView:
    flow_run_id: str
    name: str
    state_type: str
    state_name: str
    state_message: str | None
    pause_key: str | None
    tags: list[str]

    @property
    def waiting(self) -> bool:
        return self.state_type == StateType.PAUSED.value

    @property
    def summary(self) -> str:
        return f"case flow run {self.state_name}: {self.state_message or 'no message'}"

    @property
    def crashed(self) -> bool:
        return self.state_type == StateType.CRASHED.value

    @property
    def failed(self) -> bool:
        return self.state_type in {
            StateType.FAILED.value,
            StateType.CRASHED.value,
            StateType.CANCELLED.value,
        }


_clients: dict[str, SyncPrefectClient] = {}
_clients_lock = threading.Lock()


def prefect_client() -> SyncPrefectClient:
    """One open client per API URL for this process: building one costs ~30 ms of CPU
    (TLS context, settings), more than the call it makes."""
    url = api_url()
    with _clients_lock:
        if url not in _clients:
            client = get_client(sync_client=True)
            client.__enter__()
            _clients[url] = client
        return _clients[url]


def api_url() -> str:
    return str(PREFECT_API_URL.value() or "(none)")


def check_ready(deployment: str = LIFECYCLE_DEPLOYMENT) -> None:
    """Refuse early, before anything is written, if the server or the runner is missing."""
    if not api_is_healthy(api_url()):  # fast: the Prefect client retries a dead server for a minute
        raise OrchestratorUnavailable(
            f"Prefect server at {api_url()} is not answering; start it with `casework up`"
        )
    try:
        found = prefect_client().read_deployment_by_name(deployment)  # answers for both
    except ObjectNotFound:
        raise OrchestratorUnavailable(
            f"deployment {deployment} is not registered at {api_url()}; start `casework up`"
        ) from None
    except (httpx.HTTPError, PrefectHTTPStatusError, OSError) as exc:
        raise OrchestratorUnavailable(
            f"Prefect server at {api_url()} is not answering ({type(exc).__name__}); "
            "start it with `casework up`"
        ) from None
    last = found.last_polled
    silent = (datetime.now(UTC) - last).total_seconds() if last else None
    if silent is None or silent > RUNNER_SILENCE_SECONDS:
        seen = f"last seen {silent:.0f} s ago" if silent is not None else "never seen"
        raise OrchestratorUnavailable(
            f"no runner is serving {deployment} ({seen}); start it with `casework up`"
        )


def revive_interrupted_runs() -> int:
    """Schedule again the case runs a stopped stack left mid-transition (Pending, Running or
    Crashed with no runner behind them). Each re-reads its case from the store and waits at
    the right stage; a key that already fired hands back its stored form. Call only when this
    process's runner is the only one: elsewhere a Running run may be truly running."""
    interrupted = FlowRunFilter(
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(
                any_=[StateType.PENDING, StateType.RUNNING, StateType.CRASHED]
            )
        )
    )
    client = prefect_client()
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[LIFECYCLE_DEPLOYMENT.split("/")[0]])),
        flow_run_filter=interrupted,
    )
    for run in runs:
        reschedule(str(run.id))
    return len(runs)


def reschedule(flow_run_id: str) -> None:
    """Run a suspended case run again from the top: it re-reads the case from the store and
    suspends afresh. For a run whose suspension never completed (its form schema was not
    stored because its process died), this is the repair."""
    prefect_client().set_flow_run_state(UUID(flow_run_id), Scheduled(), force=True)


def start_case_run(position: Position) -> str:
    """Start (or find, on a retried intake) the flow run of this case episode."""
    flow_run = run_deployment(  # sync call: async_dispatch returns the FlowRun here
        LIFECYCLE_DEPLOYMENT,
        parameters={"case_number": position.case_number, "episode": position.episode},
        flow_run_name=position.case_number,
        tags=run_tags(position),
        idempotency_key=f"{position.case_number}-e{position.episode}",
        timeout=0,
        as_subflow=False,
    )
    assert isinstance(flow_run, FlowRun)
    return str(flow_run.id)


def resume_waiting(flow_run_id: str, key: str, timeout: float = 30.0) -> bool:
    """Resume a run suspended (without a form) at `key`; False if it is not waiting there.
    A run still on its way to suspending is waited for, a bounded while: it looked for the
    answers before it suspended, and one recorded after that look would otherwise wait
    for the next referral sync."""
    deadline = time.monotonic() + timeout
    while True:
        run = read_run(flow_run_id)
        if run.waiting and run.pause_key == key:
            result = prefect_client().resume_flow_run(UUID(flow_run_id))
            return result.status.value == "ACCEPT"
        on_its_way = run.state_type in {"SCHEDULED", "PENDING", "RUNNING"}
        if not on_its_way or time.monotonic() > deadline:
            return False
        time.sleep(0.3)


def start_sweep(deployment: str, **parameters: str) -> str:
    """Start a sweep now, on the runner, without waiting for it."""
    flow_run = run_deployment(deployment, parameters=parameters, timeout=0, as_subflow=False)
    assert isinstance(flow_run, FlowRun)
    return str(flow_run.id)


def start_case_sweep(case_number: str) -> str:
    """Sweep one case now (a crisis was just recorded)."""
    return start_sweep(SWEEP_DEPLOYMENT, case_number=case_number)


def _view(flow_run: FlowRun) -> RunView:
    state = flow_run.state
    return RunView(
        flow_run_id=str(flow_run.id),
        name=flow_run.name,
        state_type=state.type.value if state else "UNKNOWN",
        state_name=(state.name or state.type.value) if state else "unknown",
        state_message=state.message if state else None,
        pause_key=state.state_details.pause_key if state else None,
        tags=list(flow_run.tags),
    )


def read_run(flow_run_id: str) -> RunView:
    try:
        return _view(prefect_client().read_flow_run(UUID(flow_run_id)))
    except (httpx.HTTPError, OSError) as exc:
        raise OrchestratorUnavailable(
            f"Prefect server at {api_url()} is not answering ({type(exc).__name__})"
        ) from None


def resume_with_form(
    flow_run_id: str, stage_key: str, form_data: dict[str, Any], run: RunView | None = None
) -> None:
    """Hand the form to the suspended run; refuse if it is not waiting at this key."""
    run = run or read_run(flow_run_id)
    if not run.waiting:
        raise SubmissionRefused(
            f"case flow run is {run.state_name}, not waiting for a form; "
            "a submission may still be processing, try again shortly"
        )
    if run.pause_key != stage_key:
        raise SubmissionRefused(
            f"case flow run waits at {run.pause_key}, the case store at {stage_key}; "
            "try again shortly"
        )
    result = prefect_client().resume_flow_run(UUID(flow_run_id), run_input=form_data)
    if result.status.value != "ACCEPT":
        reason = getattr(result.details, "reason", None) or result.status.value
        if "schema not found" in reason:
            # The run has suspended but not yet stored its form's schema: a moment early.
            raise FormNotAwaitedYet(reason)
        raise SubmissionRefused(f"Prefect refused the form: {reason}")
