"""The gateway's NATS side: the publisher nodes use, and the subscribers for swarm answers.

Each `<swarm>.completed` / `<swarm>.failed` subject has its own durable JetStream pull consumer
(shared by every gateway replica). A message is acked once the workflow has been resumed and
checkpointed, or found to be a duplicate; it is nacked with a delay when the resume could not be
made durable (Postgres away), so JetStream delivers it again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from faststream.middlewares import AckPolicy as FastStreamAckPolicy
from faststream.nats import NatsBroker, NatsMessage, PullSub
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import ValidationError

from services.gateway.config import GatewaySettings
from services.gateway.supervisor import Supervisor
from shared.events import Event, Phase, Swarm, SwarmFailure, SwarmResult, jstream, swarm_subject
from shared.models.workflow import ErrorCode, ErrorContext

_log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 5.0
NACK_DELAY = 2.0


class NatsPublisher:
    """Publishes events to the stream and waits for JetStream's ack (durable before we go on)."""

    def __init__(self, broker: NatsBroker, stream: str) -> None:
        self._broker = broker
        self._stream = stream

    async def publish(self, subject: str, event: Event[Any]) -> None:
        """One event, its id as Nats-Msg-Id."""
        await self._broker.publish(
            event.to_bytes(),
            subject,
            headers=event.headers(),
            stream=self._stream,
            timeout=PUBLISH_TIMEOUT,
        )


def build_broker(settings: GatewaySettings, nats_url: str) -> NatsBroker:
    """The FastStream NATS broker of one gateway process."""
    return NatsBroker(nats_url, name=f"autopilot-{settings.service_name}", graceful_timeout=10.0)


def parse(phase: Phase, body: bytes) -> SwarmResult | SwarmFailure:
    """A swarm answer's payload out of its envelope."""
    model: type[SwarmResult] | type[SwarmFailure] = (
        SwarmResult if phase is Phase.COMPLETED else SwarmFailure
    )
    return Event[model].model_validate_json(body).data  # type: ignore[valid-type]


def subscribe(broker: NatsBroker, settings: GatewaySettings, supervisor: Supervisor) -> None:
    """Register one durable subscriber per swarm answer subject (before the broker starts)."""
    stream = jstream(settings.stream_name, settings.subject_prefix)
    for swarm in Swarm:
        for phase in (Phase.COMPLETED, Phase.FAILED):
            durable = f"{settings.consumer_name}-{swarm.value}-{phase.value}"
            subscriber = broker.subscriber(
                swarm_subject(swarm, phase, settings.subject_prefix),
                stream=stream,
                durable=durable,
                config=ConsumerConfig(
                    durable_name=durable,
                    ack_policy=AckPolicy.EXPLICIT,
                    # Bounded: a lost answer is re-requested by the reconciler anyway.
                    max_deliver=20,
                    ack_wait=60.0,
                    description=f"K8s Autopilot gateway: {swarm.value}.{phase.value}",
                ),
                pull_sub=PullSub(batch_size=1, timeout=1.0),
                ack_policy=FastStreamAckPolicy.MANUAL,
                max_workers=8,
                title=f"gateway: {swarm.value}.{phase.value}",
            )
            subscriber(_handler(broker, settings, supervisor, phase))


def poison_failure(body: bytes, subject: str, error: str) -> SwarmFailure | None:
    """A failure standing in for an unreadable swarm answer, when it says whose answer it was."""
    try:
        doc = json.loads(body)
        data = doc.get("data") or {}
        return SwarmFailure(
            workflow_id=str(data.get("workflow_id") or doc["subject"]),
            swarm=Swarm(data.get("swarm") or subject.split(".")[-2]),
            attempt=int(data.get("attempt") or 1),
            error=ErrorContext(
                code=ErrorCode.INVALID_INPUT,
                message=f"unreadable answer on {subject}: {error}"[:2000],
                details={"dead_letter": True},
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError):
        return None


def _handler(
    broker: NatsBroker, settings: GatewaySettings, supervisor: Supervisor, phase: Phase
) -> Any:
    """The message handler for one phase's subjects."""
    dead_letter = f"{settings.subject_prefix}.deadletter.gateway"

    async def on_answer(message: NatsMessage) -> None:
        try:
            payload = parse(phase, message.body)
        except ValidationError as exc:
            # Nothing to resume with and redelivery would not make it readable: park the bytes on
            # the dead-letter subject and fail the workflow it names, if it names one.
            subject = message.raw_message.subject
            _log.error("unreadable %s event on %s: %s", phase.value, subject, exc)
            reason = str(exc).splitlines()[0]
            await broker.publish(
                message.body,
                dead_letter,
                stream=settings.stream_name,
                timeout=PUBLISH_TIMEOUT,
                headers={"Autopilot-Original-Subject": subject, "Autopilot-Error": reason[:500]},
            )
            failure = poison_failure(message.body, subject, reason)
            if failure is not None:
                await supervisor.on_swarm_event(Phase.FAILED, failure)
            await message.ack()
            return
        try:
            await supervisor.on_swarm_event(phase, payload)
        except Exception:
            _log.exception(
                "could not apply %s for %s; redelivery will retry", phase.value, payload.workflow_id
            )
            await message.nack(delay=NACK_DELAY)
            return
        await message.ack()

    on_answer.__name__ = f"on_{phase.value}"
    return on_answer
