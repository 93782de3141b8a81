"""`casework up --demo N` as a newcomer runs it, then the case managers' page's commands,
as they are written, against what the demo left: its partner agency still answering
referrals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SESSION_DIR, Stack
from tests.docs import DOCS, command_blocks
from tests.polling import wait_for

pytestmark = [pytest.mark.prefect, pytest.mark.restarts_stack]

# Where each demo case's route ends (casework.demo.ROUTES, by case index).
EXPECTED = ["Assessment", "Plan", "Referral", "Monitoring", "Monitoring", "Closed"]
TABLE_ROW = re.compile(r"^  (CASE-\d{6})  (.+?)\s{2,}(\S.*)$")


def test_the_demo_moves_every_case_to_its_stage_and_the_case_managers_page_then_runs(
    running_stack: Stack, tmp_path: Path
) -> None:
    running_stack.stop()
    running_stack.start(running_stack.schedules, "--demo", str(len(EXPECTED)))
    said = running_stack.log_path.read_text()
    [partner] = re.findall(r"the demo partner agency listens at (http://\S+)", said)
    assert "Logs:" in said  # the terminal gets a summary; the runner's lines go to its log
    assert " INFO " not in said
    assert "Traceback" not in said

    def table() -> list[tuple[str, ...]]:
        rows = [m.groups() for line in said_now().splitlines() if (m := TABLE_ROW.match(line))]
        return rows if len(rows) == len(EXPECTED) else []

    def said_now() -> str:
        return running_stack.log_path.read_text()

    rows = wait_for("the demo's table", table, timeout=900, every=2)  # a busy machine: minutes
    assert [stage for _, _, stage in rows] == EXPECTED, said_now()
    assert "refused" not in said_now()
    assert "did not reach" not in said_now()

    blocks = command_blocks(DOCS / "case-managers.md")
    assert len(blocks) >= 4
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join([*blocks, 'casework show "$CASE"'])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    assert "now at referral" in out  # the referral went out to the demo partner ...
    assert re.search(r"1 case\(s\) moved on", out), out  # ... which accepted it
    assert re.search(r"\[accepted\]", out), out
    assert "now at assessment" in out  # reassessed from monitoring
    assert (tmp_path / "report.html").exists()
    assert re.search(r"^CASE-\d{6}$", out, re.MULTILINE)  # the same client, linked: a new case
    assert re.search(r"CASE-\d{6}: cm\.rivera -> cm\.park", out), out  # the transfer
    assert "consent to email messages withdrawn" in out  # messages to the client, by email
    # `casework status` exits 1 when anything needs action: other tests leave that here.
    status = subprocess.run(
        ["bash", "-c", "casework status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Deployments:" in status.stdout, status.stderr
    assert partner.startswith("http://127.0.0.1:")
    assert (SESSION_DIR / "demo-partner.json").exists()
