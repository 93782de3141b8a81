"""A flow the worker tests deploy on the `casework` pool: it writes down which process runs
it (and that process's parent, the template) and then waits, so a test can kill or cancel
it while it runs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from prefect import flow


@flow(name="worker-probe")
def worker_probe(out: str, seconds: float = 0.0) -> int:
    Path(out).write_text(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    return os.getpid()
