"""Notifications (issue 10.2) in memory: signing, patterns, formats, validation, the API's
subscriptions and event feed, and the notifier's retry / dead-letter decisions.
(tests/integration/test_webhooks_integration.py: the same through NATS, Postgres and HTTP.)"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.cli.main import main as cli
from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from services.notifier.config import NotifierSettings
from services.notifier.delivery import post, render
from services.notifier.handlers import Notifier
from services.notifier.metrics import NotifierMetrics
from shared.events import Event
from shared.infra.webhooks import MemoryWebhooks, SecretBox, Target
from shared.webhooks import (
    SIGNATURE_HEADER,
    Notification,
    WebhookDelivery,
    WebhookError,
    WebhookFormat,
    check_pattern,
    check_patterns,
    check_url,
    matches,
    matches_any,
    sign,
    slack_text,
    verify,
)
from tests.fakes.gateway_world import MemoryWorld, keyed_client
from tests.gateway_client import at_gate, ended, lend, submit, wait_for
from tests.unit.gateway.test_gateway_trust import KEYS, SPEC, auth

SECRET = "s3cret-0123456789abcdef"
NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- signing


def test_the_signature_is_the_hex_hmac_sha256_of_the_body() -> None:
    body = b'{"specversion":"1.0"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET) == f"sha256={expected}"
    assert verify(body, SECRET, f"sha256={expected}")
    assert not verify(body + b" ", SECRET, f"sha256={expected}")
    assert not verify(body, "another-secret-0123", f"sha256={expected}")
    assert not verify(body, SECRET, None)


# --------------------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    ("pattern", "event", "hit"),
    [
        ("gate.*", "gate.planning_review.pending", True),
        ("gate.*", "workflow.completed", False),
        ("gate.*.pending", "gate.security_review.pending", True),
        ("gate.*.pending", "gate.security_review.approve", False),
        ("gate.planning_review.*", "gate.planning_review.reject", True),
        ("gate.planning_review.*", "gate.security_review.pending", False),
        ("workflow.*", "workflow.completed", True),
        ("workflow.completed", "workflow.completed", True),
        ("workflow.completed", "workflow.failed", False),
        ("workflow.*", "workflow", False),
        ("*", "gate.deployment_approval.pending", True),
        ("*", "workflow.step", True),
    ],
)
def test_patterns_match_like_subjects_with_a_trailing_star_taking_the_rest(
    pattern: str, event: str, hit: bool
) -> None:
    check_pattern(pattern)
    assert matches(pattern, event) is hit


def test_patterns_are_validated_and_deduplicated() -> None:
    assert check_patterns(["gate.*", "workflow.*", "gate.*"]) == ["gate.*", "workflow.*"]
    assert matches_any(["workflow.completed", "gate.*.pending"], "gate.error_review.pending")
    bad = {
        "": "events.0",
        "deploy.*": "events.0",
        "gate.nope.pending": "events.0",
        "workflow.finished": "events.0",
        "gate.*.pending.x": "events.0",
        "GATE.*": "events.0",
        "gate..pending": "events.0",
        "workflow.completed.x": "events.0",
        "gate.*>": "events.0",
    }
    for pattern, field in bad.items():
        with pytest.raises(WebhookError) as caught:
            check_patterns([pattern])
        assert caught.value.field == field, pattern
    with pytest.raises(WebhookError, match="at least one"):
        check_patterns([])


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "hooks.example.com",
        "http://",
        "https://user:pw@hooks.example.com/",
        "http://hooks.example.com:0/",
        "http://hooks.example.com/a b",
        "http://[::1",
        "gopher://hooks.example.com/",
    ],
)
def test_only_http_and_https_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(WebhookError) as caught:
        check_url(url, allow_private=True)
    assert caught.value.field == "url"


def test_private_receivers_are_refused_unless_allowed() -> None:
    for url in (
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:192.168.0.1]/",
        "http://metadata.google.internal/",
    ):
        with pytest.raises(WebhookError, match="private"):
            check_url(url, allow_private=False)
        assert check_url(url, allow_private=True) == url
    assert check_url("https://hooks.slack.com/services/T/B/X", allow_private=False)


# --------------------------------------------------------------------------- formats


def target(
    fmt: WebhookFormat = WebhookFormat.CLOUDEVENTS, url: str = "https://r.example/h"
) -> Target:
    return Target(
        id="wh_0123456789ab",
        url=url,
        events=["*"],
        format=fmt,
        created_by="bob",
        created_at=NOW,
        secret=SECRET,
    )


def delivery(type_: str = "gate.planning_review.pending", **data: Any) -> WebhookDelivery:
    notice = Notification(
        workflow_id="wf123",
        event_id=7,
        type=type_,
        data=data or {"gate": "planning_review", "phase": "planning_review"},
    )
    return WebhookDelivery(
        webhook_id="wh_0123456789ab",
        notification_id="ev-1",
        source="/autopilot/gateway",
        time=NOW,
        notice=notice,
        name="shop",
    )


def test_cloudevents_are_structured_json_signed_over_the_exact_body() -> None:
    body, headers = render(target(), delivery(), "https://autopilot.example/")
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert verify(body, SECRET, headers[SIGNATURE_HEADER])
    event = json.loads(body)
    assert {k: event[k] for k in ("specversion", "id", "type", "source", "subject")} == {
        "specversion": "1.0",
        "id": "ev-1",
        "type": "autopilot.v1.gate.planning_review.pending",
        "source": "/autopilot/gateway",
        "subject": "wf123",
    }
    assert event["datacontenttype"] == "application/json"
    assert event["data"]["workflow_id"] == "wf123" and event["data"]["gate"] == "planning_review"
    assert event["data"]["url"] == "https://autopilot.example/workflows/wf123"
    assert datetime.fromisoformat(event["time"]) == NOW


def test_slack_messages_link_to_the_gate_and_cannot_be_forged() -> None:
    body, headers = render(target(WebhookFormat.SLACK), delivery(), "https://autopilot.example")
    assert headers["Content-Type"] == "application/json" and verify(
        body, SECRET, headers[SIGNATURE_HEADER]
    )
    text = json.loads(body)["text"]
    assert (
        "*planning_review*" in text and "<https://autopilot.example/workflows/wf123|shop>" in text
    )
    done = slack_text(
        "workflow.completed",
        "wf123",
        {"chart": {"name": "shop", "version": "0.1.0"}, "name": "<!channel> & co"},
        "https://a.example/workflows/wf123",
    )
    assert (
        "chart shop 0.1.0" in done
        and "<!channel>" not in done
        and "&lt;!channel&gt; &amp; co" in done
    )
    failed = slack_text("workflow.failed", "wf123", {"error": {"message": "boom"}}, "u")
    assert ":x:" in failed and "boom" in failed


def test_secrets_are_sealed_per_subscription() -> None:
    box = SecretBox(b"k" * 32)
    stored, sealed = box.seal("wh_a", SECRET)
    assert sealed and SECRET not in stored and box.open("wh_a", stored, sealed) == SECRET
    with pytest.raises(ValueError):
        box.open("wh_b", stored, sealed)  # bound to its row
    assert SecretBox(None).seal("wh_a", SECRET) == (SECRET, False)


# --------------------------------------------------------------------------- one request


def test_a_request_is_judged_by_its_answer() -> None:
    answers = iter([200, 500, 429, 404, 302])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), headers={"Location": "http://elsewhere"})

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async def run() -> list[Any]:
        results = []
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            for _ in range(5):
                results.append(await post(client, target(), b"{}", {}, allow_private=True))
        async with httpx.AsyncClient(transport=httpx.MockTransport(timeout)) as client:
            results.append(await post(client, target(), b"{}", {}, allow_private=True))
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            private = target(url="http://127.0.0.1:9/h")
            results.append(await post(client, private, b"{}", {}, allow_private=False))
        return results

    got = [(r.ok, r.retryable, r.reason) for r in asyncio.run(run())]
    assert got == [
        (True, False, ""),
        (False, True, "http_5xx"),
        (False, True, "http_4xx"),
        (False, False, "http_4xx"),
        (False, False, "redirect"),
        (False, True, "timeout"),
        (False, False, "refused_address"),
    ]


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    settings = NotifierSettings(webhook_retry_seconds=1.0, webhook_retry_max_seconds=10.0)
    assert [settings.retry_delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert NotifierSettings(local_mode=True).allow_private()


# --------------------------------------------------------------------------- the notifier


class FakeMessage:
    """What the handlers use of a FastStream NatsMessage."""

    def __init__(self, body: bytes, delivered: int, subject: str = "p.webhook.delivery") -> None:
        self.body = body
        self.raw_message = SimpleNamespace(
            subject=subject,
            headers={"Nats-Msg-Id": "m1"},
            metadata=SimpleNamespace(num_delivered=delivered, sequence=SimpleNamespace(stream=1)),
        )
        self.acked = False
        self.nacked: float | None = None

    async def ack(self) -> None:
        self.acked = True

    async def nack(self, delay: float | None = None) -> None:
        self.nacked = delay


class FakeBroker:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, body: bytes, subject: str, **kw: Any) -> None:
        self.published.append((subject, body, kw.get("headers") or {}))


def notifier_with(
    status: int, store: MemoryWebhooks, attempts: int = 3
) -> tuple[Notifier, FakeBroker, list[httpx.Request]]:
    settings = NotifierSettings(
        subject_prefix="p",
        webhook_max_attempts=attempts,
        webhook_retry_seconds=1.0,
        public_url="https://ap.example",
    )
    broker = FakeBroker()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    notifier = Notifier(settings, broker, NotifierMetrics())  # type: ignore[arg-type]
    notifier.attach(store, httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    return notifier, broker, seen


def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered() -> None:
    store = MemoryWebhooks()

    async def run() -> None:
        hook = await store.create(
            tenant="t1",
            url="https://r.example/h",
            events=["*"],
            format=WebhookFormat.SLACK,
            secret=SECRET,
            created_by="bob",
        )
        notifier, broker, seen = notifier_with(503, store)
        body = Event[WebhookDelivery](
            type="p.webhook.delivery",
            source="/t",
            subject="wf123",
            data=delivery().model_copy(update={"webhook_id": hook.id, "format": hook.format}),
        ).to_bytes()
        delays = []
        for attempt in (1, 2):
            msg = FakeMessage(body, attempt)
            await notifier.on_delivery(msg)  # type: ignore[arg-type]
            assert not msg.acked
            delays.append(msg.nacked)
        assert delays == [1.0, 2.0]
        last = FakeMessage(body, 3)
        await notifier.on_delivery(last)  # type: ignore[arg-type]
        assert last.acked and last.nacked is None
        [(subject, dead, headers)] = broker.published
        assert subject == "p.deadletter.webhooks" and dead == body
        assert headers["Autopilot-Webhook"] == hook.id and headers["Autopilot-Attempts"] == "3"
        assert "503" in headers["Autopilot-Error"]
        assert len(seen) == 3 and all(
            verify(r.content, SECRET, r.headers[SIGNATURE_HEADER]) for r in seen
        )
        m = notifier.metrics
        assert m.value("autopilot_webhook_deliveries_total", format="slack", outcome="retried") == 2
        assert (
            m.value("autopilot_webhook_deliveries_total", format="slack", outcome="dead_lettered")
            == 1
        )
        assert m.value("autopilot_webhook_failures_total", format="slack", reason="http_5xx") == 3
        [row] = await store.search("t1")
        assert (row.dead_lettered, row.last_outcome) == (1, "dead_lettered")

        # A deleted subscription's delivery is dropped, not posted.
        await store.delete(hook.id, None)
        gone = FakeMessage(body, 1)
        await notifier.on_delivery(gone)  # type: ignore[arg-type]
        assert gone.acked and len(seen) == 3
        assert m.value("autopilot_webhook_deliveries_total", format="slack", outcome="dropped") == 1

    asyncio.run(run())


def test_fan_out_reaches_only_the_workflow_tenants_matching_subscriptions() -> None:
    source = SimpleNamespace(
        records={"wf123": SimpleNamespace(tenant="t1", name="shop", submitted_by="alice")},
        events=[],
    )
    store = MemoryWebhooks(source=source)

    async def run() -> None:
        kw: dict[str, Any] = {
            "format": WebhookFormat.CLOUDEVENTS,
            "secret": SECRET,
            "created_by": "x",
        }
        gates = await store.create(
            tenant="t1", url="https://a.example", events=["gate.*.pending"], **kw
        )
        await store.create(
            tenant="t1", url="https://b.example", events=["workflow.completed"], **kw
        )
        await store.create(tenant="t2", url="https://c.example", events=["*"], **kw)
        notifier, broker, _ = notifier_with(200, store)
        notice = Notification(
            workflow_id="wf123",
            event_id=3,
            type="gate.planning_review.pending",
            data={"gate": "planning_review"},
        )
        event = Event[Notification](
            type="p.gate.planning_review.pending",
            source="/autopilot/gateway",
            subject="wf123",
            data=notice,
        )
        msg = FakeMessage(event.to_bytes(), 1, subject="p.gate.planning_review.pending")
        await notifier.on_notification(msg)  # type: ignore[arg-type]
        assert msg.acked
        [(subject, body, headers)] = broker.published
        out = Event[WebhookDelivery].model_validate_json(body).data
        assert subject == "p.webhook.delivery" and out.webhook_id == gates.id
        assert out.name == "shop" and out.notice.data["gate"] == "planning_review"
        assert headers["Nats-Msg-Id"]  # deterministic: a redelivered notification fans out once

    asyncio.run(run())


# --------------------------------------------------------------------------- the API


def keyed(tmp_path: Path, world: MemoryWorld) -> TestClient:
    return keyed_client(tmp_path, world, KEYS)


def test_approvers_manage_their_tenants_webhooks_and_never_see_a_secret(tmp_path: Path) -> None:
    world = MemoryWorld()
    body = {
        "url": "https://hooks.example.com/a",
        "secret": SECRET,
        "events": ["gate.*"],
        "format": "slack",
    }
    with keyed(tmp_path, world) as client:
        assert client.post("/v1/webhooks", json=body, headers=auth("alice-key")).status_code == 403
        assert client.get("/v1/webhooks", headers=auth("alice-key")).status_code == 403
        made = client.post("/v1/webhooks", json=body, headers=auth("bob-key"))
        assert made.status_code == 201, made.text
        hook = made.json()
        assert hook["tenant"] == "t1" and hook["format"] == "slack" and "secret" not in hook
        assert SECRET not in made.text
        other = client.post(
            "/v1/webhooks", json={**body, "format": "cloudevents"}, headers=auth("carol-key")
        ).json()
        listed = client.get("/v1/webhooks", headers=auth("bob-key"))
        assert [w["id"] for w in listed.json()["items"]] == [
            hook["id"]
        ] and SECRET not in listed.text
        everyone = client.get("/v1/webhooks", headers=auth("root-key")).json()["items"]
        assert {w["id"] for w in everyone} == {hook["id"], other["id"]}
        # Another tenant's subscription is not there for bob.
        assert (
            client.delete(f"/v1/webhooks/{other['id']}", headers=auth("bob-key")).status_code == 404
        )
        assert (
            client.delete(f"/v1/webhooks/{hook['id']}", headers=auth("bob-key")).status_code == 200
        )
        assert client.get("/v1/webhooks", headers=auth("bob-key")).json()["items"] == []
    stored = {w.id: s for w, s, _ in world.webhooks.rows.values()}
    assert stored and all(SECRET not in s for s in stored.values())  # sealed at rest


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://hooks.example.com/a"}, "url"),
        ({"url": "http://127.0.0.1:9/"}, "url"),
        ({"events": ["deploy.*"]}, "events"),
        ({"secret": "short"}, "secret"),
        ({"format": "teams"}, "format"),
    ],
)
def test_invalid_subscriptions_are_422s_naming_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    body = {"url": "https://hooks.example.com/a", "secret": SECRET, **change}
    with keyed(tmp_path, MemoryWorld()) as client:
        response = client.post("/v1/webhooks", json=body, headers=auth("bob-key"))
    assert response.status_code == 422, response.text
    assert any(e["loc"][:2] == ["body", field] for e in response.json()["detail"]), response.json()


def test_the_event_feed_shows_what_the_caller_may_see(tmp_path: Path) -> None:
    world = MemoryWorld()
    with keyed(tmp_path, world) as client:
        t1 = client.post(
            "/v1/workflows", json={"requirements": SPEC}, headers=auth("alice-key")
        ).json()["id"]
        t2 = client.post(
            "/v1/workflows", json={"requirements": SPEC}, headers=auth("dave-key")
        ).json()["id"]
        for wf, key in ((t1, "alice-key"), (t2, "dave-key")):
            client.headers.update(auth(key))
            wait_for(client, wf, at_gate("planning_review"))

        def feed(key: str, **params: Any) -> list[dict[str, Any]]:
            response = client.get(
                "/v1/events", params={"follow": "false", **params}, headers=auth(key)
            )
            assert response.status_code == 200, response.text
            return [
                json.loads(line[5:])
                for line in response.text.splitlines()
                if line.startswith("data:")
            ]

        alice = feed("alice-key", after=0)
        assert {e["workflow_id"] for e in alice} == {t1}
        assert alice[0]["type"] == "workflow.started" and all(
            isinstance(e["id"], int) for e in alice
        )
        pending = feed("bob-key", after=0, events="gate.*.pending")
        assert [(e["type"], e["workflow_id"], e["data"]["gate"]) for e in pending] == [
            ("gate.planning_review.pending", t1, "planning_review")
        ]
        assert {e["workflow_id"] for e in feed("root-key", after=0)} == {t1, t2}
        assert {e["workflow_id"] for e in feed("carol-key", after=0)} == {t2}
        assert len(feed("alice-key", tail=2)) == 2 and feed("alice-key") == []
        bad = client.get(
            "/v1/events", params={"events": "nope.*", "follow": "false"}, headers=auth("bob-key")
        )
        assert bad.status_code == 422


def test_local_mode_runs_a_workflow_and_its_gate_events_carry_id_and_gate(tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path, local_mode=True)
    world = MemoryWorld()
    with TestClient(create_app(settings, resources=world)) as client:
        wf = submit(client, SPEC)
        wait_for(client, wf, lambda b: at_gate("planning_review")(b) or ended(b))
    [pending] = [e for e in world.store.events if e.type == "gate.planning_review.pending"]
    assert pending.workflow_id == wf and pending.data["gate"] == "planning_review"


# --------------------------------------------------------------------------- the CLI


def test_the_cli_adds_lists_and_removes_webhooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = MemoryWorld()
    with keyed(tmp_path, world) as client:
        monkeypatch.setattr("services.cli.remote.client", lend(client))
        monkeypatch.setenv("AUTOPILOT_API_KEY", "bob-key")
        client.headers.update(auth("bob-key"))
        assert (
            cli(
                [
                    "webhooks",
                    "add",
                    "https://hooks.example.com/x",
                    "-e",
                    "gate.*.pending",
                    "--format",
                    "slack",
                ]
            )
            == 0
        )
        out = capsys.readouterr().out.splitlines()
        hook_id, secret = out[0], out[1].removeprefix("secret: ")
        assert hook_id.startswith("wh_") and len(secret) >= 32
        assert cli(["webhooks", "list", "-o", "json"]) == 0
        [listed] = json.loads(capsys.readouterr().out)
        assert listed["id"] == hook_id and listed["events"] == ["gate.*.pending"]
        assert "secret" not in listed
        assert cli(["webhooks", "add", "ftp://x.example/", "-o", "json"]) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert error["kind"] == "input" and "url" in error["message"]
        assert cli(["webhooks", "rm", hook_id]) == 0
        assert f"deleted {hook_id}" in capsys.readouterr().out
        assert cli(["webhooks", "rm", hook_id]) == 2


def test_the_cli_prints_events_as_json_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = GatewaySettings(data_dir=tmp_path, local_mode=True)
    with TestClient(create_app(settings, resources=MemoryWorld())) as client:
        monkeypatch.setattr("services.cli.remote.client", lend(client))
        wf = submit(client, SPEC)
        wait_for(client, wf, lambda b: at_gate("planning_review")(b) or ended(b))
        assert cli(["events", "--since", "0"]) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert lines[0]["type"] == "workflow.started" and lines[0]["workflow_id"] == wf
        assert [e["id"] for e in lines] == sorted(e["id"] for e in lines)
        assert cli(["events", "--since", "0", "-e", "gate.*.pending"]) == 0
        [pending] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert pending["data"]["gate"] == "planning_review" and pending["workflow_id"] == wf
        assert cli(["events", "--tail", "1", "-o", "text"]) == 0
        assert "gate.planning_review.pending" in capsys.readouterr().out
        assert cli(["events", "-e", "nope"]) == 2


def test_webhook_deliveries_are_taken_by_sequential_pullers() -> None:
    """A delivery never waits in the notifier for a free worker unseen by JetStream (which
    would redeliver it and post twice): one sequential puller per worker, none fetching ahead."""
    from faststream._internal.endpoint.subscriber.mixins import ConcurrentMixin
    from faststream.nats import NatsBroker

    broker = NatsBroker()
    notifier = Notifier(
        NotifierSettings(subject_prefix="p", max_workers=3), broker, NotifierMetrics()
    )
    notifier.subscribe()
    deliveries = [s for s in broker.subscribers if s.config.durable_name.endswith("-deliveries")]
    assert len(deliveries) == 3
    for puller in deliveries:
        assert not isinstance(puller, ConcurrentMixin)
        assert puller.pull_sub.batch_size == 1
