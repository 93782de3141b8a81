"""Files attached to a case: attached, listed and opened by those who read the client's
record (every listing and opening in the access log), and the keys they are sealed with."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from casework.cli.options import (
    JSON,
    CliError,
    choice_of,
    command,
    emit,
    free_text,
    signed_in,
    warn,
)
from casework.models.codes import AttachmentKind

commands = click.Group()


@command(commands, "attach", "keep a file with a case (a scan, a photo, a signed release)")
@click.argument("case_number")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--kind", required=True, type=choice_of(AttachmentKind))
@click.option("--note", "note_text", help="what it is, for the case record (store only)")
@JSON
def attach(case_number: str, file: Path, kind: str, note_text: str | None, as_json: bool) -> int:
    from casework import services
    from casework.core.settings import get_settings

    note = free_text(note_text, "--note") if note_text else None
    limit = get_settings().attachment_max_bytes
    try:
        with file.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise CliError(f"FILE: cannot read {file}: {exc.strerror}") from None
    done = services.attachments.attach(
        case_number.upper(), data, file.name, AttachmentKind(kind), signed_in(), note
    )
    emit(
        asdict(done),
        as_json,
        lambda: (
            f"{done.case_number}: {done.number} attached ({done.kind}, {done.media_type}, "
            f"{done.size} bytes{', scanned: clean' if done.scanned else ''})"
        ),
    )
    if not done.scanned:
        warn("not scanned for malware: no ClamAV is configured (CASEWORK_CLAMD)")
    return 0


@command(commands, "attachments", "list a case's attachments (in the access log)")
@click.argument("case_number")
@JSON
def attachments(case_number: str, as_json: bool) -> int:
    from casework import services

    found = services.attachments.listing(case_number.upper(), signed_in())
    emit(
        [asdict(a) for a in found],
        as_json,
        lambda: (
            "\n".join(
                f"{a.number}  {a.kind:<15} {a.media_type:<16} {a.size:>9} bytes  "
                f"{a.uploaded_at:%Y-%m-%d} {a.uploaded_by}  {a.file_name}"
                + ("" if a.scanned == "clean" else "  (not scanned)")
                + (f"  {a.note}" if a.note else "")
                for a in found
            )
            or f"{case_number.upper()} has no attachments"
        ),
    )
    return 0


@command(commands, "attachment", "open one attachment of a case into a file (in the access log)")
@click.argument("case_number")
@click.argument("number", metavar="ATT-…")
@click.option("--out", required=True, type=click.Path(path_type=Path), metavar="FILE")
@click.option("--force", is_flag=True, help="replace an existing --out file")
def attachment(case_number: str, number: str, out: Path, force: bool) -> int:
    from casework import services
    from casework.core.files import protected_paths, write_out

    opened = services.attachments.open_attachment(case_number.upper(), number, signed_in())
    target = write_out(
        out, opened.content, option="--out", force=force, protected=protected_paths()
    )
    print(f"{opened.number} ({opened.media_type}, given as {opened.file_name}) -> {target}")
    return 0


@command(commands, "attachment-keys", "the keys attachments are sealed with (operators)")
@click.option("--rotate", is_flag=True, help="a new key; every attachment sealed again with it")
def attachment_keys(rotate: bool) -> int:
    from casework import services
    from casework.core import vault

    if not rotate:
        print(f"{vault.keys_path()}: sealing with key {vault.fingerprint()}")
        return 0
    count, fingerprint = services.attachments.rotate_keys(signed_in())
    print(
        f"{count} attachment(s) sealed again with the new key {fingerprint}; the older keys "
        f"stay in {vault.keys_path()} until you remove them (and from every copy of it)"
    )
    return 0
