"""Files attached to a case, by those who work it: checked for size, scanned for malware when
a ClamAV daemon is configured, their type read from their content, sealed, and kept in the
case store (so every machine on the same PostgreSQL store shares them, each holding the
same key file). Listed and opened only by those who read the client's record; every listing
and every opening is in the access log first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from casework.core import clamav, vault
from casework.core.clock import now
from casework.core.db import session_scope
from casework.core.errors import InputError
from casework.core.settings import get_settings
from casework.models import access, attachments, audit, cases
from casework.models.attachments import Listed
from casework.models.codes import AttachmentKind
from casework.models.orm import Attachment
from casework.services.staff import log_access, roster

NAME_LENGTH = 200


@dataclass(frozen=True)
class Attached:
    number: str
    case_number: str
    kind: str
    media_type: str
    size: int
    scanned: bool  # False: no scanner is configured (CASEWORK_CLAMD)


@dataclass(frozen=True)
class Opened:
    number: str
    case_number: str
    file_name: str
    media_type: str
    content: bytes


def _reader(actor: str, what: str) -> None:
    """Files are read (and added) by those who read the client's record."""
    member = roster().get(actor)
    if member is None or not member.active or not access.sees_identity(member):
        role = member.role.value.replace("_", " ") if member else "not on the roster"
        raise InputError(
            f"{what}: attachments are read and added by case managers and supervisors; "
            f"{actor} is {role}"
        )


def attach(
    case_number: str,
    data: bytes,
    file_name: str,
    kind: AttachmentKind,
    actor: str,
    note: str | None = None,
) -> Attached:
    """Keep `data` (a file named `file_name`) with the case, as `actor`; refused in one line,
    nothing kept, when it is too large, malware, or not a document, image or recording."""
    _reader(actor, "attach")
    settings = get_settings()
    if note is not None:
        note = _note(note)
    name = file_name.strip()[:NAME_LENGTH] or "attachment"
    if not data:
        raise InputError(f"{name}: the file is empty", field="file")
    if len(data) > settings.attachment_max_bytes:
        raise InputError(
            f"{name}: it is larger than an attachment may be "
            f"({_size(settings.attachment_max_bytes)}, CASEWORK_ATTACHMENT_MAX_BYTES)",
            field="file",
        )
    with session_scope(read_only=True) as session:  # a case the actor may not see: "no case"
        cases.get_case(session, case_number)
    if settings.clamd is not None:
        found = clamav.scan(settings.clamd, data)
        if found is not None:
            raise InputError(
                f"{name}: the malware scanner found {found} in it; nothing was attached",
                field="file",
            )
    kept_as = attachments.media_type(data, name)
    sealed = vault.seal(data)
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        row = attachments.add(
            session,
            case,
            kind,
            name,
            note,
            kept_as,
            len(data),
            settings.clamd is not None,
            sealed,
            actor,
            now(),
        )
        return Attached(
            attachments.number_of(row.id),
            case.case_number or case_number,
            kind.value,
            kept_as,
            len(data),
            settings.clamd is not None,
        )


def listing(case_number: str, reader: str, *, log: bool = True) -> list[Listed]:
    """The case's attachments with their names and notes: the read is in the access log
    (`log` False: it is part of a read of the case logged already, the desk's case page)."""
    _reader(reader, "attachments")
    if log:
        log_access(case_number, "attachments", reader)
    with session_scope(read_only=True) as session:
        return attachments.listing(session, cases.get_case(session, case_number), identity=True)


def open_attachment(case_number: str, number: str, reader: str) -> Opened:
    """One attachment of the case, opened (decrypted) for `reader`: logged first."""
    _reader(reader, "attachment")
    wanted = attachments.id_of(number)
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        held_by = session.scalar(select(Attachment.case_id).where(Attachment.id == wanted))
        if held_by != case.id:  # another case's file (or none) is no file of this one
            raise InputError(f"attachment: {case.case_number} has no attachment {number}")
        found = attachments.number_of(wanted)
    log_access(case_number, f"attachment:{found}", reader)
    with session_scope(read_only=True) as session:
        row = attachments.get(session, found)
        return Opened(found, case_number, row.file_name, row.media_type, vault.unseal(row.content))


def rotate_keys(actor: str) -> tuple[int, str]:
    """A new attachment key, and every attachment sealed again with it (the older keys
    stay in the file until an operator removes them): how many, and the new key's
    fingerprint. Run where the store lets the connection re-seal every file (the service
    role, or the store's owner, on PostgreSQL)."""
    vault.add_key()
    count = 0
    with session_scope() as session:
        for row in session.scalars(select(Attachment).order_by(Attachment.id)):
            row.content = vault.reseal(row.content)
            count += 1
        audit.record(session, None, actor, "attachment_keys_rotated", now(), resealed=count)
    return count, vault.fingerprint()


def _note(note: str) -> str:
    """A note as any text a person typed is checked (length, no control characters)."""
    from pydantic import TypeAdapter, ValidationError

    from casework.models.schemas import FreeText

    try:
        return TypeAdapter(FreeText).validate_python(note)
    except ValidationError as exc:
        raise InputError(f"note: {exc.errors()[0]['msg']}", field="note") from None


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KB"
