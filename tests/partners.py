"""Partner agencies in tests: a directory entry for a partner on loopback
(casework.partner) that answers by rule, and a case brought to its referral stage through
its real flow run."""

from __future__ import annotations

import uuid
from typing import Any

from casework import services
from casework.core.db import session_scope
from casework.models import cases, referrals
from casework.models.codes import ServiceCategory, Stage
from casework.models.orm import Referral
from casework.partner import PartnerAgency
from tests import factories

TOKEN = "agency-token-123"


def provider(agency: PartnerAgency, rule: str, token: str = TOKEN) -> str:
    """A directory entry for this agency whose service category gets `rule`."""
    category = {
        "accept": ServiceCategory.HOUSING_SEARCH,
        "reject": ServiceCategory.LEGAL_AID,
        "hold": ServiceCategory.FOOD_ASSISTANCE,
        "flaky": ServiceCategory.EMPLOYMENT_TRAINING,
        "slow": ServiceCategory.CHILDCARE,
    }[rule]
    agency.rules[category.value] = rule
    key = f"p-{rule}-{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        factories.provider(session, key, f"{agency.url}/", category, token)
    return key


def category_of(key: str) -> ServiceCategory:
    with session_scope() as session:
        from casework.models.providers import get

        return ServiceCategory(get(session, key).category)


def case_at_referral() -> tuple[str, Any]:
    return factories.case_waiting_at(Stage.REFERRAL)


def send(case_number: str, *keys: str) -> services.stages.SubmitResult:
    form = factories.ReferralForm(
        submitted_by=factories.STAFF,
        referrals=[factories.ReferralRequest(service=category_of(k), provider=k) for k in keys],
    )
    return services.stages.submit(case_number, Stage.REFERRAL, form, actor="tester", wait=True)


def referrals_of(case_number: str) -> list[Referral]:
    with session_scope() as session:
        return referrals.for_case(session, cases.get_case(session, case_number))


def stage_and_waiting(case_number: str) -> tuple[str, bool]:
    detail = services.cases.show(case_number)
    with session_scope() as session:
        waiting = cases.get_case(session, case_number).waiting_on is not None
    return detail.stage, waiting
