"""Driving the gateway's HTTP API from tests: submit, wait for a state, approve."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Check = Callable[[dict[str, Any]], bool]


def wait_for(client: TestClient, wf: str, check: Check, timeout: float = 90) -> dict[str, Any]:
    """Poll the workflow until `check` holds (swarm answers arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/workflows/{wf}").json()
        if check(body):
            return body
        assert time.monotonic() < deadline, f"timed out; last state {body}"
        time.sleep(0.02)


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
