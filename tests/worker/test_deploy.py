"""`casework deploy` pointed at a server that is not there: one line naming it, and not
`casework up`. The rest of `casework deploy` (the pool, every deployment with nothing naming
this machine's paths and no secret, the automations before any worker polled, idempotence,
`casework status` naming missing automations, a worker refusing another version's
deployments) is checked against a Prefect server of its own by deploy/walkthrough.py,
which `.ci/run` runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import unconfigured_env


def test_deploy_names_the_server_it_cannot_reach(tmp_path: Path) -> None:
    env = unconfigured_env()
    env |= {"PREFECT_API_URL": "http://127.0.0.1:9/api", "CASEWORK_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "casework", "deploy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Prefect server at http://127.0.0.1:9/api is not answering" in done.stderr
    assert "casework up" not in done.stderr
