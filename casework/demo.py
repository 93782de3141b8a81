"""Synthetic caseload for a newcomer's first look: clients across every program, moved
to varied stages through the same operations a case manager uses."""

from __future__ import annotations

import json
import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from casework import examples, services
from casework.core import credentials, prefect_api
from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError, StackError
from casework.models import cases, stage_events
from casework.models.codes import (
    BenefitKind,
    CaseStatus,
    ClosureReason,
    ContactPreference,
    NewClientReason,
    NoticeAction,
    NoticeReason,
    Program,
    Stage,
    Trigger,
)
from casework.models.forms import (
    AssessmentForm,
    ClosureForm,
    MonitoringForm,
    StageForm,
)
from casework.models.labels import label
from casework.models.lifecycle import example_form
from casework.models.orm import StageEvent
from casework.models.schemas import ClientIn
from casework.models.staff import case_managers
from casework.partner import PartnerAgency
from casework.services.staff import roster

GIVEN = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Femi",
    "Grace",
    "Hugo",
    "Ines",
    "Jamal",
    "Kira",
    "Luis",
]
FAMILY = ["Okafor", "Nguyen", "Silva", "Kowalski", "Haddad", "Moreau", "Tanaka", "Reyes", "Brennan"]
# How far each demo case goes: a stage to stop at, or the closed state.
ROUTES: list[list[Stage]] = [
    [],
    [Stage.ASSESSMENT],
    [Stage.ASSESSMENT, Stage.PLAN],
    [Stage.ASSESSMENT, Stage.PLAN, Stage.REFERRAL],
    [Stage.ASSESSMENT, Stage.PLAN, Stage.REFERRAL, Stage.MONITORING],
    [Stage.ASSESSMENT, Stage.PLAN, Stage.REFERRAL, Stage.MONITORING, Stage.CLOSURE],
]


def synthetic_client(rng: random.Random) -> ClientIn:
    return ClientIn(
        given_name=rng.choice(GIVEN),
        family_name=rng.choice(FAMILY),
        date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65)),
        phone=f"555-{rng.randrange(1000, 9999)}",
        contact_preference=rng.choice(list(ContactPreference)),
    )


def demo_form(
    stage: Stage, rng: random.Random, staff: str, last: bool, program: Program
) -> StageForm:
    """A valid form for `stage`; the monitoring form closes the case when `last` is false.
    An assessment scores housing 1 (in crisis) and the matrix's other domains at random."""
    form = example_form(stage, date.today(), staff, program)
    if isinstance(form, AssessmentForm):
        data = form.model_dump(mode="json")
        scores = data.get("self_sufficiency_matrix", {}).get("scores")
        if scores:
            scores.update({name: rng.choice([2, 3, 3, 4, 5]) for name in scores})
            scores["housing"] = 1
        return type(form).model_validate(data)
    if isinstance(form, MonitoringForm):
        return form.model_copy(update={"decision": Trigger.CONTINUE if last else Trigger.CLOSE})
    if isinstance(form, ClosureForm):
        return form.model_copy(
            update={"reason": rng.choice(list(ClosureReason)), "submitted_by": staff}
        )
    return form.model_copy(update={"submitted_by": staff})


# The demo gives each case's forms one step at a time, every case a step per round, and
# keeps trying a step that did not take (a busy server, a run not yet suspended) until the
# case has recorded it, for as long as this: on a loaded machine, minutes, not seconds.
PATIENCE_SECONDS = 1800
ROUND_SECONDS = 1.0
STEP_SECONDS = 5.0  # how long one attempt waits for the run to be suspended at the stage
SYNC_SECONDS = 15.0  # how often the partners are asked for answers while a case waits
PARTNER_FILE = credentials.DEMO_PARTNER_FILE
ORDER = list(Stage)


@dataclass
class DemoCase:
    """One demo case and how far along its route it is."""

    number: str
    program: Program
    staff: str
    route: list[Stage]
    rng: random.Random
    opened: cases.Position
    started: bool = False  # its run started (else asked again: a busy server at intake)
    arrived: bool = False  # at the end of its route, and seen there in the store
    done: int = 0  # forms of the route the case has recorded
    handed: str | None = None  # the stage key whose form was handed over, not yet recorded
    form: StageForm | None = None  # the form of the current step, the same on every attempt
    consented: bool = False
    error: str | None = None  # a refusal: the case stops where it is
    last_problem: str | None = None  # why the last attempt did not take (tried again)

    @property
    def finished(self) -> bool:
        return self.error is not None or self.arrived


def _open(index: int, seed: int) -> DemoCase:
    rng = random.Random(seed + index)
    program = list(Program)[index % len(Program)]
    managers = case_managers(roster(), program)  # from the staff roster, as intake requires
    staff = managers[index % len(managers)]
    # Synthetic people may happen to resemble each other: registered as distinct people
    # (`casework duplicates` then lists any pair that looks alike).
    position, _ = services.cases.open_case(
        synthetic_client(rng), program, staff, staff, NewClientReason.DIFFERENT_PERSON
    )
    route = ROUTES[index % len(ROUTES)]
    return DemoCase(position.case_number, program, staff, route, rng, position)


@dataclass(frozen=True)
class _Seen:
    """What the store says of a demo case, read in one transaction."""

    stage: str
    closed: bool
    waiting: bool  # on its partners' answers
    recorded: StageEvent | None  # the event of the form handed over, once recorded

    def past(self, stage: Stage) -> bool:
        """Whether the case has gone beyond `stage` (its form was recorded)."""
        return self.closed or ORDER.index(Stage(self.stage)) > ORDER.index(stage)


def _look(case: DemoCase) -> _Seen:
    with session_scope(read_only=True) as session:
        row = cases.get_case(session, case.number)
        recorded = None
        if case.handed:
            recorded = stage_events.find(session, row, row.episode, case.handed)
        closed = row.status == CaseStatus.CLOSED.value
        return _Seen(row.stage, closed, row.waiting_on is not None, recorded)


def _advance(case: DemoCase) -> bool:
    """One attempt at the case's next step. Returns whether it is waiting on its partners."""
    if not case.started:  # idempotent: a retry after a timeout starts no second run
        services.cases.start_run(case.opened)
        case.started = True
    seen = _look(case)
    if case.done == len(case.route):
        # intake moves on by itself; a referral waits for its partners' answers
        case.arrived = seen.stage != Stage.INTAKE.value and not seen.waiting
    elif case.handed:
        _settle(case, seen.recorded)
    elif seen.past(case.route[case.done]):
        _next(case)  # handed over by an attempt that failed only after Prefect took it
    elif seen.stage == case.route[case.done].value:
        _give(case, case.route[case.done])
    return seen.waiting  # else still moving on by itself (from intake, or its partners)


def _settle(case: DemoCase, recorded: StageEvent | None) -> None:
    """The form handed over: done once recorded; a refusal stops the case."""
    if recorded is None:
        return  # the run is recording it
    if recorded.outcome == stage_events.HELD:  # its program's supervisor signs it off
        case.handed = _approve(case)
        return
    if recorded.outcome != stage_events.MOVED:
        case.error = f"{case.route[case.done].value} form {recorded.outcome}: {recorded.error}"
        return
    _next(case)


def _approve(case: DemoCase) -> str:
    """The program's supervisor (the demo plays them too) approves the form the case waits
    with: the key the case's run records the decision under."""
    from casework.models import approvals
    from casework.models.programs import programs

    supervisor = programs()[case.program].supervisor
    try:
        return services.approvals.decide(
            case.number, supervisor, True, timeout=STEP_SECONDS
        ).stage_key
    except InputError:  # an earlier attempt decided it, and failed only after
        with session_scope(read_only=True) as session:
            decided = approvals.latest(session, cases.get_case(session, case.number))
            assert decided is not None, case.number
            return decided.wait_key


def _next(case: DemoCase) -> None:
    case.done, case.handed, case.form = case.done + 1, None, None
    if case.done == len(case.route):
        _finish(case)


def _give(case: DemoCase, stage: Stage) -> None:
    """Hand the step's form over (the same form on every attempt)."""
    if case.form is None:
        last = case.done == len(case.route) - 1 and stage is Stage.MONITORING
        case.form = demo_form(stage, case.rng, case.staff, last=last, program=case.program)
    if stage is Stage.REFERRAL and not case.consented:
        services.referrals.give_consent(case.number, "*", date.today(), case.staff)
        case.consented = True
    try:
        result = services.stages.submit(
            case.number, stage, case.form, actor=case.staff, timeout=STEP_SECONDS
        )
    except InputError as exc:
        if _look(case).past(stage):  # an earlier attempt's form (this one) was applied since
            _next(case)
            return
        case.error = str(exc)  # the case is at this stage and the form does not fit it
        return
    case.handed, case.last_problem = result.stage_key, None


def _finish(case: DemoCase) -> None:
    if case.route and case.route[-1] is Stage.MONITORING:
        # A benefit due soon, so the benefits watch has a warning to give.
        today = now().date()
        services.benefits.record_benefit(
            case.number, BenefitKind.SNAP, today + timedelta(days=10), case.staff
        )
        if case.rng.random() < 0.5:  # and for some, a notice that it is to be cut
            services.benefits.record_notice(
                case.number,
                BenefitKind.SNAP,
                NoticeAction.REDUCE,
                NoticeReason.INCOME_OVER_LIMIT,
                today,
                today + timedelta(days=12),
                case.staff,
            )


def _attempt(case: DemoCase) -> bool:
    """One attempt; whatever stops it (a busy server, a locked store) is tried again next
    round, and named in the table if the case never gets there."""
    try:
        return _advance(case)
    except (prefect_api.OrchestratorUnavailable, prefect_api.SubmissionRefused) as exc:
        case.last_problem = str(exc)
    except Exception as exc:  # noqa: BLE001 - the demo goes on; the table says what stopped it
        case.last_problem = f"{type(exc).__name__}: {exc}"
    return False


def drive(demo: list[DemoCase], patience: float = PATIENCE_SECONDS, workers: int = 4) -> None:
    """Round after round, one step for every case still on its way, until each has
    reached the end of its route, been refused, or patience runs out."""
    deadline = time.monotonic() + patience
    next_sync = 0.0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while time.monotonic() < deadline:
            moving = [case for case in demo if not case.finished]
            if not moving:
                return
            waiting = any(pool.map(_attempt, moving))
            if waiting and time.monotonic() > next_sync:
                # Referrals went to the demo partner over HTTP: the status sync (a run on
                # the worker) asks it for answers and moves those cases on.
                try:
                    prefect_api.start_sweep(prefect_api.REFERRAL_SYNC_DEPLOYMENT)
                except prefect_api.OrchestratorUnavailable:
                    pass  # asked again next time round
                next_sync = time.monotonic() + SYNC_SECONDS
            time.sleep(ROUND_SECONDS)


def table(demo: list[DemoCase]) -> str:
    """Case number, program and stage of each demo case, and any case that did not get there."""
    with session_scope(read_only=True) as session:
        rows = []
        for case in demo:
            row = cases.get_case(session, case.number)
            closed = row.status == CaseStatus.CLOSED.value
            stage = "Closed" if closed else label(row.stage)
            rows.append((case.number, label(case.program), stage))
    width = max(len(program) for _, program, _ in rows)
    lines = [f"  {'Case':<11}  {'Program':<{width}}  Stage"]
    lines += [f"  {number:<11}  {program:<{width}}  {stage}" for number, program, stage in rows]
    for case in demo:
        if case.error:
            lines.append(f"  {case.number} was refused: {case.error}")
        elif not case.finished:
            why = f" (last try: {case.last_problem})" if case.last_problem else ""
            lines.append(f"  {case.number} did not reach the end of its route in time{why}")
    return "\n".join(lines)


def demo_partner(data_dir: Path, create: bool) -> PartnerAgency | None:
    """The demo's partner agency, on the port and with the token it was first given (kept in
    the data directory), so the directory the demo imported keeps working as long as `up`
    runs, and after a restart. None if there is no demo partner and `create` is false."""
    from casework.core.files import create_new

    path = data_dir / PARTNER_FILE
    if path.exists():
        recorded = json.loads(path.read_text())
        return PartnerAgency(recorded["token"], port=recorded["port"]).start()
    if not create:
        return None
    partner = PartnerAgency(secrets.token_urlsafe(24)).start()
    port = partner.server.server_address[1]
    create_new(path, json.dumps({"port": port, "token": partner.token}))
    return partner


def running_partner(data_dir: Path) -> tuple[str, str]:
    """The URL and token of the demo partner agency `casework up` runs for this data
    directory; an error that says how to start it if it is not there."""
    path = data_dir / PARTNER_FILE
    if not path.exists():
        raise DemoError(
            "the demo's partner agency runs inside `casework up`: start the stack with "
            "`casework up --demo N` (it keeps running the partner from then on)"
        )
    recorded = json.loads(path.read_text())
    url = f"http://127.0.0.1:{recorded['port']}"
    if not _answers(url):
        raise DemoError(f"the demo partner agency at {url} is not answering; is `up` running?")
    return url, str(recorded["token"])


def _answers(url: str) -> bool:
    import httpx

    try:
        httpx.get(url, timeout=5)  # any answer (a 401 without the token) means it is there
    except httpx.HTTPError:
        return False
    return True


class DemoError(StackError):
    """The demo cannot run here yet."""


def _demo_directory(url: str, token: str) -> None:
    """The example HSDS directory, every provider answering at the demo partner."""
    data = json.loads(Path(examples.__file__).with_name("providers.hsds.json").read_text())
    for service in data["services"]:
        service["x-casework"]["referral_endpoint"] = url
        service["x-casework"]["token"] = token
    services.providers.import_providers(data, allow_local=True)  # the demo is dev mode


def run_demo(count: int, url: str, token: str, seed: int = 7) -> str:
    """Open `count` cases and drive each along its route (referrals go to the partner at
    `url`), then start the sweeps once so their artifacts are there to see. Returns the
    table."""
    _demo_directory(url, token)
    demo = [_open(index, seed) for index in range(count)]
    drive(demo)
    for deployment in (prefect_api.SWEEP_DEPLOYMENT, prefect_api.BENEFITS_DEPLOYMENT):
        prefect_api.start_sweep(deployment)
    return table(demo)


def demo_sign_ins(path: Path) -> None:
    """`up --demo`: a desk password for each active case manager, supervisor and program
    manager on the roster who has none yet, listed (0600) in `path` for whoever tries the
    demo. The demo's own: not temporary (no change asked at first sign-in)."""
    from casework.core.files import create_new
    from casework.models import passwords
    from casework.models.codes import StaffRole
    from casework.services.sign_in import DESK_ROLES, desk_engine

    if path.exists():
        return
    lines = []
    with session_scope(desk_engine()) as session:
        for member in roster().values():
            if not member.active or member.role not in DESK_ROLES:
                continue
            if passwords.has_password(session, member.id):
                continue
            given = "-".join(secrets.token_urlsafe(6) for _ in range(3))
            passwords.set_password(session, member.id, given, "demo", now(), temporary=False)
            lines.append(f"{member.id:<20} {member.role.value:<16} {given}")
    role = StaffRole.CASE_MANAGER.value
    create_new(
        path,
        f"# Desk sign-ins of the demo's staff ({role}s first)\n"
        + "\n".join(sorted(lines, key=lambda line: role not in line))
        + "\n",
    )
