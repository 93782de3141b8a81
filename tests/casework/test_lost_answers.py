"""A Prefect API answer lost on the way back (the server that had the request died, as one
of several behind a load balancer can): a read, or a write that changes nothing more when
asked twice, is asked again; a create or a resume is not, and its caller is told. Edge
cases of one client, so httpx.MockTransport stands in for the dropped connection."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from casework.core import prefect_api


def _dropping(times: int) -> tuple[httpx.Client, list[str]]:
    """A client whose first `times` requests lose their answer; then the server answers."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path}")
        if len(asked) <= times:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, json={"ok": True})

    client = httpx.Client(
        base_url="http://prefect.test/api/", transport=httpx.MockTransport(handle)
    )
    return client, asked


@pytest.fixture
def dropping(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[str]]:
    def install(times: int) -> list[str]:
        client, asked = _dropping(times)
        monkeypatch.setenv("PREFECT_API_URL", "http://prefect.test/api")
        monkeypatch.setitem(prefect_api._http, "http://prefect.test/api", client)
        monkeypatch.setattr(prefect_api, "LOST_PAUSE_SECONDS", 0)
        return asked

    return install


def test_a_read_whose_answer_was_lost_is_asked_again(dropping) -> None:  # type: ignore[no-untyped-def]
    asked = dropping(2)
    assert prefect_api.rest_api("POST", "/flow_runs/filter", {}) == {"ok": True}
    assert asked == ["POST /api/flow_runs/filter"] * 3
    asked = dropping(1)
    assert prefect_api.rest_api("PATCH", "/artifacts/abc", {"data": "x"}) == {"ok": True}


def test_a_read_is_asked_at_most_three_times(dropping) -> None:  # type: ignore[no-untyped-def]
    asked = dropping(3)
    with pytest.raises(prefect_api.AnswerLost, match="its answer was lost"):
        prefect_api.rest_api("GET", "/flow_runs/abc")
    assert len(asked) == 3


def test_a_resume_whose_answer_was_lost_is_not_asked_again(dropping) -> None:  # type: ignore[no-untyped-def]
    asked = dropping(1)
    with pytest.raises(prefect_api.AnswerLost):
        prefect_api.rest_api("POST", "/flow_runs/abc/resume", {"run_input": {}})
    assert asked == ["POST /api/flow_runs/abc/resume"], "the caller finds out what happened"


def test_a_run_input_whose_answer_was_lost_is_stored_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The schema a suspending run stores for its Resume dialog: its answer lost, it is
    looked for, and stored again only if the server does not have it."""
    stored: dict[str, str] = {}
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.method)
        if request.method == "POST":
            body = json.loads(request.content)
            if body["key"] in stored:
                return httpx.Response(409, json={"detail": "already exists"})
            stored[body["key"]] = body["value"]
            if len(asked) == 1:  # the first store lands, its answer does not come back
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            return httpx.Response(201, json={})
        key = request.url.path.rsplit("/", 1)[1]
        if key not in stored:
            return httpx.Response(404, json={"detail": "not found"})
        return httpx.Response(200, content=stored[key])

    client = httpx.Client(
        base_url="http://prefect.test/api/", transport=httpx.MockTransport(handle)
    )
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.test/api")
    monkeypatch.setitem(prefect_api._http, "http://prefect.test/api", client)
    prefect_api.create_run_input("abc", "plan-3-schema", {"title": "Plan"})
    assert asked == ["POST", "GET"], "found stored: not stored twice"
    assert json.loads(stored["plan-3-schema"]) == {"title": "Plan"}
