"""Plain-text renderings of cases for the terminal."""

from __future__ import annotations

from typing import Any

from casework.models.labels import label
from casework.models.schemas import (
    ApprovalOut,
    CaseDetail,
    CaseSummary,
    ConsentOut,
    EscalationOut,
    HistoryEntry,
    NoticeOut,
    OtherCaseOut,
)


def caseload_text(rows: list[CaseSummary]) -> str:
    if not rows:
        return "no cases"
    header = (
        f"{'CASE':<12} {'PROGRAM':<17} {'STAGE':<11} {'STATUS':<7} {'EP':>2} {'MANAGER':<14} "
        f"{'SINCE':<10} DUE"
    )
    lines = [header] + [
        f"{r.case_number:<12} {r.program.value:<17} {r.stage:<11} {r.status:<7} {r.episode:>2} "
        f"{r.case_manager:<14} {r.stage_entered_at:%Y-%m-%d} {r.stage_due_on or '-'}"
        + (f"  run {r.run_state}" if r.run_state else "")
        for r in rows
    ]
    if any(r.run_state == "unknown" for r in rows):
        lines.append("run states unknown: the Prefect server did not answer")
    return "\n".join(lines)


def history_line(h: HistoryEntry) -> str:
    when = f"  {h.at:%Y-%m-%d %H:%M} e{h.episode} {h.from_stage}"
    if h.outcome == "rejected":
        return f"{when} form REFUSED ({h.actor}): {h.error}"
    if h.outcome == "awaiting_approval":
        return f"{when} form given ({h.actor}); held for a supervisor's approval"
    if h.outcome == "returned":
        return f"{when} form RETURNED by {h.actor} for correction"
    moved = f"{when} -> {h.to_stage or 'closed'} ({h.trigger}, {h.actor})"
    return "\n".join([moved, *(f"    {question}: {answer}" for question, answer in h.answered)])


def consent_line(consent: ConsentOut) -> str:
    until = f" until {consent.expires_on}" if consent.expires_on else ""
    signed = (
        f"signed {consent.signed_at:%Y-%m-%d} ({consent.signed_attachment}, witness "
        f"{consent.witness})"
        if consent.signed_at
        else "not signed"
    )
    return (
        f"consent {consent.number}: {consent.kind} of {consent.scope} with {consent.provider} "
        f"from {consent.given_on}{until}, {signed} [{consent.state}]"
    )


def approval_line(held: ApprovalOut) -> str:
    """The form waiting for approval, or the one returned last and why."""
    given = f"{held.stage} form given {held.requested_at:%Y-%m-%d %H:%M} by {held.submitted_by}"
    if held.status == "requested":
        return f"approval: {given}; waiting for a supervisor"
    when = f"{held.decided_at:%Y-%m-%d %H:%M}" if held.decided_at else ""
    return f"approval: {given}; RETURNED {when} by {held.decided_by}: {held.reason}"


def other_case_line(other: OtherCaseOut) -> str:
    crisis = "  CRISIS OPEN" if other.crisis else ""
    if other.program is None:
        return f"  also {other.case_number} ({other.status}; another program){crisis}"
    escalations = f", {other.open_escalations} open escalation(s)" if other.open_escalations else ""
    return (
        f"  also {other.case_number} ({other.program}, {other.stage}, {other.status}"
        f"{escalations}){crisis}"
    )


def case_text(case: CaseDetail) -> str:
    client = case.client
    lines = [
        f"{case.case_number}  {case.program.value}  stage {case.stage}"
        f"{' (waiting on partners)' if case.waiting_on else ''}"
        f"{f' (run {case.run_state})' if case.run_state else ''}  {case.status}  "
        f"episode {case.episode}  manager {case.case_manager}"
        f"{f'  due {case.stage_due_on}' if case.stage_due_on else ''}",
        f"client {client.client_number}: {client.given_name} {client.family_name}, "
        f"born {client.date_of_birth}, prefers {client.contact_preference} ({client.language})",
        *(other_case_line(o) for o in case.other_cases),
        "history:",
        *(history_line(h) for h in case.history),
    ]
    if (held := case.approval) is not None:
        lines.append(approval_line(held))
    lines += [consent_line(c) for c in case.consents]
    if case.household_number:
        lines.append(f"household {case.household_number}:")
        lines += [household_line(stay) for stay in case.household]
    if case.intake_details:
        lines.append("intake details:")
        lines += [f"  {question}: {answer}" for question, answer in case.intake_details]
    if (a := case.latest_assessment) is not None:
        scores = " ".join(f"{k}={v}" for k, v in a.scores.items())
        lines += [
            f"assessment: risk {a.risk_level} priority {a.priority}; {scores}",
            f"  strengths: {', '.join(a.strengths) or '-'}; "
            f"crisis: {', '.join(a.crisis_flags) or 'none'}",
            *(
                f"  {r.instrument} v{r.version}: risk {r.risk}; "
                + " ".join(
                    f"{s.score}={s.value:g}{f' ({s.band})' if s.band else ''}" for s in r.scores
                )
                for r in a.readings
            ),
            *(f"  {question}: {words}" for r in a.readings for question, words in r.written),
        ]
    if case.plan is not None:
        lines.append(f"plan v{case.plan.version} agreed {case.plan.agreed_on}:")
        lines += [
            f"  {g.domain}: {g.objective} by {g.target_date} [{g.status}]" for g in case.plan.goals
        ]
    lines += [
        f"referral {r.reference}: {r.service} -> {r.provider or '-'} [{r.status}]"
        for r in case.referrals
    ]
    lines += [
        f"appointment {a.number}: {a.kind} at {a.local} with {a.with_whom}"
        f"{f' ({a.place})' if a.place else ''} [{a.status}"
        f"{f' to {a.rescheduled_to}' if a.rescheduled_to else ''}]"
        for a in case.appointments
    ]
    lines += [
        f"{c.occurred_at:%Y-%m-%d} {c.contact_type} ({c.author}): {c.text}" for c in case.contacts
    ]
    lines += [
        f"benefit {b.kind}: recertify by {b.recertify_by}{'' if b.active else ' (ended)'}"
        for b in case.benefits
    ]
    lines += [notice_line(n) for n in case.notices]
    lines += [
        f"waiver {w.requirement}: expires {w.expires_on}{'' if w.active else ' (ended)'}"
        for w in case.waivers
    ]
    lines += [
        f"follow-up e{f.episode} day {f.day}: due {f.due_on} [{f.outcome or 'pending'}]"
        for f in case.follow_ups
    ]
    if case.closure_reason:
        lines.append(f"closed: {case.closure_reason}")
    if case.open_escalations:
        lines += ["open escalations:", *escalation_lines(case.open_escalations, indent="  ")]
    return "\n".join(lines)


def household_text(view: Any) -> str:
    """A case's household: each member's client number, name (for those who read it),
    relationship to the head, and since when; then those who left."""
    if view.household_number is None:
        return f"{view.case_number} is not a household case"
    lines = [f"household {view.household_number} of {view.case_number}:"]
    lines += [household_line(stay, view.reads_identity) for stay in view.stays]
    return "\n".join(lines)


def household_line(stay: Any, identity: bool = True) -> str:
    name = (
        f" {stay.given_name} {stay.family_name}, born {stay.date_of_birth}"
        if identity and stay.given_name
        else ""
    )
    when = f"from {stay.joined_on}" + (f" to {stay.left_on} (left)" if stay.left_on else "")
    return f"  {stay.client_number}{name}: {label(stay.relationship)}, {when}"


def notice_line(n: NoticeOut) -> str:
    aid = f"aid-continuing deadline {n.aid_deadline}, " if n.aid_deadline else "no aid continuing, "
    return (
        f"notice {n.number}: {n.benefit} {n.action} dated {n.notice_date}, effective "
        f"{n.effective_on} ({aid}hearing by {n.hearing_deadline}): {n.state}"
    )


def escalation_lines(rows: list[EscalationOut], indent: str = "") -> list[str]:
    return [f"{indent}{_escalation_line(e)}" for e in rows]


def _escalation_line(e: EscalationOut) -> str:
    kind = "warning" if e.level == 0 else f"L{e.level}"
    line = (
        f"#{e.id} {e.case_number} {e.rule} {kind} -> {e.recipient} "
        f"({e.measured}; limit {e.threshold}) since {e.as_of:%Y-%m-%d}"
    )
    if e.resolved_at:
        line += f" resolved {e.resolved_at:%Y-%m-%d}"
    if not e.delivered_at:
        line += f" [undelivered: {e.delivery_error or 'pending'}]"
    return line


def escalations_text(rows: list[EscalationOut]) -> str:
    return "\n".join(escalation_lines(rows)) if rows else "no escalations"
