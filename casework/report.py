"""Rendering the program manager's figures: plain text for the terminal, and a standalone
HTML report (autoescaped, no external assets) with an inline SVG chart."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casework.db import session_scope
from models.codes import Stage
from models.programs import programs
from models.report import Report, build

CHART_WIDTH, CHART_HEIGHT, BAR_AREA = 480, 200, 160


def caseload_report(as_of: datetime) -> Report:
    with session_scope(read_only=True) as session:
        return build(session, as_of, programs())


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
        )
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bars": bars}


def to_html(report: Report) -> str:
    from casework.documents import environment

    env = environment("html")
    env.filters["dict_values"] = lambda row: list(row.values())
    return env.get_template("report.j2").render(
        report=report,
        chart=stage_chart(report),
        total_open=sum(row["cases"] for row in report.by_stage),
        open_escalations=sum(row["open"] for row in report.escalations if row["level"]),
    )


def to_text(report: Report) -> str:
    lines = [f"Caseload report as of {report.as_of:%Y-%m-%d %H:%M} UTC"]
    for title, rows in report.sections().items():
        lines += ["", f"{title}:"]
        if not rows:
            lines.append("  none")
            continue
        headers = list(rows[0])
        widths = [max(len(str(h)), *(len(str(r[h])) for r in rows)) for h in headers]
        lines.append(
            "  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))
        )
        for row in rows:
            lines.append(
                "  " + "  ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True))
            )
    return "\n".join(lines)
