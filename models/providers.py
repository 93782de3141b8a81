"""The provider directory: partner agencies' services, imported from an Open Referral
(HSDS 3.0) JSON file. HSDS field names are used where HSDS has them (organizations,
services, locations, service_at_locations); what a referral needs and HSDS does not carry
(category, eligible programs, referral endpoint, token, response window, capacity) sits in
each service's `x-casework` object. A malformed entry is reported with its position and
skipped; the rest import."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from models.cases import CaseError
from models.codes import Program, ServiceCategory
from models.forms import ProviderCode, describe_error
from models.orm import Provider
from models.text import OneLine


class ProviderNotFound(CaseError):
    pass


class CaseworkExtension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: ServiceCategory
    programs: list[Program] = Field(min_length=1)
    referral_endpoint: HttpUrl
    token: str = Field(min_length=8, max_length=200)
    response_days: int = Field(default=10, gt=0, le=90)
    capacity: int | None = Field(default=None, ge=0)
    waitlist: bool = False


class HsdsService(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: ProviderCode
    organization_id: str
    name: Annotated[str, Field(min_length=1, max_length=200), OneLine]
    status: str = "active"
    casework: CaseworkExtension = Field(alias="x-casework")


class HsdsOrganization(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: Annotated[str, Field(min_length=1, max_length=200), OneLine]


def _locations(data: dict[str, Any]) -> dict[str, str]:
    """Service id -> a one-line place (city, region) from HSDS locations."""
    places: dict[str, str] = {}
    for location in data.get("locations") or []:
        if not isinstance(location, dict):
            continue
        address = (location.get("addresses") or [{}])[0] or {}
        place = ", ".join(
            str(part) for part in (address.get("city"), address.get("state_province")) if part
        )
        places[str(location.get("id"))] = place or str(location.get("name") or "")
    by_service: dict[str, str] = {}
    for link in data.get("service_at_locations") or []:
        if isinstance(link, dict) and str(link.get("location_id")) in places:
            by_service.setdefault(str(link.get("service_id")), places[str(link["location_id"])])
    return by_service


def endpoint_problem(url: str, allow_loopback: bool) -> str | None:
    """Why referrals (client data) may not go to `url`, or None: only https, but for plain
    http on loopback in dev mode (the demo's and the tests' partner agencies)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and (host == "localhost" or _is_loopback(host)):
        return None if allow_loopback else "plain http to loopback is for dev mode only " + DEV
    return "must be an https:// address (referrals carry client data)"


DEV = "(CASEWORK_DEV_MODE=on)"


def _is_loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def import_hsds(
    session: Session, data: Any, *, allow_loopback: bool = False
) -> tuple[list[str], list[str], dict[str, str]]:
    """Insert or update one provider per HSDS service; returns (imported keys, problems,
    tokens by name). The tokens are the caller's to keep: the store holds only their names.
    Referral endpoints must be https (`allow_loopback`: or http on this machine)."""
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        return [], ["file: expected an HSDS object with a services list"], {}
    problems: list[str] = []
    organizations: dict[str, str] = {}
    for position, raw in enumerate(data.get("organizations") or []):
        try:
            org = HsdsOrganization.model_validate(raw)
        except ValidationError as exc:
            problems.append(describe_error(exc, f"organizations[{position}]: "))
            continue
        organizations[org.id] = org.name
    places = _locations(data)
    imported: list[str] = []
    tokens: dict[str, str] = {}
    for position, raw in enumerate(data["services"]):
        try:
            service = HsdsService.model_validate(raw)
        except ValidationError as exc:
            problems.append(describe_error(exc, f"services[{position}]: "))
            continue
        if service.organization_id not in organizations:
            problems.append(
                f"services[{position}]: organization_id: no organization {service.organization_id}"
            )
            continue
        extension = service.casework
        if problem := endpoint_problem(str(extension.referral_endpoint), allow_loopback):
            problems.append(f"services[{position}]: x-casework.referral_endpoint: {problem}")
            continue
        values = {
            "organization": organizations[service.organization_id],
            "service_name": service.name,
            "category": extension.category.value,
            "programs": [p.value for p in extension.programs],
            "location": places.get(service.id),
            "capacity": extension.capacity,
            "waitlist": extension.waitlist,
            "endpoint": str(extension.referral_endpoint).rstrip("/"),
            "token_ref": service.id,
            "response_days": extension.response_days,
            "active": service.status == "active",
        }
        try:
            with session.begin_nested():  # one bad row is skipped, not the whole import
                _upsert(session, service.id, values)
        except DBAPIError as exc:
            problems.append(
                f"services[{position}]: the store refused it ({type(exc.orig).__name__})"
            )
            continue
        imported.append(service.id)
        tokens[service.id] = extension.token
    session.flush()
    return imported, problems, tokens


def _upsert(session: Session, key: str, values: dict[str, Any]) -> None:
    provider = session.scalars(select(Provider).where(Provider.key == key)).first()
    if provider is None:
        session.add(Provider(key=key, **values))
    else:
        for name, value in values.items():
            setattr(provider, name, value)
    session.flush()


def listing(session: Session, category: ServiceCategory | None = None) -> list[Provider]:
    query = select(Provider).order_by(Provider.category, Provider.key)
    if category is not None:
        query = query.where(Provider.category == category.value)
    return list(session.scalars(query))


def get(session: Session, key: str) -> Provider:
    provider = session.scalars(select(Provider).where(Provider.key == key)).first()
    if provider is None:
        raise ProviderNotFound(f"provider: no provider {key} in the directory")
    return provider
