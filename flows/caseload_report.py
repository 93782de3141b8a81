"""The daily caseload report: the program manager's figures as Prefect artifacts (case
numbers, staff ids, counts and labels only): one page, `caseload-report`, with what needs
attention first and every table after it in a fixed order, each table also as a table
artifact of its own; and every case manager's due list for the coming week (one artifact
per case manager: `due-<staff id>`, saying so when nothing is due)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from casework.flows.operator import refuses_cleanly
from casework.flows.parameters import AS_OF, WEEKS, AsOf, Weeks
from casework.flows.sweeps import dated_run_name, previewing
from casework.models.rules import checked_as_of
from casework.services.reports import (
    DUE_WITHIN_DAYS,
    artifact_key,
    artifact_name,
    due_lists,
    tables,
    to_markdown,
)
from casework.services.reports import caseload_report as compute


@flow(name="caseload-report", flow_run_name=dated_run_name, persist_result=False)
@refuses_cleanly
def caseload_report(as_of: AsOf = AS_OF, weeks: Weeks = WEEKS) -> dict[str, int]:
    """What needs attention, notices due, weekly trends over `weeks` weeks, cases by
    stage, days in stage against the SLA, escalations, referrals, outcomes and caseload
    per case manager. As of a future date it is a preview, published under
    `preview-…` keys: the live report and due lists stay as they are."""
    when = checked_as_of(as_of)
    ahead = "preview-" if previewing(when) else ""
    report = compute(when, weeks)
    for table in tables(report):
        key = ahead + artifact_name(table.title)
        rows: list[dict[str, Any]] = [
            dict(zip(table.headers, row, strict=True)) for row in table.rows
        ]
        create_table_artifact(
            rows or [{"note": "none"}], key=key, description=f"{table.title}, as of {when:%Y-%m-%d}"
        )
    create_markdown_artifact(
        to_markdown(report, preview=bool(ahead)),
        key=ahead + "caseload-report",
        description=f"Caseload at a glance, what needs attention first, {when:%Y-%m-%d}",
    )
    lists = due_lists(when)
    for manager, markdown in lists.items():
        create_markdown_artifact(
            markdown,
            key=ahead + due_artifact_key(manager),
            description=f"Due from {manager} by {when.date() + timedelta(DUE_WITHIN_DAYS)}",
        )
    return {
        "open_cases": sum(row["cases"] for row in report.by_stage),
        "over_sla": sum(row["over_sla"] for row in report.days_in_stage),
        "open_escalations": sum(row["open"] for row in report.escalations if row["level"]),
        "needs_attention": len(report.needs_attention),
        "notices_due": len(report.notices_due),
        "due_lists": len(lists),
    }


def due_artifact_key(staff_id: str) -> str:
    return f"due-{artifact_key(staff_id)}"
