"""The provider directory: HSDS imports, search, one provider, partner tokens."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from casework.cli.options import (
    DIRECTORY,
    EXIT_ERROR,
    JSON,
    choice_of,
    command,
    emit,
    read_json,
)
from casework.models.codes import ServiceCategory
from casework.models.schemas import ProviderOut

commands = click.Group()
CHANGES_LISTED = 20  # an import names what changed for this many services, then counts


@commands.group("providers", help="the provider directory", short_help="the provider directory")
def providers() -> None:
    pass


@command(
    providers,
    "import",
    "import an Open Referral HSDS 3.0 directory as published: a tabular data package "
    "(folder or zip with datapackage.json), service_full JSON (one, a list, or a /services "
    "page) or flat JSON; importing it again updates it",
    noun="providers",
)
@click.argument("file", metavar="PATH")
@click.option(
    "--partners",
    metavar="FILE",
    help="referral settings by HSDS service id or taxonomy term (JSON); services it does not "
    "cover are directory-only (no electronic referral)",
)
@click.option(
    "--directory",
    default="main",
    type=DIRECTORY,
    help="which directory this is (default main); services gone from it are marked inactive, "
    "other directories' are left alone",
)
def import_directory(file: str, partners: str | None, directory: str) -> int:
    from casework import services

    settings = read_json(partners, "partners file", "--partners") if partners else None
    report = services.providers.import_providers(Path(file), partners=settings, directory=directory)
    for problem in report.problems:
        print(f"casework: skipped {problem}", file=sys.stderr)
    for note in report.notes:
        print(f"casework: note: {note}", file=sys.stderr)
    changed = [key for key in report.updated if report.changed.get(key)]
    for key in changed[:CHANGES_LISTED]:
        print(f"updated {key}: {', '.join(report.changed[key])}")
    if len(changed) > CHANGES_LISTED:
        print(f"... and {len(changed) - CHANGES_LISTED} more updated")
    print(
        f"directory {directory} ({report.form}): {len(report.added)} added, "
        f"{len(report.updated)} updated, {report.unchanged} unchanged, "
        f"{len(report.inactivated)} inactivated, {len(report.problems)} skipped"
    )
    return 0 if report.imported or not report.problems else EXIT_ERROR


@command(providers, "list", "find providers", noun="providers")
@click.option("--service", type=choice_of(ServiceCategory))
@click.option("--language", help="a language it serves in (name or code)")
@click.option("--near", metavar="POSTCODE", help="nearest first, by the postal codes' shared start")
@click.option("--text", metavar="WORDS", help="every word in its description")
@click.option("--all", "include_inactive", is_flag=True, help="inactive providers too")
@JSON
def listing(
    service: str | None,
    language: str | None,
    near: str | None,
    text: str | None,
    include_inactive: bool,
    as_json: bool,
) -> int:
    from casework import services
    from casework.models.providers import Search

    rows = services.providers.provider_list(
        Search(
            category=ServiceCategory(service) if service else None,
            language=language,
            near=near,
            text=text,
            include_inactive=include_inactive,
        )
    )
    emit(
        [row.model_dump(mode="json") for row in rows],
        as_json,
        lambda: "\n".join(provider_line(r) for r in rows) or "no providers",
    )
    return 0


@command(providers, "show", "one provider in full", noun="providers")
@click.argument("key", metavar="PROVIDER")
@JSON
def show(key: str, as_json: bool) -> int:
    from casework import services

    row = services.providers.provider(key)
    emit(row.model_dump(mode="json"), as_json, lambda: provider_card(row))
    return 0


@command(
    providers,
    "token",
    "keep a partner's bearer token on this machine, read from stdin (never an argument: "
    "others could read it from the process list)",
    noun="providers",
)
@click.argument("name")
def token(name: str) -> int:
    from casework import services

    services.providers.set_partner_token(name, sys.stdin.readline())
    print(f"token {name} kept on this machine")
    return 0


def provider_line(row: ProviderOut) -> str:
    if row.referral != "electronic":
        referral = "no electronic referral"
    elif row.response_days:
        referral = f"answers within {row.response_days} d"
    else:
        referral = "answers by program"
    extras = [
        row.location or "-",
        *([row.phone] if row.phone else []),
        *([", ".join(row.languages)] if row.languages else []),
        referral,
        *(["waitlist"] if row.waitlist else []),
        *([] if row.active else ["inactive"]),
    ]
    return (
        f"{row.key:<20} {row.category or 'directory only':<26} "
        f"{row.organization} / {row.service_name} ({'; '.join(extras)})"
    )


def provider_card(row: ProviderOut) -> str:
    fields = [
        ("provider", row.key),
        ("service", row.service_name),
        ("organization", row.organization),
        ("status", "active" if row.active else "inactive"),
        (
            "referral",
            row.referral
            if row.referral == "electronic"
            else "no electronic "
            "referral: make it by hand, then record the answer with `casework referral`",
        ),
        ("category", row.category),
        ("programs", ", ".join(row.programs)),
        ("answers within", f"{row.response_days} days" if row.response_days else None),
        ("capacity", str(row.capacity) if row.capacity is not None else None),
        ("waitlist", "yes" if row.waitlist else None),
        ("address", row.address),
        ("phone", row.phone),
        ("languages", ", ".join(row.languages)),
        ("hours", row.hours),
        ("eligibility", row.eligibility),
        ("taxonomy", "; ".join(row.taxonomy)),
        ("description", row.description),
        ("directory", row.directory),
    ]
    return "\n".join(f"{name + ':':<15} {value}" for name, value in fields if value)
