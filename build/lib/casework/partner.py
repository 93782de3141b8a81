"""A small partner-agency server that speaks the Casework referral protocol, for the tests,
the demo, and a partner who wants to try the protocol before building their side.

    POST /referrals              (Bearer token, Idempotency-Key) -> 201, or 409 if known
    GET  /referrals/{referral_id} -> {"status", "reason", "updated_at"}

What it answers is decided per service category by a rule: `accept`, `reject` (no
capacity), `hold` (received, never answered), `flaky` (the first POST gets a 500), `slow`
(the first POST answers only after `slow_seconds`).

    python -m casework.partner --port 8765 --token s3cret-token --rule legal_aid=reject
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RULES = ("accept", "reject", "hold", "flaky", "slow")


class PartnerAgency:
    def __init__(
        self,
        token: str,
        rules: dict[str, str] | None = None,
        default: str = "accept",
        host: str = "127.0.0.1",
        port: int = 0,
        slow_seconds: float = 3.0,
    ) -> None:
        self.token = token
        self.rules = dict(rules or {})
        self.default = default
        self.slow_seconds = slow_seconds
        self.referrals: dict[str, dict[str, Any]] = {}
        self.posts: list[dict[str, Any]] = []  # every POST body, in order (also refused ones)
        self._first_post_seen: set[str] = set()
        self._lock = threading.Lock()
        self.server = _Server((host, port), _Handler)
        self.server.agency = self
        self.url = f"http://{host}:{self.server.server_address[1]}"

    def rule_for(self, service: str) -> str:
        return self.rules.get(service, self.default)

    def start(self) -> PartnerAgency:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, referral_id: str) -> dict[str, Any] | None:
        with self._lock:
            known = self.referrals.get(referral_id)
        if known is None:
            return None
        rule = self.rule_for(known["service"])
        about = {"referral_id": referral_id, "updated_at": known["at"]}
        if rule == "reject":
            return about | {"status": "rejected", "reason": "no capacity"}
        if rule == "hold":
            return about | {"status": "received", "reason": None}
        return about | {"status": "accepted", "reason": None}

    def _receive(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        referral_id = str(body.get("referral_id", ""))
        rule = self.rule_for(str(body.get("service", "")))
        with self._lock:
            first = referral_id not in self._first_post_seen
            self._first_post_seen.add(referral_id)
        if first and rule == "flaky":
            return 500, {"reason": "temporarily unavailable"}
        if first and rule == "slow":
            time.sleep(self.slow_seconds)
        if not referral_id or "client" not in body:
            return 422, {"reason": "referral_id and client are required"}
        with self._lock:
            if referral_id in self.referrals:
                return 409, {"reason": "already received"}
            at = datetime.now(UTC).isoformat()
            self.referrals[referral_id] = {"service": body.get("service", ""), "at": at}
        return 201, {"status": "received"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    agency: PartnerAgency


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up waiting (a timeout on its side)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.server.agency.token}":
            return True
        self._reply(401, {"reason": "bad token"})
        return False

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        agency = self.server.agency
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            body = {}
        with agency._lock:
            agency.posts.append(body)
        if not self._authorized():
            return
        if self.path.rstrip("/").split("/")[-1] != "referrals":
            self._reply(404, {"reason": "not found"})
            return
        self._reply(*agency._receive(body))

    def do_GET(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        answer = self.server.agency._answer(self.path.rstrip("/").split("/")[-1])
        if answer is None:
            self._reply(404, {"reason": "unknown referral"})
        else:
            self._reply(200, answer)

    def log_message(self, *args: Any) -> None:
        pass


def serve_on_loopback(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """An HTTP server on a free loopback port, serving in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class WebhookReceiver:
    """An agency's webhook receiver on loopback, for the tests and the scale-out walkthrough:
    every POST checked with `verify(body, signature header, Idempotency-Key, secret)`
    against the program's secret (`secrets`, else `secret`); answers 204, or (`mode`) 500,
    or never until closed."""

    def __init__(self, verify: Callable[[bytes, str, str, str], bool]) -> None:
        self.verify = verify
        self.mode = "ok"
        self.secret = ""
        self.secrets: dict[str, str] = {}
        self.received: list[tuple[dict[str, Any], str]] = []  # (body, Idempotency-Key)
        self.attempts = 0
        self.refused = 0
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.attempts += 1
                signed = self.headers.get("Casework-Signature", "")
                if not receiver.accepts(raw, signed, self.headers.get("Idempotency-Key", "")):
                    receiver.refused += 1
                    self.send_response(401)
                elif receiver.mode == "silent":
                    receiver.release.wait(30)
                    return
                elif receiver.mode == "fail":
                    self.send_response(500)
                else:
                    receiver.received.append((json.loads(raw), self.headers["Idempotency-Key"]))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = serve_on_loopback(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/casework"

    def accepts(self, raw: bytes, signed: str, key: str) -> bool:
        try:
            program = str(json.loads(raw).get("program", ""))
        except ValueError:
            return False
        return self.verify(raw, signed, key, self.secrets.get(program, self.secret))

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="A partner agency speaking the referral protocol")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", required=True)
    parser.add_argument("--default", choices=RULES, default="accept")
    parser.add_argument(
        "--rule", action="append", default=[], metavar="CATEGORY=RULE", help="per service category"
    )
    args = parser.parse_args()
    rules = dict(rule.split("=", 1) for rule in args.rule)
    agency = PartnerAgency(args.token, rules, args.default, port=args.port).start()
    print(f"partner agency at {agency.url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        agency.stop()


if __name__ == "__main__":
    main()
