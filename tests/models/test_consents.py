"""Consent the client signs, in the store: a referral goes only under a consent in force
(given, not withdrawn, not past its end; signed, where the program asks for signed
consent), through the same check the case's run makes when it records the referral form;
the consent's end is warned ahead on the ladder and the due list, and a renewal quiets it.
Runs on SQLite and, when CASEWORK_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.models import attachments, consents, escalations
from casework.models.codes import AttachmentKind, Watch
from casework.models.due import due_list
from casework.models.orm import Case, Escalation
from casework.models.programs import programs
from casework.models.rules import Scope
from tests import factories
from tests.factories import STAFF, now
from tests.models.test_referrals import _at_referral, _send
from tests.programs import configured, programs_file


def _signed(session: Session, case: Case, consent: object) -> None:
    """The consent signed, its signed form an attachment of the case (sealed bytes here:
    the store function takes what the service sealed)."""
    kept = attachments.add(
        session, case, AttachmentKind.SIGNED_CONSENT, "signed.pdf", None, "application/pdf",
        10, False, b"sealed", STAFF, now(),
    )  # fmt: skip
    consents.sign(session, case, consent, kept, consents.SIGNED_ON_DESK, STAFF, now())  # type: ignore[arg-type]


def test_a_signed_consent_gates_a_referral_and_its_end_stops_the_next(
    session: Session, tmp_path: Path
) -> None:
    with configured(programs_file(tmp_path, housing="signed_consent = true\n")):
        case = _at_referral(session, "hope-housing")
        ends = now().date() + timedelta(days=10)
        consent = consents.give(
            session, case, "hope-housing", now().date(), STAFF, now(), expires_on=ends
        )
        refused = _send(session, case, "hope-housing")
        assert refused.outcome == "rejected"
        assert "consent to share with hope-housing is not signed yet" in (refused.error or "")
        _signed(session, case, consent)
        assert _send(session, case, "hope-housing").outcome == "moved"
        later = ends + timedelta(days=1)
        assert not consents.covers(session, case.client_id, "hope-housing", later, signed=True)
        why = consents.why_not(session, case.client_id, "hope-housing", later, signed=True)
        assert why == f"the client's consent to share with hope-housing ended on {ends}; renew it"
        assert consents.covers(session, case.client_id, "hope-housing", ends, signed=True)


def test_without_the_programs_asking_a_recorded_consent_covers_until_its_end(
    session: Session,
) -> None:
    case = _at_referral(session, "hope-housing")
    yesterday = now().date() - timedelta(days=1)
    consents.give(
        session, case, "hope-housing", yesterday - timedelta(days=30), STAFF, now(),
        expires_on=yesterday,
    )  # fmt: skip
    refused = _send(session, case, "hope-housing")
    assert f"ended on {yesterday}; renew it" in (refused.error or "")
    consents.give(session, case, "hope-housing", now().date(), STAFF, now())
    assert _send(session, case, "hope-housing").outcome == "moved"


def test_a_consents_end_is_warned_ahead_and_a_renewal_quiets_it(session: Session) -> None:
    day0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    case = factories.new_case(session)
    ends = day0.date() + timedelta(days=20)
    consent = consents.give(session, case, "*", day0.date(), STAFF, day0, expires_on=ends)

    def sweep(day: int) -> list[tuple[str, int, str]]:
        at = day0 + timedelta(days=day)
        escalations.sweep(session, Watch.BENEFITS, Scope(at), programs())
        rows = session.scalars(select(Escalation).where(Escalation.case_id == case.id))
        return [(r.subject, r.level, r.recipient) for r in rows if r.resolved_at is None]

    number = consents.number_of(consent.id)
    assert sweep(0) == [(f"{number} ends {ends} (30d)", 0, STAFF)]
    assert sweep(7)[-1] == (f"{number} ends {ends} (14d)", 0, STAFF)
    [item] = [i for i in due_list(session, day0.date(), 30, STAFF) if i.what == "consent"]
    assert (item.due_on, item.subject) == (ends, number)
    assert "renew the client's consent to share with any partner agency" in item.action
    consents.give(session, case, "*", day0.date() + timedelta(days=8), STAFF, day0)  # renewed
    assert sweep(8) == []
    assert not [i for i in due_list(session, day0.date(), 30, STAFF) if i.what == "consent"]
