"""Counts the HTTP requests each process makes, for bench/lifecycle.py. Active only when
CASEWORK_BENCH_PROBE names a directory and this directory is on PYTHONPATH: then every
request a process sends (through httpx) is one line, "METHOD /path", in
<dir>/<role>-<pid>.log, where role is "flowrun" in a flow run's process (one with
PREFECT__FLOW_RUN_ID set), else "other"."""

from __future__ import annotations

import os
import re

_DIR = os.environ.get("CASEWORK_BENCH_PROBE")
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _note(request: object) -> None:
    role = "flowrun" if os.environ.get("PREFECT__FLOW_RUN_ID") else "other"
    method = getattr(request, "method", "?")
    path = _ID.sub("{id}", str(getattr(getattr(request, "url", None), "path", "?")))
    where = ""
    if os.environ.get("CASEWORK_BENCH_PROBE_STACK"):  # who asked: the frames outside httpx
        import traceback

        frames = [
            f"{f.filename.split('site-packages/')[-1]}:{f.lineno}:{f.name}"
            for f in traceback.extract_stack()[:-3]
            if "httpx" not in f.filename and "asyncio" not in f.filename
        ]
        where = "  <- " + " <- ".join(reversed(frames[-8:]))
    with open(os.path.join(str(_DIR), f"{role}-{os.getpid()}.log"), "a") as log:
        log.write(f"{method} {path}{where}\n")


if _DIR:
    import httpx

    _send, _asend = httpx.Client.send, httpx.AsyncClient.send

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        _note(request)
        return _send(self, request, **kwargs)

    async def asend(self, request, **kwargs):  # type: ignore[no-untyped-def]
        _note(request)
        return await _asend(self, request, **kwargs)

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
