"""The case card: a small markdown artifact on each case's flow run with where the case
stands, what is due and what is open, rewritten at every stage change. Coded values only,
each shown by its label (models/labels.py); staff ids and provider keys as they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect.context import FlowRunContext
from sqlalchemy import select

from casework.core.db import session_scope
from casework.core.settings import get_settings
from casework.models import (
    approvals,
    attachments,
    cases,
    escalations,
    notices,
    referrals,
    stage_events,
)
from casework.models.codes import REFERRAL_WAITING, Program, Stage
from casework.models.labels import label
from casework.models.orm import AdverseNotice, Benefit
from casework.models.programs import programs, stage_due_on


def card_markdown(case_number: str) -> str:
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        config = programs()[Program(case.program)]
        desk = get_settings().desk_address
        lines = [
            f"# {case.case_number}",
            "",
            f"[Open {case.case_number} on the desk]({desk}/cases/{case.case_number}) "
            "(case managers and supervisors sign in there to see the client)",
            "",
            f"- program: {label(case.program)}, case manager `{case.case_manager}`",
            f"- stage: **{label(case.stage)}** since {case.stage_entered_at:%Y-%m-%d}"
            + (" (waiting on partners)" if case.waiting_on else ""),
        ]
        if (waits := approvals.pending(session, case)) is not None:
            lines.append(
                f"- **waiting for a supervisor's approval** of the {label(waits.stage).lower()} "
                f"form given {waits.requested_at:%Y-%m-%d %H:%M} by `{waits.submitted_by}`"
            )
        if (refused := stage_events.last_refusal(session, case)) is not None:
            if refused.outcome == stage_events.RETURNED:
                lines.append(
                    f"- **last {label(case.stage).lower()} form returned** "
                    f"{refused.at:%Y-%m-%d %H:%M} by `{refused.actor}` for correction"
                )
            else:
                lines.append(
                    f"- **last {label(case.stage).lower()} form refused** "
                    f"{refused.at:%Y-%m-%d %H:%M} (`{refused.actor}`): {refused.error}"
                )
        if case.status == "closed":
            lines.append(f"- closed {case.closed_at:%Y-%m-%d}" if case.closed_at else "- closed")
        else:
            due = stage_due_on(Program(case.program), Stage(case.stage), case.stage_entered_at)
            lines.append(f"- stage due: {due}")
            if case.stage == Stage.MONITORING.value:
                since = max(case.last_assessed_at or case.stage_entered_at, case.stage_entered_at)
                next_review = since.date() + timedelta(config.reassessment_interval_days)
                lines.append(f"- reassessment due: {next_review}")
        waiting = [s.value for s in REFERRAL_WAITING]
        open_refs = [r for r in referrals.for_case(session, case) if r.status in waiting]
        lines += [
            f"- referral {r.reference}: {label(r.service)} at `{r.provider}` [{label(r.status)}]"
            for r in open_refs
        ]
        query = select(Benefit).where(Benefit.case_id == case.id, Benefit.active)
        lines += [
            f"- benefit {label(b.kind)}: recertify by {b.recertify_by}"
            for b in session.scalars(query)
        ]
        lines += [notice_line(n) for n in notices.for_case(session, case) if not notices.closed(n)]
        if held := attachments.kinds(session, case):  # counts and kinds, never a file's name
            each = ", ".join(f"{label(kind).lower()} {n}" for kind, n in sorted(held.items()))
            lines.append(f"- attachments: {sum(held.values())} ({each})")
        rows = escalations.listing(session, open_only=True, case_number=case.case_number)
        lines += [
            f"- open escalation: {label(e.rule)}, level {e.level} ({e.measured})"
            for e in rows
            if e.level
        ]
    return "\n".join(lines)


def notice_line(notice: AdverseNotice) -> str:
    """An open notice, its deadline first: what the case manager must act on by when."""
    what = f"{label(notice.benefit)} {label(notice.action).lower()}"
    if notice.hearing_requested_on is not None:
        aid = "aid continuing" if notice.aid_continuing else "aid **not** continuing"
        return (
            f"- notice {notice.number} ({what}, effective {notice.effective_on}): hearing "
            f"requested {notice.hearing_requested_on}, {aid}; awaiting the decision"
        )
    deadline, kind = notices.of(notice).watched
    return (
        f"- **notice {notice.number} ({what}, effective {notice.effective_on}): no hearing "
        f"requested; {kind} deadline {deadline}** (last day to request a hearing "
        f"{notice.hearing_deadline})"
    )


def card_description(case_number: str) -> str:
    """What the card says in a listing: the case, its stage and when the card was written."""
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        where = "closed" if case.status == "closed" else f"at {label(case.stage)}"
    return f"{case_number} {where}: card of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def publish_case_card(case_number: str, on_case_run: bool = False) -> None:
    """Write the card on the current run, or (`on_case_run`: a sweep of one case) on the
    case's own run: one card per run, rewritten in place. Written straight to the
    artifacts API: Prefect's own helper also emits an artifact event, and that event costs
    the run's process four more reads (its flow, deployment, work queue and pool) to
    describe the run."""
    from casework.core.prefect_api import create_artifact, put_run_card

    if on_case_run:
        with session_scope(read_only=True) as session:
            case = cases.get_case(session, case_number)
            flow_run_id = cases.episode_of(session, case).flow_run_id
        if flow_run_id is None:  # no run to show it on (yet)
            return
    else:
        context = FlowRunContext.get()
        flow_run_id = str(context.flow_run.id) if context and context.flow_run else None
    markdown, description = card_markdown(case_number), card_description(case_number)
    if flow_run_id is None:
        create_artifact(case_number.lower(), markdown, description, None)
    else:
        put_run_card(case_number.lower(), markdown, description, flow_run_id)
