"""Files kept encrypted at rest: attachments are sealed with Fernet (AES-128-CBC and
HMAC-SHA256, from `cryptography`) before they reach the case store, and opened only on
their way to someone allowed to read them. The keys live outside the store, in a 0600 file
(`attachment-keys` in the data directory, or CASEWORK_ATTACHMENT_KEYS_FILE), one per line,
newest first: the newest seals, any of them opens. Rotating adds a new key at the top; the
files sealed with an older one are sealed again with it (`casework attachment-keys
--rotate`), and the older key may then be dropped. A store copied without the key file
holds no readable file."""

from __future__ import annotations

import fcntl
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from casework.core.errors import UserError

KEYS_FILE = "attachment-keys"


class KeyMissing(UserError):
    """A file cannot be opened with any key this machine holds."""


def keys_path() -> Path:
    from casework.core.settings import get_settings

    settings = get_settings()
    return (settings.attachment_keys_file or settings.data_dir.resolve() / KEYS_FILE).resolve()


def _keys(create: bool) -> list[bytes]:
    """The keys, newest first; with `create`, a first key made if there is none."""
    path = keys_path()
    if create and not path.exists():
        from casework.core.files import create_new

        try:  # for its owner only, in a private folder
            create_new(path, Fernet.generate_key() + b"\n")
        except FileExistsError:  # another command made it a moment ago: use that one
            pass
    try:
        return path.read_bytes().split()
    except FileNotFoundError:
        return []


def _fernet(create: bool) -> MultiFernet:
    keys = _keys(create)
    if not keys:
        raise KeyMissing(
            f"no attachment key at {keys_path()}: copy the key file from the machine that "
            "attached the files (CASEWORK_ATTACHMENT_KEYS_FILE)"
        )
    return MultiFernet([Fernet(key) for key in keys])


def seal(data: bytes) -> bytes:
    """`data` encrypted with the newest key (one made on first use)."""
    return _fernet(create=True).encrypt(data)


def unseal(token: bytes) -> bytes:
    """The file sealed in `token`, with whichever key sealed it."""
    try:
        return _fernet(create=False).decrypt(token)
    except InvalidToken:
        raise KeyMissing(
            f"none of the keys in {keys_path()} opens this file: the key that sealed it is "
            "missing (copy it from the machine that attached it)"
        ) from None


def fingerprint() -> str:
    """Which key seals now: the first characters of a hash of it (never the key)."""
    import hashlib

    return hashlib.sha256(_keys(create=True)[0]).hexdigest()[:12]


def add_key() -> None:
    """A new newest key, the older ones kept below it (they still open what they sealed)."""
    path = keys_path()
    _keys(create=True)
    with path.open("r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        old = handle.read()
        handle.seek(0)
        handle.write(Fernet.generate_key() + b"\n" + old)
        handle.truncate()


def reseal(token: bytes) -> bytes:
    """`token` sealed again with the newest key (rotation)."""
    return _fernet(create=False).rotate(token)
