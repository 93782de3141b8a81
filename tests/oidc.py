"""The agency's OpenID provider for the single sign-on tests: the `oidc-provider-mock`
server, a real OpenID Connect provider, on loopback in a process of its own (it signs in
whoever its form is given: `sub`, with that as the `email` claim unless set otherwise)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import httpx

from tests.conftest import _free_port
from tests.polling import wait_for


@contextlib.contextmanager
def openid_provider() -> Iterator[str]:
    """The provider, running: its issuer URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", "oidc_provider_mock"]
        + ["--port", str(port), "--require-nonce"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    issuer = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{issuer}/.well-known/openid-configuration").status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None  # ended: fail below, not wait

    try:
        wait_for("the OpenID provider", answers, timeout=60, every=0.2)
        assert process.poll() is None, "the OpenID provider did not start"
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=30)


def signed_on_at(browser: httpx.Client, start: str, sub: str) -> httpx.Response:
    """A browser (its cookies) sent from `start` to the provider, signed in there as
    `sub`, and back: the answer to the way back."""
    off = browser.get(start)
    assert off.status_code == 303, off.text
    at_provider = httpx.post(off.headers["location"], data={"sub": sub}, follow_redirects=False)
    assert at_provider.status_code in (302, 303), at_provider.text
    back = at_provider.headers["location"]
    return browser.get(back)
