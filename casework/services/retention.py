"""What the Prefect server keeps: Casework's finished runs are deleted once they are older
than the retention age (`CASEWORK_PREFECT_RETENTION_DAYS`), so the dashboard answers as
fast in a year as on its first day. The case store is the record; a run on the server is
how a case moves and how its work shows on the dashboard, not its history.

Never deleted: a run that drives an open case, whatever its state (a crashed one waits
for `casework repair`), and any run of a flow that is not Casework's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from casework.core.db import session_scope
from casework.core.prefect_api import delete_runs, finished_runs
from casework.models import cases


@dataclass
class Pruned:
    runs: int = 0  # sweeps, syncs, reports, briefs, reassessments
    case_runs: int = 0  # closed cases' runs, and earlier episodes'
    kept: int = 0  # finished case runs kept: each drives an open case

    def __str__(self) -> str:
        return (
            f"deleted {self.runs} finished run(s) and {self.case_runs} closed case run(s); "
            f"kept {self.kept} finished run(s) of open cases"
        )


def prune(history_flows: list[str], case_flow: str, ended_before: datetime) -> Pruned:
    """Delete the finished runs of `history_flows`, and those of `case_flow` that drive no
    open case, that ended before `ended_before`. Reads and deletes in bounded batches."""
    pruned = Pruned()
    while found := finished_runs(history_flows, ended_before, skip=[]):
        deleted = delete_runs(found)
        pruned.runs += deleted
        if not deleted:  # another prune took them a moment ago
            break
    kept: list[str] = []
    while found := finished_runs([case_flow], ended_before, skip=kept):
        with session_scope(read_only=True) as session:
            owners = cases.owners_of_runs(session, found)
        kept += [run for run in found if run in owners]
        history = [run for run in found if run not in owners]
        deleted = delete_runs(history) if history else 0
        pruned.case_runs += deleted
        if history and not deleted:
            break
    pruned.kept = len(kept)
    return pruned
