"""Every deployment `casework up` serves, and the sweeps' schedules."""

from __future__ import annotations

from pathlib import Path

from casework.deployments import SCHEDULES, all_deployments


def test_the_sweeps_run_on_cron_unless_schedules_are_off() -> None:
    scheduled = {
        d.name: [s.schedule.cron for s in d.schedules]  # type: ignore[union-attr]
        for d in all_deployments(schedules=True)
    }
    assert scheduled == {
        "case-lifecycle": [],
        "reassess-case": [],
        "escalation-brief": [],
        **{name: [cron] for name, cron in SCHEDULES.items()},
    }
    assert SCHEDULES["stalled-case-sweep"] == "*/15 * * * *"
    assert all(not d.schedules for d in all_deployments(schedules=False))


def test_prefect_yaml_declares_the_same_deployments_for_work_pools() -> None:
    import yaml

    path = Path(__file__).resolve().parent.parent / "prefect.yaml"
    declared = {
        d["name"]: (
            d["entrypoint"].replace(":", "."),
            [s["cron"] for s in d.get("schedules", [])],
            d["description"],
        )
        for d in yaml.safe_load(path.read_text())["deployments"]
    }
    served = {
        d.name: (
            d.entrypoint,  # module path: flows.sweeps.benefits_watch
            [s.schedule.cron for s in d.schedules],  # type: ignore[union-attr]
            " ".join((d.description or "").split()),  # the flow's docstring, as one line
        )
        for d in all_deployments(schedules=True)
    }
    assert declared == served


def test_the_cli_finds_each_sweeps_deployment_by_its_watch() -> None:
    from casework.deployments import DECLARED
    from casework.flows.sweeps import SWEEPS
    from casework.services.sweeps import WATCH_DEPLOYMENTS

    declared = {d.full_name for d in DECLARED}
    for watch, flow in SWEEPS.items():
        assert WATCH_DEPLOYMENTS[watch] == f"{flow.name}/{flow.name}"
        assert WATCH_DEPLOYMENTS[watch] in declared


def test_status_asks_about_every_declared_deployment_and_no_other() -> None:
    """`casework status` names the deployments without importing the flows: the list it
    uses is the declaration's, in order."""
    from casework.core.prefect_api import DEPLOYMENTS
    from casework.deployments import DECLARED

    assert DEPLOYMENTS == [d.full_name for d in DECLARED]
