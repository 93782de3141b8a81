"""A file scanned by the agency's ClamAV daemon (`clamd`) before it is kept, over its
INSTREAM command (clamd's own protocol: the file in length-prefixed chunks, a zero-length
chunk to end; one line back, `stream: OK` or `stream: <signature> FOUND`). A small client
of our own: the Python clients on the package index (clamd, pyclamd) are unmaintained, and
the protocol is these few lines."""

from __future__ import annotations

import socket
import struct

from casework.core.errors import UserError

CHUNK = 64 * 1024
TIMEOUT_SECONDS = 60.0


class ScannerUnavailable(UserError):
    """The configured scanner did not answer: nothing is kept unscanned."""


def _connect(address: str) -> socket.socket:
    kind, _, where = address.partition(":")
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT_SECONDS)
        sock.connect(where)
        return sock
    host, _, port = where.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=TIMEOUT_SECONDS)


def scan(address: str, data: bytes) -> str | None:
    """The signature clamd at `address` finds in `data`, or None when it finds none."""
    try:
        with _connect(address) as sock:
            sock.sendall(b"zINSTREAM\0")
            for start in range(0, len(data), CHUNK):
                chunk = data[start : start + CHUNK]
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                got = sock.recv(4096)
                if not got:
                    break
                reply += got
    except OSError as exc:
        raise ScannerUnavailable(
            f"the malware scanner (CASEWORK_CLAMD={address}) did not answer ({exc}); "
            "nothing was attached"
        ) from None
    said = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    if said.endswith("FOUND"):
        return said.removeprefix("stream:").removesuffix("FOUND").strip()
    if said.endswith("OK"):
        return None
    raise ScannerUnavailable(f"the malware scanner answered {said!r}; nothing was attached")
