"""Open Referral HSDS 3.0 directories imported as published (the specification's own
example files, tests/data/hsds), with referral settings from a partners file, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from casework.models import hsds, providers
from casework.models.codes import ServiceCategory
from casework.models.orm import Provider

DATA = Path(__file__).parents[1] / "data" / "hsds"
SERVICE = "ac148810-d857-441c-9679-408f346de14b"  # "Community Counselling", in every example
TERM = "3f7b145d-84af-42d7-8fae-eaca714b02b2"  # its taxonomy term (service_full.json)


def _zip_of(folder: Path, to: Path) -> Path:
    """The data package as agencies mail it: a zip with everything under one folder."""
    with zipfile.ZipFile(to, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"hsds-export/{path.name}")
    return to


def _import(session: Session, source: Path | Any, **options: Any) -> providers.ImportReport:
    read = hsds.read(source) if isinstance(source, Path) else hsds.from_json(source)
    return providers.import_directory(session, read, **options)


def _provider(session: Session, key: str = SERVICE) -> Provider:
    return providers.get(session, key)


@pytest.mark.parametrize(
    ("form", "source", "located"),
    [
        ("tabular data package", "csv", True),
        ("tabular data package", "zip", True),
        ("one service_full object", "service_full.json", True),
        ("/services page(s)", "service_list.json", False),  # the list leaves locations out
        ("tabular JSON", "tabular.json", True),
    ],
)
def test_each_published_form_imports_what_a_case_manager_chooses_by(
    session: Session, tmp_path: Path, form: str, source: str, located: bool
) -> None:
    path = _zip_of(DATA / "csv", tmp_path / "hsds.zip") if source == "zip" else DATA / source
    report = _import(session, path)
    assert (report.form, report.added, report.problems) == (form, [SERVICE], [])
    found = _provider(session)
    assert (found.service_name, found.organization) == (
        "Community Counselling",
        "Example Organization Inc.",
    )
    assert found.description
    assert found.description.startswith("Counselling Services provided")
    assert found.eligibility == (
        "This service is intended for all people aged 12 and over who require counselling "
        "services in the MyCity area; ages 12 to 100"
    )
    assert found.active
    # Directory-only: no partners file, no x-casework.
    assert (found.endpoint, found.category, found.token_ref) == (None, None, None)
    if located:
        assert found.address == "1-30 Main Street, MyVillage, MyCity, MyState, ABC 1234"
        assert found.location == "MyCity, MyState"
        assert found.phone == "+44 1234 234567 ext. 100"
        assert found.languages == [{"name": "Urdu", "code": "ur"}]
        assert found.hours
        assert found.hours.startswith("The service is available from 10 am")
    if source == "service_full.json":
        assert [t["code"] for t in found.taxonomy] == ["code"]  # the example's placeholder


def test_a_page_of_several_adds_but_marks_nothing_gone(session: Session) -> None:
    other = _import(session, DATA / "tabular.json")
    assert other.added == [SERVICE]
    page = json.loads((DATA / "service_list.json").read_text())
    page["contents"][0] = {**page["contents"][0], "id": "another-service"}
    report = _import(session, page)
    assert report.added == ["another-service"]
    assert report.inactivated == []
    assert report.notes == [
        "1 of 10 pages: services on the other pages are not marked inactive; import every "
        "page in one file (a list of pages) to update the whole directory"
    ]
    assert _provider(session).active


PARTNERS = {
    "partners": [
        {
            "name": "mycity-counselling",
            "taxonomy_terms": [TERM],
            "category": "mental_health_treatment",
            "programs": ["healthcare", "substance_use"],
            "referral_endpoint": "https://referrals.mycity.example.org/casework",
            "response_days": 7,
            "capacity": 4,
        },
        {
            "name": "by-id",
            "services": ["second-service"],
            "category": "food_assistance",
            "programs": ["housing"],
            "waitlist": True,
        },
    ]
}


def test_a_partners_file_gives_referral_settings_by_taxonomy_term_and_by_id(
    session: Session,
) -> None:
    directory = json.loads((DATA / "service_full.json").read_text())
    second = {**directory, "id": "second-service", "name": "Second service"}
    partners = providers.read_partners(PARTNERS, allow_local=False)
    report = _import(session, [directory, second], partners=partners)
    assert sorted(report.added) == sorted([SERVICE, "second-service"])
    assert report.token_names == {"mycity-counselling"}
    assert report.notes == [], "every service the partners file names is in the directory"
    typo = json.loads(json.dumps(PARTNERS))
    typo["partners"][1]["services"] = ["second-servise"]
    again = _import(
        session, [directory, second], partners=providers.read_partners(typo, allow_local=False)
    )
    assert again.notes == [
        "partner by-id: 1 of its services are not in this directory (first: second-servise)"
    ]
    report = _import(session, [directory, second], partners=partners)
    counselling = _provider(session)
    assert (
        counselling.partner,
        counselling.category,
        counselling.programs,
        counselling.endpoint,
        counselling.token_ref,
        counselling.response_days,
        counselling.capacity,
    ) == (
        "mycity-counselling",
        "mental_health_treatment",
        ["healthcare", "substance_use"],
        "https://referrals.mycity.example.org/casework",
        "mycity-counselling",
        7,
        4,
    )
    # By id before by term (the second carries the same term); no endpoint: by hand,
    # with our category and programs for choosing it.
    by_id = _provider(session, "second-service")
    assert (by_id.partner, by_id.category, by_id.endpoint, by_id.waitlist) == (
        "by-id",
        "food_assistance",
        None,
        True,
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"referral_endpoint": "http://referrals.example.org/x"},
            "partners file: partners.0.referral_endpoint: must be an https:// address",
        ),
        ({"category": "haircuts"}, "partners file: partners.0.category: Input should be"),
        ({"taxonomy_terms": []}, "partners file: partners.0: Value error, names no services"),
        ({"name": "by-id"}, "partners file: partners: Value error, partner by-id is named twice"),
    ],
)
def test_a_bad_partners_file_is_refused_whole(change: dict[str, Any], problem: str) -> None:
    data = json.loads(json.dumps(PARTNERS))
    data["partners"][0] |= change
    with pytest.raises(providers.PartnersFileError) as refused:
        providers.read_partners(data, allow_local=False)
    assert str(refused.value).startswith(problem), str(refused.value)


def _two_services() -> dict[str, Any]:
    """The example's tabular JSON with a second service at the same location."""
    data = json.loads((DATA / "tabular.json").read_text())
    [service] = data["services.csv"]
    data["services.csv"].append(
        {
            **service,
            "id": "second-service",
            "name": "Drop-in clinic",
            "description": "Walk in, no appointment needed.",
        }
    )
    [link] = data["service_at_location.csv"]
    data["service_at_location.csv"].append(
        {**link, "id": "second-link", "service_id": "second-service"}
    )
    return data


def test_importing_again_updates_in_place_and_marks_what_went_inactive(
    session: Session,
) -> None:
    first = _import(session, _two_services())
    assert sorted(first.added) == sorted([SERVICE, "second-service"])
    before = _provider(session)
    row_id = before.id
    # Settings given once stay with the service through directory-only re-imports.
    before.category, before.programs = "mental_health_treatment", ["healthcare"]
    session.flush()

    again = _import(session, _two_services())
    assert (again.added, again.updated, again.unchanged, again.inactivated) == ([], [], 2, [])

    changed = _two_services()
    changed["services.csv"] = [s for s in changed["services.csv"] if s["id"] == SERVICE]
    changed["services.csv"][0]["name"] = "Community Counselling (renamed)"
    report = _import(session, changed)
    assert (report.added, report.updated, report.inactivated) == (
        [],
        [SERVICE],
        ["second-service"],
    )
    session.expire_all()
    after = _provider(session)
    assert (after.id, after.service_name, after.category) == (
        row_id,
        "Community Counselling (renamed)",
        "mental_health_treatment",
    )
    assert not _provider(session, "second-service").active
    back = _import(session, _two_services())
    assert sorted(back.updated) == sorted([SERVICE, "second-service"])
    assert _provider(session, "second-service").active, "back in the directory: active again"


def test_another_directory_is_left_alone(session: Session) -> None:
    _import(session, DATA / "tabular.json", name="county")
    report = _import(session, _two_services() | {"services.csv": []}, name="main")
    assert report.inactivated == []
    assert _provider(session).active


SETTINGS = {
    "category": "housing_search",
    "programs": ["housing"],
    "referral_endpoint": "https://referrals.example.org/casework",
    "token": "t" * 20,
}


def test_bad_entries_are_skipped_one_by_one(session: Session) -> None:
    data = _two_services()
    good = data["services.csv"][0]
    data["services.csv"] = [
        {**good, "id": "nul-in-name", "name": "Counselling\x00"},
        {**good, "id": "no-organization", "organization_id": "nowhere"},
        {**good, "id": "bad id with spaces"},
        "not an object",
        good,
        {**good, "name": "twice"},
        {**good, "id": "huge-capacity", "x-casework": {**SETTINGS, "capacity": 10**30}},
        {**good, "id": "huge-days", "x-casework": {**SETTINGS, "response_days": 10**30}},
    ]
    report = _import(session, data)
    assert report.added == [SERVICE]
    assert report.problems == [
        "services.csv[0]: name: Value error, must be one line of text without control characters",
        "services.csv[1]: organization_id: no organization nowhere",
        "services.csv[2]: id: String should match pattern '^[A-Za-z0-9._-]{1,64}$'",
        "services.csv[3]: not an object",
        f"services.csv[5]: id {SERVICE} again (first at services.csv[4])",
        "services.csv[6]: x-casework.capacity: Input should be less than or equal to 100000",
        "services.csv[7]: x-casework.response_days: Input should be less than or equal to 90",
    ]


def test_a_row_the_store_refuses_is_skipped_and_the_rest_are_written(
    session: Session,
) -> None:
    """The batch is written at once; if the store refuses it, row by row, each in its own
    savepoint: on PostgreSQL a refused statement would otherwise abort the transaction."""
    session.execute(
        insert(Provider),
        [{"key": "taken", "organization": "o", "service_name": "s", "programs": []}],
    )
    report = providers.ImportReport(form="test")
    rows = [
        ("services[0]", {"key": "fresh-1", "organization": "o", "service_name": "a"}),
        ("services[1]", {"key": "taken", "organization": "o", "service_name": "b"}),
        ("services[2]", {"key": "fresh-2", "organization": "o", "service_name": "c"}),
    ]
    done = providers._apply(session, insert(Provider), rows, report)
    assert [where for where, _ in done] == ["services[0]", "services[2]"]
    [problem] = report.problems
    assert problem.startswith("services[1]: the store refused it ("), problem
    keys = session.scalars(select(Provider.key).order_by(Provider.key)).all()
    assert keys == ["fresh-1", "fresh-2", "taken"]


def test_a_folder_without_a_descriptor_and_a_package_reaching_outside_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(hsds.DirectoryError, match="a folder must hold a datapackage.json"):
        hsds.read(tmp_path)
    package = tmp_path / "package"
    shutil.copytree(DATA / "csv", package)
    descriptor = json.loads((package / "datapackage.json").read_text())
    [services] = [r for r in descriptor["resources"] if r["name"] == "service"]
    services["path"] = "../../etc/passwd"
    (package / "datapackage.json").write_text(json.dumps(descriptor))
    with pytest.raises(hsds.DirectoryError) as refused:
        hsds.read(package)
    assert str(refused.value).endswith("../../etc/passwd is not a file inside the package")


@pytest.mark.parametrize("linked", ["services.csv", "datapackage.json", "data/services.csv"])
def test_no_file_of_a_package_is_read_through_a_symbolic_link(tmp_path: Path, linked: str) -> None:
    """A `services.csv` linked to /etc/passwd (or a folder of the package linked elsewhere)
    is not the package's: refused by name, nothing read."""
    package = tmp_path / "package"
    shutil.copytree(DATA / "csv", package)
    if linked.startswith("data/"):  # the services resource in a folder that is a link
        descriptor = json.loads((package / "datapackage.json").read_text())
        [services] = [r for r in descriptor["resources"] if r["name"] == "service"]
        services["path"] = linked
        (package / "datapackage.json").write_text(json.dumps(descriptor))
        outside = tmp_path / "outside"
        outside.mkdir()
        shutil.copy(package / "services.csv", outside / "services.csv")
        (package / "data").symlink_to(outside)
    else:
        (tmp_path / linked).write_bytes((package / linked).read_bytes())
        (package / linked).unlink()
        (package / linked).symlink_to(tmp_path / linked)
    with pytest.raises(hsds.DirectoryError) as refused:
        hsds.read(package)
    assert str(refused.value) == f"{linked}: a symbolic link; the package's files must be in it"


def _search(session: Session, **filters: Any) -> list[str]:
    return [p.key for p in providers.search(session, providers.Search(**filters))]


def test_a_case_manager_finds_providers_by_service_language_place_and_words(
    session: Session,
) -> None:
    data = _two_services()
    data["addresses.csv"].append(
        {**data["addresses.csv"][0], "id": "far", "location_id": "far-away", "postal_code": "XYZ 9"}
    )
    data["locations.csv"].append({**data["locations.csv"][0], "id": "far-away"})
    data["service_at_location.csv"][1]["location_id"] = "far-away"
    data["languages.csv"][0]["location_id"] = None  # Urdu: the first service only
    _import(session, data)
    session.execute(
        select(Provider).where(Provider.key == SERVICE)
    ).scalar_one().category = ServiceCategory.MENTAL_HEALTH_TREATMENT.value
    session.flush()

    assert _search(session, category=ServiceCategory.MENTAL_HEALTH_TREATMENT) == [SERVICE]
    assert _search(session, language="urdu") == [SERVICE]
    assert _search(session, language="UR") == [SERVICE]
    assert _search(session, language="polish") == []
    assert _search(session, near="abc 1299") == [SERVICE], "shares ABC12: near"
    assert _search(session, near="XYZ") == ["second-service"]
    assert _search(session, near="QQQ 1") == []
    assert _search(session, text="drop-in") == ["second-service"]
    assert _search(session, text="COUNSELLING anxiety") == [SERVICE], "in its description"
    assert _search(session, text="counselling 100%") == [], "% is a character, not a wildcard"


def test_a_bad_row_of_a_package_is_named_by_its_file_and_line(
    session: Session, tmp_path: Path
) -> None:
    package = tmp_path / "package"
    shutil.copytree(DATA / "csv", package)
    services = (package / "services.csv").read_text(encoding="utf-8").rstrip("\n")
    header, published = services.split("\n", 1)
    nameless = published.replace(SERVICE, "nameless", 1).replace("Community Counselling", "", 1)
    (package / "services.csv").write_text(f"{header}\n{nameless}\n{published}\n")
    report = _import(session, package)
    assert report.added == [SERVICE]
    assert report.problems == ["services.csv line 2: name: is blank or missing"]


def test_a_partial_file_leaves_what_it_does_not_carry(session: Session) -> None:
    """The specification's /services page carries no locations, phones, languages or hours:
    imported after service_full.json, it leaves them as they were (a case manager can still
    choose the provider by place and language); a file that carries a detail empty clears it."""
    _import(session, DATA / "service_full.json")
    page = json.loads((DATA / "service_list.json").read_text())
    page["contents"][0]["description"] = "Counselling, now also by video"
    report = _import(session, page)
    assert (report.updated, report.changed) == ([SERVICE], {SERVICE: ["description"]})
    session.expire_all()
    kept = _provider(session)
    assert kept.description == "Counselling, now also by video"
    assert (kept.address, kept.location, kept.postal_codes) == (
        "1-30 Main Street, MyVillage, MyCity, MyState, ABC 1234",
        "MyCity, MyState",
        ["ABC1234"],
    )
    assert kept.phone == "+44 1234 234567 ext. 100"
    assert kept.languages == [{"name": "Urdu", "code": "ur"}]
    assert kept.hours
    assert [t["code"] for t in kept.taxonomy] == ["code"]
    assert {p.key for p in providers.search(session, providers.Search(near="ABC 1234"))} == {
        SERVICE
    }
    assert {p.key for p in providers.search(session, providers.Search(language="ur"))} == {SERVICE}

    full = json.loads((DATA / "service_full.json").read_text())
    full["languages"], full["service_at_locations"] = [], []
    cleared = _import(session, full)
    assert "languages" in cleared.changed[SERVICE]
    session.expire_all()
    assert _provider(session).languages == []
    assert _provider(session).address is None
