"""Open Referral HSDS 3.0 directories, read as agencies publish them, into one shape.

Three published forms are read, with the standard's own names and relationships:

- a tabular data package: a folder or a zip with `datapackage.json` and its CSV files.
  The descriptor names each resource (`service`, `organization`, `location`,
  `service_at_location`, `address`, `phone`, `language`, `schedule`, `attribute`,
  `taxonomy_term`) and its path; only files inside the package are read;
- the API's nested JSON: one `service_full` object, a list of them, or a saved page of the
  paginated `/services` response (`contents`, `page_number`, `total_pages`);
- flat JSON keyed by table (`services`, `organizations`, `locations`,
  `service_at_locations`, ...), or by file name as the specification's `tabular.json` is
  (`services.csv`, ...).

Nested objects are flattened into the tables (a service's `organization`, its
`service_at_locations` with their `location` and its `addresses`, `phones`, `languages`,
`schedules`, `attributes` with their `taxonomy_term`), so one assembler turns every form
into `Listing`s: what a case manager needs to choose a provider. Each row remembers where
it came from (`services.csv line 3`, `contents[2]`) for the one-line reasons a bad entry
is skipped with."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from casework.core import strict_json
from casework.core.errors import UserError
from casework.models.forms import ProviderCode, describe_error
from casework.models.text import OneLine, one_line, prose

MAX_JSON_BYTES = 200_000_000
T = TypeVar("T")
MAX_DEPTH = 40
AT = "_at"  # each row's position in the file it came from
BAD = "_bad"  # not an object at all
KEYS = "_keys"  # the keys an object carried (nested lists included): what the file says

# The resources read, by their data-package names; the other HSDS tables are not needed
# to choose a provider and are left unread.
TABLES = (
    "organization",
    "service",
    "location",
    "service_at_location",
    "address",
    "phone",
    "language",
    "schedule",
    "attribute",
    "taxonomy_term",
)
# What publishers call them besides: plural keys (flat JSON), file names (tabular.json).
ALIASES = {
    **{f"{name}s": name for name in TABLES},
    **{f"{name}s.csv": name for name in TABLES},
    **{f"{name}.csv": name for name in TABLES},
    "addresses": "address",
    "addresses.csv": "address",
    "service_at_locations": "service_at_location",
}

# Nested objects: (parent table, key) -> (child table, how they link). "down": each child
# row gets the parent's id in that field; "up": the parent row gets the child's id there.
NESTED: dict[tuple[str, str], tuple[str, str, str]] = {
    ("service", "organization"): ("organization", "up", "organization_id"),
    ("service", "service_at_locations"): ("service_at_location", "down", "service_id"),
    ("service", "phones"): ("phone", "down", "service_id"),
    ("service", "languages"): ("language", "down", "service_id"),
    ("service", "schedules"): ("schedule", "down", "service_id"),
    ("service", "attributes"): ("attribute", "down", "link_id"),
    ("service_at_location", "location"): ("location", "up", "location_id"),
    ("service_at_location", "phones"): ("phone", "down", "service_at_location_id"),
    ("service_at_location", "schedules"): ("schedule", "down", "service_at_location_id"),
    ("location", "addresses"): ("address", "down", "location_id"),
    ("location", "phones"): ("phone", "down", "location_id"),
    ("location", "languages"): ("language", "down", "location_id"),
    ("location", "schedules"): ("schedule", "down", "location_id"),
    ("organization", "phones"): ("phone", "down", "organization_id"),
    ("attribute", "taxonomy_term"): ("taxonomy_term", "up", "taxonomy_term_id"),
}


class DirectoryError(UserError):
    """The file as a whole cannot be read as an HSDS directory (one line: what and why)."""


@dataclass
class Directory:
    form: str  # which published form it was, for the import's report
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    complete: bool = True  # False: one page of several; services not in it are not gone
    flat: bool = False  # tables side by side (a package, flat JSON), not nested objects
    note: str | None = None
    index: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # table, id


def read(path: Path) -> Directory:
    """Read a directory file, folder or zip; DirectoryError says why it cannot be."""
    if path.is_dir():
        if not (path / "datapackage.json").is_file():
            raise DirectoryError(f"{path}: a folder must hold a datapackage.json")
        return _package(_member(path, "datapackage.json"), lambda name: _member(path, name))
    try:
        if zipfile.is_zipfile(path):
            return _zip(path)
        raw = _read_bytes(path)
    except OSError as exc:
        raise DirectoryError(f"file: cannot read {path}: {exc.strerror or exc}") from None
    return from_json(_json(raw, f"file: {path}"))


def _member(folder: Path, name: str) -> bytes:
    """A file of the package in `folder`, read only as it stands inside it: no component of
    its path a symbolic link (a `services.csv` linked to /etc/passwd is not the package's)."""
    inside = Path(name)
    for part in (inside, *inside.parents):
        if part != Path(".") and (folder / part).is_symlink():
            raise DirectoryError(f"{name}: a symbolic link; the package's files must be in it")
    return _read_bytes(folder / inside, os.O_NOFOLLOW)


def _read_bytes(path: Path, flags: int = 0) -> bytes:
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | flags), "rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise DirectoryError(f"file: cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_JSON_BYTES:
        raise DirectoryError(f"{path}: larger than {MAX_JSON_BYTES // 1_000_000} MB")
    return raw


def _json(raw: bytes, name: str) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DirectoryError(f"{name} is not UTF-8 text") from None
    try:
        return strict_json.parse(text, MAX_DEPTH)
    except strict_json.JSONRefused as exc:
        raise DirectoryError(f"{name}: {exc}") from None


def _zip(path: Path) -> Directory:
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if PurePosixPath(n).name == "datapackage.json"]
        if not names:
            raise DirectoryError(f"{path.name}: the zip holds no datapackage.json")
        descriptor = min(names, key=lambda n: (n.count("/"), n))
        base = PurePosixPath(descriptor).parent

        def member(name: str) -> bytes:
            inside = str(base / name) if str(base) != "." else name
            try:
                info = archive.getinfo(inside)
            except KeyError:
                raise DirectoryError(f"{path.name}: no {inside} in the zip") from None
            if info.file_size > MAX_JSON_BYTES:
                raise DirectoryError(f"{inside}: larger than {MAX_JSON_BYTES // 1_000_000} MB")
            return archive.read(info)

        return _package(archive.read(descriptor), member)


def _package(descriptor_bytes: bytes, open_member: Any) -> Directory:
    """A tabular data package: the descriptor's resources, each from its CSV path(s)."""
    descriptor = _json(descriptor_bytes, "datapackage.json")
    resources = descriptor.get("resources") if isinstance(descriptor, dict) else None
    if not isinstance(resources, list):
        raise DirectoryError("datapackage.json: no resources list")
    directory = Directory(form="tabular data package", flat=True)
    for position, resource in enumerate(resources):
        if not isinstance(resource, dict):
            continue
        name = _table(str(resource.get("name") or resource.get("path") or ""))
        if name is None or name in directory.tables:
            continue
        paths = resource.get("path")
        paths = paths if isinstance(paths, list) else [paths]
        rows: list[dict[str, Any]] = []
        for member_path in paths:
            member = _inside(member_path, f"datapackage.json resources[{position}].path")
            text = _decode(open_member(member), member, resource.get("encoding"))
            rows += _csv_rows(text, member, resource.get("dialect"))
        directory.tables[name] = rows
    if "service" not in directory.tables:
        raise DirectoryError("datapackage.json: no service resource (services.csv)")
    return directory


def _inside(value: Any, where: str) -> str:
    """A resource's path, if it is a file inside the package (no URL, no way out of it)."""
    text = str(value or "")
    parts = PurePosixPath(text).parts
    if not text or "://" in text or text.startswith("/") or ".." in parts or "\\" in text:
        raise DirectoryError(f"{where}: {text or 'nothing'} is not a file inside the package")
    return text


def _decode(raw: bytes, name: str, encoding: Any) -> str:
    codec = str(encoding or "utf-8")
    if codec.lower().replace("-", "") == "utf8":
        codec = "utf-8-sig"  # a spreadsheet's byte-order mark is not part of the first name
    try:
        return raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        raise DirectoryError(f"{name}: not {encoding or 'UTF-8'} text") from None


def _csv_rows(text: str, name: str, dialect: Any) -> list[dict[str, Any]]:
    options = dialect if isinstance(dialect, dict) else {}
    reader = csv.DictReader(
        io.StringIO(text, newline=""),
        delimiter=str(options.get("delimiter") or ","),
        quotechar=str(options.get("quoteChar") or '"'),
    )
    rows = []
    try:
        for row in reader:
            clean = {k: (v if v != "" else None) for k, v in row.items() if isinstance(k, str)}
            clean[AT] = f"{name} line {reader.line_num}"
            rows.append(clean)
    except csv.Error as exc:
        raise DirectoryError(f"{name} line {reader.line_num}: {exc}") from None
    return rows


def _table(name: str) -> str | None:
    key = name.strip().lower()
    return key if key in TABLES else ALIASES.get(key)


def from_json(data: Any) -> Directory:
    """Nested (service_full, a list of them, a page of them) or flat (keyed by table)."""
    if isinstance(data, dict) and isinstance(data.get("contents"), list):
        return _pages([data])
    if isinstance(data, list):
        if data and all(isinstance(p, dict) and isinstance(p.get("contents"), list) for p in data):
            return _pages(data)
        directory = Directory(form=f"{len(data)} service_full object(s)")
        for position, item in enumerate(data):
            _nested(directory, "service", item, f"[{position}]")
        return directory
    if isinstance(data, dict):
        tables = {t: v for k, v in data.items() if (t := _table(k)) and isinstance(v, list)}
        if "service" in tables:
            tabular = any(str(k).endswith(".csv") for k in data)
            directory = Directory(form="tabular JSON" if tabular else "flat JSON", flat=True)
            for name, rows in tables.items():
                label = next(k for k in data if _table(k) == name)
                for position, row in enumerate(rows):
                    _nested(directory, name, row, f"{label}[{position}]")
            return directory
        if "id" in data and "name" in data:
            # One service, as `GET /services/{id}` returns it: an update of that service,
            # not the whole directory.
            directory = Directory(form="one service_full object", complete=False)
            _nested(directory, "service", data, "service")
            return directory
    raise DirectoryError(
        "file: not an HSDS directory (expected a datapackage.json folder or zip, "
        "service_full JSON, a page of /services, or JSON with a services list)"
    )


def _pages(pages: list[dict[str, Any]]) -> Directory:
    directory = Directory(form="/services page(s)")
    seen: set[int] = set()
    total = 0
    for index, page in enumerate(pages):
        number = page.get("page_number")
        seen.add(number if isinstance(number, int) else index + 1)
        pages_in_all = page.get("total_pages")
        total = max(total, pages_in_all if isinstance(pages_in_all, int) else 1)
        for position, item in enumerate(page["contents"]):
            where = (
                f"contents[{position}]" if len(pages) == 1 else f"[{index}].contents[{position}]"
            )
            _nested(directory, "service", item, where)
    missing = total - len(seen & set(range(1, total + 1)))
    if missing > 0:
        directory.complete = False
        directory.note = (
            f"{len(seen)} of {total} pages: services on the other pages are not marked "
            "inactive; import every page in one file (a list of pages) to update the whole "
            "directory"
        )
    return directory


def _nested(directory: Directory, table: str, item: Any, where: str, depth: int = 0) -> str | None:
    """Add `item` (and what is nested in it) to the directory's tables; returns its id."""
    if not isinstance(item, dict) or depth > MAX_DEPTH:
        directory.tables.setdefault(table, []).append({AT: where, BAD: True})
        return None
    row: dict[str, Any] = {AT: where, KEYS: frozenset(item)}
    children: list[tuple[str, str, str, Any, str]] = []
    for key, value in item.items():
        link = NESTED.get((table, key))
        if link is not None:
            child, direction, field_name = link
            children.append((child, direction, field_name, value, f"{where}.{key}"))
        elif not isinstance(value, dict | list) or key == "x-casework":
            row[key] = value
    row_id = str(row["id"]) if row.get("id") not in (None, "") else None
    for child, direction, field_name, value, child_where in children:
        if direction == "up":
            child_id = _nested(directory, child, value, child_where, depth + 1)
            if child_id is not None:
                row.setdefault(field_name, child_id)
            continue
        for position, element in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(element, dict) and row_id is not None:
                element = {field_name: row_id, **element}
            _nested(directory, child, element, f"{child_where}[{position}]", depth + 1)
    _merge(directory, table, row)
    return row_id


def _merge(directory: Directory, table: str, row: dict[str, Any]) -> None:
    """Add a row; the same record met again (nested JSON repeats a location's phones under
    the service, the location and the contact) fills in what the first lacked."""
    index = directory.index.setdefault(table, {})
    row_id = row.get("id")
    # A service is never repeated by nesting: met twice, it is listed twice (and refused).
    first = index.get(str(row_id)) if row_id is not None and table != "service" else None
    if first is None:
        directory.tables.setdefault(table, []).append(row)
        if row_id is not None:
            index[str(row_id)] = row
        return
    for key, value in row.items():
        if first.get(key) is None:
            first[key] = value


def _text(limit: int, required: bool = False) -> Any:
    """Published text as a case manager reads it: numbers as text, blanks as none, cut at
    `limit` characters (a long description is kept, not refused)."""

    def clean(value: Any) -> str | None:
        text = None
        if value is not None and not isinstance(value, dict | list | bool):
            text = (" ".join(str(value).split()) if limit <= 300 else str(value).strip())[:limit]
        if required and not text:
            raise PydanticCustomError("blank", "is blank or missing")
        return text or None

    return BeforeValidator(clean)


ShortText = Annotated[str | None, _text(300), AfterValidator(lambda v: v and one_line(v))]
LongText = Annotated[str | None, _text(4000), AfterValidator(lambda v: v and prose(v))]


class Term(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    code: str | None = None
    name: str | None = None
    taxonomy: str | None = None


class Language(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str | None = None
    code: str | None = None


class Listing(BaseModel):
    """One HSDS service, as a case manager chooses a provider by it."""

    model_config = ConfigDict(extra="forbid")

    id: ProviderCode
    name: Annotated[str, _text(200, required=True), OneLine]
    organization: Annotated[str, _text(200, required=True), OneLine]
    active: bool
    description: LongText = None
    eligibility: LongText = None
    place: ShortText = None  # city, state: the list's short form
    address: ShortText = None
    postal_codes: list[str] = Field(default_factory=list)
    phone: ShortText = None
    languages: list[Language] = Field(default_factory=list)
    hours: ShortText = None
    terms: list[Term] = Field(default_factory=list)
    extension: dict[str, Any] | None = None  # the file's own `x-casework`, if any
    where: str = Field(exclude=True)
    # Which of the details above the file carries for this service (`CARRIED_BY`): one it
    # does not carry says nothing of it, and a re-import leaves what is stored.
    carried: frozenset[str] = Field(default=frozenset(), exclude=True)


# Each detail a file may leave out, and what carries it: keys of the service object (of
# its row, in a package or flat JSON), nested lists of a service_full object, or tables of
# a package or flat JSON. The name, organization and status are always there.
CARRIED_BY: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "description": (("description",), (), ()),
    "eligibility": (("eligibility_description", "minimum_age", "maximum_age"), (), ()),
    "place": ((), ("service_at_locations",), ("service_at_location",)),
    "phone": ((), ("phones", "service_at_locations"), ("phone",)),
    "languages": ((), ("languages", "service_at_locations"), ("language",)),
    "hours": ((), ("schedules", "service_at_locations"), ("schedule",)),
    "terms": ((), ("attributes",), ("attribute",)),
}
# `place` stands for the location's details: the place, the address and its postcodes.
PLACE = ("place", "address", "postal_codes")


def carried(row: dict[str, Any], directory: Directory) -> frozenset[str]:
    """The details of `CARRIED_BY` the file carries for the service `row`."""
    keys = row.get(KEYS) or frozenset(k for k in row if not k.startswith("_"))
    found = set()
    for detail, (own, nested, tables) in CARRIED_BY.items():
        if any(k in keys for k in own):
            found.add(detail)
        elif directory.flat and any(t in directory.tables for t in tables):
            found.add(detail)
        elif not directory.flat and any(k in keys for k in nested):
            found.add(detail)
    if "place" in found:
        found.update(PLACE)
    return frozenset(found)


def _by(rows: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get(key) is not None:
            grouped.setdefault(str(row[key]), []).append(row)
    return grouped


def _ids(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("id") is not None:
            found.setdefault(str(row["id"]), row)
    return found


class _Links:
    """The directory's tables indexed by the links a listing follows."""

    def __init__(self, directory: Directory) -> None:
        table = directory.tables.get
        self.organizations = _ids(table("organization") or [])
        self.locations = _ids(table("location") or [])
        self.terms = _ids(table("taxonomy_term") or [])
        self.at_locations = _by(table("service_at_location") or [], "service_id")
        self.addresses = _by(table("address") or [], "location_id")
        phones = table("phone") or []
        self.phones = {k: _by(phones, f"{k}_id") for k in PHONE_OWNERS}
        languages = table("language") or []
        self.languages = {k: _by(languages, f"{k}_id") for k in ("service", "location")}
        schedules = table("schedule") or []
        self.schedules = {k: _by(schedules, f"{k}_id") for k in SCHEDULE_OWNERS}
        self.attributes = _by(table("attribute") or [], "link_id")
        self.directory = directory


# Whose phones and schedules are the service's, nearest first.
PHONE_OWNERS = ("service", "service_at_location", "location", "organization")
SCHEDULE_OWNERS = ("service", "service_at_location", "location")


def listings(directory: Directory) -> tuple[list[Listing], list[str], set[str]]:
    """(services that read well, one line per one skipped, every service id the file
    names, readable or not: a service still listed is not gone, only badly written)."""
    links = _Links(directory)
    found: list[Listing] = []
    problems: list[str] = []
    named: set[str] = set()
    first_at: dict[str, str] = {}
    for row in directory.tables.get("service") or []:
        where = str(row[AT])
        if row.get(BAD):
            problems.append(f"{where}: not an object")
            continue
        service_id = str(row.get("id") or "")
        if service_id:
            named.add(service_id)
            if service_id in first_at:
                problems.append(f"{where}: id {service_id} again (first at {first_at[service_id]})")
                continue
            first_at[service_id] = where
        try:
            found.append(_listing(row, links, where))
        except ValidationError as exc:
            problems.append(describe_error(exc, f"{where}: "))
        except LookupError as exc:
            problems.append(f"{where}: {exc.args[0]}")
    return found, problems, named


def _listing(row: dict[str, Any], links: _Links, where: str) -> Listing:
    service_id = str(row.get("id") or "")
    organization = links.organizations.get(str(row.get("organization_id")))
    if organization is None:
        raise LookupError(f"organization_id: no organization {row.get('organization_id')}")
    at_locations = links.at_locations.get(service_id, [])
    location_ids = [str(s.get("location_id")) for s in at_locations]
    locations = [links.locations[i] for i in location_ids if i in links.locations]
    addresses = [a for i in location_ids for a in _physical_first(links.addresses.get(i, []))]
    owners = {
        "service": [service_id],
        "service_at_location": [str(s.get("id")) for s in at_locations],
        "location": location_ids,
        "organization": [str(organization.get("id"))],
    }
    phones = [p for k in PHONE_OWNERS for i in owners[k] for p in links.phones[k].get(i, [])]
    languages = [
        lang
        for k in ("service", "location")
        for i in owners[k]
        for lang in links.languages[k].get(i, [])
    ]
    schedules = [
        s for k in SCHEDULE_OWNERS for i in owners[k] for s in links.schedules[k].get(i, [])
    ]
    terms = [
        links.terms[str(a.get("taxonomy_term_id"))]
        for a in links.attributes.get(service_id, [])
        if str(a.get("taxonomy_term_id")) in links.terms
        and a.get("link_entity") in (None, "service", "link_entity")
    ]
    first = addresses[0] if addresses else {}
    ages = _ages(row.get("minimum_age"), row.get("maximum_age"))
    return Listing.model_validate(
        {
            "id": service_id,
            "name": row.get("name"),
            "organization": organization.get("name"),
            "active": str(row.get("status") or "active").strip().lower() == "active",
            "description": row.get("description"),
            "eligibility": "; ".join(p for p in (row.get("eligibility_description"), ages) if p)
            or None,
            "place": _join(first.get("city"), first.get("state_province") or first.get("region"))
            or (locations[0].get("name") if locations else None),
            "address": _join(
                first.get("address_1"),
                first.get("address_2"),
                first.get("city"),
                first.get("state_province") or first.get("region"),
                first.get("postal_code"),
            ),
            "postal_codes": _unique(postcode(a.get("postal_code")) for a in addresses),
            "phone": _phone(phones[0]) if phones else None,
            "languages": _unique(
                Language(name=_str(x.get("name")), code=_str(x.get("code"))) for x in languages
            ),
            "hours": "; ".join(_unique(_hours(s) for s in schedules)) or None,
            "terms": _unique(
                Term(
                    id=str(t["id"]),
                    code=_str(t.get("code")),
                    name=_str(t.get("name")),
                    taxonomy=_str(t.get("taxonomy")),
                )
                for t in terms
            ),
            "extension": row.get("x-casework") if isinstance(row.get("x-casework"), dict) else None,
            "where": where,
            "carried": carried(row, links.directory),
        }
    )


def _physical_first(addresses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(addresses, key=lambda a: str(a.get("address_type") or "") != "physical")


def _str(value: Any) -> str | None:
    return " ".join(str(value).split()) or None if value is not None else None


def _join(*parts: Any) -> str | None:
    return ", ".join(p for p in (_str(x) for x in parts) if p) or None


def _unique(values: Iterable[T | None]) -> list[T]:
    """In first-met order, each once, blanks left out."""
    return list(dict.fromkeys(v for v in values if v))


def postcode(value: Any) -> str | None:
    """A postal code compared as agencies write them: upper case, no spaces or dashes."""
    text = "".join(ch for ch in str(value or "") if ch.isalnum()).upper()
    return text or None


def _phone(row: dict[str, Any]) -> str | None:
    number = (_str(row.get("number")) or "").strip("\"' ")
    extension = _str(row.get("extension"))
    return f"{number} ext. {extension}" if number and extension else number or None


def _ages(minimum: Any, maximum: Any) -> str | None:
    low, high = _str(minimum), _str(maximum)
    if low and high:
        return f"ages {low} to {high}"
    return f"ages {low} and over" if low else f"ages up to {high}" if high else None


def _hours(row: dict[str, Any]) -> str | None:
    described = _str(row.get("description"))
    if described:
        return described
    opens, closes = _str(row.get("opens_at")), _str(row.get("closes_at"))
    days = _str(row.get("byday"))
    if opens and closes:
        return f"{days + ' ' if days else ''}{opens[:5]}-{closes[:5]}"
    return None
