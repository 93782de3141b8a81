"""The Prefect automations `casework up` and `casework deploy` create from code.

- Level 3: every level-3 escalation event runs the `escalation-brief` deployment for its
  case, which briefs the program manager (an artifact) and tags the case's run.
- Lost runs: a run of one of our flows that stops sending heartbeats (its process or its
  host was lost) is Crashed after CASEWORK_LOST_RUN_SECONDS. This is Prefect's documented
  zombie-run automation, scoped to our flows (a shared server runs others' too), expecting
  a case run's suspension as well as its end (a suspended run sends none), and started by
  a run's Pending as well as by its heartbeats.
- Crashed case runs: a case run that crashed is scheduled again at once. It re-reads its
  case from the store and waits at its stage; a form it was given before it crashed is
  read back from its run input and applied once. At most once per run in
  RESCHEDULE_WINDOW: a run that keeps crashing waits for an operator (`casework status`).
"""

from __future__ import annotations

from datetime import timedelta

from prefect.automations import Automation
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture

from casework.core.prefect_api import (
    BRIEF_DEPLOYMENT,
    CRASHED_CASE_AUTOMATION,
    LEVEL_3_AUTOMATION,
    LIFECYCLE_DEPLOYMENT,
    LOST_RUN_AUTOMATION,
    prefect_client,
)
from casework.tasks.notifications import ESCALATED

RESCHEDULE_WINDOW = timedelta(minutes=10)
# What a run that stops sending heartbeats may rightly have become: ended, suspended or
# paused (its process exits and waits for a form), or scheduled again.
QUIET_STATES = (
    "Completed",
    "Failed",
    "Cancelled",
    "Crashed",
    "Suspended",
    "Paused",
    "Scheduled",
    "Resuming",
    "AwaitingRetry",
)
HEARTBEAT = "prefect.flow-run.heartbeat"
PENDING = "prefect.flow-run.Pending"
RESCHEDULED = "rescheduled after a crash"


def level_3_automation(deployment_id: object) -> Automation:
    return Automation(
        name=LEVEL_3_AUTOMATION,
        description="A case reached escalation level 3: brief the program manager.",
        trigger=EventTrigger(
            expect={ESCALATED},
            match={"prefect.resource.id": "casework.case.*", "casework.level": "3"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={"case_number": "{{ event.resource.name }}"},
            )
        ],
    )


def our_flows() -> list[str]:
    from casework.deployments import DECLARED

    return sorted(d.name for d in DECLARED)


def lost_run_automation(lost_run_seconds: int) -> Automation:
    return Automation(
        name=LOST_RUN_AUTOMATION,
        description=(
            f"A Casework run sent no heartbeat for {lost_run_seconds} s (its process or host "
            "was lost): mark it Crashed."
        ),
        trigger=EventTrigger(
            # Each heartbeat, and a run's Pending (a worker took it), start the wait afresh:
            # a run whose worker died before it started, or whose process died before its
            # first heartbeat, is caught too, even right after an earlier suspension.
            after={HEARTBEAT, PENDING},
            expect={HEARTBEAT, PENDING, *(f"prefect.flow-run.{state}" for state in QUIET_STATES)},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": our_flows()},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=lost_run_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {lost_run_seconds} s: its process or host was lost",
            )
        ],
    )


def crashed_case_automation() -> Automation:
    return Automation(
        name=CRASHED_CASE_AUTOMATION,
        description=(
            "A case run crashed: schedule it again, to re-read its case and wait at its stage "
            f"(once per run in {RESCHEDULE_WINDOW.total_seconds() / 60:.0f} min)."
        ),
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={
                "prefect.resource.role": "flow",
                "prefect.resource.name": LIFECYCLE_DEPLOYMENT.split("/")[0],
            },
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
            within=RESCHEDULE_WINDOW,
        ),
        actions=[
            # Forced, as `casework repair` does: Prefect's own rule for leaving a crash would
            # forget which stage keys the run has passed, and with them its held form.
            ChangeFlowRunState(
                state=StateType.SCHEDULED,
                name="Scheduled",
                message=f"{RESCHEDULED}: it re-reads its case and waits at its stage",
                force=True,
            )
        ],
    )


def wanted_automations() -> list[Automation]:
    from casework.core.settings import get_settings

    brief = prefect_client().read_deployment_by_name(BRIEF_DEPLOYMENT)
    return [
        level_3_automation(brief.id),
        lost_run_automation(get_settings().lost_run_seconds),
        crashed_case_automation(),
    ]


def ensure_automations() -> list[tuple[str, str]]:
    """Create each automation, or bring an existing one (same name) up to date: (name,
    what was done) for each."""
    done = []
    for wanted in wanted_automations():
        existing = prefect_client().read_automations_by_name(wanted.name)
        if existing:
            wanted.id = existing[0].id
            wanted.update()
            done.append((wanted.name, "updated"))
        else:
            wanted.create()
            done.append((wanted.name, "created"))
    return done


def describe(done: list[tuple[str, str]]) -> str:
    return "Automations: " + ", ".join(f"{name} {what}" for name, what in done) + "."
