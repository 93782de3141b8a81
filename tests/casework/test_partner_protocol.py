"""Hostile partners, on real loopback HTTP servers: one that trickles a byte at a time is
cut off at the call's deadline (not held by the per-read timeout); an answer about another
referral, or dated in the future or before we sent the referral, is refused."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from casework.core.db import migrate, session_scope
from casework.core.settings import get_settings
from casework.models import consents, referrals
from casework.models.codes import ReferralStatus, Stage
from casework.partner import serve_on_loopback
from casework.tasks.referrals import PartnerUnavailable, send_referral, sync_provider
from tests import factories


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    migrate()


class Trickler:
    """Accepts a connection, then sends one byte of a never-ending status line at a time."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 10_000:
                if self.stop.wait(0.3):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


class Answers:
    """A partner whose GET answers are whatever the test says."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                data = json.dumps(partner.answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve_on_loopback(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CASEWORK_PARTNER_DEADLINE_SECONDS", "2")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _referral_to(url: str, sent: bool) -> tuple[str, str]:
    """A referral to a provider at `url`: requested (unsent) or received (sent an hour ago)."""
    now = factories.now()
    key = factories.unique_word("p").lower()
    with session_scope() as session:
        case = factories.walk_to(session, factories.new_case(session), Stage.REFERRAL, now)
        factories.provider(session, key, url)
        consents.give(session, case, key, now.date(), "cm.a", now)
        factories.move(session, case, factories.referral_to(key), now)
        [referral] = referrals.for_case(session, case)
        if sent:
            referral.sent_at = now - timedelta(hours=1)
            referrals.set_status(
                session, referral, ReferralStatus.RECEIVED, None, "partner", referral.sent_at
            )
        return key, referral.reference or ""


def _status(reference: str) -> str:
    with session_scope(read_only=True) as session:
        return referrals.get(session, reference).status


@pytest.mark.timeout(60)
def test_a_trickling_partner_is_cut_off_at_the_deadline(short_deadline: None) -> None:
    trickler = Trickler()
    try:
        key, reference = _referral_to(trickler.url, sent=True)
        assert sync_provider(key, [reference]) == []
        assert _status(reference) == ReferralStatus.RECEIVED.value

        _, unsent = _referral_to(trickler.url, sent=False)
        with pytest.raises(PartnerUnavailable, match="no whole answer within 2 s"):
            send_referral.fn(unsent)
        assert _status(unsent) == ReferralStatus.REQUESTED.value, "left for the retry"
    finally:
        trickler.close()


def test_answers_about_another_referral_or_at_impossible_times_are_refused() -> None:
    partner = Answers()
    try:
        key, reference = _referral_to(partner.url, sent=True)
        now = datetime.now(UTC)
        for answer in (
            {"referral_id": "REF-000000", "status": "accepted"},
            {"status": "accepted", "updated_at": "1970-01-01T00:00:00+00:00"},
            {"status": "accepted", "updated_at": (now + timedelta(days=1)).isoformat()},
            {"status": "accepted", "updated_at": "the day after tomorrow"},
        ):
            partner.answer = answer
            assert sync_provider(key, [reference]) == [], answer
            assert _status(reference) == ReferralStatus.RECEIVED.value

        partner.answer = {"referral_id": reference, "status": "accepted", "updated_at": str(now)}
        [change] = sync_provider(key, [reference])
        assert (change.old, change.new) == ("received", "accepted")
    finally:
        partner.close()


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dev mode off, as an agency runs it."""
    monkeypatch.setenv("CASEWORK_DEV_MODE", "off")
    monkeypatch.setenv("CASEWORK_WRITE_AHEAD", "off")  # which needs dev mode
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_no_referral_goes_to_this_machine_or_a_private_network(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked again when sending: a provider stored before the rules (loopback), and a
    public name that resolves to a private address, fail with the reason, and nothing is
    sent (the partner on loopback sees no request)."""
    partner = Answers()
    try:
        _, stored = _referral_to(partner.url, sent=False)
        assert send_referral.fn(stored) == ReferralStatus.FAILED.value
        with session_scope(read_only=True) as session:
            assert referrals.get(session, stored).status_reason == (
                "the provider's referral endpoint is refused: 127.0.0.1 is a loopback address: "
                "for dev mode only (CASEWORK_DEV_MODE=on); import its directory again"
            )
        _, named = _referral_to("https://partner.example.org", sent=False)
        real = socket.getaddrinfo

        def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
            if host == "partner.example.org":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443))]
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        assert send_referral.fn(named) == ReferralStatus.FAILED.value
        with session_scope(read_only=True) as session:
            assert "partner.example.org (10.0.0.7) is a private-range address" in (
                referrals.get(session, named).status_reason or ""
            )
    finally:
        partner.close()


def test_the_demo_partner_is_the_one_loopback_address_allowed_outside_dev_mode(
    production: None,
) -> None:
    from casework.core import credentials
    from casework.core.files import create_new

    demo = credentials.tokens_path(credentials.DEMO_PARTNER_FILE)
    existed = demo.exists()
    if not existed:
        create_new(demo, json.dumps({"port": 8765, "token": "t" * 20}))
    try:
        port = json.loads(demo.read_text())["port"]
        assert credentials.local_endpoint_allowed(f"http://127.0.0.1:{port}")
        assert not credentials.local_endpoint_allowed(f"http://127.0.0.1:{port + 1}")
        assert not credentials.local_endpoint_allowed("https://10.0.0.7")
    finally:
        if not existed:
            demo.unlink()
