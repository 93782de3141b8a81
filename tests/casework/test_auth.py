"""Who may talk to the Prefect server: only who holds the data directory's credential."""

from __future__ import annotations

import stat

import httpx
import pytest

from casework import services
from casework.core.settings import CREDENTIAL_FILE
from casework.models.codes import Stage
from tests import factories
from tests.conftest import SESSION_DIR
from tests.prefect_surfaces import api_post

pytestmark = pytest.mark.prefect


def test_the_prefect_api_refuses_a_caller_without_the_credential(stack: str) -> None:
    case_number = factories.case_in_monitoring()
    run = factories.where_it_waits(case_number).flow_run_id
    # What an unprivileged local user did before: close a case under a supervisor's name.
    forged = {"run_input": {"submitted_by": "sup.housing", "decision": "close"}}
    anonymous = httpx.post(f"{stack}/flow_runs/{run}/resume", json=forged, timeout=30)
    assert anonymous.status_code == 401
    assert httpx.post(f"{stack}/flow_runs/filter", json={}, timeout=30).status_code == 401
    wrong = {"Authorization": "Basic Y2FzZXdvcms6Z3Vlc3M="}  # casework:guess
    refused = httpx.post(f"{stack}/flow_runs/filter", json={}, headers=wrong, timeout=30)
    assert refused.status_code == 401
    # Health stays open (for probes); the credential opens the rest.
    assert httpx.get(f"{stack}/health", timeout=30).status_code == 200
    [found] = api_post(stack, "flow_runs/filter", {"flow_runs": {"id": {"any_": [run]}}})
    assert found["state"]["type"] == "PAUSED"
    assert services.cases.show(case_number).stage == Stage.MONITORING

    credential = SESSION_DIR / CREDENTIAL_FILE
    assert stat.S_IMODE(credential.stat().st_mode) == 0o600
