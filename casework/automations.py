"""The Prefect automation `casework up` creates from code: every level-3 escalation event
runs the `escalation-brief` deployment for its case, which briefs the program manager (an
artifact) and tags the case's run on the dashboard."""

from __future__ import annotations

from datetime import timedelta

from prefect.automations import Automation
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture

from casework.orchestration import BRIEF_DEPLOYMENT, prefect_client
from tasks.notifications import ESCALATED

LEVEL_3_AUTOMATION = "casework-level-3-escalation"


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


def ensure_automations() -> str:
    """Create the automation, or bring an existing one (same name) up to date."""
    deployment = prefect_client().read_deployment_by_name(BRIEF_DEPLOYMENT)
    wanted = level_3_automation(deployment.id)
    existing = prefect_client().read_automations_by_name(LEVEL_3_AUTOMATION)
    if existing:
        wanted.id = existing[0].id
        wanted.update()
        return "updated"
    wanted.create()
    return "created"
