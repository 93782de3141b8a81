"""Synthetic caseload for a newcomer's first look: clients across every program, moved
to varied stages through the same operations a case manager uses."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from casework import operations, orchestration
from models.codes import BenefitKind, ClosureReason, ContactPreference, Program, Stage, Trigger
from models.forms import AssessmentForm, ClosureForm, DomainScores, MonitoringForm, StageForm
from models.lifecycle import STAGES
from models.schemas import ClientIn

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
STAFF = ["cm.rivera", "cm.osei", "cm.lindqvist", "cm.park"]
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
    form = example(date.today())
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
    staff = STAFF[index % len(STAFF)]
    program = list(Program)[index % len(Program)]
    started = operations.intake(synthetic_client(rng), program, staff, staff)
    route = ROUTES[index % len(ROUTES)]
    for position, stage in enumerate(route):
        form = demo_form(
            stage, rng, staff, last=position == len(route) - 1 and stage is Stage.MONITORING
        )
        result = operations.submit(started.case_number, stage, form, actor=staff, wait=True)
        if result.outcome != "moved":
            return f"error:{result.error}"
    if route and route[-1] is Stage.MONITORING:
        # A benefit due soon, so the benefits watch has a warning to give.
        operations.record_benefit(
            started.case_number, BenefitKind.SNAP, date.today() + timedelta(days=10), staff
        )
    if not route:
        return "opened"
    return "closed" if route[-1] is Stage.CLOSURE else operations.show(started.case_number).stage


def run_demo(count: int, seed: int = 7, workers: int = 4) -> str:
    """Drive `count` cases, then start the sweeps once so their artifacts are there to see."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = Counter(pool.map(lambda i: _drive(i, seed), range(count)))
    for deployment in (orchestration.SWEEP_DEPLOYMENT, orchestration.BENEFITS_DEPLOYMENT):
        orchestration.start_sweep(deployment)
    return ", ".join(f"{name}={n}" for name, n in sorted(outcomes.items()))
