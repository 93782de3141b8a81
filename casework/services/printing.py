"""Documents that print: a document's or the report's HTML, laid out on pages and written as
PDF by WeasyPrint, with the agency's letterhead from configuration. WeasyPrint fetches
nothing: a document's styles are inline, and any URL in it is refused, so a name or a
partner's field can never make the renderer reach out. WeasyPrint needs Pango from the
system (Debian's libpango-1.0-0 and libpangoft2-1.0-0, installed by the README's commands);
without it a PDF is refused with one line saying so, and Markdown and HTML still work."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from casework.core.errors import UserError
from casework.core.settings import get_settings

PDF_MEDIA = "application/pdf"


class PrintError(UserError):
    """A PDF cannot be made here: the message says what is missing."""


@dataclass(frozen=True)
class Letterhead:
    """The agency as configured: its name, address and phone, each optional."""

    name: str | None
    address: str | None
    phone: str | None

    @property
    def lines(self) -> list[str]:
        return [line for line in (self.name, self.address, self.phone) if line]


def letterhead() -> Letterhead:
    settings = get_settings()
    return Letterhead(settings.agency_name, settings.agency_address, settings.agency_phone)


def page_style() -> str:
    """The print rules every PDF shares: the configured paper, margins, page numbers."""
    size = get_settings().paper_size
    return (
        f"@page{{size:{size};margin:2cm 2cm 2.2cm;"
        "@bottom-right{content:'Page ' counter(page) ' of ' counter(pages);"
        "font:9pt sans-serif;color:#444}}"
        "body{max-width:none;margin:0;padding:0}"
        # On paper a table is laid out as one, in smaller type, across the page's width.
        "table{display:table;width:100%;font-size:9pt}td,th{padding:.15em .3em}"
    )


def to_pdf(html: str) -> bytes:
    """The HTML as PDF bytes."""
    try:
        from weasyprint import HTML
    except OSError as exc:  # Pango, or a library it needs, is not on this machine
        raise PrintError(
            "PDF: WeasyPrint cannot load the system's Pango "
            f"({str(exc).splitlines()[0]}); install Debian's libpango-1.0-0 and "
            "libpangoft2-1.0-0, or choose --format html"
        ) from None
    # WeasyPrint's own logger reports each refused URL and font fallback as a warning;
    # those name nothing of a client but say nothing to a user either.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    # Nothing is fetched from anywhere: only what a document carries in itself (a `data:`
    # URL, as a consent's drawn signature) is read.
    from weasyprint.urls import URLFetcher

    pdf = HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()
    assert isinstance(pdf, bytes)  # no target given: the bytes are returned
    return pdf
