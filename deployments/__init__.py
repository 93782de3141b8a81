"""Every deployment and schedule, declared in one place. `casework up` serves these;
`prefect.yaml` declares the same for work pools on many machines; `casework status`
checks each of them on the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from casework.flows.case_lifecycle import case_lifecycle
from casework.flows.caseload_report import caseload_report
from casework.flows.escalation_brief import escalation_brief
from casework.flows.reassess_case import reassess_case
from casework.flows.record_retention import records_retention
from casework.flows.referral_sync import referral_status_sync
from casework.flows.retention import prefect_retention
from casework.flows.sweeps import (
    benefits_watch,
    client_messages,
    follow_up_checks,
    reassessment_cadence,
    stalled_case_sweep,
)


@dataclass(frozen=True)
class Declared:
    flow: Any
    description: str
    cron: str | None = None  # UTC; None: started by hand, by an automation or by the CLI

    @property
    def name(self) -> str:
        """Each deployment is named after its flow."""
        return str(self.flow.name)

    @property
    def full_name(self) -> str:
        return f"{self.name}/{self.name}"


DECLARED = [
    Declared(case_lifecycle, "One run per case episode; waits between stages for typed forms."),
    Declared(
        reassess_case,
        "Send a case at plan, referral or monitoring back to assessment (who asked, and why).",
    ),
    Declared(escalation_brief, "Brief the program manager on a case at escalation level 3."),
    # The scheduled work. Each also runs by hand, from the UI's run form or `casework
    # sweep`, with an `as_of` of the operator's choosing.
    Declared(stalled_case_sweep, stalled_case_sweep.description or "", "*/15 * * * *"),
    Declared(benefits_watch, benefits_watch.description or "", "0 6 * * *"),
    Declared(follow_up_checks, follow_up_checks.description or "", "30 6 * * *"),
    Declared(reassessment_cadence, reassessment_cadence.description or "", "0 7 * * *"),
    Declared(client_messages, client_messages.description or "", "*/15 * * * *"),
    Declared(referral_status_sync, referral_status_sync.description or "", "*/10 * * * *"),
    Declared(caseload_report, caseload_report.description or "", "0 5 * * *"),
    Declared(prefect_retention, prefect_retention.description or "", "45 4 * * *"),
    Declared(records_retention, records_retention.description or "", "30 5 * * 1"),
]
SCHEDULES = {d.name: d.cron for d in DECLARED if d.cron}


def build_version() -> str:
    """What this installation runs: the package's version, a digest of the versions of
    every package it needs at run time (what the lock installed), and the case store's
    migration head. Every deployment carries it; a worker serves only its own."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    wanted = [("casework", "")]  # (package, one extra of it that is asked for, or "")
    while wanted:
        name, extra = wanted.pop()
        name = canonicalize_name(name)
        if (name, extra) in done:
            continue
        done.add((name, extra))
        try:
            seen[name] = version(name)
        except PackageNotFoundError:  # not installed here, so never run here
            continue
        for text in requires(name) or []:
            needed = Requirement(text)
            if needed.marker is None or needed.marker.evaluate({"extra": extra}):
                wanted += [(needed.name, e) for e in needed.extras or {""}]
    pinned = "\n".join(f"{name}=={seen[name]}" for name in sorted(seen) if name != "casework")
    digest = hashlib.sha256(pinned.encode()).hexdigest()[:10]
    return f"{seen['casework']}+lock.{digest}+head.{migration_head()}"


def migration_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from casework.core.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(config).get_current_head())


def all_deployments(schedules: bool | None = None) -> list[RunnerDeployment]:
    """Every deployment; the scheduled ones with their crons unless `schedules` is off
    (default: CASEWORK_SCHEDULES)."""
    if schedules is None:
        from casework.core.settings import get_settings

        schedules = get_settings().schedules
    version = build_version()
    declared = [
        d.flow.to_deployment(
            name=d.name,
            description=d.description,
            cron=d.cron if schedules else None,
            tags=["casework"],
            entrypoint_type=EntrypointType.MODULE_PATH,
            version=version,
        )
        for d in DECLARED
    ]
    # Called outside an event loop, to_deployment returns deployments, not coroutines.
    return [d for d in declared if isinstance(d, RunnerDeployment)]
