"""`casework deploy` against a Prefect server of its own (not the session's): the work pool
of our worker type, every deployment on it with no pull step naming this machine's
directories, and the level-3 automation, all before any worker has polled; run twice, it
changes nothing the second time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from casework.automations import AUTOMATIONS
from deployments import DECLARED

pytestmark = [pytest.mark.prefect, pytest.mark.restarts_stack]  # a second server: run late


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server on loopback with a home of its own, as an agency's shared one."""
    home = tmp_path_factory.mktemp("shared-prefect")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CASEWORK_"))}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = home / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "casework.prefect_server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert server.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    try:
        yield api
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _deploy(api: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`casework deploy` as an operator runs it on a machine of their own: schedules on,
    the default pool, no case store here."""
    return _run(api, data_dir, "deploy")


def _casework(api: str, data_dir: Path, *argv: str, **popen: object) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CASEWORK_"))}
    env |= {"PREFECT_API_URL": api, "CASEWORK_DATA_DIR": str(data_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "casework", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def _run(api: str, data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    process = _casework(api, data_dir, *argv)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_deploy_puts_pool_deployments_and_automation_on_a_shared_server(
    shared_server: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "operator"
    data_dir.mkdir()
    assert _run(shared_server, data_dir, "migrate").returncode == 0  # the case store
    before = _run(shared_server, data_dir, "status", "--json")
    assert before.returncode == 1, before.stderr
    missing = [a for a in json.loads(before.stdout)["actions"] if a.startswith("automation(s)")]
    assert missing == [
        f"automation(s) {', '.join(AUTOMATIONS)} not on the server: level-3 briefs and "
        "lost-run recovery do not happen; run `casework deploy`"
    ]
    first = _deploy(shared_server, data_dir)
    assert first.returncode == 0, first.stderr
    assert "Work pool casework (type casework): created." in first.stdout
    assert f"Deployments: {len(DECLARED)} on casework (6 on their schedules)." in first.stdout
    assert (
        "Automations: casework-level-3-escalation created, casework-lost-runs created, "
        "casework-crashed-case-runs created." in first.stdout
    )
    assert "`casework worker --pool casework`" in first.stdout

    with httpx.Client(base_url=shared_server + "/", timeout=30) as api:
        pool = api.get("work_pools/casework").json()
        assert pool["type"] == "casework"
        found = api.post("deployments/filter", json={}).json()
        assert {d["name"] for d in found} == {d.name for d in DECLARED}
        for deployment in found:
            assert deployment["work_pool_name"] == "casework"
            # Runs import the installed package: nothing names the deploying machine's paths.
            assert not deployment["pull_steps"], deployment["pull_steps"]
            assert str(tmp_path) not in str(deployment)
            assert "/work/" not in str(deployment["entrypoint"])
            # No secret in what the UI shows of a deployment or its pool.
            shown = str(deployment["job_variables"]) + str(pool["base_job_template"])
            assert "postgresql" not in shown
            assert "DATABASE_URL" not in shown
            assert "AUTH_STRING" not in shown
        sweep = next(d for d in found if d["name"] == "stalled-case-sweep")
        assert [s["schedule"]["cron"] for s in sweep["schedules"]] == ["*/15 * * * *"]
        brief = next(d for d in found if d["name"] == "escalation-brief")
        [automation] = api.post(
            "automations/filter",
            json={"automations": {"name": {"any_": ["casework-level-3-escalation"]}}},
        ).json()
        assert automation["actions"][0]["deployment_id"] == brief["id"]
        [lost] = api.post(
            "automations/filter", json={"automations": {"name": {"any_": ["casework-lost-runs"]}}}
        ).json()
        # Prefect's zombie-run automation, for our flows only, at the default 90 s.
        assert lost["trigger"]["within"] == 90
        assert lost["trigger"]["match_related"]["prefect.resource.name"] == sorted(
            d.name for d in DECLARED
        )
        assert lost["actions"][0]["state"] == "CRASHED"
        # No worker has polled this server: the automation did not need one.
        assert api.post("work_pools/casework/workers/filter", json={}).json() == []

    after = _run(shared_server, data_dir, "status", "--json")
    assert not [a for a in json.loads(after.stdout)["actions"] if a.startswith("automation(s)")]

    again = _deploy(shared_server, data_dir)
    assert again.returncode == 0, again.stderr
    assert "Work pool casework (type casework): up to date." in again.stdout
    assert "casework-level-3-escalation updated" in again.stdout
    with httpx.Client(base_url=shared_server + "/", timeout=30) as api:
        assert len(api.post("deployments/filter", json={}).json()) == len(DECLARED)
        automations = api.post(
            "automations/filter",
            json={"automations": {"name": {"any_": list(AUTOMATIONS)}}},
        ).json()
        assert sorted(a["name"] for a in automations) == sorted(AUTOMATIONS)


def test_deploy_names_the_server_it_cannot_reach(tmp_path: Path) -> None:
    done = _deploy("http://127.0.0.1:9/api", tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Prefect server at http://127.0.0.1:9/api is not answering" in done.stderr
    assert "casework up" not in done.stderr


def test_a_worker_refuses_deployments_another_installation_made(
    shared_server: str, tmp_path: Path
) -> None:
    """The pool's deployments carry the version, lock and migration head they were deployed
    from; a worker of another installation says so in one line and serves nothing."""
    from tests.polling import wait_for

    data_dir = tmp_path / "host-b"
    data_dir.mkdir()
    assert _deploy(shared_server, data_dir).returncode == 0
    assert _casework(shared_server, data_dir, "migrate").wait(120) == 0
    with httpx.Client(base_url=shared_server + "/", timeout=30) as api:
        deployed = api.post("deployments/filter", json={}).json()
        assert all("+lock." in d["version"] and "+head." in d["version"] for d in deployed)
        # The same installation: it serves (it polls the pool).
        worker = _casework(shared_server, data_dir, "worker", "--pool", "casework")
        try:
            wait_for(
                "the worker to poll",
                lambda: api.post("work_pools/casework/workers/filter", json={}).json(),
                timeout=120,
            )
        finally:
            worker.send_signal(2)
            worker.wait(60)
        # A deployment made by another installation: refused before anything runs.
        sweep = next(d for d in deployed if d["name"] == "stalled-case-sweep")
        other = "0.0.9+lock.0000000000+head.0001"
        assert api.patch(f"deployments/{sweep['id']}", json={"version": other}).is_success
        refused = _casework(shared_server, data_dir, "worker", "--pool", "casework")
        out, err = refused.communicate(timeout=120)
        assert refused.returncode == 1, out + err
        assert err.count("\n") == 1, err
        assert f"stalled-case-sweep deployed from {other}, and this worker is 0.1.0" in err
        assert "run `casework deploy` from this one" in err
    assert _deploy(shared_server, data_dir).returncode == 0  # put back as it was
