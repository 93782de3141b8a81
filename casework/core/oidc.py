"""Single sign-on with the agency's OpenID provider (Entra ID, Google Workspace, Okta,
Keycloak): OpenID Connect's authorization code flow with PKCE, a nonce and a state.

The provider is found from its issuer URL (`/.well-known/openid-configuration`); the ID
token it returns is checked against the keys it publishes (signature, issuer, audience,
nonce, expiry) with joserfc, the library authlib itself now uses; the PKCE challenge is
authlib's. Nothing here knows the roster: it answers "the provider says this person is
who the configured claim names", or refuses in one line."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from casework.core.errors import UserError

TIMEOUT = httpx.Timeout(10.0)
SCOPES = "openid email profile"


class SignOnFailed(UserError):
    """The provider did not sign the person in, or said something we cannot trust."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None


@dataclass(frozen=True)
class Client:
    """This application at the provider: its client id and secret, and where the provider
    sends the browser back."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True)
class Started:
    """A sign-in on its way to the provider: kept by us (never in the browser but `state`)
    until the browser comes back."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Identity:
    claims: dict[str, Any]
    access_token: str
    id_token: str


_found: dict[str, Provider] = {}
_keys: dict[str, KeySet] = {}
_lock = threading.Lock()


def provider(issuer: str) -> Provider:
    """The provider's published configuration (read once per process)."""
    with _lock:
        if issuer in _found:
            return _found[issuer]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        answer = httpx.get(url, timeout=TIMEOUT)
        answer.raise_for_status()
        data = answer.json()
        found = Provider(
            issuer=data["issuer"],
            authorization_endpoint=data["authorization_endpoint"],
            token_endpoint=data["token_endpoint"],
            jwks_uri=data["jwks_uri"],
            userinfo_endpoint=data.get("userinfo_endpoint"),
            end_session_endpoint=data.get("end_session_endpoint"),
        )
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise SignOnFailed(
            f"the sign-in provider at {issuer} did not answer with its configuration ({exc})"
        ) from None
    if found.issuer.rstrip("/") != issuer.rstrip("/"):
        raise SignOnFailed(
            f"the sign-in provider at {issuer} says it is {found.issuer}: CASEWORK_SSO_ISSUER "
            "must be the issuer exactly"
        )
    with _lock:
        _found[issuer] = found
    return found


def start(client: Client) -> Started:
    """Where to send the browser, and what to keep until it comes back."""
    found = provider(client.issuer)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": SCOPES,
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return Started(f"{found.authorization_endpoint}?{urlencode(query)}", state, nonce, verifier)


def finish(client: Client, started: Started, code: str) -> Identity:
    """The code the browser brought back, exchanged for tokens; the ID token checked."""
    found = provider(client.issuer)
    try:
        answer = httpx.post(
            found.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": client.redirect_uri,
                "code_verifier": started.verifier,
            },
            auth=(client.client_id, client.client_secret),
            timeout=TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise SignOnFailed(f"the sign-in provider did not answer ({exc})") from None
    if answer.status_code != 200:
        raise SignOnFailed(f"the sign-in provider refused the sign-in ({_error(answer)})")
    tokens = answer.json()
    id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
    if not isinstance(id_token, str) or not isinstance(access_token, str):
        raise SignOnFailed("the sign-in provider sent no ID token")
    claims = _checked(found, client, id_token, started.nonce)
    return Identity(claims, access_token, id_token)


def _checked(found: Provider, client: Client, id_token: str, nonce: str) -> dict[str, Any]:
    registry = jwt.JWTClaimsRegistry(
        leeway=60,
        iss={"essential": True, "value": found.issuer},
        aud={"essential": True, "value": client.client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
    )
    failed = ""
    for fresh in (False, True):  # a signature that fails may be by a rotated key: read again
        try:
            token = jwt.decode(id_token, _key_set(found, fresh))
        except (JoseError, ValueError) as exc:
            failed = str(exc) or type(exc).__name__
            continue
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise SignOnFailed(f"the sign-in provider's ID token is not valid ({exc})") from None
        return dict(token.claims)
    raise SignOnFailed(f"the sign-in provider's ID token is not signed by its keys ({failed})")


def _key_set(found: Provider, fresh: bool) -> KeySet:
    with _lock:
        if not fresh and found.jwks_uri in _keys:
            return _keys[found.jwks_uri]
    try:
        answer = httpx.get(found.jwks_uri, timeout=TIMEOUT)
        answer.raise_for_status()
        keys = KeySet.import_key_set(answer.json())
    except (httpx.HTTPError, ValueError) as exc:
        raise SignOnFailed(f"the sign-in provider's keys could not be read ({exc})") from None
    with _lock:
        _keys[found.jwks_uri] = keys
    return keys


def still_signed_in(issuer: str, access_token: str) -> bool:
    """Whether the provider still knows this sign-in: its userinfo endpoint answers the
    access token (a person removed or signed out there is refused). A provider that does
    not answer is taken as "no": nobody keeps working on an identity nobody can vouch for."""
    found = provider(issuer)
    if found.userinfo_endpoint is None:
        return True  # nothing to ask: the sign-in lasts its own timeouts
    try:
        answer = httpx.get(
            found.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=TIMEOUT,
        )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def sign_out_url(issuer: str, id_token: str, then: str) -> str | None:
    """Where to send the browser to end the sign-in at the provider too (RP-initiated
    logout), where the provider offers it."""
    found = provider(issuer)
    if found.end_session_endpoint is None:
        return None
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": then})
    return f"{found.end_session_endpoint}?{query}"


def _error(answer: httpx.Response) -> str:
    try:
        data = answer.json()
        return str(data.get("error_description") or data.get("error") or answer.status_code)
    except ValueError:
        return f"HTTP {answer.status_code}"
