"""A flow the worker tests deploy on the `casework` pool: it writes down which process runs
it (and that process's parent, the template) and then waits, so a test can kill, cancel
or reschedule it while it runs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from prefect import flow

from tests.polling import alive


@flow(name="worker-probe")
def worker_probe(out: str, seconds: float = 0.0, log: str = "") -> int:
    """`log`, if given: one line per execution of this run, with the processes of its
    earlier executions that are still alive as it starts."""
    if log:
        earlier = [json.loads(line)["pid"] for line in Path(log).read_text().splitlines()]
        line = {"pid": os.getpid(), "alive": [pid for pid in earlier if alive(pid)]}
        with Path(log).open("a") as file:
            file.write(json.dumps(line) + "\n")
    Path(out).write_text(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    return os.getpid()
