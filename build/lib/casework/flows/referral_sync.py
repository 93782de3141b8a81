"""Closing the referral loop: ask every provider for the status of its open referrals
(one HTTP client per provider, a few providers at a time), record each change with its
time, and resume the cases whose partners have all answered (or refused)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from casework.core.db import session_scope
from casework.flows.sweeps import dated_run_name
from casework.models import referrals
from casework.tasks.referrals import Change, sync_provider

PROVIDERS_AT_ONCE = 4


@task(name="sync-provider", cache_policy=NO_CACHE, persist_result=False)
def sync_one(provider_key: str, references: list[str]) -> list[Change]:
    return sync_provider(provider_key, references)


@flow(
    name="referral-status-sync",
    flow_run_name=dated_run_name,
    persist_result=False,
    task_runner=ThreadPoolTaskRunner(max_workers=PROVIDERS_AT_ONCE),  # type: ignore[arg-type]
)
def referral_status_sync() -> dict[str, int]:
    """Poll the partners for the referrals they have not finished with."""
    from casework import services

    with session_scope(read_only=True) as session:
        grouped = referrals.open_by_provider(session)
    futures = [sync_one.submit(key, refs) for key, refs in grouped.items()]
    changes = [change for future in futures for change in future.result()]
    with session_scope(read_only=True) as session:
        waiting = referrals.waiting_cases(session)
    resumed = services.referrals.resume_answered(
        waiting
    )  # only those whose answers are all in (or one refused)
    rows: list[dict[str, Any]] = [asdict(change) for change in changes]
    rows += [{"reference": "", "provider": "", "old": "", "new": f"{n} moved on"} for n in resumed]
    create_table_artifact(
        rows or [{"reference": "", "provider": "", "old": "", "new": "no changes"}],
        key="referral-status-sync",
        description=f"{sum(map(len, grouped.values()))} open referral(s) at {len(grouped)} "
        f"provider(s): {len(changes)} changed, {len(resumed)} case(s) moved on",
    )
    get_run_logger().info(
        "%s provider(s) asked, %s change(s), cases moved on: %s",
        len(grouped),
        len(changes),
        ", ".join(resumed) or "none",
    )
    return {"providers": len(grouped), "changes": len(changes), "resumed": len(resumed)}
