"""A supervisor's decision on a stage form held for approval (models.approvals): written to
the store first, as the supervisor signed in, then the case's run woken to record it (the
move the form asks for, or the form's return), as a reassessment asked for is."""

from __future__ import annotations

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.models import approvals, cases
from casework.services.staff import roster
from casework.services.stages import SubmitResult, _Turn, wake_to_record


def decide(
    case_number: str,
    actor: str,
    approve: bool,
    reason: str | None = None,
    *,
    wait: bool = False,
    timeout: float = 120.0,
) -> SubmitResult:
    """Approve the form `case_number` waits with, or return it with `reason`, as `actor`
    (who signed in): an active supervisor of the case's program who did not give it."""
    members = roster()
    with session_scope() as session:
        case = cases.get_open_case(session, case_number, for_update=True)
        try:
            held = approvals.decide(session, case, members, actor, approve, reason, now())
        except approvals.NotApprovable as exc:
            raise InputError(str(exc), field="case_number") from None
        flow_run_id = cases.episode_of(session, case).flow_run_id
        turn = _Turn(
            case.case_number or case_number, held.wait_key, case.episode, flow_run_id or ""
        )
        stage = held.stage
    what = "approval" if approve else "return"
    return wake_to_record(turn, what, None if approve else stage, wait, timeout)
