"""Issue 11, points 6 and 7, against the real gateway (NATS JetStream and PostgreSQL): a cancel
while a swarm step is in flight, and SSE clients that hang up."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from tests.support.polling import eventually

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
        """The gateway counted the late answer as one it ignores."""
        text = client.get("/metrics").text
        return 'autopilot_duplicate_swarm_events_total{swarm="planning"} 1.0' in text

    eventually(ignored, timeout=30, message="the late answer never arrived")
    after = client.get(f"/v1/workflows/{wf}").json()
    assert after["status"] == "cancelled" and after["pending_gate"] is None
    events = client.get(f"/v1/workflows/{wf}/events", params={"follow": False}).text
    assert events.count("event: workflow.cancelled") == 1 and "gate.planning_review" not in events


@dataclass
class Serving:
    """A gateway served by uvicorn in a thread."""

    url: str
    server: uvicorn.Server

    def idle(self) -> bool:
        """No request being handled and no connection open (a hung-up stream is done with)."""
        state = self.server.server_state
        return not state.tasks and not state.connections


@pytest.fixture
def serving(gateway_settings: GatewaySettings) -> Iterator[Serving]:  # noqa: F811
    """The gateway behind a real HTTP server (uvicorn), so a client can really hang up."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(gateway_settings), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        """uvicorn is up; its thread dying first fails at once."""
        assert thread.is_alive(), "gateway did not start"
        return server.started

    eventually(started, timeout=30, message="gateway did not start")
    yield Serving(f"http://127.0.0.1:{port}", server)
    server.should_exit = True
    thread.join(20)


@pytest.fixture
def served(serving: Serving) -> str:
    """The served gateway's base URL."""
    return serving.url


def test_an_sse_client_that_hangs_up_logs_no_traceback(
    serving: Serving, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    served = serving.url
    wf = httpx.post(f"{served}/v1/workflows", json={"requirements": SPEC}).json()["id"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            with httpx.stream("GET", f"{served}/v1/workflows/{wf}/events", timeout=10) as r:
                for i, _line in enumerate(r.iter_lines()):
                    if i >= 2:
                        break  # hang up while the server polls the database for more
            # The server is done with the stream (what it logs about the hang-up is logged).
            eventually(serving.idle, timeout=10, message="the hung-up stream is still served")
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
