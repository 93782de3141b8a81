"""Waiting in tests for what happens in the background (a run on the runner, an event
landing): poll until `check` gives something truthy, fail with `what` after `timeout`.
The limit is generous (three minutes by default): it only bounds a failure, and a machine
whose cores are busy with other work is slow, not wrong."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T], timeout: float = 180, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return result


def alive(pid: int) -> bool:
    """Whether process `pid` is running: not gone, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
