"""Consent the client signs, on the desk in headless Chromium: the case manager records a
consent to share with its scope and end, the client signs it in the box with the mouse
(as a finger or stylus would) under their typed name, witnessed by the signed-in case
manager; refused first without a signature, beside the form, the name kept. The signed
form is then listed, opens as a PDF with the signature on it (looked at as a picture), and
the referral it covers goes out. Looked at, at 1440 and 390 px, with axe-core."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

from pypdf import PdfReader

from casework import services
from casework.core.db import session_scope
from casework.models.codes import Stage
from tests import factories
from tests.casework.test_documents import SHOTS, _ink
from tests.polling import wait_for
from tests.prefect_surfaces import surfaces_text
from tests.ui.conftest import MARKS
from tests.ui.desk import DESK, look, signed_in_page

pytestmark = MARKS
PASSWORD = "a long desk password 4 tests"


def test_a_client_signs_their_consent_on_the_desk_and_it_covers_the_referral(  # type: ignore[no-untyped-def]
    browser, stack: str, tmp_path: Path
) -> None:
    number, _ = factories.case_waiting_at(Stage.REFERRAL)
    ends = date.today() + timedelta(days=90)
    page = signed_in_page(browser, "cm.tester", PASSWORD)
    page.goto(f"{DESK}/cases/{number}#referrals")
    section = page.locator("#referrals")
    section.get_by_label("What may be shared").select_option(label="The details a referral needs")
    section.get_by_label("Last day it holds").fill(ends.isoformat())
    section.get_by_role("button", name="Record consent").click()
    page.get_by_text("the client signs it next").wait_for()
    [consent] = services.cases.show(number).consents
    assert (consent.state, consent.signed_at, consent.expires_on) == ("in_force", None, ends)

    signing = page.locator(f"#sign-{consent.number}")
    signing.locator("summary").click()
    signing.get_by_label("The client's name, as they sign it").fill("Maria Quennell")
    signing.get_by_role("button", name="Record the signed consent").click()
    page.locator("#consent-error").get_by_text("Ask the client to sign in the box.").wait_for()
    signing = page.locator(f"#sign-{consent.number}")
    assert signing.get_attribute("open") is not None  # opened again, where it was refused
    assert signing.get_by_label("The client's name, as they sign it").input_value() == (
        "Maria Quennell"
    )
    look(page, "case-consent-signing")
    pad = signing.locator("canvas.signature-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(
            box["x"] + 20 + step * box["width"] / 14,
            box["y"] + box["height"] * (0.3 if step % 2 else 0.7),
            steps=3,
        )
    page.mouse.up()
    drawn = signing.locator(f"#signature-{consent.number}").input_value()
    assert drawn.startswith("data:image/png;base64,"), drawn[:80]
    signing.get_by_role("button", name="Record the signed consent").click()
    page.get_by_text(f"{consent.number} is signed, witnessed by you").wait_for()
    look(page, "case-consent-signed")

    [signed] = services.cases.show(number).consents
    assert signed.witness == "cm.tester"
    assert signed.signed_attachment is not None
    with page.expect_download() as download:
        page.get_by_role("link", name=f"the signed form, {signed.signed_attachment}").click()
    form = tmp_path / "signed.pdf"
    download.value.save_as(form)
    text = " ".join(p.extract_text() for p in PdfReader(form).pages)
    assert "Name: Maria Quennell" in text
    assert "Witnessed by (staff): cm.tester" in text
    if shutil.which("pdftoppm"):  # the signature drawn is on the page
        assert 0.005 < _ink(form, SHOTS / "desk-consent-signed-pdf") < 0.2

    # The consent covers the referral the case waits to send (to a directory-only service:
    # the referral is made by hand, and nothing needs a partner on loopback).
    with session_scope() as session:
        factories.provider(session, "desk-consent-partner").endpoint = None
    form = factories.referral_to("desk-consent-partner")
    result = services.stages.submit(number, Stage.REFERRAL, form, actor="tester", wait=True)
    assert (result.outcome, result.stage) == ("moved", "referral"), result
    detail = services.cases.show(number)
    [referral] = detail.referrals
    assert referral.provider == "desk-consent-partner"
    page.close()

    # On the dashboard the signed form is a count and a kind on the case's card; the name
    # the client typed, their signature and the file's name are nowhere on Prefect.
    run = [detail.flow_run_id or ""]
    seen = wait_for(
        "the case card to count the signed form",
        lambda: (text := surfaces_text(stack, run)) and "signed consent 1" in text and text,
    )
    for secret in ("Maria Quennell", "data:image/png", f"{consent.number} signed.pdf"):
        assert secret not in seen
