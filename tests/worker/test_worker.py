"""The Casework worker, as `casework up` runs it: each flow run is a real child process of a
template that imported Prefect and the project once. A child killed mid-run is seen as
Crashed, a run cancelled mid-run has its process ended and is Cancelled, and the template is
replaced after its quota of runs and when the project's code changes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from casework.core import prefect_api
from casework.template import is_template_process
from tests.conftest import SESSION_DIR
from tests.polling import wait_for
from tests.worker.probe_flow import worker_probe

pytestmark = pytest.mark.prefect


def _deploy(runs_per_template: int | None = None) -> str:
    """The probe on the `casework` pool (the one `casework up` serves); its deployment name."""
    name = f"probe-{runs_per_template or 'default'}"
    variables = {"runs_per_template": runs_per_template} if runs_per_template else {}
    deployment = worker_probe.to_deployment(name=name, job_variables=variables)
    deployment.apply(work_pool_name="casework")  # type: ignore[union-attr]
    return f"worker-probe/{name}"


def _start(deployment: str, seconds: float, **parameters: Any) -> tuple[str, Path]:
    out = SESSION_DIR / f"probe-{os.urandom(4).hex()}.json"
    run_id = prefect_api.start_sweep(deployment, out=str(out), seconds=seconds, **parameters)
    return run_id, out


def _process(out: Path) -> dict[str, Any]:
    return wait_for("the probe's process to start", lambda: out.exists() and out.read_text(), 120)


def _state(run_id: str) -> str:
    return prefect_api.read_run(run_id).state_type


def test_each_run_is_its_own_child_of_a_template(stack: str) -> None:
    deployment = _deploy()
    first_id, first_out = _start(deployment, 0)
    second_id, second_out = _start(deployment, 0)
    first, second = json.loads(_process(first_out)), json.loads(_process(second_out))
    assert first["pid"] != second["pid"]
    assert first["ppid"] == second["ppid"], "both forked from the same template"
    assert is_template_process(first["ppid"])
    for run_id in (first_id, second_id):
        wait_for("the run to complete", lambda r=run_id: _state(r) == "COMPLETED")  # type: ignore[misc]
        # The worker's reads of the deployment and flow come from its cache after the
        # first; the run is labelled with the worker and pool all the same.
        labels = _labels(run_id)
        assert labels.get("prefect.work-pool.name") == "casework"
        assert labels.get("prefect.worker.type") == "casework"


def _labels(run_id: str) -> dict[str, Any]:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return dict(client.read_flow_run(UUID(run_id)).labels)


def test_a_child_killed_mid_run_is_crashed_and_the_worker_goes_on(stack: str) -> None:
    deployment = _deploy()
    run_id, out = _start(deployment, 120)
    pid = json.loads(_process(out))["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for("the worker to report the run crashed", lambda: _state(run_id) == "CRASHED")
    assert "-9" in (prefect_api.read_run(run_id).state_message or "")
    after_id, after_out = _start(deployment, 0)
    _process(after_out)
    wait_for("the next run to complete", lambda: _state(after_id) == "COMPLETED")


def test_a_run_cancelled_mid_run_has_its_process_ended(stack: str) -> None:
    deployment = _deploy()
    run_id, out = _start(deployment, 120)
    pid = json.loads(_process(out))["pid"]
    prefect_api.prefect_client().set_flow_run_state(  # what the UI's Cancel button does
        run_id,  # type: ignore[arg-type]
        _cancelling(),
    )
    wait_for("the run to be cancelled", lambda: _state(run_id) == "CANCELLED", 90)
    wait_for("its process to be gone", lambda: not Path(f"/proc/{pid}").exists(), 60)


def test_a_run_scheduled_again_while_its_process_lives_waits_for_that_process(
    stack: str,
) -> None:
    """A case resumed within a second of suspending is Scheduled again before the process
    that suspended it has exited. The worker must neither run it in a second process at
    the same time nor stop (Prefect's worker, asked to take a second slot for one run,
    raised and ended `casework up`). Here the run is put back to Scheduled while its
    process still runs, for longer than the worker's regular poll."""
    deployment = _deploy()
    log = SESSION_DIR / f"probe-{os.urandom(4).hex()}.log"
    log.touch()
    run_id, out = _start(deployment, 15, log=str(log))
    first = json.loads(_process(out))["pid"]
    prefect_api.reschedule(run_id)
    wait_for("the first process to exit", lambda: not Path(f"/proc/{first}").exists(), 120)
    after_id, after_out = _start(deployment, 0)
    _process(after_out)
    wait_for("a later run to complete: the worker goes on", lambda: _state(after_id) == "COMPLETED")
    executions = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["alive"] for e in executions] == [[]] * len(executions), executions


def _cancelling() -> Any:
    from prefect.states import Cancelling

    return Cancelling()


def test_the_template_is_replaced_after_its_runs_and_after_a_code_change(stack: str) -> None:
    once = _deploy(runs_per_template=1)
    parents = []
    for _ in range(2):
        run_id, out = _start(once, 0)
        parents.append(json.loads(_process(out))["ppid"])
        wait_for("the run to complete", lambda r=run_id: _state(r) == "COMPLETED")  # type: ignore[misc]
    assert parents[0] != parents[1], "a template that ran its one run is replaced"

    deployment = _deploy()
    run_id, out = _start(deployment, 0)
    before = json.loads(_process(out))["ppid"]
    wait_for("the run to complete", lambda: _state(run_id) == "COMPLETED")
    source = Path(__file__).resolve().parents[2] / "flows" / "__init__.py"
    os.utime(source)  # a deploy: the project's source is newer than the template
    run_id, out = _start(deployment, 0)
    after = json.loads(_process(out))["ppid"]
    assert after != before, "a template older than the code is replaced"
    wait_for("the run to complete", lambda: _state(run_id) == "COMPLETED")
    wait_for("the old template to end", lambda: not is_template_process(before), 60)


def test_handing_over_a_form_does_not_import_prefect() -> None:
    """`casework submit` speaks Prefect's REST API itself: importing Prefect's engine costs
    a case manager's command seconds of CPU."""
    probe = "import sys, casework.cli, casework.services, casework.core.prefect_api; " + (
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
