"""Closed-loop referrals over HTTP against a partner agency on loopback (casework.partner),
through real case runs on the session's Prefect server and runner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from casework import services
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.flows.referral_sync import referral_status_sync
from casework.models import referrals
from casework.models.codes import ServiceCategory, Stage
from casework.models.orm import Escalation, ReferralEvent
from casework.partner import PartnerAgency
from tests import factories
from tests.partners import (
    TOKEN,
    case_at_referral,
    provider,
    referrals_of,
    send,
    stage_and_waiting,
)
from tests.polling import wait_for
from tests.prefect_surfaces import api_post

pytestmark = pytest.mark.prefect
HSDS = Path(__file__).parents[1] / "data" / "hsds"


@pytest.fixture
def agency() -> Iterator[PartnerAgency]:
    partner = PartnerAgency(TOKEN, slow_seconds=2.0).start()
    yield partner
    partner.stop()


def _history(reference: str) -> list[str]:
    with session_scope() as session:
        referral = referrals.get(session, reference)
        query = select(ReferralEvent.status).where(ReferralEvent.referral_id == referral.id)
        return list(session.scalars(query.order_by(ReferralEvent.id)))


def test_accepted_referrals_move_the_case_on_despite_a_flaky_and_a_slow_partner(
    stack: str, agency: PartnerAgency
) -> None:
    case_number, client = case_at_referral()
    flaky, slow = provider(agency, "flaky"), provider(agency, "slow")
    services.referrals.give_consent(case_number, "*", factories.now().date(), "cm.tester")

    result = send(case_number, flaky, slow)
    assert (result.outcome, result.stage) == ("moved", "referral")  # waiting on the partners
    sent = wait_for(
        "both referrals received",
        lambda: (
            all(r.status == "received" for r in referrals_of(case_number))
            and referrals_of(case_number)
        ),
    )
    # The flaky partner's 500 and the slow one's timeout were retried: two POSTs each.
    posts = [body["referral_id"] for body in agency.posts]
    assert sorted(posts) == sorted(2 * [r.reference for r in sent])
    body = agency.posts[-1]
    assert set(body) == {
        "referral_id",
        "case_number",
        "service",
        "program",
        "urgency",
        "reason",
        "client",
    }
    assert body["client"] == {
        "given_name": client.given_name,
        "contact_preference": client.contact_preference.value,
        "language": client.language,
    }

    totals = referral_status_sync()
    assert totals["changes"] >= 2
    wait_for(
        "the case to reach monitoring",
        lambda: stage_and_waiting(case_number) == ("monitoring", False),
    )
    assert _history(sent[0].reference or "") == ["requested", "received", "accepted"]

    def card() -> str:
        body = {
            "artifacts": {"key": {"any_": [case_number.lower()]}},
            "sort": "CREATED_DESC",
            "limit": 1,
        }
        found = api_post(stack, "artifacts/filter", body)
        return str(found[0]["data"]) if found else ""

    # The case card on the run follows the case: rewritten at the stage change.
    assert "stage: **Monitoring**" in wait_for(
        "the case card", lambda: "Monitoring" in card() and card()
    )
    assert "reassessment due" in card()


def test_a_rejection_sends_the_case_back_and_a_manual_answer_moves_it_on(
    stack: str, agency: PartnerAgency
) -> None:
    case_number, _ = case_at_referral()
    refuses, holds = provider(agency, "reject"), provider(agency, "hold")
    services.referrals.give_consent(case_number, "*", factories.now().date(), "cm.tester")
    send(case_number, refuses)
    wait_for("the referral received", lambda: referrals_of(case_number)[0].status == "received")

    referral_status_sync()
    wait_for(
        "the case to be choosing again",
        lambda: stage_and_waiting(case_number) == ("referral", False),
    )
    [rejected] = referrals_of(case_number)
    assert (rejected.status, rejected.status_reason) == ("rejected", "no capacity")

    send(case_number, holds)
    second = wait_for(
        "the second referral received",
        lambda: [
            r for r in referrals_of(case_number) if r.provider == holds and r.status == "received"
        ],
    )[0]
    referral_status_sync()  # the partner holds it: nothing moves
    assert stage_and_waiting(case_number) == ("referral", True)
    moved_case, moved = services.referrals.record_referral_status(
        second.reference or "",
        factories.ReferralStatus.ACCEPTED,
        "called the intake desk",
        "cm.tester",
    )
    assert moved_case == case_number
    wait_for(
        "the case to reach monitoring",
        lambda: stage_and_waiting(case_number) == ("monitoring", False),
    )


def test_no_consent_no_referral_and_a_bad_token_fails_and_escalates(
    stack: str, agency: PartnerAgency
) -> None:
    case_number, _ = case_at_referral()
    wrong = provider(agency, "accept", token="not-the-token")
    with pytest.raises(InputError, match=f"no consent on file to share with {wrong}"):
        send(case_number, wrong)  # refused before it reaches the case's run
    assert referrals_of(case_number) == []

    services.referrals.give_consent(case_number, wrong, factories.now().date(), "cm.tester")
    send(case_number, wrong)
    wait_for(
        "the case to be choosing again",
        lambda: stage_and_waiting(case_number) == ("referral", False),
    )
    [failed] = referrals_of(case_number)
    assert (failed.status, failed.status_reason) == ("failed", "HTTP 401: bad token")
    assert len(agency.posts) == 1  # a 4xx is not retried

    def escalated() -> list[str]:
        with session_scope() as session:
            query = select(Escalation.rule).where(Escalation.case_number == case_number)
            return list(session.scalars(query))

    assert "referral_failed" in wait_for("the failed referral escalated", escalated, 60)


def test_withdrawing_consent_cancels_the_open_referral(stack: str, agency: PartnerAgency) -> None:
    case_number, _ = case_at_referral()
    holds = provider(agency, "hold")
    services.referrals.give_consent(case_number, holds, factories.now().date(), "cm.tester")
    send(case_number, holds)
    wait_for("the referral received", lambda: referrals_of(case_number)[0].status == "received")
    cancelled = services.referrals.withdraw_consent(case_number, holds, "cm.tester")
    assert cancelled == [referrals_of(case_number)[0].reference]
    wait_for(
        "the case to be choosing again",
        lambda: stage_and_waiting(case_number) == ("referral", False),
    )


def test_a_referral_sent_twice_is_received_once(stack: str, agency: PartnerAgency) -> None:
    from casework.tasks.referrals import send_referral

    key = provider(agency, "hold")
    with session_scope() as session:
        case = factories.walk_to(
            session, factories.new_case(session), Stage.REFERRAL, factories.now()
        )
        from casework.models import consents

        consents.give(session, case, key, factories.now().date(), "cm.tester", factories.now())
        form = factories.referral_to(key, service=ServiceCategory.FOOD_ASSISTANCE)
        factories.move(session, case, form, factories.now())
        reference = referrals.for_case(session, case)[0].reference or ""
    assert send_referral.fn(reference) == "received"
    with session_scope() as session:  # as if our side lost the answer and sends again
        referrals.get(session, reference).sent_at = None
        referrals.get(session, reference).status = "requested"
    assert send_referral.fn(reference) == "received"
    assert [b["referral_id"] for b in agency.posts] == [reference, reference]
    assert list(agency.referrals) == [reference]


def test_a_directory_only_service_is_referred_and_answered_by_hand(
    stack: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A service no partner settings cover: the referral is recorded, handed to the case
    manager (its letter says how to answer), never sent over HTTP nor asked about by the
    sync, and the answer recorded by hand moves the case on."""
    from tests.casework.test_cli import run_cli

    key = f"walk-in-{uuid.uuid4().hex[:8]}"
    published = json.loads((HSDS / "service_full.json").read_text())
    report = services.providers.import_providers(published | {"id": key}, directory="by-hand")
    assert report.added == [key]
    case_number, _ = case_at_referral()
    services.referrals.give_consent(case_number, key, factories.now().date(), "cm.tester")
    form = factories.referral_to(key, service=ServiceCategory.MENTAL_HEALTH_TREATMENT)
    result = services.stages.submit(case_number, Stage.REFERRAL, form, actor="tester", wait=True)
    assert (result.outcome, result.stage) == ("moved", "referral")

    [made] = wait_for(
        "the referral handed over for making by hand",
        lambda: [r for r in referrals_of(case_number) if r.sent_at is not None],
    )
    assert made.status == "requested"
    assert (made.status_reason or "").startswith(
        f"no electronic referral: make it by hand (`casework doc {case_number} referral "
        f"{made.reference}` is the letter)"
    )
    with session_scope() as session:
        assert key not in referrals.open_by_provider(session), "the sync does not ask it"
    letter = tmp_path / "letter.md"
    code, _, _ = run_cli(
        capsys, "doc", case_number, "referral", made.reference or "", "--out", str(letter)
    )
    assert code == 0
    text = letter.read_text()
    assert "1-30 Main Street, MyVillage, MyCity, MyState, ABC 1234" in text
    assert "Please answer the case manager by phone or letter, quoting" in text
    assert stage_and_waiting(case_number) == ("referral", True)

    services.referrals.record_referral_status(
        made.reference or "", factories.ReferralStatus.ACCEPTED, "phoned intake", "cm.tester"
    )
    wait_for(
        "the case to reach monitoring",
        lambda: stage_and_waiting(case_number) == ("monitoring", False),
    )
