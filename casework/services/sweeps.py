"""The scheduled sweeps, as the services start them."""

from __future__ import annotations

from casework.core.prefect_api import (
    BENEFITS_DEPLOYMENT,
    CADENCE_DEPLOYMENT,
    FOLLOW_UPS_DEPLOYMENT,
    SWEEP_DEPLOYMENT,
)
from models.codes import Watch

# The sweeps' deployments, by watch (flows/sweeps.py names the flows; a test keeps them so).
WATCH_DEPLOYMENTS = {
    Watch.STALLED_CASES: SWEEP_DEPLOYMENT,
    Watch.BENEFITS: BENEFITS_DEPLOYMENT,
    Watch.FOLLOW_UPS: FOLLOW_UPS_DEPLOYMENT,
    Watch.REASSESSMENTS: CADENCE_DEPLOYMENT,
}
