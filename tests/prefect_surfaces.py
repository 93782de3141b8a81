"""Everything Prefect holds about some flow runs, as one text: names, parameters, tags,
states, task runs, logs, artifacts, run inputs and events. Used to prove that client
identity never reaches a Prefect surface."""

from __future__ import annotations

import json
from typing import Any

import httpx

from casework.core.settings import prefect_auth_headers


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body)
    response.raise_for_status()
    return response.json()


def api_post(api_url: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(
        f"{api_url.rstrip('/')}/{path}", json=body, timeout=30, headers=prefect_auth_headers()
    )
    response.raise_for_status()
    return response.json()


def case_events(api_url: str, case_number: str) -> list[dict[str, Any]]:
    """Events about one case (emitted in the background: poll until they land)."""
    body = {"filter": {"resource": {"id": [f"casework.case.{case_number}"]}}, "limit": 10}
    return list(api_post(api_url, "events/filter", body)["events"])


def surfaces_text(api_url: str, flow_run_ids: list[str]) -> str:
    runs = {"flow_runs": {"id": {"any_": flow_run_ids}}}
    with httpx.Client(
        base_url=api_url.rstrip("/") + "/", timeout=30, headers=prefect_auth_headers()
    ) as client:
        parts: list[Any] = [
            _post(client, "flow_runs/filter", runs),
            _post(client, "task_runs/filter", runs),
            _post(
                client,
                "logs/filter",
                {"logs": {"flow_run_id": {"any_": flow_run_ids}}, "limit": 200},
            ),
            # The runs' own artifacts (their cards among them), and the server's newest
            # 200: unsorted, a page of 200 is any 200 of them, and a late case's card may
            # be left out of a long session's.
            _post(
                client,
                "artifacts/filter",
                {"artifacts": {"flow_run_id": {"any_": flow_run_ids}}, "limit": 200},
            ),
            _post(client, "artifacts/filter", {"sort": "UPDATED_DESC", "limit": 200}),
        ]
        for run_id in flow_run_ids:
            events = {"any_resource": {"id": [f"prefect.flow-run.{run_id}"]}}
            parts.append(_post(client, "events/filter", {"filter": events, "limit": 50}))
            parts.append(
                _post(client, f"flow_runs/{run_id}/input/filter", {"prefix": "", "limit": 100})
            )
            states = client.get("flow_run_states/", params={"flow_run_id": run_id})
            parts.append(states.json())
    return json.dumps(parts)


def identity_strings(client: Any) -> list[str]:
    """Values that identify the client; none may appear on a Prefect surface."""
    values = [
        client.given_name,
        client.family_name,
        client.date_of_birth.isoformat(),
        client.id_number,
        client.address,
        client.phone,
    ]
    return [v for v in values if v]
