"""Plain factory helpers: random but valid clients, cases and forms, made with the real
store functions."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.core import credentials
from casework.models import cases, notices
from casework.models.clients import create_client
from casework.models.codes import (
    BenefitKind,
    HouseholdRelationship,
    NeedsDomain,
    NoticeAction,
    Objective,
    Program,
    ReferralStatus,
    ServiceCategory,
    Stage,
    Trigger,
)
from casework.models.forms import (
    AssessmentForm,
    ClosureForm,
    Goal,
    MonitoringForm,
    PlanForm,
    ReferralForm,
    ReferralRequest,
    StageForm,
)
from casework.models.lifecycle import example_form
from casework.models.notices import NoticeRules
from casework.models.orm import AdverseNotice, Case, Provider
from casework.models.schemas import ClientIn
from casework.models.stage_events import StageOutcome

STAFF = "cm.tester"
__all__ = ["ReferralForm", "ReferralRequest", "ReferralStatus", "NeedsDomain", "Stage", "Trigger"]


def unique_word(prefix: str) -> str:
    return prefix + "".join(random.choices(string.ascii_lowercase, k=8)).capitalize()


def client_in() -> ClientIn:
    """A client whose every identifying value is unique, so tests can search for it."""
    return ClientIn(
        given_name=unique_word("Given"),
        family_name=unique_word("Family"),
        date_of_birth=date(1950, 1, 1) + timedelta(days=random.randrange(20000)),
        id_number=f"ID{random.randrange(10**8, 10**9)}",
        address=f"{random.randrange(1, 999)} {unique_word('Street')} Road",
        phone=f"555-{random.randrange(1000, 9999)}-{random.randrange(1000, 9999)}",
    )


def now() -> datetime:
    return datetime.now(UTC)


def new_case(
    session: Session, program: Program = Program.HOUSING, client: ClientIn | None = None
) -> Case:
    """A case of a new client (`client`, else a random one), opened now."""
    record = create_client(session, client or client_in())
    return cases.open_case(session, record, program, STAFF, STAFF, now())


MATRIX_DOMAINS = [d.value for d in NeedsDomain]


def assessment(
    program: Program = Program.HOUSING, crisis: tuple[str, ...] = (), **scores: int
) -> AssessmentForm:
    """The program's assessment form: the matrix's domains at 3 unless `scores` says, the
    crisis screen's `crisis` flags raised."""
    from casework.models.assessments import assessment_form

    base = dict.fromkeys(MATRIX_DOMAINS, 3) | scores
    # The program's other instruments (where its file adds some) answered as their examples.
    others = example_form(Stage.ASSESSMENT, date.today(), STAFF, program).model_dump(mode="json")
    return assessment_form(program).model_validate(
        others
        | {
            "submitted_by": STAFF,
            "self_sufficiency_matrix": {
                "scores": base,
                "crisis_screen": dict.fromkeys(crisis, True),
            },
            "client_participated": True,
            "strengths": [],
        }
    )


def plan(*domains: NeedsDomain, participated: bool = True) -> PlanForm:
    objectives = {
        spec.domain: objective
        for objective, spec in ((o, o.spec) for o in reversed(list(Objective)))
    }
    goals = [
        Goal(domain=d, objective=objectives[d], target_date=date.today() + timedelta(days=60))
        for d in domains or (NeedsDomain.HOUSING,)
    ]
    return PlanForm(
        submitted_by=STAFF, goals=goals, client_participated=participated, agreed_on=date.today()
    )


def referral() -> ReferralForm:
    """No partner needed: the referral stage waived (referrals over HTTP have their own tests)."""
    return ReferralForm(submitted_by=STAFF, waived=True)


def monitoring(decision: Trigger) -> MonitoringForm:
    return MonitoringForm(submitted_by=STAFF, decision=decision)


def closure(program: Program = Program.HOUSING) -> ClosureForm:
    form = example_form(Stage.CLOSURE, date.today(), STAFF, program)
    assert isinstance(form, ClosureForm)
    return form


def opened_with_client(
    session: Session, at: datetime, program: Program = Program.HOUSING
) -> tuple[Case, ClientIn]:
    """A new client's case opened at `at`, with the identity it was opened with."""
    client = client_in()
    case = cases.open_case(session, create_client(session, client), program, STAFF, STAFF, at)
    return case, client


def household_case(
    *relationships: HouseholdRelationship,
) -> tuple[str, ClientIn, list[ClientIn]]:
    """A housing case opened as intake's store half opens it, its client heading a household
    with a new member of each of `relationships`: people no one else in the store
    resembles. Its number, the head, and the members in that order."""
    from casework.services.cases import open_case

    head = client_in()
    members = [client_in() for _ in relationships]
    position, _ = open_case(
        head,
        Program.HOUSING,
        "cm.tester",
        "tester",
        members=list(zip(relationships, members, strict=True)),
    )
    return position.case_number, head, members


def case_opened_at(session: Session, at: datetime, program: Program = Program.HOUSING) -> Case:
    return opened_with_client(session, at, program)[0]


def move(session: Session, case: Case, form: StageForm | None, at: datetime) -> None:
    """Apply one stage form at `at` with the real store function (no flow run); a form its
    program holds for approval is approved by the program's supervisor, as the run records
    a decision."""
    outcome = approved(session, case, form, at)
    assert outcome.outcome == "moved", outcome


def approved(
    session: Session, case: Case, form: StageForm | None, at: datetime, actor: str = STAFF
) -> StageOutcome:
    """Apply one stage form at `at` (no flow run), approved by the program's supervisor
    where its program holds it for approval: what it came to."""
    from casework.models.stage_events import HELD, record_stage

    outcome = record_stage(
        session, case.case_number or "", case.episode, case.stage_key, form, actor, at
    )
    return approve(session, case, at) if outcome.outcome == HELD else outcome


def approve(session: Session, case: Case, at: datetime, approve: bool = True) -> StageOutcome:
    """The program's supervisor approves (or returns) the form the case waits with, and the
    decision is recorded as the case's run records it."""
    from casework.models import approvals
    from casework.models.programs import programs
    from casework.models.staff import roster

    supervisor = programs()[Program(case.program)].supervisor
    reason = None if approve else "Goals need dates the client agreed to"
    approvals.decide(session, case, roster(session), supervisor, approve, reason, at)
    return decision_recorded(session, case, at)


def decision_recorded(session: Session, case: Case, at: datetime) -> StageOutcome:
    """What the case's run records once a supervisor has decided on its form held."""
    from casework.models.stage_events import record_stage

    return record_stage(
        session,
        case.case_number or "",
        case.episode,
        case.stage_key,
        None,
        "system",
        at,
        decided=True,
    )


def walk_to(session: Session, case: Case, stage: Stage, at: datetime) -> Case:
    """Move a case from intake to `stage`, every step at `at`."""
    steps: list[Callable[[], StageForm | None]] = [
        lambda: None,
        lambda: assessment(Program(case.program)),
        lambda: plan(NeedsDomain.HOUSING),
        referral,
        lambda: monitoring(Trigger.CLOSE),
        lambda: closure(Program(case.program)),
    ]
    order = list(Stage)
    for form in steps[: order.index(stage)]:
        move(session, case, form(), at)
    return case


def stalled_case(days_ago: int = 10, program: Program = Program.GERIATRIC) -> tuple[str, ClientIn]:
    """A case stuck at intake since `days_ago` (store only: no run needed to be swept)."""
    from casework.core.db import session_scope

    with session_scope() as session:
        case, client = opened_with_client(session, now() - timedelta(days=days_ago), program)
        return case.case_number or "", client


def case_waiting_at(stage: Stage, program: Program = Program.HOUSING) -> tuple[str, ClientIn]:
    """A case at `stage` whose real flow run waits there (needs the session's stack). Its
    earlier stages are recorded with the store functions the flow's tasks call; its run
    then starts, reads where the case stands and suspends there: one transition instead of
    one per stage (test_case_lifecycle walks whole cases through their runs)."""
    from casework.core.db import session_scope

    with session_scope() as session:
        case, client = opened_with_client(session, now(), program)
        walk_to(session, case, stage, now())
        position = cases.position(session, case)
    return _run_to_wait(position), client


def case_waiting_on_partner(provider_key: str, endpoint: str) -> tuple[str, str]:
    """A case whose referral to `provider_key` was sent and received, its run suspended
    waiting on the partner's answer; returns (case number, REF number)."""
    from casework.core.db import session_scope
    from casework.models import consents, referrals
    from casework.models.codes import ReferralStatus

    with session_scope() as session:
        case, _ = opened_with_client(session, now())
        walk_to(session, case, Stage.REFERRAL, now())
        provider(session, provider_key, endpoint)
        consents.give(session, case, provider_key, now().date(), STAFF, now())
        move(session, case, referral_to(provider_key), now())
        [sent] = referrals.for_case(session, case)
        sent.sent_at = now()
        referrals.set_status(session, sent, ReferralStatus.RECEIVED, None, "partner", now())
        position = cases.position(session, case)
        reference = sent.reference or ""
    return _run_to_wait(position), reference


def _run_to_wait(position: cases.Position) -> str:
    """Start the run of a case the store has put somewhere, and wait until it waits there."""
    from casework.core import prefect_api
    from casework.core.db import session_scope
    from casework.services import case_runs
    from tests.polling import wait_for

    flow_run_id = case_runs.start_case_run(position)
    with session_scope() as session:
        cases.set_flow_run(session, cases.get_case(session, position.case_number), flow_run_id)

    def waiting() -> bool:
        run = prefect_api.read_run(flow_run_id)
        return run.waiting and run.pause_key == position.stage_key

    wait_for(f"{position.case_number}'s run to wait at {position.stage_key}", waiting, every=0.2)
    return position.case_number


class Waiting(NamedTuple):
    stage_key: str
    episode: int
    flow_run_id: str


def where_it_waits(case_number: str) -> Waiting:
    """The stage key, episode and flow run of a case, as the store has them."""
    from casework.core.db import session_scope

    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        run_id = cases.episode_of(session, case).flow_run_id or ""
        return Waiting(case.stage_key, case.episode, run_id)


def case_in_monitoring(program: Program = Program.HOUSING) -> str:
    return case_waiting_at(Stage.MONITORING, program)[0]


def provider(
    session: Session,
    key: str = "hope-housing",
    endpoint: str = "http://127.0.0.1:9/agency",
    category: ServiceCategory = ServiceCategory.HOUSING_SEARCH,
    token: str = "partner-token-1",
    response_days: int = 10,
) -> Provider:
    """A directory entry, as `casework providers import` would write it."""
    credentials.save({key: token})
    found = session.scalars(select(Provider).where(Provider.key == key)).first()
    if found is not None:
        found.endpoint, found.category = endpoint, category.value
        return found
    row = Provider(
        key=key,
        organization="Hope Housing Partners",
        service_name="Housing search",
        category=category.value,
        programs=[p.value for p in Program],
        location="Springfield",
        capacity=10,
        waitlist=False,
        endpoint=endpoint,
        token_ref=key,
        response_days=response_days,
        directory="factory",  # the suite's own: an import of `main` leaves it be
    )
    session.add(row)
    session.flush()
    return row


def referral_to(
    *keys: str, service: ServiceCategory = ServiceCategory.HOUSING_SEARCH
) -> ReferralForm:
    return ReferralForm(
        submitted_by=STAFF,
        referrals=[ReferralRequest(service=service, provider=key) for key in keys],
    )


def notice(
    session: Session,
    case: Case,
    dated: date,
    effective: date,
    action: NoticeAction = NoticeAction.DISCONTINUE,
    benefit: BenefitKind = BenefitKind.SNAP,
    rules: NoticeRules | None = None,
    at: datetime | None = None,
) -> AdverseNotice:
    """A notice of adverse action recorded on `case` at `at` (else on the day it is
    dated), with the store function `casework notice` calls."""
    return notices.record_notice(
        session,
        case,
        benefit=benefit,
        action=action,
        reason=None,
        dated=dated,
        effective=effective,
        actor=STAFF,
        at=at or datetime.combine(dated, time(9, 30), tzinfo=UTC),
        rules=rules or notices.notice_rules(),
    )


def submit_approved(case_number: str, stage: Stage, form: StageForm, actor: str, **kwargs):  # type: ignore[no-untyped-def]
    """Hand `form` to the case's waiting run and wait for its verdict (services.stages); a
    form its program holds for approval is then approved by the program's supervisor,
    as `casework approve` does, and the verdict is the move the approval made."""
    from casework import services
    from casework.models.programs import programs

    result = services.stages.submit(case_number, stage, form, actor=actor, wait=True, **kwargs)
    if result.outcome != "awaiting_approval":
        return result
    program = Program(services.cases.show(case_number).program)
    supervisor = programs()[program].supervisor
    return services.approvals.decide(case_number, supervisor, True, wait=True)


def referred_case(session: Session, at: datetime, provider_key: str = "hope-housing") -> Any:
    """A housing case walked to referral, referred to `provider_key` under the client's
    consent, and accepted there: the case and its referral."""
    from casework.models import consents, referrals

    case = walk_to(session, new_case(session), Stage.REFERRAL, at)
    provider(session, provider_key)
    consents.give(session, case, provider_key, at.date(), "cm.tester", at)
    move(session, case, referral_to(provider_key), at)
    [referral] = referrals.for_case(session, case)
    referrals.set_status(session, referral, ReferralStatus.ACCEPTED, None, "partner", at)
    return case, referral
