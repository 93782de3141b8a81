"""`casework status`: the stack's health on one screen, as an operator needs it. Is the
Prefect server there, is every deployment served and scheduled, what did each last run
end as, which notifications are stuck, and which case runs need repair (each with the one
command that repairs it). Case numbers and coded values only, like every Prefect surface."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from casework.core.db import session_scope
from casework.core.prefect_api import (
    DEPLOYMENTS,
    FINISHED,
    LIFECYCLE_DEPLOYMENT,
    RUNNER_SILENCE_SECONDS,
    ObjectNotFound,
    OrchestratorUnavailable,
    RunView,
    api_is_healthy,
    api_url,
    missing_automations,
    own_stack,
    parse_when,
    read_run,
    reschedule,
    rest_api,
    stack_alive,
    view,
    what_to_start,
    worker_is_there,
)
from casework.core.settings import SERVER_LOG, SERVER_STARTING
from casework.models import cases, escalations, messages
from casework.models.cases import RunOwner
from casework.models.codes import Program
from casework.models.lifecycle import STALE_WAIT, current_wait_tags, stale_wait
from casework.models.staff import membership_problems

# A transition takes seconds: a case run Pending or Running this long with no process
# behind it is stuck. Where the process cannot be looked for (another host), a run is
# reported once it has been Running this long.
NO_PROCESS_GRACE = timedelta(seconds=60)
RUNNING_TOO_LONG = timedelta(minutes=30)
# A run loses its form's schema only if its process dies as it suspends: the runs of cases
# that moved this lately are looked at (the store names them; at 100,000 open cases a few
# hundred at most), a bounded read however many cases wait.
SCHEMA_CHECK_WINDOW = timedelta(hours=1)
PAGE = 200
SCHEDULER_ERROR = re.compile(
    r"ERROR.*(schedule_deployments|schedule_recent_deployments|Error scheduling deployment)"
)
STUCK_STATES = [
    "RUNNING",
    "PENDING",
    "CRASHED",
    "FAILED",
    "SCHEDULED",  # "Resuming", "Scheduled": a worker takes it within seconds
]
# A case run scheduled (resumed, repaired, started) this long ago that no worker has taken:
# no worker serves its deployment, or none can take it.
NOT_TAKEN_GRACE = timedelta(minutes=2)


@dataclass
class DeploymentHealth:
    name: str
    schedule: str
    served: str
    next_run: str | None = None
    last_run: str | None = None
    problem: str | None = None


@dataclass
class CaseRunProblem:
    case_number: str
    flow_run_id: str
    state: str
    problem: str
    seconds_in_state: float = 0.0

    @property
    def repair(self) -> str:
        return f"casework repair {self.case_number}"


@dataclass
class StackStatus:
    api_url: str
    checked_at: str
    server_version: str | None = None
    server_problem: str | None = None
    deployments: list[DeploymentHealth] = field(default_factory=list)
    scheduler_errors: int = 0
    last_scheduler_error: str | None = None
    undelivered: list[tuple[str, int]] = field(default_factory=list)
    # Messages to clients: those failed in the last week, by channel and why; and how many
    # wait for another attempt.
    messages_failed: list[tuple[str, str, int]] = field(default_factory=list)
    messages_retrying: int = 0
    case_runs: list[CaseRunProblem] = field(default_factory=list)
    missing_automations: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # memberships the roster does not explain

    @property
    def actions(self) -> list[str]:
        """What needs an operator, one line each; empty when all is well."""
        lines = [self.server_problem] if self.server_problem else []
        lines += self.roles
        lines += [f"{d.name}: {d.problem}" for d in self.deployments if d.problem]
        if self.missing_automations:
            lines.append(
                f"automation(s) {', '.join(self.missing_automations)} not on the server: "
                "level-3 briefs and lost-run recovery do not happen; "
                + ("start `casework up`" if own_stack() else "run `casework deploy`")
            )
        if self.scheduler_errors:
            lines.append(
                f"Prefect's scheduler logged {self.scheduler_errors} error(s) since the server "
                "started: scheduled runs may not be created"
            )
        if self.undelivered:
            total = sum(count for _, count in self.undelivered)
            lines.append(f"{total} notification(s) undelivered; the next sweep retries them")
        lines += [
            f"{count} {channel} message(s) to clients failed this week: {why} (each case's "
            "`casework messaging CASE` lists them)"
            for channel, why, count in self.messages_failed
        ]
        lines += [f"{p.case_number}: {p.problem}; run `{p.repair}`" for p in self.case_runs]
        return lines

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["undelivered"] = [{"reason": r, "count": c} for r, c in self.undelivered]
        for row, problem in zip(data["case_runs"], self.case_runs, strict=True):
            row["repair"] = problem.repair
        data["actions"] = self.actions
        data["ok"] = not self.actions
        return data


def check(data_dir: Path | None = None) -> StackStatus:
    """Look at everything; never raises for a missing server (that is a finding)."""
    data_dir = data_dir or _data_dir()
    status = StackStatus(api_url(), f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    with session_scope(read_only=True) as session:
        status.undelivered = escalations.delivery_backlog(session)
        status.messages_failed, status.messages_retrying = messages.failures(
            session, datetime.now(UTC) - timedelta(days=7)
        )
        status.roles = membership_problems(session)
    status.scheduler_errors, status.last_scheduler_error = scheduler_errors(data_dir)
    if not api_is_healthy(status.api_url):
        status.server_problem = (
            f"Prefect server at {status.api_url} is not answering; {what_to_start('server')}"
        )
        return status
    try:  # Prefect's REST API read straight: `status` does not import Prefect
        status.server_version = str(rest_api("GET", "/admin/version"))
        status.deployments = [deployment_health(name) for name in DEPLOYMENTS]
        status.case_runs = case_run_problems(runner_is_local(data_dir))
        status.missing_automations = missing_automations()
    except (OrchestratorUnavailable, OSError) as exc:
        status.server_problem = (
            f"Prefect server at {status.api_url} stopped answering ({type(exc).__name__})"
        )
    return status


def deployment_health(full_name: str) -> DeploymentHealth:
    name = full_name.split("/")[0]
    try:
        deployment = rest_api("GET", f"/deployments/name/{full_name}")
    except ObjectNotFound:
        return DeploymentHealth(
            name, "-", "not registered", problem=f"not registered; {what_to_start('deployment')}"
        )
    health = DeploymentHealth(name, describe_schedules(deployment), served_by(deployment))
    if health.served.startswith(("never", "silent")):
        if worker_is_there(deployment.get("work_pool_name")):
            health.served += ", its worker online (late: a busy host)"
        else:
            health.problem = (
                f"no runner or worker is serving it ({health.served}); {what_to_start('worker')}"
            )
    upcoming = _runs(deployment["id"], ["SCHEDULED"], "EXPECTED_START_TIME_ASC")
    if upcoming and upcoming.expected_start:
        health.next_run = f"{upcoming.expected_start.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    finished = _runs(deployment["id"], FINISHED, "END_TIME_DESC")
    if finished:
        health.last_run = f"{finished.name}: {finished.state_name}"
        if finished.state_type != "COMPLETED":
            health.last_run += f" ({(finished.state_message or '')[:120]})"
            if finished.auto_scheduled:  # a run started by hand and refused is not a fault
                health.problem = (
                    f"its last scheduled run {finished.name} ended {finished.state_name}"
                )
    schedules = deployment.get("schedules") or []
    has_schedule = any(s.get("active") for s in schedules) and not deployment.get("paused")
    if has_schedule and upcoming is None and health.problem is None:
        health.problem = "scheduled, but Prefect's scheduler has put no upcoming run on it"
    return health


def _runs(deployment_id: str, states: list[str], sort: str) -> RunView | None:
    found = rest_api(
        "POST",
        "/flow_runs/filter",
        {
            "deployments": {"id": {"any_": [deployment_id]}},
            "flow_runs": {"state": {"type": {"any_": states}}},
            "sort": sort,
            "limit": 1,
        },
    )
    return view(found[0]) if found else None


def describe_schedules(deployment: dict[str, Any]) -> str:
    """A deployment's schedules as the REST API gives them, in a few words each."""
    shown = []
    for item in deployment.get("schedules") or []:
        schedule = item.get("schedule") or {}
        if "cron" in schedule:
            text = f"cron {schedule['cron']} ({schedule.get('timezone') or 'UTC'})"
        elif "interval" in schedule:
            text = f"every {float(schedule['interval']):g} s"  # seconds, as the API writes it
        else:
            text = "RRuleSchedule" if "rrule" in schedule else "schedule"
        shown.append(text if item.get("active") else f"{text} (inactive)")
    if deployment.get("paused"):
        shown.append("paused")
    return "; ".join(shown) or "on demand"


def served_by(deployment: dict[str, Any]) -> str:
    last = parse_when(deployment.get("last_polled"))
    if last is None:
        return "never polled"
    silent = (datetime.now(UTC) - last).total_seconds()
    word = "silent" if silent > RUNNER_SILENCE_SECONDS else "polled"
    return f"{word} {silent:.0f} s ago"


def runner_is_local(data_dir: Path) -> bool:
    """Whether `casework up` runs on this host for this data directory: then a case run's
    process, if it exists, is one of ours and can be looked for."""
    return stack_alive(data_dir)


def flow_run_processes() -> dict[str, int]:
    """The flow-run processes on this host that we may look at: flow run id -> pid. A
    Casework worker's children are noted by their template; a process started by
    Prefect's runner or process worker carries its run's id in its environment."""
    from casework.template import forked_flow_runs

    found = forked_flow_runs()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(b"PREFECT__FLOW_RUN_ID="):
                found[item.split(b"=", 1)[1].decode(errors="replace")] = int(entry.name)
    return found


def case_run_problems(runner_local: bool, states: list[str] | None = None) -> list[CaseRunProblem]:
    if states is None:
        runs = _case_runs(STUCK_STATES) + _waiting_runs_to_look_at()
    else:
        runs = _case_runs(states)
    with session_scope(read_only=True) as session:
        owners = cases.owners_of_runs(session, [run.flow_run_id for run in runs])
    alive = set(flow_run_processes()) if runner_local else set()
    problems = []
    for run in runs:
        owner = owners.get(run.flow_run_id)
        if owner is None or run.since is None:
            continue
        problem = diagnose(run, owner, alive, runner_local)
        if problem:
            age = (datetime.now(UTC) - run.since).total_seconds()
            problems.append(
                CaseRunProblem(owner.case_number, run.flow_run_id, run.state_name, problem, age)
            )
    return sorted(problems, key=lambda p: p.case_number)


CASE_FLOW = {"name": {"any_": [LIFECYCLE_DEPLOYMENT.split("/")[0]]}}


def _in_states(states: list[str]) -> dict[str, Any]:
    return {"state": {"type": {"any_": states}}}


def _case_runs(states: list[str]) -> list[RunView]:
    runs: list[RunView] = []
    while True:
        body = {
            "flows": CASE_FLOW,
            "flow_runs": _in_states(states),
            "sort": "ID_DESC",
            "limit": PAGE,
            "offset": len(runs),
        }
        page = [view(run) for run in rest_api("POST", "/flow_runs/filter", body)]
        runs += page
        if len(page) < PAGE:
            return runs


def _waiting_runs_to_look_at() -> list[RunView]:
    """The suspended case runs that can have a problem, found without reading every one:
    the runs the store says moved lately or were asked to reassess, and, only when Prefect
    counts suspended runs that wait under no tag of this release, every suspended run (an
    upgrade's carry-over not yet done)."""
    if _waiting_under_earlier_release():
        return _case_runs(["PAUSED"])
    with session_scope(read_only=True) as session:
        wanted = cases.runs_moved_since(session, datetime.now(UTC) - SCHEMA_CHECK_WINDOW)
        wanted += [run for _, _, run in cases.pending_reassessments(session)]
    runs: list[RunView] = []
    unique = sorted(set(wanted))
    for start in range(0, len(unique), PAGE):
        ids = {"id": {"any_": unique[start : start + PAGE]}}
        body = {"flow_runs": {**ids, **_in_states(["PAUSED"])}, "limit": PAGE}
        runs += [view(run) for run in rest_api("POST", "/flow_runs/filter", body)]
    return runs


def _waiting_under_earlier_release() -> bool:
    """Whether any suspended case run waits under a form or layout this release does not
    have, or its program's declarations as they were: a count on the server, and one per
    program of those waiting under a tag current for their program."""
    paused = _in_states(["PAUSED"])
    total = rest_api("POST", "/flow_runs/count", {"flows": CASE_FLOW, "flow_runs": paused})
    current = 0
    for program in Program:
        tags = {"all_": [f"program:{program.value}"], "any_": sorted(current_wait_tags(program))}
        body = {"flows": CASE_FLOW, "flow_runs": {**paused, "tags": tags}}
        current += int(rest_api("POST", "/flow_runs/count", body))
    return int(total) > current


def diagnose(run: RunView, owner: RunOwner, alive: set[str], runner_local: bool) -> str | None:
    """What is wrong with the run driving an open case, or None if it is fine."""
    age = datetime.now(UTC) - (run.since or datetime.now(UTC))
    state = run.state_type
    if state in ("CRASHED", "FAILED"):
        return f"its run {run.state_name} at {owner.stage_key}"
    if state in ("RUNNING", "PENDING"):
        if run.flow_run_id in alive or age < NO_PROCESS_GRACE:
            return None
        if runner_local:
            return f"its run is {run.state_name} with no process behind it"
        return (
            f"its run has been {run.state_name} for {age.total_seconds() / 60:.0f} min"
            if age > RUNNING_TOO_LONG
            else None
        )
    if state == "SCHEDULED" and age > NOT_TAKEN_GRACE:
        return f"its run is {run.state_name} and no worker has taken it"
    return _waiting_problem(run, owner, age) if state == "PAUSED" else None


def _waiting_problem(run: RunView, owner: RunOwner, age: timedelta) -> str | None:
    """What is wrong with a suspended case run, or None."""
    if stale := stale_wait(run.tags):
        return stale  # an upgrade's carry-over: run again, it waits as this release has it
    if owner.reassess_pending and age > NO_PROCESS_GRACE:
        return "its reassessment waits for its run to wake"
    if run.schema_key and age < SCHEMA_CHECK_WINDOW:
        try:
            rest_api("GET", f"/flow_runs/{run.flow_run_id}/input/{run.schema_key}")
        except ObjectNotFound:
            return f"its run is suspended at {run.pause_key} without its form"
    return None


def scheduler_errors(data_dir: Path) -> tuple[int, str | None]:
    """Scheduler errors in our own Prefect server's log since it last started (a server we
    did not start keeps its log elsewhere: none are counted)."""
    try:
        text = (data_dir / SERVER_LOG).read_text(errors="replace")
    except OSError:
        return 0, None
    since_start = text.rsplit(SERVER_STARTING, 1)[-1]
    errors = [line.strip() for line in since_start.splitlines() if SCHEDULER_ERROR.search(line)]
    return len(errors), (errors[-1][:200] if errors else None)


def repair(case_number: str) -> str:
    """Put the case's run back to wait at its stage; refuses a run that needs no repair."""
    with session_scope(read_only=True) as session:
        case = cases.get_open_case(session, case_number)
        flow_run_id = cases.episode_of(session, case).flow_run_id
        owner = RunOwner(
            case.case_number or case_number, case.stage_key, case.reassess_key == case.stage_key
        )
    if not api_is_healthy(api_url()):
        raise OrchestratorUnavailable(
            f"Prefect server at {api_url()} is not answering; {what_to_start('server')}"
        )
    if flow_run_id is None:  # recorded, but its run never started (the server went away)
        from casework.services.cases import start_run

        with session_scope(read_only=True) as session:
            position = cases.position(session, cases.get_case(session, owner.case_number))
        start_run(position)
        return f"{owner.case_number}: its run had not started; it was started at its stage"
    run = read_run(flow_run_id)
    local = runner_is_local(_data_dir())
    problem = diagnose(run, owner, set(flow_run_processes()) if local else set(), local)
    if not problem:
        return f"{owner.case_number}: its run needs no repair"
    reschedule(flow_run_id)
    return f"{owner.case_number}: {problem}; its run was put back to wait at its stage"


def repair_all(problems: list[CaseRunProblem]) -> list[str]:
    for problem in problems:
        reschedule(problem.flow_run_id)
    return [
        f"{p.case_number}: {'carried over' if p.problem.startswith(STALE_WAIT) else 'repaired'}"
        f" ({p.problem})"
        for p in problems
    ]


# What `up` repairs by itself: runs whose process died. A Failed run may fail again the
# same way; it waits for an operator (`casework status --repair`). A crash is left alone
# for a short while first, so `casework status` shows what happened and an operator's
# own repair is not raced.
DIED = ["CRASHED", "RUNNING", "PENDING"]
CRASH_GRACE_SECONDS = 10.0


def carry_over() -> list[str]:
    """After an upgrade (`casework deploy` on a pool): every case run waiting under an
    earlier release's form or layout is run again from the top, and waits afresh as this
    release has it (a form handed to it before the upgrade is applied once)."""
    found = case_run_problems(runner_local=False, states=["PAUSED"])
    return repair_all([p for p in found if p.problem.startswith(STALE_WAIT)])


def reseat_waiting() -> int:
    """Run every waiting case run again from the top, so each waits where the store says its
    case is (after a restore: the store and the Prefect server were copied a moment apart)."""
    found = _case_runs(["PAUSED"])
    for run in found:
        reschedule(run.flow_run_id)
    return len(found)


def repair_stuck(data_dir: Path) -> list[str]:
    """Repair the case runs whose process died; for `up`'s upkeep, which is the only runner."""
    if not api_is_healthy(api_url()):
        return []
    found = case_run_problems(runner_is_local(data_dir), DIED)
    return repair_all([p for p in found if p.seconds_in_state >= CRASH_GRACE_SECONDS])


def _data_dir() -> Path:
    from casework.core.settings import get_settings

    return get_settings().data_dir.resolve()


def to_text(status: StackStatus) -> str:
    head = f"Casework at {status.api_url}"
    if status.server_version:
        head += f" (Prefect server API {status.server_version})"
    lines = [f"{head}, checked {status.checked_at}"]
    if status.server_problem:
        lines.append(f"  server: {status.server_problem}")
    if status.deployments:
        lines.append("Deployments:")
        width = max(len(d.name) for d in status.deployments)
        for d in status.deployments:
            lines.append(
                f"  {d.name:<{width}}  {d.served:<18} {d.schedule}"
                + (f"; next {d.next_run}" if d.next_run else "")
            )
            if d.last_run:
                lines.append(f"  {'':<{width}}  last run {d.last_run}")
    lines.append(
        "Notifications: "
        + (
            ", ".join(f"{count} undelivered: {reason}" for reason, count in status.undelivered)
            if status.undelivered
            else "none stuck"
        )
    )
    failed = sum(count for _, _, count in status.messages_failed)
    lines.append(
        f"Messages to clients: {failed} failed this week, {status.messages_retrying} waiting "
        "to be tried again"
    )
    if status.case_runs:
        lines.append("Case runs that need repair:")
        lines += [f"  {p.case_number}  {p.problem}: {p.repair}" for p in status.case_runs]
    elif not status.server_problem:
        lines.append("Case runs: none need repair")
    actions = status.actions
    lines.append(
        "Needs action:" + "".join(f"\n  - {a}" for a in actions) if actions else "All is well."
    )
    return "\n".join(lines)
