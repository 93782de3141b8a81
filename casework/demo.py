"""Synthetic caseload for a newcomer's first look: clients across every program, moved
to varied stages through the same operations a case manager uses."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from casework import examples, operations, orchestration
from casework.partner import PartnerAgency
from models.codes import BenefitKind, ClosureReason, ContactPreference, Program, Stage, Trigger
from models.forms import AssessmentForm, ClosureForm, DomainScores, MonitoringForm, StageForm
from models.lifecycle import STAGES
from models.schemas import ClientIn
from models.staff import case_managers

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


def demo_form(stage: Stage, rng: random.Random, staff: str, last: bool) -> StageForm:
    """A valid form for `stage`; the monitoring form closes the case when `last` is false."""
    example = STAGES[stage].example
    assert example is not None
    form = example(date.today(), staff)
    if isinstance(form, AssessmentForm):
        scores = {name: rng.choice([2, 3, 3, 4, 5]) for name in DomainScores.model_fields}
        scores["housing"] = 1
        return form.model_copy(update={"scores": DomainScores(**scores), "submitted_by": staff})
    if isinstance(form, MonitoringForm):
        return MonitoringForm(
            submitted_by=staff, decision=Trigger.CONTINUE if last else Trigger.CLOSE
        )
    if isinstance(form, ClosureForm):
        return form.model_copy(
            update={"reason": rng.choice(list(ClosureReason)), "submitted_by": staff}
        )
    return form.model_copy(update={"submitted_by": staff})


def _drive(index: int, seed: int) -> str:
    rng = random.Random(seed + index)
    program = list(Program)[index % len(Program)]
    managers = case_managers(program)  # from the staff roster, as intake requires
    staff = managers[index % len(managers)]
    started = operations.intake(synthetic_client(rng), program, staff, staff)
    route = ROUTES[index % len(ROUTES)]
    for position, stage in enumerate(route):
        form = demo_form(
            stage, rng, staff, last=position == len(route) - 1 and stage is Stage.MONITORING
        )
        if stage is Stage.REFERRAL:
            operations.give_consent(started.case_number, "*", date.today(), staff)
        result = operations.submit(started.case_number, stage, form, actor=staff, wait=True)
        if result.outcome != "moved":
            return f"error:{result.error}"
        if stage is Stage.REFERRAL and not _partners_answered(started.case_number):
            return "error:the demo partner did not answer"
    if route and route[-1] is Stage.MONITORING:
        # A benefit due soon, so the benefits watch has a warning to give.
        operations.record_benefit(
            started.case_number, BenefitKind.SNAP, date.today() + timedelta(days=10), staff
        )
    if not route:
        return "opened"
    return "closed" if route[-1] is Stage.CLOSURE else operations.show(started.case_number).stage


def _partners_answered(case_number: str, timeout: float = 120) -> bool:
    """Referrals go to the demo partner agency over HTTP; ask the status sync (a run on the
    runner) until it has recorded the partner's answer and moved the case on."""
    deadline = time.monotonic() + timeout
    next_sync = 0.0
    while time.monotonic() < deadline:
        if operations.show(case_number).stage != Stage.REFERRAL.value:
            return True
        if time.monotonic() > next_sync:
            orchestration.start_sweep(orchestration.REFERRAL_SYNC_DEPLOYMENT)
            next_sync = time.monotonic() + 15
        time.sleep(1)
    return False


def _demo_directory(partner: PartnerAgency) -> None:
    """The example HSDS directory, every provider answering at the demo partner."""
    data = json.loads(Path(examples.__file__).with_name("providers.hsds.json").read_text())
    for service in data["services"]:
        service["x-casework"]["referral_endpoint"] = partner.url
        service["x-casework"]["token"] = partner.token
    operations.import_providers(data)


def run_demo(count: int, seed: int = 7, workers: int = 4) -> str:
    """Drive `count` cases (referrals to a partner agency on loopback, for the demo's
    duration), then start the sweeps once so their artifacts are there to see."""
    partner = PartnerAgency("demo-partner-token").start()
    try:
        _demo_directory(partner)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = Counter(pool.map(lambda i: _drive(i, seed), range(count)))
    finally:
        partner.stop()
    for deployment in (orchestration.SWEEP_DEPLOYMENT, orchestration.BENEFITS_DEPLOYMENT):
        orchestration.start_sweep(deployment)
    return ", ".join(f"{name}={n}" for name, n in sorted(outcomes.items()))
