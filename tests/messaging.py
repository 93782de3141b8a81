"""Real servers on loopback for messages to clients: the agency's SMTP relay (aiosmtpd),
and an SMS gateway of our own that records what it was sent (as apprise's `json://`
posts it) and can refuse the next few, and that posts a client's reply to the desk's
reply hook as a provider's webhook would."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from tests.conftest import _free_port

REPLY_TOKEN = "test-reply-token-0123456789"


class SmtpRelay:
    """An SMTP server on loopback; `mails` are the messages it took, parsed."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        relay = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                parsed = message_from_bytes(envelope.content, policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                relay.mails.append(parsed)
                relay.recipients.append(list(envelope.rcpt_tos))
                return "250 OK"

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpRelay:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@dataclass
class SmsGateway:
    """An HTTP SMS gateway on loopback: records each message posted to it (`sent`: the
    JSON apprise posts, with `to`), answering 500 to the next `refuse` of them."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    refuse: int = 0

    def __post_init__(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if gateway.refuse:
                    gateway.refuse -= 1
                    gateway.refused += 1
                    self.send_response(500)
                else:
                    gateway.sent.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/sms?:to={{to}}"

    def __enter__(self) -> SmsGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, desk: str, sender: str, text: str, token: str = REPLY_TOKEN) -> int:
        """Post a client's reply to the desk's hook, as Twilio does (form-encoded)."""
        response = httpx.post(
            f"{desk}/hooks/sms-reply",
            data={"From": sender, "Body": text},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        return response.status_code
