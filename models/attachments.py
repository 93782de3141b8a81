"""Files kept with a case: what each is (its kind), its type as its content says (never its
name), its size, whether a malware scanner passed it, and its content sealed. Functions take
the session first and only flush; the caller owns the transaction, and seals and scans
before it calls (casework.services.attachments)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models import audit
from casework.models.codes import AttachmentKind
from casework.models.orm import Attachment, Case

CLEAN = "clean"
NOT_SCANNED = "not_scanned"
# What an attachment may be, by the type its content shows, in words: documents and scans,
# photographs (a phone's too), and recordings.
ACCEPTED = {
    "application/pdf": "PDF",
    "image/png": "PNG image",
    "image/jpeg": "JPEG image",
    "image/tiff": "TIFF image",
    "image/webp": "WebP image",
    "image/heic": "HEIC image",
    "audio/mpeg": "MP3 recording",
    "audio/mp4": "M4A recording",
    "audio/x-wav": "WAV recording",
    "audio/ogg": "Ogg recording",
}


class NotAccepted(UserError):
    """A file Casework does not keep: its content is not a document, image or recording."""


def number_of(attachment_id: int) -> str:
    return f"ATT-{attachment_id:06d}"


def id_of(number: str) -> int:
    digits = number.strip().upper().removeprefix("ATT-")
    if not digits.isdigit():
        raise NotAccepted(f"attachment: {number!r} is not an attachment number (ATT-000001)")
    return int(digits)


def media_type(data: bytes, shown_as: str) -> str:
    """The type `data` is, read from its content (`shown_as`: how to name it in a refusal);
    refused in one line unless it is one Casework keeps."""
    import filetype

    found = filetype.guess(data)
    if found is not None and found.mime in ACCEPTED:
        return str(found.mime)
    what = f"{found.mime} content" if found is not None else "content of no type Casework keeps"
    raise NotAccepted(
        f"{shown_as}: its {what} is not a PDF, an image or a recording "
        f"({', '.join(ACCEPTED.values())}); its name does not decide"
    )


def add(
    session: Session,
    case: Case,
    kind: AttachmentKind,
    file_name: str,
    note: str | None,
    kept_as: str,
    size: int,
    scanned: bool,
    sealed: bytes,
    actor: str,
    at: datetime,
) -> Attachment:
    """Keep a file (already sealed) with `case`; audited by its number and coded values."""
    attachment = Attachment(
        case_id=case.id,
        kind=kind.value,
        media_type=kept_as,
        size=size,
        scanned=CLEAN if scanned else NOT_SCANNED,
        file_name=file_name,
        note=note,
        content=sealed,
        uploaded_by=actor,
        uploaded_at=at,
    )
    session.add(attachment)
    session.flush()
    audit.record(
        session,
        case,
        actor,
        "attachment_added",
        at,
        attachment=number_of(attachment.id),
        kind=kind.value,
        media_type=kept_as,
        size=size,
        scanned=attachment.scanned,
    )
    return attachment


@dataclass(frozen=True)
class Listed:
    """An attachment as listed: its number and coded values; its name and note for those
    who read the client's record."""

    number: str
    kind: str
    media_type: str
    size: int
    scanned: str
    uploaded_by: str
    uploaded_at: datetime
    file_name: str | None = None
    note: str | None = None


CODED = (
    Attachment.id,
    Attachment.kind,
    Attachment.media_type,
    Attachment.size,
    Attachment.scanned,
    Attachment.uploaded_by,
    Attachment.uploaded_at,
)


def listing(session: Session, case: Case, identity: bool) -> list[Listed]:
    """The case's attachments, newest first (`identity`: with their names and notes)."""
    columns = [*CODED, *((Attachment.file_name, Attachment.note) if identity else ())]
    query = (
        select(*columns)
        .where(Attachment.case_id == case.id)
        .order_by(Attachment.uploaded_at.desc(), Attachment.id.desc())
    )
    return [
        Listed(
            number_of(row.id),
            row.kind,
            row.media_type,
            row.size,
            row.scanned,
            row.uploaded_by,
            row.uploaded_at,
            *((row.file_name, row.note) if identity else ()),
        )
        for row in session.execute(query)
    ]


def get(session: Session, number: str) -> Attachment:
    found = session.get(Attachment, id_of(number))
    if found is None:
        raise NotAccepted(f"attachment: no attachment {number.strip().upper()}")
    return found


def kinds(session: Session, case: Case) -> Counter[str]:
    """How many attachments of each kind the case has (what its card on the dashboard says)."""
    query = select(Attachment.kind).where(Attachment.case_id == case.id)
    return Counter(session.scalars(query))
