"""The documented risk rule."""

from __future__ import annotations

import pytest

from casework.models.assessments import assess
from casework.models.codes import Priority, RiskLevel
from tests import factories


@pytest.mark.parametrize(
    ("scores", "crisis", "level", "priority"),
    [
        ({}, False, RiskLevel.LOW, Priority.P4),
        ({"food": 2}, False, RiskLevel.MEDIUM, Priority.P3),
        ({"food": 2, "housing": 2}, False, RiskLevel.MEDIUM, Priority.P3),
        ({"food": 2, "housing": 2, "legal": 2}, False, RiskLevel.HIGH, Priority.P2),
        ({"housing": 1}, False, RiskLevel.HIGH, Priority.P2),
        ({}, True, RiskLevel.CRITICAL, Priority.P1),
        ({"housing": 5, "income_benefits": 5}, True, RiskLevel.CRITICAL, Priority.P1),
    ],
)
def test_risk_level_and_priority(scores, crisis, level, priority) -> None:
    form = factories.assessment(crisis=("homeless_tonight",) if crisis else (), **scores)
    assert assess(form)[1:] == (level, priority)


def test_strengths_never_lower_risk() -> None:
    form = factories.assessment(housing=1).model_copy(update={"strengths": ["family_support"] * 3})
    assert assess(form)[1] is RiskLevel.HIGH
