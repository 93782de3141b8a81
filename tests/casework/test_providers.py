"""`casework providers` as an operator and a case manager use it: a published HSDS data
package with a partners file, a partner's token kept by name, importing again, finding a
provider; bad input refused in one line with nothing changed."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from casework.core.credentials import tokens_path
from casework.core.db import migrate, session_scope
from casework.models.orm import Provider
from tests.casework.test_cli import run_cli

DATA = Path(__file__).parents[1] / "data" / "hsds"
SERVICE = "ac148810-d857-441c-9679-408f346de14b"


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


def _package_zip(to: Path, service_id: str, edit: tuple[str, str] = ("", "")) -> Path:
    """The published CSV package, zipped under one folder, its service given `service_id`
    (the session's store is shared: each test its own service), `edit` made in its text."""
    with zipfile.ZipFile(to, "w") as archive:
        for path in sorted((DATA / "csv").iterdir()):
            text = path.read_text(encoding="utf-8").replace(SERVICE, service_id)
            text = text.replace(*edit) if edit[0] else text
            archive.writestr(f"export/{path.name}", text)
    return to


def _providers() -> list[tuple[Any, ...]]:
    with session_scope() as session:
        return [tuple(row) for row in session.execute(select(Provider.__table__)).all()]


def test_an_operator_imports_a_published_package_with_partner_settings(
    capsys, tmp_path, monkeypatch
) -> None:
    service = f"counselling-{uuid.uuid4().hex[:8]}"
    token_name = f"mycity-{uuid.uuid4().hex[:6]}"
    package = _package_zip(tmp_path / "directory.zip", service)
    partners = tmp_path / "partners.json"
    partners.write_text(
        json.dumps(
            {
                "partners": [
                    {
                        "name": token_name,
                        "services": [service],
                        "category": "mental_health_treatment",
                        "programs": ["geriatric"],
                        "referral_endpoint": "https://referrals.mycity.example.org/casework",
                        "response_days": 5,
                    }
                ]
            }
        )
    )
    argv = ["providers", "import", str(package), "--partners", str(partners)]
    code, out, err = run_cli(capsys, *argv, "--directory", "mycity")
    assert code == 0
    assert out == (
        "directory mycity (tabular data package): 1 added, 0 updated, 0 unchanged, "
        "0 inactivated, 0 skipped\n"
    )
    assert err == (
        f"casework: note: partner {token_name}: no token named {token_name} on this machine; "
        f"referrals to its services fail until `casework providers token {token_name}` sets it\n"
    )

    # The token by name, from stdin: never on the command line, never in the store.
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-partner-token\n"))
    code, out, _ = run_cli(capsys, "providers", "token", token_name)
    assert (code, out) == (0, f"token {token_name} kept on this machine\n")
    assert json.loads(tokens_path().read_text())[token_name] == "s3cret-partner-token"
    assert "s3cret-partner-token" not in repr(_providers())

    code, out, err = run_cli(capsys, *argv, "--directory", "mycity")
    assert "0 added, 0 updated, 1 unchanged, 0 inactivated, 0 skipped" in out
    assert err == "", "the token is here now"

    # What changed is named, service by service.
    edited = _package_zip(tmp_path / "edited.zip", service, ("Counselling Services", "Video"))
    code, out, _ = run_cli(
        capsys,
        "providers",
        "import",
        str(edited),
        "--partners",
        str(partners),
        "--directory",
        "mycity",
    )
    assert out.splitlines()[0] == f"updated {service}: description"
    assert "0 added, 1 updated, 0 unchanged" in out
    code, out, _ = run_cli(capsys, *argv, "--directory", "mycity")
    assert f"updated {service}: description" in out

    code, out, _ = run_cli(
        capsys,
        "providers",
        "list",
        "--service",
        "mental_health_treatment",
        "--language",
        "Urdu",
        "--near",
        "ABC 1XY",
        "--text",
        "counselling anxiety",
        "--json",
    )
    [row] = [r for r in json.loads(out) if r["key"] == service]
    assert (row["referral"], row["partner"], row["languages"], row["response_days"]) == (
        "electronic",
        token_name,
        ["Urdu"],
        5,
    )
    assert not {"endpoint", "token", "token_ref"} & set(row)

    code, out, _ = run_cli(capsys, "providers", "show", service)
    assert code == 0
    assert "address:        1-30 Main Street, MyVillage, MyCity, MyState, ABC 1234" in out
    assert "phone:          +44 1234 234567 ext. 100" in out
    assert "hours:          The service is available from 10 am to 6pm weekdays." in out
    assert "referral:       electronic" in out

    # The same directory without the partners file: the settings stay. An empty export
    # marks nothing gone; a later one without the service does.
    code, out, _ = run_cli(capsys, "providers", "import", str(package), "--directory", "mycity")
    assert "1 unchanged" in out
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"organizations": [], "services": []}))
    code, out, err = run_cli(capsys, "providers", "import", str(empty), "--directory", "mycity")
    assert "0 added, 0 updated, 0 unchanged, 0 inactivated, 0 skipped" in out
    assert err == "casework: note: the file names no services: nothing is marked inactive\n"
    later = _package_zip(tmp_path / "later.zip", f"{service}-new")
    code, out, _ = run_cli(capsys, "providers", "import", str(later), "--directory", "mycity")
    assert "1 added, 0 updated, 0 unchanged, 1 inactivated, 0 skipped" in out
    code, out, _ = run_cli(capsys, "providers", "list", "--text", "counselling", "--json")
    assert service not in [row["key"] for row in json.loads(out)], "inactive: not offered"
    code, out, _ = run_cli(capsys, "providers", "list", "--all", "--text", "counselling")
    assert f"{service} mental_health_treatment" in out
    assert "inactive)" in out


def test_a_directory_only_service_says_so_in_the_list(capsys, tmp_path) -> None:
    service = f"walk-in-{uuid.uuid4().hex[:8]}"
    package = _package_zip(tmp_path / "directory.zip", service)
    code, out, _ = run_cli(capsys, "providers", "import", str(package), "--directory", "walkin")
    assert code == 0
    code, out, _ = run_cli(capsys, "providers", "list", "--text", "counselling")
    [line] = [line for line in out.splitlines() if line.startswith(service)]
    assert "directory only" in line
    assert "no electronic referral" in line
    assert "+44 1234 234567 ext. 100; Urdu" in line


def _bad_package(tmp_path: Path) -> Path:
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "datapackage.json").write_text(json.dumps({"resources": [{"name": "x"}]}))
    return folder


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["{tmp}/missing.zip"], "file: cannot read {tmp}/missing.zip: No such file"),
        (["{tmp}"], "{tmp}: a folder must hold a datapackage.json"),
        (["{bad_package}"], "datapackage.json: no service resource (services.csv)"),
        (["{not_json}"], "file: {tmp}/not-json.json: not valid JSON (line 1 column 2"),
        (["{not_hsds}"], "file: not an HSDS directory (expected a datapackage.json folder"),
        (
            ["{good}", "--partners", "{not_partners}"],
            'partners file: expected {{"partners": [...]}}, one entry each',
        ),
        (
            ["{good}", "--partners", "{no_category}"],
            "partners file: partners.0.category: Field required",
        ),
        (
            ["{good}", "--partners", "{plain_http}"],
            "partners file: partners.0.referral_endpoint: must be an https:// address",
        ),
        (["{good}", "--directory", "Main Street"], "'Main Street' is not a directory name"),
    ],
)
def test_bad_directory_input_is_refused_in_one_line_changing_nothing(
    capsys, tmp_path, argv: list[str], expected: str
) -> None:
    files = {
        "tmp": str(tmp_path),
        "bad_package": str(_bad_package(tmp_path)),
        "good": str(DATA / "service_full.json"),
    }
    for name, content in {
        "not_json": "{",
        "not_hsds": json.dumps({"hello": 1}),
        "not_partners": json.dumps({"services": []}),
        "no_category": json.dumps({"partners": [{"name": "p", "services": ["x"]}]}),
        "plain_http": json.dumps(
            {
                "partners": [
                    {
                        "name": "p",
                        "services": ["x"],
                        "category": "legal_aid",
                        "programs": ["housing"],
                        "referral_endpoint": "http://referrals.example.org/",
                    }
                ]
            }
        ),
    }.items():
        path = tmp_path / f"{name.replace('_', '-')}.json"
        path.write_text(content)
        files[name] = str(path)
    before = _providers()
    code, out, err = run_cli(capsys, "providers", "import", *[a.format(**files) for a in argv])
    assert code != 0
    assert out == ""
    assert err.count("\n") == 1, err
    assert expected.format(**files) in err, err
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Provider)) == len(before)
    assert _providers() == before
