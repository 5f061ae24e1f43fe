"""The notifier's NATS side: fan notifications out to subscriptions, deliver each with retries.

Two steps, each on a durable JetStream consumer shared by every notifier replica:

1. `notifier-workflow` / `notifier-gate` read `workflow.>` and `gate.>`. For each notification the
   workflow's tenant is read from its row, and one `webhook.delivery` event is published per
   subscription of that tenant whose patterns match (Nats-Msg-Id = notification x subscription,
   so a redelivered notification fans out once). Acked after every delivery event is stored.
2. `notifier-deliveries` reads `webhook.delivery` and posts it. A failure worth retrying is
   nacked with an exponential delay (JetStream keeps it, so a restart loses nothing); after
   `webhook_max_attempts` attempts, or at once when retrying cannot help, the delivery goes to
   `deadletter.webhooks` with the reason in its headers, and is acked.

Each subscription's deliveries are independent: a dead receiver never holds up another one.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import httpx
from faststream.middlewares import AckPolicy as FastStreamAckPolicy
from faststream.nats import NatsBroker, NatsMessage, PullSub
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from services.notifier.config import NotifierSettings
from services.notifier.delivery import post, render
from services.notifier.metrics import NotifierMetrics
from shared.events import (
    MSG_ID_HEADER,
    Event,
    jstream,
    msg_id,
    named_handler,
    sequential_pullers,
    webhook_dead_letter_subject,
    webhook_delivery_subject,
)
from shared.infra.webhooks import WebhookStore
from shared.webhooks import Notification, WebhookDelivery, matches_any, short_type

_log = logging.getLogger("autopilot.notifier")

PUBLISH_TIMEOUT = 5.0
NACK_DELAY = 2.0
# The gateway stamps an event with its clock, Postgres a subscription with its own.
CLOCK_SKEW = timedelta(seconds=5)


class Notifier:
    """Fan-out and delivery handlers around one broker, one store and one HTTP client."""

    def __init__(
        self, settings: NotifierSettings, broker: NatsBroker, metrics: NotifierMetrics
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.metrics = metrics
        self.store: WebhookStore | None = None
        self.http: httpx.AsyncClient | None = None
        self.source = f"/autopilot/{settings.service_name}"

    def attach(self, store: WebhookStore, http: httpx.AsyncClient) -> None:
        """Give the handlers their store and client (done by the service's lifespan)."""
        self.store, self.http = store, http

    async def _publish(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
        await self.broker.publish(
            body,
            subject,
            headers=headers,
            stream=self.settings.stream_name,
            timeout=PUBLISH_TIMEOUT,
        )

    # ----------------------------------------------------------------- step 1: fan out

    async def on_notification(self, message: NatsMessage) -> None:
        """Publish one delivery per matching subscription of the workflow's tenant, then ack."""
        assert self.store is not None
        subject = message.raw_message.subject
        try:
            envelope = Event[Notification].model_validate_json(message.body)
        except ValidationError as exc:
            _log.error("unreadable notification on %s: %s", subject, str(exc).splitlines()[0])
            await message.ack()
            return
        notice = envelope.data
        # The subject is the truth; a Notice published by an older gateway may lack its type.
        notice.type = short_type(subject, self.settings.subject_prefix)
        self.metrics.notifications.labels(notice.type.split(".")[0]).inc()
        try:
            info = await self.store.workflow(notice.workflow_id)
            if info is None:
                # No row: not a workflow of this installation's gateway; nobody subscribed to it.
                await message.ack()
                return
            for hook in await self.store.search(info.tenant):
                if not matches_any(hook.events, notice.type):
                    continue
                if hook.created_at - CLOCK_SKEW > envelope.time:
                    continue  # a subscription gets what happened after it was made
                delivery = WebhookDelivery(
                    webhook_id=hook.id,
                    format=hook.format,
                    notification_id=envelope.id,
                    source=envelope.source,
                    time=envelope.time,
                    notice=notice,
                    name=info.name,
                )
                event = Event[WebhookDelivery](
                    id=msg_id("webhook.delivery", notice.workflow_id, envelope.id, hook.id),
                    type=webhook_delivery_subject(self.settings.subject_prefix),
                    source=self.source,
                    subject=notice.workflow_id,
                    data=delivery,
                )
                await self._publish(event.type, event.to_bytes(), event.headers())
        except Exception:
            _log.exception(
                "could not fan out %s of %s; redelivery will retry", notice.type, notice.workflow_id
            )
            await message.nack(delay=NACK_DELAY)
            return
        await message.ack()

    # ----------------------------------------------------------------- step 2: deliver

    async def on_delivery(self, message: NatsMessage) -> None:
        """Post one delivery; ack, retry later, or dead-letter."""
        assert self.store is not None and self.http is not None
        attempt = int(message.raw_message.metadata.num_delivered or 1)
        try:
            delivery = Event[WebhookDelivery].model_validate_json(message.body).data
        except ValidationError as exc:
            _log.error("unreadable webhook delivery: %s", str(exc).splitlines()[0])
            await self._dead_letter(message, "-", "unreadable delivery", attempt)
            await message.ack()
            return
        fmt = delivery.format.value
        try:
            target = await self.store.target(delivery.webhook_id)
        except Exception:
            _log.exception("could not read webhook %s; retrying", delivery.webhook_id)
            await message.nack(delay=NACK_DELAY)
            return
        if target is None:  # deleted since the fan-out: nobody wants it any more
            self.metrics.deliveries.labels(fmt, "dropped").inc()
            await message.ack()
            return
        body, headers = render(target, delivery, self.settings.public_url)
        started = time.perf_counter()
        result = await post(
            self.http, target, body, headers, allow_private=self.settings.allow_private()
        )
        self.metrics.duration.labels(fmt).observe(time.perf_counter() - started)
        if result.ok:
            self.metrics.deliveries.labels(fmt, "delivered").inc()
            await self._record(target.id, "delivered")
            await message.ack()
            return
        self.metrics.failures.labels(fmt, result.reason).inc()
        if result.retryable and attempt < self.settings.webhook_max_attempts:
            delay = self.settings.retry_delay(attempt)
            _log.info(
                "webhook %s attempt %d failed (%s); retry in %.1fs",
                target.id,
                attempt,
                result.detail,
                delay,
            )
            self.metrics.deliveries.labels(fmt, "retried").inc()
            await message.nack(delay=delay)
            return
        _log.warning(
            "webhook %s: %s after %d attempt(s); dead-lettered", target.id, result.detail, attempt
        )
        await self._dead_letter(message, target.id, result.detail or result.reason, attempt)
        self.metrics.deliveries.labels(fmt, "dead_lettered").inc()
        await self._record(target.id, "dead_lettered", result.detail or result.reason)
        await message.ack()

    async def _dead_letter(
        self, message: NatsMessage, webhook_id: str, why: str, attempts: int
    ) -> None:
        """Park the delivery with why it failed; its id makes a repeated dead letter one."""
        raw = message.raw_message
        original = (raw.headers or {}).get(MSG_ID_HEADER) or str(raw.metadata.sequence.stream)
        headers = {
            MSG_ID_HEADER: msg_id("webhook.deadletter", webhook_id, original),
            "Autopilot-Webhook": webhook_id,
            "Autopilot-Error": " ".join(why.split())[:500],
            "Autopilot-Attempts": str(attempts),
        }
        await self._publish(
            webhook_dead_letter_subject(self.settings.subject_prefix), message.body, headers
        )

    async def _record(self, webhook_id: str, outcome: str, error: str | None = None) -> None:
        """The subscription's counts; best effort (the delivery itself is done)."""
        assert self.store is not None
        try:
            await self.store.record(webhook_id, outcome, error)
        except Exception as exc:  # noqa: BLE001 - counts are for people, not for delivery
            _log.warning("could not record %s of webhook %s: %s", outcome, webhook_id, exc)

    # ----------------------------------------------------------------- wiring

    def subscribe(self) -> None:
        """The three durable consumers (registered before the broker starts)."""
        s = self.settings
        stream = jstream(s.stream_name, s.subject_prefix)
        for kind in ("workflow", "gate"):
            durable = f"{s.consumer_name}-{kind}"
            self.broker.subscriber(
                f"{s.subject_prefix}.{kind}.>",
                stream=stream,
                durable=durable,
                config=ConsumerConfig(
                    durable_name=durable,
                    ack_policy=AckPolicy.EXPLICIT,
                    # A new notifier starts at the present, not at a week of history.
                    deliver_policy=DeliverPolicy.NEW,
                    max_deliver=20,
                    ack_wait=30.0,
                    description=f"K8s Autopilot notifier: {kind} notifications",
                ),
                pull_sub=PullSub(batch_size=16, timeout=1.0),
                ack_policy=FastStreamAckPolicy.MANUAL,
                title=f"notifier: {kind}.*",
            )(named_handler(self.on_notification, f"on_{kind}"))
        durable = f"{s.consumer_name}-deliveries"
        # Sequential pullers (why: shared/events.py): a delivery never waits unseen for a worker.
        sequential_pullers(
            self.broker,
            webhook_delivery_subject(s.subject_prefix),
            self.on_delivery,
            stream=stream,
            config=ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                # Headroom over the attempts: a delivery that hit Postgres trouble is retried too.
                max_deliver=s.webhook_max_attempts + 3,
                ack_wait=s.webhook_timeout_seconds * 2 + 10.0,
                description="K8s Autopilot notifier: webhook deliveries",
            ),
            workers=s.max_workers,
            pull_timeout=1.0,
            title="notifier: webhook deliveries",
        )
