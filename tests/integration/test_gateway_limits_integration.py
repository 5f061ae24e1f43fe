"""Issue 11, points 6 and 7, against the real gateway (NATS JetStream and PostgreSQL): a cancel
while a swarm step is in flight, and SSE clients that hang up."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from shared.events import Swarm, SwarmRequest, swarm_event
from shared.infra.artifacts import ArtifactStore
from tests.fakes.gateway_world import answer
from tests.gateway_client import wait_for
from tests.integration.test_gateway_integration import (  # noqa: F401 - fixtures
    SPEC,
    Responder,
    gateway_settings,
    running,
)

pytestmark = pytest.mark.integration


def test_a_late_swarm_answer_after_a_cancel_is_ignored(
    running: Callable[..., tuple[TestClient, Responder]],  # noqa: F811
) -> None:
    held: list[SwarmRequest] = []

    def hold_planning(request: SwarmRequest) -> str | None:
        if request.swarm is Swarm.PLANNING:
            held.append(request)
            return "hold"
        return None

    client, responder = running(hold_planning)
    wf = client.post("/v1/workflows", json={"requirements": SPEC}).json()["id"]
    wait_for(client, wf, lambda b: b["phase"] == "planning" and bool(held))
    cancelled = client.post(f"/v1/workflows/{wf}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    async def late_answer() -> None:
        settings = responder.settings
        async with ArtifactStore.open(settings.database_url or "", setup=False) as store:
            result = await answer(held[0], store)
        responder.published.append(
            swarm_event(result, source="/test", prefix=settings.subject_prefix)
        )

    asyncio.run(late_answer())
    responder.republish(responder.published[-1])

    def ignored() -> bool:
        text = client.get("/metrics").text
        return 'autopilot_duplicate_swarm_events_total{swarm="planning"} 1.0' in text

    deadline = time.monotonic() + 30
    while not ignored():
        assert time.monotonic() < deadline, "the late answer never arrived"
        time.sleep(0.05)
    after = client.get(f"/v1/workflows/{wf}").json()
    assert after["status"] == "cancelled" and after["pending_gate"] is None
    events = client.get(f"/v1/workflows/{wf}/events", params={"follow": False}).text
    assert events.count("event: workflow.cancelled") == 1 and "gate.planning_review" not in events


@pytest.fixture
def served(gateway_settings: GatewaySettings) -> Iterator[str]:  # noqa: F811
    """The gateway behind a real HTTP server (uvicorn), so a client can really hang up."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(gateway_settings), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "gateway did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def test_an_sse_client_that_hangs_up_logs_no_traceback(
    served: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    wf = httpx.post(f"{served}/v1/workflows", json={"requirements": SPEC}).json()["id"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            with httpx.stream("GET", f"{served}/v1/workflows/{wf}/events", timeout=10) as r:
                for i, _line in enumerate(r.iter_lines()):
                    if i >= 2:
                        break  # hang up while the server polls the database for more
            time.sleep(0.3)
        # The server is still fine after the hang-ups.
        assert httpx.get(f"{served}/v1/workflows/{wf}").status_code == 200
    noisy = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.exc_info or r.levelno >= logging.WARNING
    ]
    assert noisy == []


def test_limits_hold_on_the_real_gateway(served: str) -> None:
    services = "".join(f"  s{i}:\n    image: nginx:1.27\n" for i in range(201))
    too_many = httpx.post(f"{served}/v1/workflows", json={"compose": "services:\n" + services})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "compose", "services"]
    big = httpx.post(
        f"{served}/v1/workflows",
        content=b'{"prompt": "' + b"x" * (3 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413 and big.headers["content-type"] == "application/json"
    nul = httpx.get(f"{served}/v1/workflows", params={"cursor": str(2**64)})
    assert nul.status_code == 422
    response = httpx.post(f"{served}/v1/workflows", json={"requirements": SPEC})
    assert response.status_code == 202 and response.headers["location"].endswith(
        response.json()["id"]
    )
