"""The files Casework writes. The data directory is its owner's alone (0700, files 0600,
whatever the umask), and nothing a command writes replaces a file that is already there
unless the user says `--force`, nor ever lands on the data directory's own files."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from casework.core.errors import UserError

PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class FileRefused(UserError):
    """A file cannot be written where the user asked: the message says why and what to do."""


def make_private(data_dir: Path) -> None:
    """From here on this process and every process it starts (the Prefect server, the
    runner, flow runs) create files for their owner only; the data directory is made 0700."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def exposed(data_dir: Path) -> list[Path]:
    """Paths in the data directory that anyone but its owner can read, write or enter."""
    found = []
    for root, dirs, files in os.walk(data_dir):
        for name in [".", *dirs, *files]:
            path = Path(root) / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue  # gone meanwhile (a SQLite -shm file, a temporary file)
            if not stat.S_ISLNK(mode) and mode & 0o077:
                found.append(path if name != "." else Path(root))
    return found


def check_private(data_dir: Path) -> None:
    """Refuse to serve a data directory that other local users can read."""
    if found := exposed(data_dir):
        raise FileRefused(
            f"CASEWORK_DATA_DIR: {data_dir} is readable by other users ({len(found)} path(s), "
            f"e.g. {found[0]}); make it private with `chmod -R go-rwx {data_dir}` and start again"
        )


# What is written: text, bytes (a PDF), or a writer that streams into the open file (an
# export of 100,000 rows never held whole).
Content = str | bytes | Callable[[BinaryIO], None]


def create_new(path: Path, content: Content) -> None:
    """Write a file that must not exist yet (a document's own name), for its owner only."""
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as handle:
        if isinstance(content, str):
            handle.write(content.encode())
        elif isinstance(content, bytes):
            handle.write(content)
        else:
            content(handle)


def write_out(
    path: Path, content: Content, *, option: str, force: bool, protected: list[Path]
) -> Path:
    """Write `content` where the user asked (`--out`, `--html`). An existing file is replaced
    only with `force`, and then whole (a reader never sees half of it); nothing is written
    inside the `protected` directories or onto the `protected` files."""
    target = path.expanduser().resolve()
    for place in protected:
        place = place.resolve()
        if target == place or place in target.parents:
            raise FileRefused(
                f"{option}: {target} is inside Casework's data ({place}); write elsewhere"
            )
    if target.is_dir():
        raise FileRefused(f"{option}: {target} is a directory; name a file")
    if target.exists() and not target.is_file():
        # A device, a pipe or a socket: --force replaces files, never those.
        raise FileRefused(f"{option}: {target} is not a regular file; name a file")
    if target.exists() and not force:
        raise FileRefused(f"{option}: {target} already exists; give --force to replace it")
    # Written beside the target first, then put in place whole: a reader never sees half
    # of it, and a write that fails midway (a refused export, a full disk) leaves nothing.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        create_new(partial, content)
        if force:
            os.replace(partial, target)
        else:
            os.link(partial, target)  # never over a file that appeared meanwhile
    except FileExistsError:
        raise FileRefused(
            f"{option}: {target} already exists; give --force to replace it"
        ) from None
    except OSError as exc:
        raise FileRefused(f"{option}: cannot write {target}: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def protected_paths() -> list[Path]:
    """The data directory and, when the store is a SQLite file elsewhere, that file's family."""
    from casework.core.settings import get_settings

    settings = get_settings()
    places = [settings.data_dir]
    url = settings.store_url
    if url.startswith("sqlite") and (store := url.split("///", 1)[-1]) not in ("", ":memory:"):
        places += [Path(store + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    return places
