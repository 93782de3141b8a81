"""Attachments on the desk, in headless Chromium: a case manager attaches a scan to a case
(refused beside the form without saying what it is, and when its content is not a
document, image or recording, what was typed kept), finds it listed, and opens it: the
file saved is the file given, and the opening is in the access log. Looked at, at 1440
and 390 px, with axe-core."""

from __future__ import annotations

from pathlib import Path

from casework import services
from casework.core.db import session_scope
from casework.models import audit, cases
from tests import factories
from tests.casework.test_attachments import pdf
from tests.ui.conftest import MARKS
from tests.ui.desk import DESK, look, signed_in_page

pytestmark = MARKS
PASSWORD = "a long desk password 4 tests"


def test_a_case_manager_attaches_a_scan_and_opens_it(  # type: ignore[no-untyped-def]
    browser, stack: str, tmp_path: Path
) -> None:
    with session_scope() as session:
        number = factories.new_case(session).case_number or ""
    scan = tmp_path / "eviction notice.pdf"
    scan.write_bytes(pdf(b"Notice to quit, 14 days"))
    shell = tmp_path / "looks like a scan.pdf"
    shell.write_bytes(b"#!/bin/sh\nrm -rf ~\n" * 10)

    page = signed_in_page(browser, "cm.tester", PASSWORD)
    page.goto(f"{DESK}/cases/{number}#attachments")
    section = page.locator("#attachments")
    section.get_by_text("No file attached yet.").wait_for()
    section.get_by_label("File (a PDF, an image or a recording)").set_input_files(str(scan))
    section.get_by_label("Note (case record only)").fill("Served on the 3rd")
    section.get_by_role("button", name="Attach it").click()
    error = page.locator("#attachments-error")
    error.wait_for()
    assert "Choose what the file is." in error.inner_text()
    section = page.locator("#attachments")
    assert section.get_by_label("Note (case record only)").input_value() == "Served on the 3rd"

    section.get_by_label("File (a PDF, an image or a recording)").set_input_files(str(shell))
    section.get_by_label("What it is").select_option(label="Correspondence")
    section.get_by_role("button", name="Attach it").click()
    page.locator("#attachments-error").get_by_text("its name does not decide").wait_for()

    section = page.locator("#attachments")
    section.get_by_label("File (a PDF, an image or a recording)").set_input_files(str(scan))
    section.get_by_label("What it is").select_option(label="Correspondence")
    section.get_by_role("button", name="Attach it").click()
    page.get_by_text("not scanned for malware: no scanner is configured").wait_for()
    link = page.locator("#attachments").get_by_role("link", name="eviction notice.pdf")
    assert "Correspondence" in link.inner_text()
    assert "Served on the 3rd" in page.locator("#attachments").inner_text()
    look(page, "case-attachments")

    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "saved.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == scan.read_bytes()
    assert download.value.suggested_filename.startswith("ATT-")
    with session_scope() as session:
        entries = audit.accesses(session, cases.get_case(session, number), staff="cm.tester")
        assert any(e.what.startswith("attachment:ATT-") for e, _ in entries)
    assert len(services.attachments.listing(number, "cm.tester", log=False)) == 1
    page.close()
