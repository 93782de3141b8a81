"""Prefect's REST API, as Casework speaks it: is the orchestrator up, start a run, resume
it with a form, watch it, put a card or an event on it. Only case numbers and coded values
cross this line; what a case's run is called and tagged is the services' to say.

These calls speak Prefect's REST API with one small httpx client, without importing Prefect:
a case manager's `casework submit` hands a form over in a fraction of the CPU that
importing Prefect's engine would cost. Only `prefect_client()` (sweeps, automations,
status) brings in Prefect's own client."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casework.core.errors import CaseworkError, UserError
from casework.core.settings import prefect_auth_headers

if TYPE_CHECKING:  # httpx is imported where it is used: store-only commands never need it
    import httpx
    from prefect.client.orchestration import SyncPrefectClient

LIFECYCLE_DEPLOYMENT = "case-lifecycle/case-lifecycle"  # flow name / deployment name
REASSESS_DEPLOYMENT = "reassess-case/reassess-case"
SWEEP_DEPLOYMENT = "stalled-case-sweep/stalled-case-sweep"
BENEFITS_DEPLOYMENT = "benefits-watch/benefits-watch"
REFERRAL_SYNC_DEPLOYMENT = "referral-status-sync/referral-status-sync"
BRIEF_DEPLOYMENT = "escalation-brief/escalation-brief"
FOLLOW_UPS_DEPLOYMENT = "follow-up-checks/follow-up-checks"
CADENCE_DEPLOYMENT = "reassessment-cadence/reassessment-cadence"
MESSAGES_DEPLOYMENT = "client-messages/client-messages"
REPORT_DEPLOYMENT = "caseload-report/caseload-report"
RETENTION_DEPLOYMENT = "prefect-retention/prefect-retention"
RECORDS_RETENTION_DEPLOYMENT = "records-retention/records-retention"
# Every deployment casework.deployments declares, in its order, by name only: for what asks
# about them without importing every flow (`casework status`). A test keeps the two equal.
DEPLOYMENTS = [
    LIFECYCLE_DEPLOYMENT,
    REASSESS_DEPLOYMENT,
    BRIEF_DEPLOYMENT,
    SWEEP_DEPLOYMENT,
    BENEFITS_DEPLOYMENT,
    FOLLOW_UPS_DEPLOYMENT,
    CADENCE_DEPLOYMENT,
    MESSAGES_DEPLOYMENT,
    REFERRAL_SYNC_DEPLOYMENT,
    REPORT_DEPLOYMENT,
    RETENTION_DEPLOYMENT,
    RECORDS_RETENTION_DEPLOYMENT,
]
RUNNER_SILENCE_SECONDS = 45
# The automations casework.automations declares, by name: for `casework status`.
LEVEL_3_AUTOMATION = "casework-level-3-escalation"
LOST_RUN_AUTOMATION = "casework-lost-runs"
CRASHED_CASE_AUTOMATION = "casework-crashed-case-runs"
AUTOMATIONS = (LEVEL_3_AUTOMATION, LOST_RUN_AUTOMATION, CRASHED_CASE_AUTOMATION)


class OrchestratorUnavailable(UserError):
    """The Prefect server or the worker serving our deployments is not there."""


class AnswerLost(OrchestratorUnavailable):
    """The request went out and its answer did not come back (the connection dropped, or
    timed out, while the server had it): the server may have done what was asked."""


class HandOverUnconfirmed(OrchestratorUnavailable):
    """A form went to the case's run and neither its acceptance nor its refusal came back,
    nor could the run be read: it may have been taken. Exit code 3 (EXIT_UNCONFIRMED)."""


class SubmissionRefused(UserError):
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
    since: datetime | None = None  # when it entered its state
    schema_key: str | None = None  # a suspended run's form schema, under this run input key
    auto_scheduled: bool = False  # put there by Prefect's scheduler
    expected_start: datetime | None = None

    @property
    def waiting(self) -> bool:
        return self.state_type == PAUSED

    @property
    def summary(self) -> str:
        return f"case flow run {self.state_name}: {self.state_message or 'no message'}"

    @property
    def crashed(self) -> bool:
        return self.state_type == CRASHED

    @property
    def failed(self) -> bool:
        return self.state_type in ENDED_BADLY


PAUSED, CRASHED = "PAUSED", "CRASHED"
ENDED_BADLY = {"FAILED", "CRASHED", "CANCELLED"}
ON_ITS_WAY = {"SCHEDULED", "PENDING", "RUNNING"}


class ObjectNotFound(CaseworkError):
    """The Prefect server has no such deployment or flow run."""


BUSY = {429, 502, 503}
SLOW_SERVER_PATIENCE_SECONDS = 90
BUSY_RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0)  # as Prefect's own client: half a minute
_http: dict[str, httpx.Client] = {}
_clients: dict[str, SyncPrefectClient] = {}
_clients_lock = threading.Lock()


def api_url() -> str:
    return os.environ.get("PREFECT_API_URL") or "(none)"


def own_stack() -> bool:
    """Whether the Prefect server we talk to is this data directory's own `casework up`
    (the one its stack file names, or the default one `up` would start): then `casework
    up` is what to start. Any other is a shared server whose workers serve a work pool."""
    from casework.core.settings import DEFAULT_API_URL, STACK_FILE, get_settings

    try:
        stack = json.loads((get_settings().data_dir / STACK_FILE).read_text())
        ours = str(stack["api_url"])
    except (OSError, ValueError, KeyError, TypeError):
        ours = DEFAULT_API_URL
    return api_url().rstrip("/") == ours.rstrip("/")


def what_to_start(missing: str) -> str:
    """What to do when the `server`, a `deployment` or its `worker` is missing, for the
    setup at hand: `casework up` for this data directory's own stack; on a shared server,
    the server's owner, the deployments and the pool's worker command."""
    from casework.core.settings import get_settings

    if own_stack():
        return "start `casework up`"
    pool = get_settings().work_pool
    return {
        "server": "it is a shared server (PREFECT_API_URL): ask whoever runs it, or "
        "point PREFECT_API_URL at the right one",
        "deployment": f"put them on it, on the {pool} work pool: `casework deploy`",
        "worker": f"start a worker on the {pool} work pool: `casework worker --pool {pool}`",
    }[missing]


def who_finishes(what: str) -> str:
    """Who finishes by itself what a command left for later, for the setup at hand: on this
    data directory's own stack, `casework up`'s upkeep; on a shared server, the automations
    and the scheduled runs on the work pool. `what`: `repair` (a run died), `settle` (a
    partner's answer recorded while the server was away), `wake` (a reassessment asked for
    meanwhile), `announce` (transfers Prefect missed), `serve` (a run not yet waiting)."""
    from casework.core.settings import get_settings

    if own_stack():
        return {
            "repair": "`casework up` repairs it within a minute",
            "settle": "`casework up` settles it once it runs again",
            "wake": "`casework up` wakes it once the server answers",
            "announce": "`casework up` does it",
            "serve": "is `casework up` running?",
        }[what]
    settings = get_settings()
    later = "once the server answers"
    return {
        "repair": "Casework's automations reschedule it (within "
        f"{settings.lost_run_seconds} s if its host was lost)",
        "settle": f"the referral-status-sync run on the work pool settles it {later}",
        "wake": f"the stalled-case sweep on the work pool wakes it {later}",
        "announce": f"the stalled-case sweep on the work pool does it {later}",
        "serve": f"is a worker serving the {settings.work_pool} work pool?",
    }[what]


def api_is_healthy(api_url: str) -> bool:
    return bool(server_answers(api_url))


def server_answers(api_url: str, timeout: float = 5) -> bool | None:
    """True if the server is healthy, False if it is not there (or says it is unwell),
    None if it is there but did not answer in `timeout` seconds (busy, not gone)."""
    import httpx

    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.TimeoutException:
        return None
    except httpx.HTTPError:
        return False


LOST_RETRIES = 2
LOST_PAUSE_SECONDS = 0.5
READS = ("/filter", "/count", "/paginate", "/history")


def _repeatable(method: str, path: str) -> bool:
    """Whether asking again is safe when an answer is lost: a read (GET, or a POST that
    filters or counts), or a write whose second asking changes nothing (PATCH, PUT,
    DELETE). A create or a resume is not: its caller finds out what happened."""
    return method in ("GET", "PATCH", "PUT", "DELETE") or path.rstrip("/").endswith(READS)


def _send(client: Any, method: str, path: str, body: Any, url: str) -> Any:
    """One request, asked again if it is repeatable and its answer was lost: the server
    that had it may be gone (one of several behind a load balancer, or a kept-alive
    connection to it), and the next connection reaches another."""
    import httpx

    lost_again = LOST_RETRIES if _repeatable(method, path) else 0
    while True:
        try:
            return client.request(method, path.lstrip("/"), json=body)
        except (httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError) as exc:
            if lost_again:
                lost_again -= 1
                time.sleep(LOST_PAUSE_SECONDS)
                continue
            raise AnswerLost(
                f"Prefect server at {url} took the request but its answer was lost "
                f"({type(exc).__name__})"
            ) from None
        except (httpx.HTTPError, OSError) as exc:
            raise OrchestratorUnavailable(
                f"Prefect server at {url} is not answering ({type(exc).__name__}); "
                f"{what_to_start('server')}"
            ) from None


def rest_api(method: str, path: str, body: dict[str, Any] | list[Any] | None = None) -> Any:
    """One call to the Prefect server's REST API; its JSON answer. A server that does not
    answer is OrchestratorUnavailable; an unknown object, ObjectNotFound."""
    import httpx

    url = api_url()
    with _clients_lock:
        if url not in _http:
            # As long as Prefect's own client waits: a server on SQLite can stall a minute.
            _http[url] = httpx.Client(
                base_url=url.rstrip("/") + "/", timeout=90, headers=prefect_auth_headers()
            )
        client = _http[url]
    for delay in (*BUSY_RETRY_SECONDS, None):
        response = _send(client, method, path, body, url)
        if response.status_code not in BUSY or delay is None:
            break
        # A busy server (its SQLite database locked a moment) asks to be asked again; the
        # call was rolled back, so asking again is safe. Prefect's own client does the same.
        retry_after = response.headers.get("Retry-After", "")
        time.sleep(float(retry_after) if retry_after.isdigit() else delay)
    if response.status_code == 404:
        raise ObjectNotFound(path)
    if response.status_code == 401:
        raise OrchestratorUnavailable(
            f"Prefect server at {url} refused our credential (HTTP 401): set "
            "PREFECT_API_AUTH_STRING to that server's credential (for `casework up`'s own "
            "server, the data directory's prefect-credential file is read by itself)"
        )
    if response.status_code >= 400:
        detail = response.text[:200].replace("\n", " ")
        raise OrchestratorUnavailable(
            f"Prefect server at {url} refused {method} {path.split('/')[1]} "
            f"(HTTP {response.status_code}: {detail})"
        )
    return response.json() if response.content else None


NOT_WAITING = ["SCHEDULED", "PENDING", "RUNNING", "CANCELLING", "CANCELLED", "CRASHED", "FAILED"]


def runs_not_waiting(flow_run_ids: set[str], timeout: float = 5) -> dict[str, str] | None:
    """Of these case runs, the ones not suspended or completed, with their state's name
    (Crashed, Running, ...): one filtered read of the few runs in such states, not one per
    case. None if the server does not answer within `timeout` s (a listing does not wait)."""
    import httpx

    found: dict[str, str] = {}
    read = 0
    body: dict[str, Any] = {
        "flows": {"name": {"any_": [LIFECYCLE_DEPLOYMENT.split("/")[0]]}},
        "flow_runs": {"state": {"type": {"any_": NOT_WAITING}}},
        "sort": "ID_DESC",
        "limit": 200,
    }
    try:
        with httpx.Client(
            base_url=api_url().rstrip("/") + "/", timeout=timeout, headers=prefect_auth_headers()
        ) as client:
            while True:
                response = client.post("flow_runs/filter", json={**body, "offset": read})
                response.raise_for_status()
                page = response.json()
                read += len(page)
                found |= {str(run["id"]): run["state"]["name"] for run in page if run["state"]}
                if len(page) < body["limit"]:
                    break
    except (httpx.HTTPError, OSError, ValueError, KeyError, TypeError):
        return None
    return {run_id: name for run_id, name in found.items() if run_id in flow_run_ids}


def prefect_client() -> SyncPrefectClient:
    """Prefect's own client, one open per API URL for this process (building one costs
    ~30 ms of CPU), for the calls that need Prefect's models."""
    from prefect.client.orchestration import get_client

    url = api_url()
    with _clients_lock:
        if url not in _clients:
            client = get_client(sync_client=True)
            client.__enter__()
            _clients[url] = client
        return _clients[url]


def _deployment(name: str) -> dict[str, Any]:
    return dict(rest_api("GET", f"/deployments/name/{name}"))


def check_ready(deployment: str = LIFECYCLE_DEPLOYMENT) -> None:
    """Refuse early, before anything is written, if the server or the worker is missing.
    A server that refuses connections is down at once; one that is slow to answer (an
    SQLite server waits up to a minute for its write lock) is given as long."""
    deadline = time.monotonic() + SLOW_SERVER_PATIENCE_SECONDS
    while (answer := server_answers(api_url())) is None and time.monotonic() < deadline:
        time.sleep(1)
    if not answer:
        slow = " in time" if answer is None else ""
        raise OrchestratorUnavailable(
            f"Prefect server at {api_url()} is not answering{slow}; {what_to_start('server')}"
        )
    try:
        found = _deployment(deployment)  # answers for both
    except ObjectNotFound:
        raise OrchestratorUnavailable(
            f"deployment {deployment} is not registered at {api_url()}; "
            f"{what_to_start('deployment')}"
        ) from None
    if not silent_too_long(_silence(found)):
        return
    # A worker that asked late is not gone: on a busy host its polls come late. Gone is
    # what its process and its heartbeat say: `casework up`'s worker lives in `up`'s own
    # process (which ends if its worker stops); a pool's workers send Prefect a heartbeat,
    # and Prefect calls a worker offline only after three missed ones.
    pool = found.get("work_pool_name")
    if worker_is_there(str(pool) if pool else None):
        return
    silent = _silence(found)
    seen = f"last seen {silent:.0f} s ago" if silent is not None else "never seen"
    raise OrchestratorUnavailable(
        f"no worker is serving {deployment} ({seen}, and no worker of its pool "
        f"{pool or '-'} is online); {what_to_start('worker')}"
    )


def worker_is_there(pool: str | None) -> bool:
    """Whether a worker serving a deployment on `pool` is there, though it may ask late:
    `up`'s own (in `up`'s process), or one of the pool's Prefect counts online."""
    if own_stack() and stack_alive():
        return True
    return bool(pool and live_workers(pool))


def live_workers(pool: str) -> list[str]:
    """The names of the pool's workers Prefect counts online (heartbeat not missed)."""
    try:
        workers = rest_api("POST", f"/work_pools/{pool}/workers/filter", {"limit": 200})
    except ObjectNotFound:
        return []
    return [str(w["name"]) for w in workers if w.get("status") == "ONLINE"]


def _silence(deployment: dict[str, Any]) -> float | None:
    """Seconds since a worker last asked for the deployment's runs (None: never)."""
    polled = deployment.get("last_polled")
    if not polled:
        return None
    last = datetime.fromisoformat(polled)
    return (datetime.now(last.tzinfo) - last).total_seconds()


def silent_too_long(silent: float | None) -> bool:
    return silent is None or silent > RUNNER_SILENCE_SECONDS


def stack_alive(data_dir: Path | None = None) -> bool:
    """Whether this data directory's `casework up` is running on this host (its stack file
    names a live process)."""
    from casework.core.settings import STACK_FILE, get_settings

    try:
        stack = json.loads(((data_dir or get_settings().data_dir) / STACK_FILE).read_text())
        os.kill(int(stack["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def revive_interrupted_runs() -> int:
    """Schedule again the case runs a stopped stack left mid-transition (Pending, Running or
    Crashed with no worker behind them). Each re-reads its case from the store and waits at
    the right stage; a key that already fired hands back its stored form. Call only when this
    process's worker is the only one: elsewhere a Running run may be truly running."""
    runs = rest_api(
        "POST",
        "/flow_runs/filter",
        {
            "flows": {"name": {"any_": [LIFECYCLE_DEPLOYMENT.split("/")[0]]}},
            "flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CRASHED"]}}},
        },
    )
    for run in runs:
        reschedule(str(run["id"]))
    return len(runs)


def missing_automations() -> list[str]:
    """The automations the server lacks (`casework status`), from one read of them all."""
    present = {str(a.get("name")) for a in rest_api("POST", "/automations/filter", {})}
    return [name for name in AUTOMATIONS if name not in present]


def reschedule(flow_run_id: str) -> None:
    """Run a suspended case run again from the top: it re-reads the case from the store and
    suspends afresh. For a run whose suspension never completed (its form schema was not
    stored because its process died), this is the repair."""
    rest_api(
        "POST",
        f"/flow_runs/{flow_run_id}/set_state",
        {"state": {"type": "SCHEDULED", "name": "Scheduled"}, "force": True},
    )


def wake_if_waiting(flow_run_id: str, key: str) -> tuple[bool, RunView]:
    """Run a case run again from the top if it is suspended at `key` (it then reads what
    the store asks of it: a reassessment); whether it was, and the run as read."""
    run = read_run(flow_run_id)
    if run.waiting and run.pause_key == key:
        reschedule(flow_run_id)
        return True, run
    return False, run


def start_run(deployment: str, parameters: dict[str, Any], **fields: Any) -> str:
    """A new run of `deployment` (or, for the same idempotency key, the run it already
    has), scheduled now; its id."""
    deployment_id = _deployment(deployment)["id"]
    run = rest_api(
        "POST",
        f"/deployments/{deployment_id}/create_flow_run",
        {"parameters": parameters, "state": {"type": "SCHEDULED", "name": "Scheduled"}, **fields},
    )
    return str(run["id"])


def resume_waiting(flow_run_id: str, key: str, timeout: float = 30.0) -> bool:
    """Resume a run suspended (without a form) at `key`; False if it is not waiting there.
    A run still on its way to suspending is waited for, a bounded while: it looked for the
    answers before it suspended, and one recorded after that look would otherwise wait
    for the next referral sync."""
    deadline = time.monotonic() + timeout
    while True:
        run = read_run(flow_run_id)
        if run.waiting and run.pause_key == key:
            result = rest_api("POST", f"/flow_runs/{flow_run_id}/resume", {})
            return bool(result["status"] == "ACCEPT")
        if run.state_type not in ON_ITS_WAY or time.monotonic() > deadline:
            return False
        time.sleep(0.3)


def retag_run(flow_run_id: str, tags: list[str]) -> None:
    rest_api("PATCH", f"/flow_runs/{flow_run_id}", {"tags": tags})


def emit_event(event: dict[str, Any]) -> None:
    """One event on the Prefect server (what an automation or the event feed sees)."""
    rest_api("POST", "/events", [event])


def start_sweep(deployment: str, **parameters: Any) -> str:
    """Start a sweep now, on the worker, without waiting for it."""
    return start_run(deployment, dict(parameters))


def run_on_pool(deployment: str, parameters: dict[str, Any], timeout: float) -> RunView:
    """Run `deployment` now on its work pool (whichever worker takes it) and wait, a
    bounded while, until it ends; its run as it ended (or as it stood at the deadline)."""
    flow_run_id = start_sweep(deployment, **parameters)
    deadline = time.monotonic() + timeout
    while (run := read_run(flow_run_id)).state_type in ON_ITS_WAY:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return run


def artifact_description(flow_run_id: str, key: str) -> str | None:
    """The description of the run's artifact `key` (a sweep puts its counts there)."""
    found = rest_api(
        "POST",
        "/artifacts/filter",
        {"artifacts": {"key": {"any_": [key]}, "flow_run_id": {"any_": [flow_run_id]}}},
    )
    return str(found[0]["description"]) if found else None


def start_case_sweep(case_number: str, deployment: str = SWEEP_DEPLOYMENT) -> str:
    """Sweep one case now: for stalls (a crisis was just recorded), or with the benefits
    watch (a notice of adverse action was)."""
    return start_sweep(deployment, case_number=case_number)


def view(flow_run: dict[str, Any]) -> RunView:
    """A flow run as the REST API returns it (JSON), or as Prefect's client model dumps it."""
    state = flow_run.get("state") or {}
    state_type = str(state.get("type") or "UNKNOWN")
    return RunView(
        flow_run_id=str(flow_run["id"]),
        name=str(flow_run["name"]),
        state_type=state_type,
        state_name=str(state.get("name") or state_type.lower() if state else "unknown"),
        state_message=state.get("message"),
        pause_key=(state.get("state_details") or {}).get("pause_key"),
        tags=list(flow_run.get("tags") or []),
        since=parse_when(state.get("timestamp")),
        schema_key=((state.get("state_details") or {}).get("run_input_keyset") or {}).get("schema"),
        auto_scheduled=bool(flow_run.get("auto_scheduled")),
        expected_start=parse_when(flow_run.get("expected_start_time")),
    )


def parse_when(stamp: Any) -> datetime | None:
    if isinstance(stamp, datetime):
        return stamp
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def create_artifact(key: str, markdown: str, description: str, flow_run_id: str | None) -> None:
    """A markdown artifact, on a flow run if one is given (the dashboard shows it there)."""
    body = {"key": key, "type": "markdown", "data": markdown, "description": description}
    rest_api("POST", "/artifacts/", {**body, "flow_run_id": flow_run_id})


def put_run_card(key: str, markdown: str, description: str, flow_run_id: str) -> None:
    """The run's one current card under `key`, rewritten in place: a run's Artifacts tab
    lists every version of a key made on it (five identical titles, the first clicked as
    likely stale as not), so a run keeps one, updated (the key's collection follows the
    update), and any older ones a run made before this are removed. One more read than a
    plain write, per card; a card whose text has not changed is not written again."""
    found = rest_api(
        "POST",
        "/artifacts/filter",
        {
            "artifacts": {"key": {"any_": [key]}, "flow_run_id": {"any_": [flow_run_id]}},
            "sort": "CREATED_DESC",
        },
    )
    if not found:
        create_artifact(key, markdown, description, flow_run_id)
        return
    current, *older = found
    if current.get("data") != markdown:  # unchanged (a sweep that found the same): no write
        body = {"data": markdown, "description": description}
        rest_api("PATCH", f"/artifacts/{current['id']}", body)
    for stale in older:
        rest_api("DELETE", f"/artifacts/{stale['id']}")


FINISHED = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]
DELETE_BATCH = 50  # Prefect's bulk operations take at most 50 runs a request


def finished_runs(
    flow_names: list[str], ended_before: datetime, skip: list[str], limit: int = 200
) -> list[str]:
    """Up to `limit` ids of the finished runs of these flows that ended before
    `ended_before`, leaving out `skip`: one bounded read."""
    runs: dict[str, Any] = {
        "state": {"type": {"any_": FINISHED}},
        "end_time": {"before_": ended_before.isoformat()},
    }
    if skip:
        runs["id"] = {"not_any_": skip}
    body = {"flows": {"name": {"any_": flow_names}}, "flow_runs": runs, "limit": limit}
    return [str(run["id"]) for run in rest_api("POST", "/flow_runs/filter", body)]


def delete_runs(flow_run_ids: list[str]) -> int:
    """Delete these flow runs (their task runs, states, inputs and logs go with them; their
    artifacts go at the server's next orphan vacuum). Returns how many were deleted."""
    deleted = 0
    for start in range(0, len(flow_run_ids), DELETE_BATCH):
        batch = flow_run_ids[start : start + DELETE_BATCH]
        body = {"flow_runs": {"id": {"any_": batch}}, "limit": DELETE_BATCH}
        deleted += len(rest_api("POST", "/flow_runs/bulk_delete", body)["deleted"])
    return deleted


def create_run_input(flow_run_id: str, key: str, value: Any) -> None:
    """Store one run input value (a Resume dialog's schema or description) on a flow run."""
    body = {"key": key, "value": json.dumps(value)}
    try:
        rest_api("POST", f"/flow_runs/{flow_run_id}/input", body)
    except AnswerLost:
        # The server may have stored it before the answer was lost: stored as it is, done;
        # else stored now (a second store of a key that is there would be refused).
        if read_run_input(flow_run_id, key) != value:
            rest_api("POST", f"/flow_runs/{flow_run_id}/input", body)


def read_run_input(flow_run_id: str, key: str) -> Any:
    """One run input value as it was stored (the server answers with its JSON), or None if
    there is none."""
    try:
        return rest_api("GET", f"/flow_runs/{flow_run_id}/input/{key}")
    except ObjectNotFound:
        return None


def read_run(flow_run_id: str) -> RunView:
    return view(rest_api("GET", f"/flow_runs/{flow_run_id}"))


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
    result = rest_api("POST", f"/flow_runs/{flow_run_id}/resume", {"run_input": form_data})
    if result["status"] != "ACCEPT":
        reason = (result.get("details") or {}).get("reason") or result["status"]
        if "schema not found" in reason:
            # The run has suspended but not yet stored its form's schema: a moment early.
            raise FormNotAwaitedYet(reason)
        raise SubmissionRefused(f"Prefect refused the form: {reason}")
