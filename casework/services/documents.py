"""Case documents rendered from `casework/templates/` with jinja2: the service plan, a
referral letter (minimum necessary information only), a progress-notes summary for a date
range, the closure summary, and a fair hearing request on a notice of adverse action. One
template per document serves Markdown and HTML through a macro file per format; HTML is
autoescaped, and an undefined field fails the render. PDF is the HTML laid out on pages
(`printing`), with the agency's letterhead; the hearing request is made as PDF unless
asked otherwise, as it is printed and signed. Every rendered document is kept with the
case: its path and the SHA-256 of its bytes go to the store."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.core.db import session_scope
from casework.models import (
    audit,
    cases,
    goals,
    households,
    notices,
    plans,
    providers,
    referrals,
)
from casework.models.cases import CaseError
from casework.models.codes import CaseStatus, Program
from casework.models.labels import label, words
from casework.models.lifecycle import stage_of_key
from casework.models.orm import CarePlan, Case, Contact, Document, Narrative
from casework.models.programs import programs
from casework.models.rules import answer_window
from casework.services.printing import PDF_MEDIA, letterhead, page_style, to_pdf

TEMPLATES = Path(__file__).parent.parent / "templates"
FORMATS = ("md", "html", "pdf")
MEDIA = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8", "pdf": PDF_MEDIA}
PRINTED_BY_DEFAULT = frozenset({"hearing-request", "consent"})
# The documents that list the household's current members (never the referral letter,
# which carries the minimum a partner needs).
HOUSEHOLD_SHOWN = frozenset({"plan", "closure"})
TITLES = {
    "plan": "Service plan",
    "referral": "Referral letter",
    "notes": "Progress notes",
    "closure": "Closure summary",
    "hearing-request": "Hearing request",
    "consent": "Consent form, to sign",
}


def title(kind: str) -> str:
    """What a kind of document is called where people choose and list them."""
    return TITLES.get(kind) or words(kind)


def default_format(kind: str) -> str:
    """What a document is made as when no format is asked for: a letter the client signs
    prints; the rest read as Markdown in a terminal."""
    return "pdf" if kind in PRINTED_BY_DEFAULT else "md"


class DocumentError(CaseError):
    """The document cannot be made for this case (yet): the message says why."""


# Only what Markdown reads as markup anywhere in a line: with the brackets escaped, no
# parenthesis can make a link, so "SNAP (food assistance)" stays as written.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_LIST_MARK = re.compile(r"^(\s*)([-=>#+])", re.MULTILINE)
_NUMBERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)


def markdown_text(value: Any) -> str:
    """A value as literal Markdown text: HTML escaped as entities, Markdown's punctuation
    backslashed, and a line that would start a list, heading or quote neutralised."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    text = _LIST_MARK.sub(r"\1\\\2", text)
    return _NUMBERED.sub(r"\1\\.", text)


def environment(fmt: str, *, printing: bool = False) -> Environment:
    """The templates' environment for a format (`html` serves PDF too, with `printing`)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=fmt == "html",
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markdown_text
    env.filters["label"] = label  # a code as people read it (models/labels.py)
    env.globals["letterhead"] = letterhead()
    env.globals["print_style"] = Markup(page_style() if printing else "")
    return env


def render(kind: str, fmt: str, context: dict[str, Any]) -> str:
    """A document's text: Markdown, or HTML (for PDF, the HTML that is printed)."""
    markup = "md" if fmt == "md" else "html"
    env = environment(markup, printing=fmt == "pdf")
    return env.get_template(f"{kind}.j2").render(format=markup, **context)


def made(kind: str, fmt: str, context: dict[str, Any]) -> bytes:
    """A document's bytes as kept: its text, or for PDF the printed pages."""
    text = render(kind, fmt, context)
    return to_pdf(text) if fmt == "pdf" else text.encode()


def _goal_rows(plan: CarePlan | None, detailed: bool) -> list[list[Any]]:
    if plan is None:
        return []
    if detailed:
        return [
            [
                label(g.domain),
                spec.label if (spec := goals.find(g.objective)) else words(g.objective),
                spec.measure if spec else "-",
                g.target_date,
                label(g.status),
            ]
            for g in plan.goals
        ]
    return [[label(g.objective), g.target_date, label(g.status)] for g in plan.goals]


def _narratives(session: Session, case: Case, start: datetime, end: datetime) -> list[list[Any]]:
    """The stage narratives written in the period (an assessment's, a closure summary),
    oldest first; a narrative held for a form Prefect has not taken yet is left out."""
    query = select(Narrative).where(
        Narrative.case_id == case.id,
        Narrative.created >= start,
        Narrative.created <= end,
        Narrative.stage_key.not_like("%~%"),
        Narrative.text != "",
    )
    return [
        [n.created.date(), label(stage_of_key(n.stage_key)), n.author, n.text]
        for n in session.scalars(query.order_by(Narrative.created, Narrative.id))
    ]


def _plan_of_episode(session: Session, case: Case) -> CarePlan | None:
    query = (
        select(CarePlan)
        .where(CarePlan.case_id == case.id, CarePlan.episode == case.episode)
        .order_by(CarePlan.id.desc())
    )
    return session.scalars(query.limit(1)).first()


def context(
    session: Session,
    case: Case,
    kind: str,
    reference: str | None = None,
    period: tuple[date, date] | None = None,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "case": case,
        "client": case.client,
        "household": _household(session, case) if kind in HOUSEHOLD_SHOWN else [],
    }
    if kind == "plan":
        plan = plans.current_plan(session, case)
        if plan is None:
            raise DocumentError(f"case_number: {case.case_number} has no plan yet")
        return base | {"plan": plan, "goals": _goal_rows(plan, detailed=True)}
    if kind == "referral":
        if reference is None:
            raise DocumentError("referral: name the referral (REF-…)")
        referral = referrals.get(session, reference)
        if referral.case_id != case.id:
            raise DocumentError(
                f"referral: {referral.reference} is not a referral of {case.case_number}"
            )
        provider = providers.get(session, referral.provider or "")
        window = answer_window(provider.response_days, programs()[Program(case.program)])
        return base | {"referral": referral, "provider": provider, "answer_days": window}
    if kind == "hearing-request":
        return base | _hearing_request(session, case, reference)
    if kind == "consent":
        return base | consent_context(session, case, reference)
    if kind == "notes":
        return base | _notes(session, case, period)
    if case.status != CaseStatus.CLOSED.value:
        raise DocumentError(f"case_number: {case.case_number} is open; closure comes at closing")
    episode = cases.episode_of(session, case)
    summaries = select(Narrative.text).where(
        Narrative.case_id == case.id,
        Narrative.episode == case.episode,
        Narrative.stage_key.like("closure-%"),
    )
    summary = session.scalars(summaries.order_by(Narrative.id.desc())).first()
    return base | {
        "episode": episode,
        "goals": _goal_rows(_plan_of_episode(session, case), detailed=False),
        "summary": summary or "No closure summary was recorded.",
    }


def _notes(session: Session, case: Case, period: tuple[date, date] | None) -> dict[str, Any]:
    """The contacts and narratives written in `period`."""
    if period is None or period[0] > period[1]:
        raise DocumentError("--from/--to: give a date range, --from not after --to")
    start = datetime.combine(period[0], time(), tzinfo=UTC)
    end = datetime.combine(period[1], time.max, tzinfo=UTC)
    query = select(Contact).where(
        Contact.case_id == case.id, Contact.occurred_at >= start, Contact.occurred_at <= end
    )
    notes = [
        [c.occurred_at.date(), label(c.contact_type), c.author, c.text]
        for c in session.scalars(query.order_by(Contact.occurred_at))
    ]
    return {
        "notes": notes,
        "narratives": _narratives(session, case, start, end),
        "period_from": period[0],
        "period_to": period[1],
    }


def consent_context(
    session: Session,
    case: Case,
    number: str | None,
    signed: tuple[str, str, str, date] | None = None,
) -> dict[str, Any]:
    """A consent of the case's client, as its form says it (`signed`: the drawn signature
    as a data URL, the typed name, the witness, the day: the signed form)."""
    from casework.core.settings import get_settings
    from casework.models import consents

    if number is None:
        raise DocumentError("consent: name the consent (CON-…)", field="reference")
    consent = consents.get(session, case, number)
    agency = get_settings().agency_name or "the agency"
    if consent.provider == consents.ANY_PROVIDER:
        recipient = f"the partner agencies of its {label(case.program).lower()} program"
    else:
        provider = providers.get(session, consent.provider)
        recipient = f"{provider.organization} ({provider.service_name})"
    purpose = (
        "to refer me to their services and follow my referrals"
        if consent.kind == "consent_to_share"
        else "as they asked, to provide or coordinate their services to me"
    )
    signature, name, witness, on = signed or ("", "", "", None)
    return {
        "consent": consent,
        "number": consents.number_of(consent.id),
        "agency": agency,
        "recipient": recipient,
        "purpose": purpose,
        "signature": signature,
        "signed_name": name,
        "witness": witness,
        "signed_on": on,
    }


def _household(session: Session, case: Case) -> list[list[Any]]:
    """The household's current members, for the documents that list them."""
    _, stays = households.listing(session, case, identity=True)
    return [
        [f"{s.given_name} {s.family_name}", s.client_number, label(s.relationship), s.joined_on]
        for s in stays
        if s.left_on is None
    ]


def _hearing_request(session: Session, case: Case, reference: str | None) -> dict[str, Any]:
    """The notice's facts and dates; whether the letter asks for aid to continue: as
    recorded once the hearing is requested, else while its deadline has not passed."""
    if reference is None or not reference.isdigit():
        raise DocumentError(
            "a hearing-request letter needs the notice (--notice N)", field="notice"
        )
    notice = notices.get_notice(session, case, int(reference))
    today = datetime.now(UTC).date()
    requested = notice.hearing_requested_on
    in_time = bool(notice.aid_deadline and today <= notice.aid_deadline)
    dates = [
        ["Notice dated", notice.notice_date],
        ["Effective", notice.effective_on],
        *(
            [["Last day for benefits to continue", notice.aid_deadline]]
            if notice.aid_deadline
            else []
        ),
        ["Last day to request a hearing", notice.hearing_deadline],
        *([["Hearing requested", requested]] if requested else []),
    ]
    return {
        "notice": notice,
        "wants_aid": notice.aid_continuing if requested else in_time,
        "dates": dates,
        "today": today,
    }


@dataclass(frozen=True)
class Rendered:
    path: Path
    sha256: str
    content: bytes


def produce(
    case_number: str,
    kind: str,
    fmt: str,
    actor: str,
    *,
    reference: str | None = None,
    period: tuple[date, date] | None = None,
    out: Path | None = None,
    force: bool = False,
) -> Rendered:
    """Render a document, write it (to `out`, or under the data dir's documents/ with the
    document's own number in its name, so no two documents share a file) and record it with
    the case. `out` must not exist unless `force`, and never lies inside Casework's data."""
    from casework.core.files import create_new, protected_paths, write_out
    from casework.core.settings import get_settings

    with session_scope() as session:
        case = cases.get_case(session, case_number)
        audit.record_access(session, case, actor, f"doc:{kind}", datetime.now(UTC))
        content = made(kind, fmt, context(session, case, kind, reference, period))
        digest = hashlib.sha256(content).hexdigest()
        document = Document(
            case_id=case.id, kind=kind, format=fmt, path="", sha256=digest, created_by=actor
        )
        session.add(document)
        session.flush()  # its id names the file
        if out is not None:
            path = write_out(out, content, option="--out", force=force, protected=protected_paths())
        else:
            name = "-".join(part for part in (kind, reference, f"{document.id:06d}") if part)
            folder = get_settings().data_dir.resolve() / "documents" / (case.case_number or "")
            path = _first_free(folder, name, fmt, content, create_new)
        document.path = str(path)
        audit.record(session, case, actor, "document_rendered", datetime.now(UTC), kind=kind)
    return Rendered(path, digest, content)


def _first_free(
    folder: Path, name: str, fmt: str, content: bytes, create: Callable[[Path, bytes], None]
) -> Path:
    """The document's own file; a leftover of a rolled-back render (whose number the store
    handed out again) is kept, and this one gets the next free name beside it."""
    for attempt in range(1, 100):
        path = folder / f"{name}{'' if attempt == 1 else f'-{attempt}'}.{fmt}"
        try:
            create(path, content)
            return path
        except FileExistsError:
            continue
    raise DocumentError(f"documents: no free file name for {name} in {folder}")


def for_case(session: Session, case: Case) -> list[Document]:
    return list(
        session.scalars(select(Document).where(Document.case_id == case.id).order_by(Document.id))
    )


@dataclass(frozen=True)
class Kept:
    """A document of a case, as the desk lists it."""

    id: int
    kind: str
    format: str
    created: datetime
    created_by: str


def listing(case_number: str) -> list[Kept]:
    with session_scope(read_only=True) as session:
        case = cases.get_case(session, case_number)
        return [
            Kept(d.id, d.kind, d.format, d.created, d.created_by) for d in for_case(session, case)
        ]


def opened(case_number: str, document_id: int, reader: str) -> tuple[Kept, bytes]:
    """A kept document's bytes, its reading written to the access log first. A document
    whose file no longer holds what was rendered (its hash) is refused, never shown."""
    with session_scope() as session:
        case = cases.get_case(session, case_number)
        found = {d.id: d for d in for_case(session, case)}.get(document_id)
        if found is None:
            raise DocumentError(f"{case.case_number} has no document {document_id}")
        audit.record_access(session, case, reader, f"doc_open:{found.kind}", datetime.now(UTC))
        kept = Kept(found.id, found.kind, found.format, found.created, found.created_by)
        path = Path(found.path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"document {document_id} cannot be read ({exc.strerror})") from None
    if hashlib.sha256(content).hexdigest() != found.sha256:
        raise DocumentError(f"document {document_id} was changed since it was made; not shown")
    return kept, content
