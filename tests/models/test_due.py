"""A case manager's due list: every date their cases hang on, overdue first, with what to
do; the same from the CLI (`casework due`) and, per case manager, from the daily report."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from casework.models import benefits
from casework.models.codes import BenefitKind, Stage, WaiverRequirement
from casework.models.due import due_list, markdown
from tests import factories


def test_the_due_list_has_every_kind_of_date_in_order(session: Session) -> None:
    now = factories.now()
    today = now.date()
    mine = "cm.due"
    # Assessment entered 13 days ago: housing's 14-day SLA ends tomorrow.
    assessing = factories.case_opened_at(session, now - timedelta(days=13))
    factories.move(session, assessing, None, now - timedelta(days=13))
    # In monitoring since 20 days, last contact then: housing's 14-day contact is overdue.
    then = now - timedelta(days=20)
    watched = factories.walk_to(
        session, factories.case_opened_at(session, then), Stage.MONITORING, then
    )
    benefits.record_benefit(
        session, watched, BenefitKind.SNAP, today + timedelta(days=5), "cm.due", now
    )
    benefits.record_waiver(
        session, watched, WaiverRequirement.HOMELESS, today + timedelta(30), mine, now
    )
    # Closed, its day-30 follow-up due in 3 days.
    closed = factories.walk_to(
        session, factories.case_opened_at(session, now), Stage.CLOSURE, now - timedelta(27)
    )
    factories.move(session, closed, factories.closure(), now - timedelta(days=27))
    someone_elses = factories.case_opened_at(session, now - timedelta(days=30))
    for case in (assessing, watched, closed):
        case.case_manager = mine
    session.flush()

    items = due_list(session, today, 7, mine)
    got = [(i.case_number, i.what, (i.due_on - today).days, i.overdue(today)) for i in items]
    assert got == [
        (watched.case_number, "contact", -6, True),
        (assessing.case_number, "stage", 1, False),
        (closed.case_number, "follow_up", 3, False),
        (watched.case_number, "recertification", 5, False),
    ]
    assert "casework note" in items[0].action
    assert items[1].action == "finish assessment: submit the assessment form"
    assert someone_elses.case_number not in {
        i.case_number for i in due_list(session, today, 7, mine)
    }
    # Further ahead: the waiver and the reassessment cadence come in.
    ahead = {(i.what, i.case_number) for i in due_list(session, today, 90, mine)}
    assert ("waiver", watched.case_number) in ahead
    assert ("reassessment", watched.case_number) in ahead
    text = markdown(mine, items, today, 7)
    assert f"overdue** · {watched.case_number} · Housing · Contact (since " in text
    assert "4 due, 1 of them overdue." in text
    assert "· Recertification (SNAP (food assistance)): recertify snap in time" in text
    nothing = markdown("cm.idle", [], today, 7)
    assert f"Nothing due from cm.idle by {today + timedelta(days=7)}." in nothing
