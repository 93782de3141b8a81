"""What lies on disk, read the one safe way for a live SQLite store."""

from __future__ import annotations

import subprocess
from pathlib import Path


def bytes_on_disk(*paths: Path) -> bytes:
    """The bytes of `paths` (those that exist), read by another process.

    This process holds connections to the session's SQLite store. Opening one of its files
    here and closing it again drops every POSIX lock this process holds on that file
    (SQLite's "How To Corrupt An SQLite Database File", 2.2). Another process closing its
    last connection then believes it is alone, checkpoints, and deletes the write-ahead log
    under this one's feet: the rows written since are lost and the store reads as malformed.
    The suite did exactly that once, late in a session."""
    present = [str(p) for p in paths if p.exists()]
    if not present:
        return b""
    return subprocess.run(["cat", *present], capture_output=True, check=True, timeout=60).stdout
