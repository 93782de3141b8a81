"""Cases: numbering, lookups, listing, reopening. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from casework.models import cases
from casework.models.codes import CaseStatus, Program, Stage
from casework.models.orm import Case
from tests import factories
from tests.factories import STAFF, now


def test_case_numbers_follow_the_store_sequence(session: Session) -> None:
    first, second = factories.new_case(session), factories.new_case(session)
    assert first.case_number == f"CASE-{first.id:06d}"
    assert second.case_number == f"CASE-{second.id:06d}"
    assert (first.stage, first.stage_key, first.status) == ("intake", "intake-1", "open")


def test_lookup_is_forgiving_of_case_but_not_of_unknown_numbers(
    session: Session, case: Case
) -> None:
    assert cases.get_case(session, (case.case_number or "").lower()) is case
    with pytest.raises(cases.CaseNotFound, match="no case CASE-999999"):
        cases.get_case(session, "CASE-999999")


def test_listing_filters_by_stage_program_and_status(session: Session) -> None:
    housing = factories.new_case(session, Program.HOUSING)
    factories.new_case(session, Program.GERIATRIC)
    assert cases.list_cases(session, program=Program.HOUSING) == [housing]
    assert len(cases.list_cases(session, stage=Stage.INTAKE, status=CaseStatus.OPEN)) == 2
    assert cases.list_cases(session, stage=Stage.PLAN) == []


def test_only_closed_cases_reopen(session: Session, case: Case) -> None:
    with pytest.raises(cases.CaseError, match="is open"):
        cases.reopen_case(session, case, STAFF, now())
    cases.close(session, case, now())
    with pytest.raises(cases.CaseClosed):
        cases.get_open_case(session, case.case_number or "")
    cases.reopen_case(session, case, STAFF, now())
    assert (case.episode, case.status, case.stage_key) == (2, "open", "intake-1")
    assert cases.episode_of(session, case, 1).closed_at is not None
