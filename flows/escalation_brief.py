"""What the level-3 automation runs: a brief of the case's open escalations for the program
manager (a markdown artifact, coded values only), and the case's run tagged
`escalation:level-3` on the dashboard until the escalation resolves."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from casework.core.db import session_scope
from casework.flows.operator import refuses_cleanly
from casework.flows.parameters import ESCALATED_CASE, CaseNumber
from casework.models import cases, escalations
from casework.tasks.cases import mirror_escalation_tag


@flow(name="escalation-brief", flow_run_name="brief-{case_number}", persist_result=False)
@refuses_cleanly
def escalation_brief(
    case_number: CaseNumber = ESCALATED_CASE,
) -> int:
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        rows = escalations.listing(session, open_only=True, case_number=case_number)
        lines = [
            f"# {case.case_number}: open escalations",
            "",
            f"Program `{case.program}`, stage `{case.stage}` since "
            f"{case.stage_entered_at:%Y-%m-%d}, case manager `{case.case_manager}`.",
            "",
            "| rule | subject | level | notified | threshold | measured | since |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| {r.rule} | {r.subject} | {r.level} | {r.recipient} ({r.recipient_role}) "
                f"| {r.threshold} | {r.measured} | {r.as_of:%Y-%m-%d} |"
                for r in rows
            ),
        ]
    create_markdown_artifact(
        "\n".join(lines),
        key=f"escalations-{case_number.lower()}",
        description=f"Open escalations of {case_number}",
    )
    mirror_escalation_tag(case_number)
    return len(rows)
