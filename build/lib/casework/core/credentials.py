"""Secrets kept out of the case store, each kind in one 0600 JSON file in the data directory:
partner agencies' bearer tokens (`partner-tokens.json`, keyed by the provider's id, which is
the name the store's `providers.token_ref` holds) and the programs' webhook signing secrets
(`webhook-secrets.json`, keyed by program). Writers hold a lock and replace the file whole."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from casework.core.errors import UserError

TOKENS_FILE = "partner-tokens.json"
WEBHOOK_SECRETS_FILE = "webhook-secrets.json"
DEMO_PARTNER_FILE = "demo-partner.json"  # the port and token of `up --demo`'s partner


class TokenMissing(UserError):
    """The store names a token this machine's data directory does not hold."""


def tokens_path(name: str = TOKENS_FILE) -> Path:
    from casework.core.settings import get_settings

    return get_settings().data_dir.resolve() / name


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def local_endpoint_allowed(endpoint: str) -> bool:
    """May referrals go to `endpoint` on this machine or a private network? In dev mode; and
    otherwise only to the partner agency `casework up --demo` runs on loopback for this data
    directory (its port kept here), which the demo's directory names."""
    from casework.core.settings import get_settings

    if get_settings().dev_mode:
        return True
    demo = _read(tokens_path(DEMO_PARTNER_FILE))
    parts = urlsplit(endpoint)
    return "port" in demo and (parts.hostname, str(parts.port)) == ("127.0.0.1", demo["port"])


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def save(tokens: dict[str, str], path: Path | None = None) -> None:
    """Add or replace tokens by name; the file is 0600 whatever the umask."""
    if not tokens:
        return
    path = path or tokens_path()
    with _locked(path):
        _write(path, _read(path) | tokens)


def _write(path: Path, values: dict[str, str]) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle, indent=1, sort_keys=True)
    os.replace(partial, path)


def webhook_secret(program: str, *, rotate: bool = False) -> str:
    """The program's webhook signing secret, made on first use (or anew with `rotate`)."""
    path = tokens_path(WEBHOOK_SECRETS_FILE)
    with _locked(path):
        held = _read(path)
        if rotate or program not in held:
            held[program] = "whsec_" + secrets.token_urlsafe(32)
            _write(path, held)
        return held[program]


def names(path: Path | None = None) -> set[str]:
    """The names of the tokens this machine holds (never the tokens)."""
    return set(_read(path or tokens_path()))


def token(name: str, path: Path | None = None) -> str:
    path = path or tokens_path()
    found = _read(path).get(name)
    if found is None:
        raise TokenMissing(
            f"provider {name}: no token in {path}; import the provider file on this machine"
        )
    return found
