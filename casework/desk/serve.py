"""`casework desk` (and the desk `casework up` starts): the desk app on uvicorn, on loopback
unless CASEWORK_DESK_HOST says otherwise."""

from __future__ import annotations

import sys


def serve(host: str | None, port: int | None) -> int:
    import uvicorn

    from casework.core.settings import get_settings
    from casework.desk.app import create_app

    settings = get_settings()
    host, port = host or settings.desk_host, port or settings.desk_port
    print(f"Desk: {settings.desk_address} (listening on {host}:{port})", flush=True)
    # The access log names paths only: no page puts a client's identity in its URL.
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level="info",
        server_header=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve(None, None))
