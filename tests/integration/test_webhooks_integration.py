"""Notifications end to end (issue 10.2): the real gateway on NATS JetStream and Postgres, the
notifier service, and a local HTTP receiver on 127.0.0.1 (a free port). Subscriptions are made
through the API; a workflow runs through its three gates; the receiver checks every signature."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import nats
import pytest
from fastapi.testclient import TestClient
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from services.gateway.config import GatewaySettings
from services.notifier.config import NotifierSettings
from services.notifier.main import NotifierService
from shared.events import webhook_dead_letter_subject
from shared.webhooks import SIGNATURE_HEADER, verify
from tests.gateway_client import approve, at_gate, ended, submit, wait_for
from tests.integration import test_gateway_integration as base
from tests.integration.test_gateway_integration import SPEC, Responder
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

gateway_settings = base.gateway_settings
running = base.running

GATES = ["planning_review", "security_review", "deployment_approval"]
SECRET = "integration-webhook-secret-0123"
T = TypeVar("T")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A tiny HTTP server that records every request; `/fail-N` answers 500 N times, then 200."""

    server: ThreadingHTTPServer
    got: list[Received] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.got if r.path == path]

    def wait(self, check: Callable[[], bool], timeout: float = 60) -> None:
        """Until `check` holds; a timeout lists what was received."""
        eventually(
            check,
            timeout=timeout,
            message=lambda: f"received {[(r.path, r.body[:120]) for r in self.got]}",
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rec = holder["r"]
            with rec.lock:
                rec.got.append(Received(self.path, dict(self.headers.items()), body))
                count = rec.answered[self.path] = rec.answered.get(self.path, 0) + 1
            status = 200
            if self.path.startswith("/fail-"):
                status = 500 if count <= int(self.path.rsplit("-", 1)[1]) else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # port 0: the OS picks a free one
    holder["r"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["r"]
    server.shutdown()
    server.server_close()


class NotifierThread(threading.Thread):
    """The notifier service (its real consumers and store) in its own thread and loop."""

    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.service: NotifierService | None = None
        self.ready = threading.Event()
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        self.service = NotifierService(self.settings)
        async with self.service.running():
            self.ready.set()
            await asyncio.to_thread(self._halt.wait)

    def stop(self) -> None:
        self._halt.set()
        self.join(30)
        if self.error:
            raise self.error


@pytest.fixture
def notifier(gateway_settings: GatewaySettings) -> Iterator[Callable[..., NotifierThread]]:
    threads: list[NotifierThread] = []

    def start(**overrides: Any) -> NotifierThread:
        s = gateway_settings
        settings = NotifierSettings(
            nats_url=s.nats_url,
            database_url=s.database_url,
            subject_prefix=s.subject_prefix,
            stream_name=s.stream_name,
            data_dir=s.data_dir,
            local_mode=True,
            public_url="https://autopilot.example.com",
            webhook_retry_seconds=0.2,
            webhook_retry_max_seconds=1.0,
            webhook_max_attempts=3,
            **overrides,
        )
        thread = NotifierThread(settings)
        thread.start()
        assert thread.ready.wait(30)
        if thread.error:
            raise thread.error
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        if thread.is_alive():
            thread.stop()


def on_the_stream(
    settings: NotifierSettings, read: Callable[[JetStreamContext], Awaitable[T]]
) -> T:
    """One read of the test's stream, on a connection of its own (the test itself is sync)."""

    async def run() -> T:
        """Connect, read, close."""
        nc = await nats.connect(settings.nats_url)
        try:
            return await read(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(run())


def consumer(settings: NotifierSettings, kind: str) -> ConsumerInfo:
    """The server's view of one of the notifier's durable consumers (`gate`, `deliveries`)."""
    name = f"{settings.consumer_name}-{kind}"
    return on_the_stream(settings, lambda js: js.consumer_info(settings.stream_name, name))


def waits_for_the_notifier(settings: NotifierSettings, notification: str) -> bool:
    """Whether the last `notification` (e.g. `gate.x.pending`) is stored in the stream and lies
    past what the notifier's gate consumer has delivered."""

    async def read(js: JetStreamContext) -> bool:
        """The last such notification's sequence against the consumer's delivered one."""
        subject = f"{settings.subject_prefix}.{notification}"
        try:
            stored = await js.get_last_msg(settings.stream_name, subject)
        except NotFoundError:
            return False
        gate = await js.consumer_info(settings.stream_name, f"{settings.consumer_name}-gate")
        return bool(stored.seq and gate.delivered.stream_seq < stored.seq)

    return on_the_stream(settings, read)


def subscribe(client: TestClient, url: str, fmt: str, events: list[str]) -> str:
    made = client.post(
        "/v1/webhooks", json={"url": url, "secret": SECRET, "format": fmt, "events": events}
    )
    assert made.status_code == 201, made.text
    assert SECRET not in made.text
    return str(made.json()["id"])


def test_a_workflow_through_its_gates_notifies_signed_cloudevents_and_slack_and_survives_a_notifier_restart(
    running: Callable[..., tuple[TestClient, Responder]],
    notifier: Callable[..., NotifierThread],
    receiver: Receiver,
) -> None:
    client, _ = running()
    first = notifier()
    subscribe(client, f"{receiver.url}/ce", "cloudevents", ["gate.*.pending", "workflow.*"])
    subscribe(client, f"{receiver.url}/slack", "slack", ["gate.*.pending"])
    wf = submit(client, SPEC)
    wait_for(client, wf, at_gate("planning_review"))
    receiver.wait(lambda: len(receiver.at("/slack")) == 1)

    # The notifier goes away; what happens meanwhile waits in its durable consumer.
    first.stop()
    assert not first.is_alive(), "the notifier did not stop"
    approve(client, wf, "planning_review")
    wait_for(client, wf, at_gate("security_review"))
    # Stored, and past what the notifier's consumer has delivered (a sequence that only grows):
    # nothing has taken it up to here, where the notifier comes back.
    eventually(
        lambda: waits_for_the_notifier(first.settings, "gate.security_review.pending"),
        message="the security_review notification is not waiting in the notifier's consumer",
    )
    assert len(receiver.at("/slack")) == 1
    notifier()
    receiver.wait(lambda: len(receiver.at("/slack")) == 2)
    for gate in GATES[1:]:
        wait_for(client, wf, at_gate(gate))
        approve(client, wf, gate)
    assert wait_for(client, wf, ended)["status"] == "completed"

    def ce_types() -> list[str]:
        return [r.json()["type"] for r in receiver.at("/ce")]

    receiver.wait(lambda: "autopilot.v1.workflow.completed" in ce_types())
    receiver.wait(lambda: len(receiver.at("/slack")) == 3)
    for request in receiver.at("/ce") + receiver.at("/slack"):
        assert verify(request.body, SECRET, request.headers[SIGNATURE_HEADER]), request.headers
    ce = [r for r in receiver.at("/ce")]
    assert all(r.headers["Content-Type"] == "application/cloudevents+json" for r in ce)
    pending = [r.json() for r in ce if r.json()["type"].endswith(".pending")]
    # One pending event per gate, each naming the workflow and the gate.
    assert sorted(e["data"]["gate"] for e in pending) == sorted(GATES)
    assert all(e["subject"] == wf and e["data"]["workflow_id"] == wf for e in pending)
    assert all(e["specversion"] == "1.0" and e["source"] == "/autopilot/gateway" for e in pending)
    done = [r.json() for r in ce if r.json()["type"] == "autopilot.v1.workflow.completed"]
    assert len(done) == 1 and done[0]["data"]["chart"]["name"] == "shop"
    assert len({e["id"] for e in pending}) == 3  # no duplicates across the restart
    assert not any(
        t.startswith("autopilot.v1.gate.") and not t.endswith(".pending") for t in ce_types()
    )

    texts = [r.json()["text"] for r in receiver.at("/slack")]
    link = f"https://autopilot.example.com/workflows/{wf}"
    for gate, text in zip(GATES, texts, strict=True):
        assert f"*{gate}*" in text and link in text, text

    listed = client.get("/v1/webhooks").json()["items"]
    assert {w["url"].rsplit("/", 1)[1]: w["delivered"] for w in listed} == {
        "ce": len(ce),
        "slack": 3,
    }


def test_a_failing_receiver_is_retried_then_dead_lettered_and_counted(
    running: Callable[..., tuple[TestClient, Responder]],
    notifier: Callable[..., NotifierThread],
    receiver: Receiver,
    gateway_settings: GatewaySettings,
) -> None:
    client, _ = running()
    service = notifier().service
    assert service is not None
    # One receiver recovers on the 3rd attempt (the last one allowed), one never does.
    subscribe(client, f"{receiver.url}/fail-2", "cloudevents", ["gate.planning_review.pending"])
    dead_id = subscribe(
        client, f"{receiver.url}/fail-99", "slack", ["gate.planning_review.pending"]
    )

    dead_letters: list[Any] = []
    subscribed = threading.Event()

    async def watch() -> None:
        """Subscribe to dead letters, say so once the server has it, keep the first one."""
        nc = await nats.connect(gateway_settings.nats_url)
        sub = await nc.subscribe(webhook_dead_letter_subject(gateway_settings.subject_prefix))
        try:
            await nc.flush()  # the server answered: it has the subscription
            subscribed.set()
            msg = await sub.next_msg(timeout=60)
            dead_letters.append(msg)
        finally:
            await nc.close()

    watcher = threading.Thread(target=lambda: asyncio.run(watch()), daemon=True)
    watcher.start()
    # The core subscription is in place before anything can be dead-lettered.
    assert subscribed.wait(30), "the dead-letter subscription was not confirmed"
    started = time.monotonic()
    wf = submit(client, SPEC)
    wait_for(client, wf, at_gate("planning_review"))
    receiver.wait(lambda: len(receiver.at("/fail-99")) == 3 and len(receiver.at("/fail-2")) == 3)
    watcher.join(60)
    # Exponential back-off: 0.2 s then 0.4 s between the three attempts.
    times = [r for r in receiver.at("/fail-99")]
    assert len(times) == 3 and time.monotonic() - started >= 0.6

    [dead] = dead_letters
    assert (
        dead.headers["Autopilot-Webhook"] == dead_id and dead.headers["Autopilot-Attempts"] == "3"
    )
    assert "HTTP 500" in dead.headers["Autopilot-Error"]
    # Nothing more is attempted after the dead letter: the server has no delivery left to make
    # (none pending, none awaiting an ack or a retry) and has made six, three per receiver.
    deliveries = eventually(
        lambda: consumer(service.settings, "deliveries"),
        until=lambda info: info.num_pending == 0 and info.num_ack_pending == 0,
        message="deliveries are still pending or unacked",
    )
    assert deliveries.delivered.consumer_seq == 6, deliveries
    assert len(receiver.at("/fail-99")) == 3
    # The notifier counts and records each outcome before it acks: all are in by now.
    metrics = service.metrics

    def value(name: str, **labels: str) -> float:
        return metrics.value(name, **labels)

    assert value("autopilot_webhook_deliveries_total", format="slack", outcome="dead_lettered") == 1
    assert value("autopilot_webhook_deliveries_total", format="slack", outcome="retried") == 2
    assert value("autopilot_webhook_deliveries_total", format="cloudevents", outcome="retried") == 2
    assert (
        value("autopilot_webhook_deliveries_total", format="cloudevents", outcome="delivered") == 1
    )
    assert value("autopilot_webhook_failures_total", format="slack", reason="http_5xx") == 3
    assert value("autopilot_webhook_failures_total", format="cloudevents", reason="http_5xx") == 2
    listed = {w["id"]: w for w in client.get("/v1/webhooks").json()["items"]}
    assert (
        listed[dead_id]["dead_lettered"] == 1 and listed[dead_id]["last_outcome"] == "dead_lettered"
    )
