"""The provider directory: HSDS imports with the partners' referral settings, partner
tokens, and search."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.core.settings import get_settings
from casework.models.schemas import (
    ProviderOut,
)

if TYPE_CHECKING:
    from casework.models.providers import ImportReport, Search


def import_providers(
    source: Path | Any,
    *,
    partners: Any | None = None,
    directory: str = "main",
    allow_local: bool | None = None,
) -> ImportReport:
    """Import an HSDS directory (a file, folder or zip at `source`, or JSON already read)
    with the partners file's referral settings (JSON already read), as directory
    `directory`. Plain-http endpoints on loopback only in dev mode (the setting, unless
    `allow_local` says: the demo's own partner agency). A directory or partners file
    that cannot be read at all is refused whole (InputError) and nothing changes."""
    from casework.core import credentials
    from casework.models import hsds, providers

    if allow_local is None:
        allow_local = get_settings().dev_mode
    try:
        read = hsds.read(source) if isinstance(source, Path) else hsds.from_json(source)
        settings = None if partners is None else providers.read_partners(partners, allow_local)
    except (hsds.DirectoryError, providers.PartnersFileError) as exc:
        raise InputError(str(exc)) from None
    with session_scope() as session:
        report = providers.import_directory(
            session,
            read,
            partners=settings,
            name=directory,
            allow_local=allow_local,
            at=now(),
        )
        credentials.save(report.tokens)  # before the commit: no provider without its token
    held = credentials.names()
    for name in sorted(report.token_names - held):
        report.notes.append(
            f"partner {name}: no token named {name} on this machine; referrals to its "
            f"services fail until `casework providers token {name}` sets it"
        )
    return report


def set_partner_token(name: str, token: str) -> None:
    from casework.core import credentials
    from casework.models.forms import PROVIDER_CODE
    from casework.models.providers import TOKEN_LENGTH

    if not re.fullmatch(PROVIDER_CODE, name):
        raise InputError(f"{name!r} is not a token name (letters, digits, . _ -)", field="name")
    token = token.strip()
    shortest, longest = TOKEN_LENGTH
    if not shortest <= len(token) <= longest or any(ch.isspace() for ch in token):
        raise InputError(
            f"must be {shortest} to {longest} characters, without spaces, on one line",
            field="token",
        )
    credentials.save({name: token})


def provider_list(wanted: Search) -> list[ProviderOut]:
    from casework.models import providers

    with session_scope(read_only=True) as session:
        return [ProviderOut.model_validate(p) for p in providers.search(session, wanted)]


def provider(key: str) -> ProviderOut:
    from casework.models import providers

    with session_scope(read_only=True) as session:
        return ProviderOut.model_validate(providers.get(session, key))
