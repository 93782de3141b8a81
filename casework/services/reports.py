"""Rendering the program manager's figures: plain text for the terminal, a standalone HTML
report (autoescaped, no external assets) with an inline SVG chart, and that report as PDF."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casework.core.db import session_scope
from casework.models.codes import Stage
from casework.models.labels import label
from casework.models.programs import programs
from casework.models.report import GOAL_MET, HOUSING_SECURED, Report, build

CHART_WIDTH, CHART_HEIGHT, BAR_AREA = 480, 200, 160


def caseload_report(as_of: datetime) -> Report:
    with session_scope(read_only=True) as session:
        return build(session, as_of, programs())


HEADERS = {
    "program": "Program",
    "instrument": "Instrument",
    "measure": "Measure",
    "first_mean": "First (mean)",
    "latest_mean": "Latest (mean)",
    "improved": "Improved",
    "same": "Same",
    "worsened": "Worsened",
    "stage": "Stage",
    "cases": "Cases",
    "median_days": "Median days",
    "p90_days": "90th percentile days",
    "sla_days": "SLA days",
    "over_sla": "Over SLA",
    "level": "Level",
    "open": "Open",
    "status": "Status",
    "referrals": "Referrals",
    "provider": "Provider",
    "answered": "Answered",
    "slowest_days": "Slowest days",
    "window_days": "Closed in",
    "outcome": "Outcome",
    "case_manager": "Case manager",
    "open_cases": "Open cases",
    "recommended": "Recommended",
    "maximum": "Maximum",
    "state": "Caseload",
    "notices": "Notices",
    "no_request_yet": "No hearing requested yet",
    "hearing_pending": "Hearing awaiting decision",
    "aid_deadline_come": "Aid-continuing deadline come",
    "requested_in_time": "Requested by that deadline",
    "in_time_percent": "Requested in time (%)",
    "upheld": "Upheld",
    "reversed": "Reversed",
    "withdrawn": "Withdrawn",
    "not_appealed": "Not appealed",
}
LEVELS = {1: "1 (case manager)", 2: "2 (supervisor)", 3: "3 (program manager)", 0: "Warnings"}
OUTCOMES = {
    GOAL_MET: "Closed with a plan goal met",
    HOUSING_SECURED: "Closed with permanent housing secured",
}
CODED = {"program", "stage", "status"}
SHOWN_AS_WORDS = {"level", "window_days"}  # numbers in the data, words in the table


@dataclass(frozen=True)
class Table:
    """One section of the report as people read it: labelled headers and cells, numbers
    formatted one way (days to one decimal), and which columns are numbers."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]


def tables(report: Report) -> list[Table]:
    """The report's sections for the terminal, the HTML page and the Prefect artifacts."""
    out = []
    for title, rows in report.sections().items():
        keys = list(rows[0]) if rows else []
        out.append(
            Table(
                title[0].upper() + title[1:],
                [HEADERS.get(key, key) for key in keys],
                [[cell(key, row[key]) for key in keys] for row in rows],
                [
                    key not in SHOWN_AS_WORDS
                    and any(isinstance(row[key], int | float) for row in rows)
                    for key in keys
                ],
            )
        )
    return out


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "level":
        return LEVELS.get(value, str(value))
    if key == "outcome":
        return OUTCOMES.get(value) or f"Closed: {label(value).lower()}"
    if key == "window_days":
        return f"the last {value} days"
    if key in CODED:
        return label(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


def stage_chart(report: Report) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    for row in report.by_stage:
        counts[row["stage"]] += row["cases"]
    stages = [stage.value for stage in Stage]
    top = max(counts.values(), default=0) or 1
    slot = CHART_WIDTH / len(stages)
    bars = []
    for n, stage in enumerate(stages):
        height = BAR_AREA * counts[stage] / top
        bars.append(
            Bar(stage, counts[stage], n * slot + 8, 20 + BAR_AREA - height, slot - 16, height)
        )  # label: the code, for data-stage; the template shows the code's label
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bars": bars}


def to_html(report: Report, *, printing: bool = False) -> str:
    from casework.services.documents import environment

    env = environment("html", printing=printing)
    return env.get_template("report.j2").render(
        report=report,
        tables=tables(report),
        chart=stage_chart(report),
        total_open=sum(row["cases"] for row in report.by_stage),
        open_escalations=sum(row["open"] for row in report.escalations if row["level"]),
    )


def to_pdf(report: Report) -> bytes:
    """The HTML report laid out on pages."""
    from casework.services import printing

    return printing.to_pdf(to_html(report, printing=True))


def to_text(report: Report) -> str:
    lines = [f"Caseload report as of {report.as_of:%Y-%m-%d %H:%M} UTC"]
    for table in tables(report):
        lines += ["", f"{table.title}:"]
        if not table.rows:
            lines.append("  none")
            continue
        widths = [
            max(len(header), *(len(row[n]) for row in table.rows))
            for n, header in enumerate(table.headers)
        ]
        lines += [_line(cells, widths, table.numeric) for cells in [table.headers, *table.rows]]
    return "\n".join(lines)


def _line(cells: list[str], widths: list[int], numeric: list[bool]) -> str:
    """One row of a text table: numbers right-aligned, words left-aligned."""
    return (
        "  "
        + "  ".join(
            text.rjust(width) if number else text.ljust(width)
            for text, width, number in zip(cells, widths, numeric, strict=True)
        ).rstrip()
    )


DUE_WITHIN_DAYS = 7


def due_lists(as_of: datetime, within_days: int = DUE_WITHIN_DAYS) -> dict[str, str]:
    """Each case manager's due list as markdown (case numbers and codes only), keyed by
    staff id: every case manager with an open case or a follow-up check due."""
    from casework.models.due import due_list, markdown

    today = as_of.date()
    with session_scope(read_only=True) as session:
        items = due_list(session, today, within_days)
    by_manager: dict[str, list[Any]] = {}
    for item in items:
        by_manager.setdefault(item.case_manager, []).append(item)
    return {
        manager: markdown(manager, mine, today, within_days)
        for manager, mine in sorted(by_manager.items())
    }
