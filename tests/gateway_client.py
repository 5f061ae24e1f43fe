"""Driving the gateway's HTTP API from tests: submit, wait for a state, approve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.support.polling import eventually

Check = Callable[[dict[str, Any]], bool]


def wait_for(
    client: httpx.Client | str,
    wf: str,
    check: Check,
    timeout: float = 90,
    *,
    headers: dict[str, str] | None = None,
    interval: float = 0.02,
) -> dict[str, Any]:
    """Poll the workflow until `check` holds (swarm answers arrive asynchronously); its state.

    `client` is a TestClient (any httpx client) or the base URL of a running gateway. A check
    that knows the state will never come fails at once by raising.
    """

    def state() -> dict[str, Any]:
        """The workflow as GET /v1/workflows/{id} shows it now."""
        if isinstance(client, str):
            response = httpx.get(f"{client}/v1/workflows/{wf}", headers=headers, timeout=30)
        else:
            response = client.get(f"/v1/workflows/{wf}", headers=headers)
        body: dict[str, Any] = response.json()
        return body

    return eventually(
        state,
        until=check,
        timeout=timeout,
        interval=interval,
        message=f"workflow {wf} did not reach the state waited for",
    )


def at_gate(gate: str) -> Check:
    """The workflow waits at `gate`."""
    return lambda b: (b.get("pending_gate") or {}).get("gate") == gate


def ended(b: dict[str, Any]) -> bool:
    """The workflow is over, one way or another."""
    return b["status"] in ("completed", "failed", "rejected")


def submit(client: TestClient, spec: dict[str, Any], **body: Any) -> str:
    """POST a workflow (the spec as requirements unless the body names another input)."""
    response = client.post("/v1/workflows", json=body or {"requirements": spec})
    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("running", "waiting_for_approval")
    return str(response.json()["id"])


def approve(client: TestClient, wf: str, gate: str, **extra: Any) -> dict[str, Any]:
    """Approve the pending gate."""
    response = client.post(
        f"/v1/workflows/{wf}/decisions", json={"gate": gate, "decision": "approve", **extra}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


class Lent:
    """A TestClient lent to the CLI as `remote.client` hands one out: its lifespan is already
    running, so the CLI's `with` neither starts nor closes it."""

    def __init__(self, client: TestClient) -> None:
        """Lend `client`."""
        self.client = client

    def __enter__(self) -> TestClient:
        """The lent client."""
        return self.client

    def __exit__(self, *exc: object) -> None:
        """Nothing to close: the test owns the client."""
        return None


def lend(client: TestClient) -> Callable[..., Lent]:
    """A stand-in for `services.cli.remote.client` that lends `client`, whatever it is asked."""
    return lambda *args, **kwargs: Lent(client)
