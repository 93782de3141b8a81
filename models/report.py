"""The program manager's figures, computed from the store as of a date: coded values and
counts only (they go to Prefect artifacts and the HTML report)."""

from __future__ import annotations

import statistics
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from casework.models import appointments, escalations
from casework.models.codes import (
    REFERRAL_REFUSED,
    REFERRAL_TAKEN,
    AppointmentStatus,
    CaseStatus,
    GoalStatus,
    HearingDecision,
    Objective,
    Program,
    Stage,
)
from casework.models.notices import Deadlines
from casework.models.orm import (
    AdverseNotice,
    Assessment,
    CarePlan,
    Case,
    Episode,
    Escalation,
    PlanGoal,
    Provider,
    Referral,
    ReferralEvent,
)
from casework.models.programs import ProgramConfig
from casework.models.rules import answer_window

WINDOWS = (30, 90)
LEVELS = (1, 2, 3, 0)
# Outcomes of the episodes closed in a window, each counted in cases (episodes).
GOAL_MET = "goal_met"  # closed with at least one plan goal marked met
HOUSING_SECURED = "housing_secured"  # closed with its permanent-housing goal met


def percentile(values: list[int], share: float) -> float:
    """Nearest-rank percentile (0 < share <= 1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-int(share * 100) * len(ordered) // 100))
    return float(ordered[rank - 1])


NOTICE_WINDOWS = (3, 7)  # notices whose next deadline comes within these days
TREND_WEEKS = 12  # weeks of trends, ending with the week of `as_of`


@dataclass
class Report:
    as_of: datetime
    needs_attention: list[dict[str, Any]] = field(default_factory=list)
    notices_due: list[dict[str, Any]] = field(default_factory=list)
    trends: list[dict[str, Any]] = field(default_factory=list)
    closures_by_week: list[dict[str, Any]] = field(default_factory=list)
    by_stage: list[dict[str, Any]] = field(default_factory=list)
    days_in_stage: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    referrals: list[dict[str, Any]] = field(default_factory=list)
    partners: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    caseloads: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    notice_outcomes: list[dict[str, Any]] = field(default_factory=list)
    assessed_change: list[dict[str, Any]] = field(default_factory=list)
    appointments: list[dict[str, Any]] = field(default_factory=list)

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        """Every section, in the order a program manager reads them: what needs attention
        now first, then the figures."""
        return {
            "needs attention": self.needs_attention,
            "notices due within a week": self.notices_due,
            "weekly trends": self.trends,
            "closures by outcome, weekly": self.closures_by_week,
            "cases by program and stage": self.by_stage,
            "days in stage against the SLA": self.days_in_stage,
            "open breaches by highest level": self.escalations,
            "referrals by status": self.referrals,
            "partner response times": self.partners,
            "outcomes of closed cases": self.outcomes,
            "caseload per case manager": self.caseloads,
            "notices of adverse action": self.notices,
            "how notices ended": self.notice_outcomes,
            "change from first to latest assessment": self.assessed_change,
            "appointments kept and missed": self.appointments,
        }


def build(
    session: Session,
    as_of: datetime,
    programs: dict[Program, ProgramConfig],
    weeks: int = TREND_WEEKS,
) -> Report:
    report = Report(as_of=as_of)
    open_cases = list(
        session.execute(
            select(Case.program, Case.stage, Case.stage_entered_at, Case.case_manager).where(
                Case.status == CaseStatus.OPEN.value
            )
        )
    )
    _stages(report, open_cases, programs)
    _caseloads(report, open_cases, programs)
    # Breaches, not rungs: a breach at level 2 counts once, at level 2 (its level-1 rung
    # stays open beside it until the breach ends). The ladder's levels in order, the
    # advance warnings (level 0) after them.
    levels = Counter(escalations.open_breach_levels(session))
    report.escalations = [{"level": level, "open": levels.get(level, 0)} for level in LEVELS]
    _needs_attention(report, session)
    _notices_due(report, session, as_of.astimezone(UTC).date())
    _referrals(report, session)
    _outcomes(report, session, as_of)
    _appointments(report, session, as_of)
    _notices(report, session, as_of.astimezone(UTC).date())
    _assessed_change(report, session, as_of)
    _trends(report, session, as_of, weeks, programs)
    return report


def week_of(day: date) -> date:
    """The Monday a day's week starts on."""
    return day - timedelta(days=day.weekday())


def _trends(
    report: Report,
    session: Session,
    as_of: datetime,
    weeks: int,
    programs: dict[Program, ProgramConfig],
) -> None:
    """Week by week (Monday to Sunday, UTC), the last `weeks` weeks up to `as_of`: open
    cases at the week's end, cases opened and closed in it (and closed by outcome), breaches
    first raised in it, referrals first answered in it and how many of those within their
    answer window, and cases closed in it with their permanent-housing goal met. Episodes
    count as cases: a case reopened is counted again when it opens again."""
    starts = [week_of(as_of.date()) - timedelta(weeks=n) for n in reversed(range(weeks))]
    begin = datetime.combine(starts[0], time(), tzinfo=UTC)
    ends = [min(datetime.combine(s + timedelta(days=7), time(), tzinfo=UTC), as_of) for s in starts]

    def week(at: datetime) -> int | None:
        """The index of the week `at` falls in (None: outside the range)."""
        if at < begin or at > as_of:
            return None
        return min((at.date() - starts[0]).days // 7, weeks - 1)

    opened = sorted(session.scalars(select(Episode.opened_at).where(Episode.opened_at <= as_of)))
    ended = select(Episode.closed_at).where(Episode.closed_at <= as_of)
    closed_at: list[datetime] = sorted(at for at in session.scalars(ended) if at is not None)
    in_range = and_(Episode.closed_at >= begin, Episode.closed_at <= as_of)
    closing = select(Episode.closed_at, Episode.closure_reason).where(in_range)
    closures = [(at, why) for at, why in session.execute(closing).tuples() if at is not None]
    plans = and_(CarePlan.case_id == Episode.case_id, CarePlan.episode == Episode.number)
    housed = session.scalars(
        select(Episode.closed_at)
        .join(CarePlan, plans)
        .join(PlanGoal, PlanGoal.plan_id == CarePlan.id)
        .where(
            in_range,
            PlanGoal.status == GoalStatus.MET.value,
            PlanGoal.objective == Objective.SECURE_PERMANENT_HOUSING.value,
        )
        .group_by(Episode.id, Episode.closed_at)
    )
    first_raised = func.min(Escalation.as_of)
    raised = session.scalars(
        select(first_raised)
        .where(Escalation.level > 0)
        .group_by(Escalation.case_id, Escalation.rule, Escalation.subject)
        .having(first_raised >= begin)
    )
    answers = _answers(session, begin, as_of, programs)
    happened: dict[str, list[datetime]] = {
        "new_cases": opened[bisect_left(opened, begin) :],
        "closed": [at for at, _ in closures],
        "breaches": list(raised),
        "referrals_answered": [at for at, _ in answers],
        "answered_in_time": [at for at, in_time in answers if in_time],
        "housed": [at for at in housed if at is not None],
    }
    counted = {key: Counter(week(at) for at in times) for key, times in happened.items()}
    report.trends = [
        {
            "week": start,
            "open_cases": bisect_right(opened, end) - bisect_right(closed_at, end),
            **{key: counted[key][n] for key in happened},
        }
        for n, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]
    by_outcome = Counter((n, str(reason)) for at, reason in closures if (n := week(at)) is not None)
    report.closures_by_week = [
        {"week": starts[n], "outcome": outcome, "cases": count}
        for (n, outcome), count in sorted(by_outcome.items())
    ]


def _first_answers() -> Any:
    """Each referral's first answer from its partner (taken or refused; the system's own
    status changes are not answers), as a subquery: referral_id, answered_at."""
    answered = {s.value for s in REFERRAL_TAKEN | REFERRAL_REFUSED}
    return (
        select(ReferralEvent.referral_id, func.min(ReferralEvent.at).label("answered_at"))
        .where(ReferralEvent.status.in_(answered), ReferralEvent.source != "system")
        .group_by(ReferralEvent.referral_id)
        .subquery()
    )


def _answers(
    session: Session, begin: datetime, end: datetime, programs: dict[Program, ProgramConfig]
) -> list[tuple[datetime, bool]]:
    """Each referral first answered by its partner between `begin` and `end`: when, and
    whether within its answer window (the provider's, else its program's) of being sent."""
    first_answer = _first_answers()
    rows = session.execute(
        select(Referral.sent_at, first_answer.c.answered_at, Provider.response_days, Case.program)
        .join(first_answer, first_answer.c.referral_id == Referral.id)
        .join(Case, Case.id == Referral.case_id)
        .outerjoin(Provider, Provider.key == Referral.provider)
        .where(
            Referral.sent_at.is_not(None),
            first_answer.c.answered_at >= begin,
            first_answer.c.answered_at <= end,
        )
    )
    return [
        (
            answered_at,
            (answered_at - sent_at).days
            <= answer_window(response_days, programs[Program(program)]),
        )
        for sent_at, answered_at, response_days, program in rows
    ]


def _needs_attention(report: Report, session: Session) -> None:
    """Every open breach on the ladder (advance warnings aside), once, at its highest
    level: the case, who works it, the rule with what was measured against its limit, and
    since when it has been open. Highest level first, then the oldest."""
    rows = session.execute(
        select(
            Escalation.case_number,
            Case.program,
            Case.case_manager,
            Escalation.rule,
            Escalation.subject,
            Escalation.level,
            Escalation.measured,
            Escalation.threshold,
            Escalation.as_of,
        )
        .join(Case, Case.id == Escalation.case_id)
        .where(Escalation.resolved_at.is_(None), Escalation.level > 0)
        .order_by(Escalation.level, Escalation.as_of)
    )
    breaches: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row.case_number, row.rule, row.subject)
        first = breaches.get(key)
        breaches[key] = {  # the highest rung says what was measured; the first, since when
            "case_number": row.case_number,
            "program": row.program,
            "case_manager": row.case_manager,
            "rule": row.rule,
            "what": f"{row.measured} (limit: {row.threshold})",
            "level": row.level,
            "since": (first["since"] if first else row.as_of.date()),
        }
    report.needs_attention = sorted(
        breaches.values(), key=lambda b: (-b["level"], b["since"], b["case_number"], b["rule"])
    )


def _notices_due(report: Report, session: Session, today: date) -> None:
    """Notices no one has acted on yet whose next deadline (for aid to continue, else to
    request a hearing at all) comes within a week, soonest first."""
    rows = session.execute(
        select(
            Case.case_number,
            Case.program,
            Case.case_manager,
            AdverseNotice.number,
            AdverseNotice.benefit,
            AdverseNotice.action,
            AdverseNotice.aid_deadline,
            AdverseNotice.hearing_deadline,
        )
        .join(Case, Case.id == AdverseNotice.case_id)
        .where(
            AdverseNotice.awaiting,
            Case.status == CaseStatus.OPEN.value,
            AdverseNotice.hearing_deadline >= today,
            AdverseNotice.notice_date <= today,
        )
    )
    due = []
    for row in rows:
        deadline, named = Deadlines(row.aid_deadline, row.hearing_deadline).coming(today)
        left = (deadline - today).days
        if left > NOTICE_WINDOWS[-1]:
            continue
        due.append(
            {
                "case_number": row.case_number,
                "program": row.program,
                "case_manager": row.case_manager,
                "notice": row.number,
                "benefit": row.benefit,
                "action": row.action,
                "deadline": deadline,
                "deadline_kind": named.replace("-", "_"),  # a code, as the report's JSON has it
                "days_left": left,
                "within_days": next(w for w in NOTICE_WINDOWS if left <= w),
            }
        )
    report.notices_due = sorted(due, key=lambda n: (n["deadline"], n["case_number"], n["notice"]))


def _stages(report: Report, rows: list[Any], programs: dict[Program, ProgramConfig]) -> None:
    counts = Counter((row.program, row.stage) for row in rows)
    order = {stage.value: n for n, stage in enumerate(Stage)}
    report.by_stage = [
        {"program": program, "stage": stage, "cases": n}
        for (program, stage), n in sorted(counts.items(), key=lambda i: (i[0][0], order[i[0][1]]))
    ]
    days: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in rows:
        days[(row.program, row.stage)].append((report.as_of - row.stage_entered_at).days)
    for (program, stage), values in sorted(days.items(), key=lambda i: (i[0][0], order[i[0][1]])):
        sla = programs[Program(program)].sla_days[Stage(stage)]
        report.days_in_stage.append(
            {
                "program": program,
                "stage": stage,
                "cases": len(values),
                "median_days": round(float(statistics.median(values)), 1),
                "p90_days": round(percentile(values, 0.9), 1),
                "sla_days": sla,
                "over_sla": sum(1 for value in values if value > sla),
            }
        )


def _caseloads(report: Report, rows: list[Any], programs: dict[Program, ProgramConfig]) -> None:
    counts = Counter((row.case_manager, row.program) for row in rows)
    for (manager, program), n in sorted(counts.items()):
        config = programs[Program(program)]
        state = (
            "over maximum"
            if n > config.maximum_caseload
            else "over recommended"
            if n > config.recommended_caseload
            else "ok"
        )
        report.caseloads.append(
            {
                "case_manager": manager,
                "program": program,
                "open_cases": n,
                "recommended": config.recommended_caseload,
                "maximum": config.maximum_caseload,
                "state": state,
            }
        )


def _referrals(report: Report, session: Session) -> None:
    statuses = session.execute(select(Referral.status, func.count()).group_by(Referral.status))
    report.referrals = [{"status": s, "referrals": n} for s, n in sorted(statuses.all())]
    first_answer = _first_answers()
    rows = session.execute(
        select(Referral.provider, Referral.sent_at, first_answer.c.answered_at)
        .join(first_answer, first_answer.c.referral_id == Referral.id)
        .where(Referral.sent_at.is_not(None))
    )
    days: dict[str, list[float]] = defaultdict(list)
    for provider, sent_at, answered_at in rows:
        days[provider or "-"].append(max((answered_at - sent_at).total_seconds(), 0) / 86400)
    report.partners = [
        {
            "provider": provider,
            "answered": len(values),
            "median_days": round(statistics.median(values), 1),
            "slowest_days": round(max(values), 1),
        }
        for provider, values in sorted(days.items())
    ]


def _appointments(report: Report, session: Session, as_of: datetime) -> None:
    """Per window and program: the appointments whose time fell in it, by what became of
    them (still `scheduled`: its outcome not recorded yet), and the share kept of those
    attended or missed."""
    for window in WINDOWS:
        counted = appointments.counts(session, as_of - timedelta(days=window), as_of)
        for program in sorted({program for program, _ in counted}):
            row = {s.value: counted.get((program, s.value), 0) for s in AppointmentStatus}
            decided = row["attended"] + row["missed"]
            report.appointments.append(
                {"window_days": window, "program": program}
                | {"not_recorded" if k == "scheduled" else k: n for k, n in row.items()}
                | {"kept_percent": round(100 * row["attended"] / decided, 1) if decided else None}
            )


def _outcomes(report: Report, session: Session, as_of: datetime) -> None:
    """Per window: the episodes closed, by closure reason; then of those, how many closed
    with a plan goal marked met, and with the permanent-housing goal met. Every figure
    counts cases (a goal repeated across plan versions counts its case once)."""
    for window in WINDOWS:
        since = as_of - timedelta(days=window)
        in_window = and_(
            Episode.closed_at.is_not(None), Episode.closed_at > since, Episode.closed_at <= as_of
        )
        closed = session.execute(
            select(Episode.closure_reason, func.count())
            .where(in_window)
            .group_by(Episode.closure_reason)
        ).all()
        met = session.execute(
            select(PlanGoal.objective, Episode.id)
            .join(CarePlan, CarePlan.id == PlanGoal.plan_id)
            .join(
                Episode,
                and_(Episode.case_id == CarePlan.case_id, Episode.number == CarePlan.episode),
            )
            .where(PlanGoal.status == GoalStatus.MET.value, in_window)
            .distinct()
        ).all()
        for reason, n in sorted(closed, key=lambda row: str(row[0])):
            report.outcomes.append({"window_days": window, "outcome": str(reason), "cases": n})
        housing = Objective.SECURE_PERMANENT_HOUSING.value
        report.outcomes += [
            {"window_days": window, "outcome": GOAL_MET, "cases": len({e for _, e in met})},
            {
                "window_days": window,
                "outcome": HOUSING_SECURED,
                "cases": len({e for objective, e in met if objective == housing}),
            },
        ]


def _assessed_change(report: Report, session: Session, as_of: datetime) -> None:
    """The outcome funders ask for: per program, instrument (and version) and measure, the
    cases assessed with it at least twice by `as_of`, the mean of their first and of their
    latest score, and how many improved, stayed and worsened (in the measure's own
    direction: a needs domain's 1-5 and the matrix's scores rise as things improve, a
    screen's count falls). A case whose first and latest differ in version is compared
    under neither. Means and counts only."""
    # Read a case at a time, in order (streamed): only its first and latest record of each
    # instrument are kept, and only the sums and counts of each measure after that.
    rows = session.execute(
        select(Assessment.case_id, Case.program, Assessment.instruments)
        .join(Case, Case.id == Assessment.case_id)
        .where(Assessment.assessed_at <= as_of)
        .order_by(Assessment.case_id, Assessment.id)
        .execution_options(yield_per=2000)
    )
    rising = _rising(session)
    totals: dict[tuple[str, str, int, str], _Change] = defaultdict(_Change)
    for (_, program), case_rows in groupby(rows, key=lambda row: (row[0], row[1])):
        first: dict[str, dict[str, Any]] = {}
        latest: dict[str, dict[str, Any]] = {}
        for *_, records in case_rows:
            for instrument, record in (records or {}).items():
                first.setdefault(instrument, record)
                latest[instrument] = record
        for instrument, before in first.items():
            after = latest[instrument]
            if after is before or before.get("version") != after.get("version"):
                continue
            version = int(before["version"])
            for measure, then, now in _measures(before, after):
                up = rising(instrument, version, measure)
                totals[(program, instrument, version, measure)].add(then, now, up)
    for (program, instrument, version, measure), total in sorted(totals.items()):
        n = total.cases
        report.assessed_change.append(
            {
                "program": program,
                "instrument": f"{instrument} v{version}",
                "measure": measure,
                "cases": n,
                "first_mean": round(total.first / n, 2),
                "latest_mean": round(total.latest / n, 2),
                "improved": total.improved,
                "same": n - total.improved - total.worsened,
                "worsened": total.worsened,
            }
        )


@dataclass
class _Change:
    """One measure's change from first to latest assessment, summed over the cases."""

    cases: int = 0
    first: float = 0.0
    latest: float = 0.0
    improved: int = 0
    worsened: int = 0

    def add(self, then: float, now: float, rising: bool) -> None:
        change = (now - then) if rising else (then - now)
        self.cases += 1
        self.first += then
        self.latest += now
        self.improved += change > 0
        self.worsened += change < 0


def _measures(first: dict[str, Any], latest: dict[str, Any]) -> list[tuple[str, float, float]]:
    """What two records of one instrument both measured: its scores, and each needs
    domain's score (`domain:housing`)."""
    found = []
    for kind, prefix in (("scores", ""), ("domain_scores", "domain:")):
        before, after = first.get(kind) or {}, latest.get(kind) or {}
        found += [
            (f"{prefix}{name}", float(before[name]), float(after[name]))
            for name in sorted(before.keys() & after.keys())
        ]
    return found


def _rising(session: Session) -> Any:
    """Whether a measure of an instrument version improves as it rises."""
    from casework.models.assessments import taken_with

    known: dict[tuple[str, int], Any] = {}

    def rising(instrument: str, version: int, measure: str) -> bool:
        if measure.startswith("domain:"):
            return True  # a needs domain's 1-5: 5 is thriving
        if (instrument, version) not in known:
            known[(instrument, version)] = taken_with(session, instrument, version)
        declared = known[(instrument, version)]
        score = next((s for s in declared.scores if s.id == measure), None) if declared else None
        return bool(score and score.higher_is_better)

    return rising


def _notices(report: Report, session: Session, today: date) -> None:
    """Per program, as of `today` (each step counted from its own date): notices received,
    open with no hearing requested, hearings awaiting a decision; then the rate that
    matters: of the notices whose aid-continuing deadline has come (or whose hearing was
    requested), how many were requested by that deadline. A notice the client chose not
    to appeal, or the agency withdrew, before its deadline is not counted against it."""
    rows = session.execute(
        select(
            Case.program,
            AdverseNotice.aid_deadline,
            AdverseNotice.hearing_requested_on,
            AdverseNotice.declined_on,
            AdverseNotice.decision,
            AdverseNotice.decided_on,
        )
        .join(Case, Case.id == AdverseNotice.case_id)
        .where(AdverseNotice.notice_date <= today)
    ).all()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        seen = counts[row.program]
        seen["notices"] += 1
        requested = row.hearing_requested_on is not None and row.hearing_requested_on <= today
        declined = row.declined_on is not None and row.declined_on <= today
        decided = row.decided_on is not None and row.decided_on <= today
        if decided:
            seen[str(row.decision)] += 1
        elif declined:
            seen["not_appealed"] += 1
        elif requested:
            seen["hearing_pending"] += 1
        else:
            seen["no_request_yet"] += 1
        if row.aid_deadline is None:
            continue
        ended_early = (declined and row.declined_on <= row.aid_deadline) or (
            decided and not requested and row.decided_on <= row.aid_deadline
        )
        if requested or (row.aid_deadline < today and not ended_early):
            seen["aid_deadline_come"] += 1
            if requested and row.hearing_requested_on <= row.aid_deadline:
                seen["requested_in_time"] += 1
    for program, seen in sorted(counts.items()):
        due = seen["aid_deadline_come"]
        report.notices.append(
            {
                "program": program,
                "notices": seen["notices"],
                "no_request_yet": seen["no_request_yet"],
                "hearing_pending": seen["hearing_pending"],
                "aid_deadline_come": due,
                "requested_in_time": seen["requested_in_time"],
                "in_time_percent": round(100 * seen["requested_in_time"] / due, 1) if due else None,
            }
        )
        report.notice_outcomes.append(
            {"program": program}
            | {decision.value: seen[decision.value] for decision in HearingDecision}
            | {"not_appealed": seen["not_appealed"]}
        )


def now() -> datetime:
    return datetime.now(UTC)
