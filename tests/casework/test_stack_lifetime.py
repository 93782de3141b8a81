"""`up` owns its server's lifetime: the server it starts dies with it, however it dies
(kill -9 included), and a server an earlier `up` left behind for the same data directory
is ended before a new one starts, while a running `up` is never taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from casework.core.errors import StackError
from casework.core.settings import STACK_FILE
from casework.stack import end_orphan
from tests.polling import alive, wait_for

PARENT = """
import subprocess, sys, time
from casework.stack import tied_to_this_process
child = subprocess.Popen(tied_to_this_process(["-c", "import time; time.sleep(600)"]))
print(child.pid, flush=True)
time.sleep(600)
"""


def test_what_up_starts_dies_with_it_even_on_kill_9() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    wait_for("the child to run its own program", lambda: b"sleep" in _cmdline(child), 30)
    parent.kill()
    parent.wait()
    wait_for("the child to end with its parent", lambda: not alive(child), 30)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _sleeper(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", *argv], env=env)


def test_an_orphaned_server_of_this_data_dir_is_ended(tmp_path: Path) -> None:
    gone = _sleeper()
    gone.kill()
    gone.wait()
    orphan = _sleeper(env={**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")})
    stranger = _sleeper(env={**os.environ, "PREFECT_HOME": "/elsewhere/prefect"})
    try:
        (tmp_path / STACK_FILE).write_text(
            json.dumps({"api_url": "x", "pid": gone.pid, "server_pid": stranger.pid})
        )
        end_orphan(tmp_path)
        assert stranger.poll() is None, "another data directory's server is left alone"

        (tmp_path / STACK_FILE).write_text(
            json.dumps({"api_url": "x", "pid": gone.pid, "server_pid": orphan.pid})
        )
        end_orphan(tmp_path)
        assert orphan.wait(timeout=30) == -signal.SIGTERM
    finally:
        for process in (orphan, stranger):
            process.kill()
            process.wait()


def test_a_running_up_of_this_data_dir_is_not_taken_over(tmp_path: Path) -> None:
    up = _sleeper("casework", "up")
    try:
        wait_for("the stand-in to start", lambda: b"casework" in _cmdline(up.pid), 30)
        (tmp_path / STACK_FILE).write_text(
            json.dumps({"api_url": "x", "pid": up.pid, "server_pid": None})
        )
        with pytest.raises(StackError, match=f"already running for {tmp_path} \\(pid {up.pid}\\)"):
            end_orphan(tmp_path)
    finally:
        up.kill()
        up.wait()
