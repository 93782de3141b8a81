"""Referrals in the store: consent gates the form, the partners' answers move the case.
Runs on SQLite and, when CASEWORK_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

from sqlalchemy.orm import Session

from casework.models import consents, referrals, stage_events
from casework.models.codes import ReferralStatus, Stage, Trigger
from casework.models.orm import Case
from tests import factories
from tests.factories import STAFF, now


def _at_referral(session: Session, *providers: str) -> Case:
    case = factories.walk_to(session, factories.new_case(session), Stage.REFERRAL, now())
    for key in providers:
        factories.provider(session, key)
    return case


def _send(session: Session, case: Case, *keys: str) -> stage_events.StageOutcome:
    return stage_events.record_stage(
        session,
        case.case_number or "",
        case.episode,
        case.stage_key,
        factories.referral_to(*keys),
        STAFF,
        now(),
    )


def _answer(session: Session, case: Case) -> stage_events.StageOutcome:
    return stage_events.record_stage(
        session,
        case.case_number or "",
        case.episode,
        case.stage_key,
        None,
        "system",
        now(),
        answer=referrals.answer(session, case),
    )


def test_a_referral_without_consent_is_refused(session: Session) -> None:
    case = _at_referral(session, "hope-housing")
    outcome = _send(session, case, "hope-housing")
    assert outcome.outcome == "rejected"
    assert "no consent on file to share with hope-housing" in (outcome.error or "")
    assert referrals.for_case(session, case) == []
    assert case.stage_key.endswith("retry1")


def test_an_unknown_provider_is_refused(session: Session) -> None:
    case = _at_referral(session)
    outcome = _send(session, case, "nobody-here")
    assert "no active provider nobody-here" in (outcome.error or "")


def test_a_provider_outside_the_program_is_refused(session: Session) -> None:
    case = _at_referral(session, "hope-housing")
    consents.give(session, case, consents.ANY_PROVIDER, now().date(), STAFF, now())
    provider = factories.provider(session, "hope-housing")
    provider.programs = ["geriatric"]
    outcome = _send(session, case, "hope-housing")
    assert "hope-housing does not take housing referrals" in (outcome.error or "")


def test_all_accepted_moves_the_case_to_monitoring(session: Session) -> None:
    case = _at_referral(session, "hope-housing", "second-home")
    consents.give(session, case, consents.ANY_PROVIDER, now().date(), STAFF, now())
    assert _send(session, case, "hope-housing", "second-home").to_stage == "referral"
    sent = referrals.for_case(session, case)
    assert [r.reference for r in sent] == [f"REF-{r.id:06d}" for r in sent]
    assert case.waiting_on is not None
    referrals.set_status(session, sent[0], ReferralStatus.ACCEPTED, None, "partner", now())
    assert referrals.answer(session, case) is None  # one still to answer
    referrals.set_status(session, sent[1], ReferralStatus.IN_PROGRESS, None, "partner", now())
    assert referrals.answer(session, case) is Trigger.ACCEPTED
    assert _answer(session, case).to_stage == "monitoring"
    assert case.waiting_on is None


def test_a_rejection_sends_the_case_manager_back_to_choose(session: Session) -> None:
    case = _at_referral(session, "hope-housing", "second-home")
    consents.give(session, case, "hope-housing", now().date(), STAFF, now())
    consents.give(session, case, "second-home", now().date(), STAFF, now())
    _send(session, case, "hope-housing")
    [first] = referrals.for_case(session, case)
    referrals.set_status(session, first, ReferralStatus.REJECTED, "no capacity", "partner", now())
    outcome = _answer(session, case)
    assert (outcome.trigger if hasattr(outcome, "trigger") else None, outcome.to_stage) == (
        None,
        "referral",
    )
    assert case.waiting_on is None  # choosing again: the case waits for a new ReferralForm
    _send(session, case, "second-home")
    second = referrals.for_case(session, case)[-1]
    referrals.set_status(session, second, ReferralStatus.ACCEPTED, None, "operator", now())
    assert _answer(session, case).to_stage == "monitoring"


def test_withdrawing_consent_cancels_open_referrals(session: Session) -> None:
    case = _at_referral(session, "hope-housing")
    consents.give(session, case, "hope-housing", now().date(), STAFF, now())
    _send(session, case, "hope-housing")
    cancelled = referrals.withdraw_consent(session, case, "hope-housing", STAFF, now())
    assert [r.status for r in cancelled] == ["cancelled"]
    assert referrals.answer(session, case) is Trigger.REJECTED
