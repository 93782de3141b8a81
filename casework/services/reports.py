"""Rendering the program manager's figures: plain text for the terminal, a standalone HTML
report (autoescaped, no external assets) with an inline SVG chart, and that report as PDF."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casework.core.db import session_scope
from casework.models.codes import Stage
from casework.models.labels import label
from casework.models.programs import programs
from casework.models.report import GOAL_MET, HOUSING_SECURED, TREND_WEEKS, Report, build

CHART_WIDTH, CHART_HEIGHT, BAR_AREA = 480, 200, 160


def caseload_report(as_of: datetime, weeks: int = TREND_WEEKS) -> Report:
    with session_scope(read_only=True) as session:
        return build(session, as_of, programs(), weeks)


HEADERS = {
    # the APR's headline counts (models.apr)
    "household_type": "Household type",
    "households": "Households",
    "persons": "Persons",
    "adults": "Adults",
    "children": "Children",
    "unknown_age": "Age unknown",
    "destination": "Destination",
    "leavers": "Leavers",
    "stayers": "Stayers",
    "share": "Share",
    "days": "Days enrolled",
    "change": "Income",
    # the caseload report
    "week": "Week of",
    "new_cases": "New cases",
    "closed": "Closed",
    "breaches": "Breaches raised",
    "referrals_answered": "Referrals answered",
    "answered_in_time": "Answered in time",
    "housed": "Exits to permanent housing",
    "case_number": "Case",
    "rule": "Needs attention for",
    "what": "Measured (limit)",
    "since": "Open since",
    "notice": "Notice",
    "benefit": "Benefit",
    "action": "Action",
    "deadline": "Deadline",
    "deadline_kind": "The deadline",
    "days_left": "Days left",
    "within_days": "Due within",
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
CODED = {"program", "stage", "status", "rule", "benefit", "action"}
DEADLINES = {
    "aid_continuing": "for aid to continue",
    "hearing_request": "to request a hearing",
}
# Numbers in the data, words in the table.
SHOWN_AS_WORDS = {"level", "window_days", "within_days", "notice"}


EMPTY = {
    "needs attention": "Nothing needs attention: no case is past a limit.",
    "notices due within a week": "No notice has a deadline within a week.",
}


@dataclass(frozen=True)
class Table:
    """One section of the report as people read it: labelled headers and cells, numbers
    formatted one way (days to one decimal), and which columns are numbers."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    empty: str = "None."  # what an empty section says


def tables(report: Report) -> list[Table]:
    """The report's sections for the terminal, the HTML page and the Prefect artifacts."""
    return tables_of(report.sections())


def tables_of(sections: dict[str, list[dict[str, Any]]]) -> list[Table]:
    out = []
    for title, rows in sections.items():
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
                EMPTY.get(title, "None."),
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
    if key == "within_days":
        return f"{value} days"
    if key == "deadline_kind":
        return DEADLINES.get(value, str(value))
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


TREND_WIDTH, TREND_HEIGHT, TREND_PAD = 300, 110, 24


@dataclass(frozen=True)
class TrendChart:
    """One measure's weekly line, laid out in an SVG of TREND_WIDTH x TREND_HEIGHT."""

    title: str
    points: list[tuple[float, float, str, int]]  # x, y, the week, its value
    first_week: str
    last_week: str
    top: int

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in self.points)

    @property
    def summary(self) -> str:
        first, last = self.points[0][3], self.points[-1][3]
        return f"{self.title}: {first} in the week of {self.first_week}, {last} this week"


def trend_charts(report: Report) -> list[TrendChart]:
    """Each weekly measure, then each closure outcome, as a small line chart."""
    weeks = report.trends
    if not weeks:
        return []
    series = [(title, [w[key] for w in weeks]) for key, title in TREND_MEASURES.items()]
    index = {w["week"]: n for n, w in enumerate(weeks)}
    outcomes: dict[str, list[int]] = {}
    for row in report.closures_by_week:
        outcomes.setdefault(row["outcome"], [0] * len(weeks))[index[row["week"]]] = row["cases"]
    series += [(cell("outcome", o), values) for o, values in sorted(outcomes.items())]
    step = (TREND_WIDTH - 2 * TREND_PAD) / max(len(weeks) - 1, 1)
    height = TREND_HEIGHT - 2 * TREND_PAD
    charts = []
    for title, values in series:
        top = max(values) or 1
        points = [
            (TREND_PAD + n * step, TREND_PAD + height * (1 - v / top), str(weeks[n]["week"]), v)
            for n, v in enumerate(values)
        ]
        charts.append(
            TrendChart(title, points, str(weeks[0]["week"]), str(weeks[-1]["week"]), max(values))
        )
    return charts


def to_html(report: Report, *, printing: bool = False) -> str:
    from casework.services.documents import environment

    env = environment("html", printing=printing)
    return env.get_template("report.j2").render(
        report=report,
        tables=tables(report),
        chart=stage_chart(report),
        trends=trend_charts(report),
        trend_size={"width": TREND_WIDTH, "height": TREND_HEIGHT, "pad": TREND_PAD},
        total_open=sum(row["cases"] for row in report.by_stage),
        open_escalations=sum(row["open"] for row in report.escalations if row["level"]),
    )


def to_markdown(report: Report, *, preview: bool = False) -> str:
    """The report as one page for the dashboard (the `caseload-report` artifact): the
    figures at a glance, then every table in the report's own order, what needs attention
    first. Case numbers, staff ids and labels only."""
    by_stage = sum(row["cases"] for row in report.by_stage)
    over_sla = sum(row["over_sla"] for row in report.days_in_stage)
    breaches = sum(row["open"] for row in report.escalations if row["level"])
    soon = Counter(row["within_days"] for row in report.notices_due)
    overloaded = sorted({row["case_manager"] for row in report.caseloads if row["state"] != "ok"})
    title = "Preview: caseload as it would stand" if preview else "Caseload report"
    lines = [
        f"# {title}, {report.as_of:%Y-%m-%d}",
        "",
        f"- open cases: **{by_stage}**, of which past their stage's limit: **{over_sla}**",
        f"- open breaches (each once, at its highest level): **{breaches}**",
        f"- notices with a deadline within 3 days: **{soon[3]}**; within 7 days: "
        f"**{soon[3] + soon[7]}**",
        f"- case managers over the recommended caseload: {', '.join(overloaded) or 'none'}",
    ]
    listed = {"needs attention": _attention_item, "notices due within a week": _notice_item}
    for (key, rows), table in zip(report.sections().items(), tables(report), strict=True):
        lines += ["", f"## {table.title}", ""]
        if not table.rows:
            lines.append(table.empty)
            continue
        if key in listed:  # a case a line, read whole on any screen: no column cut off
            lines += [listed[key](row) for row in rows[:LISTED_ON_THE_PAGE]]
            if len(rows) > LISTED_ON_THE_PAGE:
                lines += [
                    "",
                    f"… and {len(rows) - LISTED_ON_THE_PAGE} more: every one is in the "
                    f"`{artifact_name(table.title)}` artifact.",
                ]
            continue
        if key == "weekly trends":
            lines += _trend_lines(report)
            continue
        if key == "closures by outcome, weekly":  # drawn with the trends above
            lines.append(
                "Drawn with the trends above; week by week in the "
                f"`{artifact_name(table.title)}` artifact."
            )
            continue
        lines.append("| " + " | ".join(table.headers) + " |")
        lines.append("|" + "|".join("---:" if number else "---" for number in table.numeric) + "|")
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


# The weekly trends a program manager reads at a glance, in this order.
TREND_MEASURES = {
    "open_cases": "Open cases (at the week's end)",
    "new_cases": "New cases",
    "closed": "Cases closed",
    "breaches": "Breaches raised",
    "answered_in_time": "Referrals answered in time",
    "housed": "Exits to permanent housing",
}
SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    """Values as a line of block characters, lowest to highest (all equal: the lowest)."""
    low, high = min(values, default=0), max(values, default=0)
    span = high - low
    return "".join(SPARKS[(v - low) * (len(SPARKS) - 1) // span if span else 0] for v in values)


def _trend_lines(report: Report) -> list[str]:
    """The weekly trends for the dashboard: each measure as a sparkline, with its first and
    latest week; closures by outcome the same way. The week-by-week table is the
    `report-weekly-trends` artifact."""
    weeks = report.trends
    if not weeks:
        return ["None."]
    span = f"{weeks[0]['week']} to {weeks[-1]['week']}"
    lines = [
        f"Week by week, {span} (weeks start on Monday; the last is this week so far).",
        "",
        "| Measure | Trend | First week | This week |",
        "|---|---|---:|---:|",
    ]
    for key, title in TREND_MEASURES.items():
        values = [w[key] for w in weeks]
        if key == "answered_in_time":
            title += " (of all answered)"
            shown = [f"{w[key]} of {w['referrals_answered']}" for w in (weeks[0], weeks[-1])]
        else:
            shown = [str(values[0]), str(values[-1])]
        lines.append(f"| {title} | {sparkline(values)} | {shown[0]} | {shown[1]} |")
    index = {w["week"]: n for n, w in enumerate(weeks)}
    outcomes: dict[str, list[int]] = {}
    for row in report.closures_by_week:
        outcomes.setdefault(row["outcome"], [0] * len(weeks))[index[row["week"]]] = row["cases"]
    for outcome, values in sorted(outcomes.items()):
        title = cell("outcome", outcome)
        lines.append(f"| {title} | {sparkline(values)} | {values[0]} | {values[-1]} |")
    return lines


LISTED_ON_THE_PAGE = 100  # the first of a long list on the page; its table artifact has all


def artifact_key(words: str) -> str:
    """Words as an artifact key: Prefect takes lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")


def artifact_name(title: str) -> str:
    """A report table's artifact key."""
    return f"report-{artifact_key(title)}"


def _attention_item(row: dict[str, Any]) -> str:
    return (
        f"- **{row['case_number']}** ({cell('program', row['program'])}, "
        f"{row['case_manager']}): **{cell('rule', row['rule'])}**, {row['what']}; level "
        f"{cell('level', row['level'])} since {row['since']}"
    )


def _notice_item(row: dict[str, Any]) -> str:
    left = row["days_left"]
    return (
        f"- **{row['case_number']}** ({cell('program', row['program'])}, "
        f"{row['case_manager']}): notice {row['notice']}, {cell('benefit', row['benefit'])}, "
        f"{cell('action', row['action']).lower()}: **{left} day{'' if left == 1 else 's'} "
        f"left** {DEADLINES[row['deadline_kind']]} ({row['deadline']})"
    )


def to_pdf(report: Report) -> bytes:
    """The HTML report laid out on pages."""
    from casework.services import printing

    return printing.to_pdf(to_html(report, printing=True))


def to_text(report: Report) -> str:
    return tables_text(f"Caseload report as of {report.as_of:%Y-%m-%d %H:%M} UTC", tables(report))


def sections_text(title: str, sections: dict[str, list[dict[str, Any]]]) -> str:
    """Sections of rows (a column per key, labelled by HEADERS) as the terminal shows them."""
    return tables_text(title, tables_of(sections))


def tables_text(title: str, found: list[Table]) -> str:
    lines = [title]
    for table in found:
        lines += ["", f"{table.title}:"]
        if not table.rows:
            lines.append(f"  {table.empty}")
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
    staff id: every active case manager on the roster (saying so when nothing is due), and
    anyone else with a case or a check due."""
    from casework.models.codes import StaffRole
    from casework.models.due import due_list, markdown
    from casework.models.staff import roster

    today = as_of.date()
    with session_scope(read_only=True) as session:
        items = due_list(session, today, within_days)
        members = roster(session)
    by_manager: dict[str, list[Any]] = {
        staff_id: []
        for staff_id, member in members.items()
        if member.active and member.role is StaffRole.CASE_MANAGER
    }
    for item in items:
        by_manager.setdefault(item.case_manager, []).append(item)
    return {
        manager: markdown(manager, mine, today, within_days)
        for manager, mine in sorted(by_manager.items())
    }
