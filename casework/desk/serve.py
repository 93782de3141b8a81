"""`casework desk` (and the desk `casework up` starts): the desk app on uvicorn, on loopback
unless CASEWORK_DESK_HOST says otherwise. With single sign-on (CASEWORK_SSO_ISSUER) the
same process serves the dashboard's gate on CASEWORK_DASHBOARD_PORT, in front of the
Prefect server this process's PREFECT_API_URL names."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

from casework.core.errors import UserError


def serve(host: str | None, port: int | None) -> int:
    import uvicorn

    from casework.core.settings import get_settings
    from casework.desk.app import create_app

    settings = get_settings()
    host, port = host or settings.desk_host, port or settings.desk_port
    apps: list[tuple[Any, int]] = [(create_app(), port)]
    print(f"Desk: {settings.desk_address} (listening on {host}:{port})", flush=True)
    if settings.sso_issuer:
        apps.append((_gate(), settings.dashboard_port))
        print(
            f"Dashboard: {settings.dashboard_address}/runs (signed in at the agency's provider; "
            f"listening on {host}:{settings.dashboard_port})",
            flush=True,
        )
    # The access log names paths only: no page puts a client's identity in its URL. A
    # reverse proxy on this host (the TLS one operators put in front) says who is asking
    # in X-Forwarded-For; nobody else is believed (a sign-in lock-out is by address).
    servers = [
        _Server(
            uvicorn.Config(
                app,
                host=host,
                port=at,
                log_level="info",
                server_header=False,
                proxy_headers=True,
                forwarded_allow_ips="127.0.0.1",
            )
        )
        for app, at in apps
    ]
    asyncio.run(_all(servers))
    return 0


def _gate() -> Any:
    from casework.desk.gate import create_gate

    api, credential = os.environ.get("PREFECT_API_URL"), os.environ.get("PREFECT_API_AUTH_STRING")
    if not api or not credential:
        raise UserError(
            "the dashboard's gate needs PREFECT_API_URL and the Prefect server's credential "
            "(PREFECT_API_AUTH_STRING), as `casework up` gives the desk"
        )
    return create_gate(api.removesuffix("/api"), credential)


class _Server:
    """A uvicorn server that leaves Ctrl-C and SIGTERM to `_all`, which ends them all."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self.server = Quiet(config)


async def _all(servers: list[_Server]) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for each in servers:
            each.server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    await asyncio.gather(*(each.server.serve() for each in servers))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve(None, None))
