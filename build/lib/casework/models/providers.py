"""The provider directory: partner agencies' services, imported from Open Referral (HSDS
3.0) directories as agencies publish them (`models.hsds` reads them), with what a referral
needs and HSDS does not carry beside them, in a partners file: our service category and
eligible programs, the referral endpoint, the token by name, the response window, capacity
or waitlist. A service no partner entry names is directory-only: listed and searchable, and
a referral to it is made and tracked by hand. A file's own `x-casework` object on a service
still works. Re-importing a directory updates it in place; a service gone from it is
marked inactive; a malformed entry is reported by position and skipped, the rest import."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv6Address, ip_address
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models import hsds
from casework.models.cases import CaseError
from casework.models.codes import Program, ServiceCategory
from casework.models.forms import ProviderCode, describe_error
from casework.models.orm import Provider

X_CASEWORK = "x-casework"
MAIN = "main"  # the directory a provider belongs to unless `--directory` names another


class ProviderNotFound(CaseError):
    pass


class PartnersFileError(UserError, ValueError):
    """The partners file as a whole is refused (one line), and nothing is imported."""


class ReferralSettings(BaseModel):
    """What sending a referral to a service needs: `x-casework` on a service in the
    file, or an entry of the partners file (which also says which services it covers)."""

    model_config = ConfigDict(extra="forbid")

    category: ServiceCategory
    programs: list[Program] = Field(min_length=1)
    referral_endpoint: HttpUrl | None = None
    response_days: int | None = Field(default=None, gt=0, le=90)
    capacity: int | None = Field(default=None, ge=0, le=100_000)  # places offered
    waitlist: bool = False


TOKEN_LENGTH = (8, 200)  # a partner's bearer token, however it is given


class CaseworkExtension(ReferralSettings):
    referral_endpoint: HttpUrl
    token: str = Field(min_length=TOKEN_LENGTH[0], max_length=TOKEN_LENGTH[1])
    response_days: int | None = Field(default=10, gt=0, le=90)


class Partner(ReferralSettings):
    name: ProviderCode  # ours, for the agreement with the agency
    services: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)
    taxonomy_terms: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list
    )
    token: ProviderCode | None = None  # its name in partner-tokens.json; default: `name`

    @model_validator(mode="after")
    def _covers_something(self) -> Partner:
        if not self.services and not self.taxonomy_terms:
            raise ValueError("names no services and no taxonomy_terms")
        return self

    @property
    def token_name(self) -> str:
        return self.token or self.name

    def covers_term(self, term: hsds.Term) -> bool:
        """A term by its id or code; `CODE*` also covers the codes under it."""
        for wanted in self.taxonomy_terms:
            if wanted == term.id or (term.code and wanted.lower() == term.code.lower()):
                return True
            if wanted.endswith("*") and term.code:
                if term.code.lower().startswith(wanted[:-1].lower()):
                    return True
        return False


class PartnersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partners: list[Partner] = Field(min_length=1)

    @field_validator("partners")
    @classmethod
    def _one_entry_per_service(cls, partners: list[Partner]) -> list[Partner]:
        names: set[str] = set()
        owner: dict[str, str] = {}
        for partner in partners:
            if partner.name in names:
                raise ValueError(f"partner {partner.name} is named twice")
            names.add(partner.name)
            for service in partner.services:
                if service in owner:
                    raise ValueError(
                        f"service {service} is in both partner {owner[service]} and {partner.name}"
                    )
                owner[service] = partner.name
        return partners

    def not_in(self, named: set[str]) -> list[str]:
        """A note for each entry naming services the directory does not have (a typo?)."""
        notes = []
        for partner in self.partners:
            if missing := [s for s in partner.services if s not in named]:
                notes.append(
                    f"partner {partner.name}: {len(missing)} of its services are not in this "
                    f"directory (first: {missing[0]})"
                )
        return notes

    def for_listing(self, listing: hsds.Listing) -> Partner | None:
        """The entry naming the service's id, else the first whose terms cover one of its
        taxonomy terms (file order), else none."""
        for partner in self.partners:
            if listing.id in partner.services:
                return partner
        for partner in self.partners:
            if any(partner.covers_term(term) for term in listing.terms):
                return partner
        return None


def read_partners(data: Any, allow_local: bool) -> PartnersFile:
    if not isinstance(data, dict) or not isinstance(data.get("partners"), list):
        raise PartnersFileError('partners file: expected {"partners": [...]}, one entry each')
    try:
        partners = PartnersFile.model_validate(data)
    except ValidationError as exc:
        raise PartnersFileError(describe_error(exc, "partners file: ")) from None
    for position, partner in enumerate(partners.partners):
        if partner.referral_endpoint is not None:
            problem = endpoint_problem(str(partner.referral_endpoint), allow_local)
            if problem:
                raise PartnersFileError(
                    f"partners file: partners.{position}.referral_endpoint: {problem}"
                )
    return partners


def endpoint_problem(url: str, allow_local: bool) -> str | None:
    """Why referrals (client data) may not go to `url`, or None. Only https to a public
    address; loopback and private ranges (and plain http on loopback) for dev mode only, the
    demo's and the tests' partner agencies; never link-local or reserved addresses, and never
    a user name or password in the address. A host name is checked again once resolved, when
    a referral is sent (`address_problem`)."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password (a partner's token is kept by name)"
    host = parts.hostname or ""
    kind = address_kind(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and kind == "loopback"):
        return "must be an https:// address (referrals carry client data)"
    return _kind_problem(host, kind, allow_local)


def address_problem(address: str, allow_local: bool, host: str) -> str | None:
    """Why a referral may not go to `address`, an IP address `host` resolved to, or None."""
    return _kind_problem(f"{host} ({address})", address_kind(address), allow_local)


def _kind_problem(host: str, kind: str | None, allow_local: bool) -> str | None:
    if kind is None or (kind in LOCAL and allow_local):
        return None
    what = f"{host} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    return f"{what}: for dev mode only {DEV}" if kind in LOCAL else f"{what}: never a partner's"


DEV = "(CASEWORK_DEV_MODE=on)"
LOCAL = ("loopback", "private-range")


def address_kind(host: str) -> str | None:
    """What kind of non-public address `host` names (an IP address, or localhost), or None
    for a public address or a host name (resolved only when sending)."""
    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        ip = ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind, test in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("private-range", ip.is_private),
        ("reserved", not ip.is_global),
    ):
        if test:
            return kind
    return None


@dataclass
class ImportReport:
    form: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    inactivated: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # x-casework's own, to keep
    token_names: set[str] = field(default_factory=set)  # the partners file's, by name
    changed: dict[str, list[str]] = field(default_factory=dict)  # key: the columns updated

    @property
    def imported(self) -> int:
        return len(self.added) + len(self.updated) + self.unchanged


# Each carried detail of a listing (hsds.CARRIED_BY) and the provider columns it fills.
DETAIL_COLUMNS = {
    "description": "description",
    "eligibility": "eligibility",
    "place": "location",
    "address": "address",
    "postal_codes": "postal_codes",
    "phone": "phone",
    "languages": "languages",
    "hours": "hours",
    "terms": "taxonomy",
}


def _directory_values(listing: hsds.Listing, directory: str) -> dict[str, Any]:
    """The provider columns the listing says something about: always its name,
    organization and status; a detail only where the file carries it, or has a value."""
    every = {
        "description": listing.description,
        "eligibility": listing.eligibility,
        "location": listing.place,
        "address": listing.address,
        "postal_codes": listing.postal_codes,
        "phone": listing.phone,
        "languages": [lang.model_dump() for lang in listing.languages],
        "hours": listing.hours,
        "taxonomy": [term.model_dump() for term in listing.terms],
    }
    said = {
        column: every[column]
        for detail, column in DETAIL_COLUMNS.items()
        if detail in listing.carried or every[column] not in (None, [])
    }
    return {
        "key": listing.id,
        "organization": listing.organization,
        "service_name": listing.name,
        **said,
        "directory": directory,
        "active": listing.active,
    }


def search_text(values: Any) -> str:
    """What `providers list --text` searches: the service's words, from its columns."""
    terms = values.get("taxonomy") or []
    parts = [values.get(c) for c in ("service_name", "organization", "description")]
    parts += [values.get("eligibility"), values.get("location")]
    parts += [t.get("name") for t in terms] + [t.get("code") for t in terms]
    return " ".join(p for p in parts if p).lower()


EMPTY_DETAILS: dict[str, Any] = {
    "description": None,
    "eligibility": None,
    "location": None,
    "address": None,
    "postal_codes": [],
    "phone": None,
    "languages": [],
    "hours": None,
    "taxonomy": [],
}


DIRECTORY_ONLY: dict[str, Any] = {
    "partner": None,
    "category": None,
    "programs": [],
    "endpoint": None,
    "token_ref": None,
    "response_days": None,
    "capacity": None,
    "waitlist": False,
}


def _referral_values(
    settings: ReferralSettings, partner: str, token_ref: str | None
) -> dict[str, Any]:
    endpoint = settings.referral_endpoint
    return {
        "partner": partner,
        "category": settings.category.value,
        "programs": [p.value for p in settings.programs],
        "endpoint": str(endpoint).rstrip("/") if endpoint else None,
        "token_ref": token_ref if endpoint else None,
        "response_days": settings.response_days,
        "capacity": settings.capacity,
        "waitlist": settings.waitlist,
    }


def import_directory(
    session: Session,
    directory: hsds.Directory,
    *,
    partners: PartnersFile | None = None,
    name: str = MAIN,
    allow_local: bool = False,
    at: datetime | None = None,
) -> ImportReport:
    """Insert or update one provider per HSDS service of `directory` (named `name` among
    the store's directories). Referral settings come from `partners` where an entry covers
    the service, else from the service's own `x-casework`; with neither, a service new to
    the store is directory-only and one already there keeps the settings it had, unless a
    partners file is given: it then says for every service. Services of this directory
    that the file no longer names are marked inactive (not when the file is one service or
    one page of several, nor when it names none). Referral endpoints must be https
    (`allow_local`: or http on this machine)."""
    listings, problems, named = hsds.listings(directory)
    report = ImportReport(form=directory.form, problems=problems)
    if directory.note:
        report.notes.append(directory.note)
    if not named:
        report.notes.append("the file names no services: nothing is marked inactive")
    rows: list[tuple[str, dict[str, Any]]] = []
    for listing in listings:
        settings = _referral_settings(listing, partners, report, allow_local)
        if settings is not None:
            rows.append((listing.where, _directory_values(listing, name) | settings))
    if partners is not None and directory.complete:
        report.notes += partners.not_in(named)
    _write(session, rows, report, named, name, directory.complete, at)
    return report


def _referral_settings(
    listing: hsds.Listing,
    partners: PartnersFile | None,
    report: ImportReport,
    allow_local: bool,
) -> dict[str, Any] | None:
    """The service's referral columns: from its partners file entry, else its own
    `x-casework` (its token kept in `report`), else directory-only when a partners file
    says for every service, else none to change ({}). None: skipped, the reason reported."""
    partner = partners.for_listing(listing) if partners else None
    if partner is not None:
        if partner.referral_endpoint is not None:
            report.token_names.add(partner.token_name)
        return _referral_values(partner, partner.name, partner.token_name)
    if listing.extension is None:
        return {} if partners is None else DIRECTORY_ONLY
    try:
        extension = CaseworkExtension.model_validate(listing.extension)
    except ValidationError as exc:
        report.problems.append(describe_error(exc, f"{listing.where}: {X_CASEWORK}."))
        return None
    if problem := endpoint_problem(str(extension.referral_endpoint), allow_local):
        report.problems.append(f"{listing.where}: {X_CASEWORK}.referral_endpoint: {problem}")
        return None
    report.tokens[listing.id] = extension.token
    return _referral_values(extension, X_CASEWORK, listing.id)


def _write(
    session: Session,
    rows: list[tuple[str, dict[str, Any]]],
    report: ImportReport,
    named: set[str],
    directory: str,
    complete: bool,
    at: datetime | None,
) -> None:
    table = Provider.__table__
    held = {row.key: row for row in session.execute(select(table)).mappings()}
    inserts: list[tuple[str, dict[str, Any]]] = []
    updates: list[tuple[str, dict[str, Any]]] = []
    stamp = {"updated": at} if at else {}
    for where, values in rows:
        before = held.get(values["key"])
        if before is None:
            new = DIRECTORY_ONLY | EMPTY_DETAILS | values
            new["search_text"] = search_text(new)
            inserts.append((where, new | stamp | ({"created": at} if at else {})))
            continue
        # What the file does not say stays as stored; the words searched follow the whole.
        words = search_text(dict(before) | values)
        changed = {k: v for k, v in (values | {"search_text": words}).items() if before[k] != v}
        if changed:
            updates.append((where, {"id": before["id"], **changed, **stamp}))
            report.changed[values["key"]] = sorted(k for k in changed if k != "search_text")
        else:
            report.unchanged += 1
    gone = []
    if complete and named:  # a file naming no service at all is a failed export, not news
        gone = [
            (f"provider {key}", {"id": row["id"], "active": False, **stamp})
            for key, row in held.items()
            if row["directory"] == directory and row["active"] and key not in named
        ]
    done_inserts = _apply(session, insert(Provider), inserts, report)
    done_updates = _apply(session, update(Provider), updates, report)
    report.added = [values["key"] for _, values in done_inserts]
    updated_ids = {values["id"] for _, values in done_updates}
    report.updated = [key for key, row in held.items() if row["id"] in updated_ids]
    done_gone = _apply(session, update(Provider), gone, report)
    report.inactivated = [where.removeprefix("provider ") for where, _ in done_gone]
    kept = set(report.added) | set(report.updated) | set(named)
    report.tokens = {key: token for key, token in report.tokens.items() if key in kept}


def _apply(
    session: Session,
    statement: Any,
    rows: list[tuple[str, dict[str, Any]]],
    report: ImportReport,
) -> list[tuple[str, dict[str, Any]]]:
    """All rows at once; if the store refuses the batch, row by row, each in its own
    savepoint, so one bad row is skipped (with its position), not the whole import."""
    if not rows:
        return []
    try:
        with session.begin_nested():
            session.execute(statement, [values for _, values in rows])
        return rows
    except DBAPIError:
        pass
    done = []
    for where, values in rows:
        try:
            with session.begin_nested():
                session.execute(statement, [values])
        except DBAPIError as exc:
            report.problems.append(f"{where}: the store refused it ({type(exc.orig).__name__})")
            continue
        done.append((where, values))
    return done


def import_hsds(
    session: Session, data: Any, *, allow_local: bool = False
) -> tuple[list[str], list[str], dict[str, str]]:
    """A JSON directory already read (the demo's, the tests'): (keys imported, problems,
    x-casework tokens by name)."""
    try:
        directory = hsds.from_json(data)
    except hsds.DirectoryError as exc:
        return [], [str(exc)], {}
    report = import_directory(session, directory, allow_local=allow_local)
    imported = report.added + report.updated
    return imported, report.problems, report.tokens


@dataclass(frozen=True)
class Search:
    """What a case manager looks for (`casework providers list`'s options)."""

    category: ServiceCategory | None = None
    language: str | None = None
    near: str | None = None
    text: str | None = None
    include_inactive: bool = False


def search(session: Session, wanted: Search) -> list[Provider]:
    """Providers a case manager may choose: active (unless asked), offering the service,
    speaking the language (its name or code), whose every word of `text` appears in the
    name, organization, description, eligibility, place or taxonomy terms; with `near`,
    only those with a postal code sharing at least its first three characters (ZIP3, or
    a UK outward code's area and district), nearest (longest shared start) first."""
    query = select(Provider)
    if not wanted.include_inactive:
        query = query.where(Provider.active)
    if wanted.category is not None:
        query = query.where(Provider.category == wanted.category.value)
    for word in (wanted.text or "").lower().split():
        query = query.where(Provider.search_text.contains(word, autoescape=True))
    found: Iterable[Provider] = session.scalars(query.order_by(Provider.category, Provider.key))
    if wanted.language:
        language = wanted.language.strip().lower()
        found = [p for p in found if any(language in _names(x) for x in p.languages or [])]
    if wanted.near:
        found = nearest(found, wanted.near)
    return list(found)


def _names(language: dict[str, Any]) -> set[str]:
    return {str(v).lower() for v in language.values() if v}


NEAR = 3  # shared leading characters of a postal code that count as near


def nearest(providers: Iterable[Provider], near: str) -> list[Provider]:
    wanted = hsds.postcode(near) or ""
    scored = []
    for provider in providers:
        shared = max((_shared(wanted, code) for code in provider.postal_codes or []), default=0)
        if shared >= min(NEAR, len(wanted)):
            scored.append((-shared, provider.service_name, provider))
    return [provider for *_, provider in sorted(scored, key=lambda s: (s[0], s[1]))]


def _shared(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def referable(session: Session, program: str) -> list[str]:
    """Active providers with referral settings for `program` (the Resume dialog names them)."""
    query = select(Provider).where(Provider.active, Provider.category.is_not(None))
    return [p.key for p in session.scalars(query.order_by(Provider.key)) if program in p.programs]


def get(session: Session, key: str) -> Provider:
    provider = session.scalars(select(Provider).where(Provider.key == key)).first()
    if provider is None:
        raise ProviderNotFound(f"provider: no provider {key} in the directory")
    return provider
