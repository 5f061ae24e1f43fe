"""Event contracts: versioned subjects, the JetStream stream, one envelope, the swarm payloads.

Every event travels as `Event[T]` (CloudEvents field names) on a subject under
`autopilot.v1.`; all of them land in one JetStream stream, `AUTOPILOT`. A swarm call is
`<swarm>.requested` -> `<swarm>.completed` | `<swarm>.failed`; notifications anyone may tap are
under `workflow.` and `gate.` (the notifier fans them out to webhooks as `webhook.delivery`);
poison messages go to `deadletter.<swarm>` (undeliverable webhooks to `deadletter.webhooks`).

Idempotency: an event's `id` is derived from what it means (`msg_id`), and is sent as
`Nats-Msg-Id`, so a re-sent request or re-published result inside the stream's duplicate window
is stored once. Events stay small: chart files travel as `ArtifactRef`s to the artifact store.
New fields only with defaults; a breaking change is a new version prefix (`autopilot.v2`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.models.reports import Finding
from shared.models.workflow import ErrorContext

if TYPE_CHECKING:  # the stream functions import NATS when called: the CLI's verbs never do
    from collections.abc import Awaitable, Callable

    from faststream.nats import JStream, NatsBroker, NatsMessage
    from nats.js import JetStreamContext
    from nats.js.api import ConsumerConfig, StreamConfig

SPEC_VERSION = "1.0"
SUBJECT_PREFIX = "autopilot.v1"
STREAM_NAME = "AUTOPILOT"
# The reconciler's re-dispatch deadline must be longer than this window, or a deliberate
# re-send of a lost request would be dropped as a duplicate.
DUPLICATE_WINDOW_SECONDS = 120.0
# Events carry references, not charts; NATS' own limit is 1 MiB, ours is far below on purpose.
MAX_EVENT_BYTES = 256 * 1024
MSG_ID_HEADER = "Nats-Msg-Id"


class Swarm(StrEnum):
    """The remote swarms, each its own service; the value names the step (subjects, phases,
    graph nodes), `service` the program that runs it."""

    PLANNING = "planning"
    GENERATION = "generation"
    VALIDATION = "validation"

    @property
    def service(self) -> str:
        """The service that runs the swarm: its durable consumer, its model setting
        (AUTOPILOT_<SERVICE>_MODEL) and its name in traces and model metrics."""
        return {"planning": "planner", "generation": "generator", "validation": "validator"}[
            self.value
        ]


class Phase(StrEnum):
    """What happened to a swarm call."""

    REQUESTED = "requested"
    COMPLETED = "completed"
    FAILED = "failed"


def swarm_subject(swarm: Swarm | str, phase: Phase | str, prefix: str = SUBJECT_PREFIX) -> str:
    """`<prefix>.<swarm>.<phase>`, e.g. autopilot.v1.planning.requested."""
    return f"{prefix}.{Swarm(swarm).value}.{Phase(phase).value}"


def workflow_subject(event: str, prefix: str = SUBJECT_PREFIX) -> str:
    """A workflow notification, e.g. autopilot.v1.workflow.completed."""
    return f"{prefix}.workflow.{event}"


def gate_subject(gate: str, event: str, prefix: str = SUBJECT_PREFIX) -> str:
    """A human-gate notification, e.g. autopilot.v1.gate.planning_review.pending."""
    return f"{prefix}.gate.{gate}.{event}"


def webhook_delivery_subject(prefix: str = SUBJECT_PREFIX) -> str:
    """One notification for one webhook subscription, retried by the notifier until delivered."""
    return f"{prefix}.webhook.delivery"


def webhook_dead_letter_subject(prefix: str = SUBJECT_PREFIX) -> str:
    """Where webhook deliveries go after their last attempt failed."""
    return f"{prefix}.deadletter.webhooks"


def dead_letter_subject(swarm: Swarm | str, prefix: str = SUBJECT_PREFIX) -> str:
    """Where a swarm's poison messages go after too many deliveries."""
    return f"{prefix}.deadletter.{Swarm(swarm).value}"


PLANNING_REQUESTED = swarm_subject(Swarm.PLANNING, Phase.REQUESTED)
PLANNING_COMPLETED = swarm_subject(Swarm.PLANNING, Phase.COMPLETED)
PLANNING_FAILED = swarm_subject(Swarm.PLANNING, Phase.FAILED)
GENERATION_REQUESTED = swarm_subject(Swarm.GENERATION, Phase.REQUESTED)
GENERATION_COMPLETED = swarm_subject(Swarm.GENERATION, Phase.COMPLETED)
GENERATION_FAILED = swarm_subject(Swarm.GENERATION, Phase.FAILED)
VALIDATION_REQUESTED = swarm_subject(Swarm.VALIDATION, Phase.REQUESTED)
VALIDATION_COMPLETED = swarm_subject(Swarm.VALIDATION, Phase.COMPLETED)
VALIDATION_FAILED = swarm_subject(Swarm.VALIDATION, Phase.FAILED)
WORKFLOW_STARTED = workflow_subject("started")
WORKFLOW_COMPLETED = workflow_subject("completed")
WORKFLOW_FAILED = workflow_subject("failed")
WORKFLOW_EVENTS = f"{SUBJECT_PREFIX}.workflow.>"
GATE_EVENTS = f"{SUBJECT_PREFIX}.gate.>"
DEAD_LETTER_EVENTS = f"{SUBJECT_PREFIX}.deadletter.>"
ALL_EVENTS = f"{SUBJECT_PREFIX}.>"


# --------------------------------------------------------------------------- stream


def stream_config(name: str = STREAM_NAME, prefix: str = SUBJECT_PREFIX) -> StreamConfig:
    """The one stream holding every event under `prefix` (tests pass their own name/prefix)."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

    return StreamConfig(
        name=name,
        description="K8s Autopilot events: swarm requests/results, notifications, dead letters",
        subjects=[f"{prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        # Postgres is the source of truth; a week of events is for replay and debugging.
        max_age=7 * 24 * 3600.0,
        max_msg_size=MAX_EVENT_BYTES,
        num_replicas=1,
    )


async def ensure_stream(
    js: JetStreamContext, name: str = STREAM_NAME, prefix: str = SUBJECT_PREFIX
) -> StreamConfig:
    """Create the stream, or bring an existing one to this config; safe to call from every service."""
    from nats.js.errors import BadRequestError, NotFoundError

    config = stream_config(name, prefix)
    try:
        await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return config
        except BadRequestError:
            # Another service created it between our look and our add; fall through to update.
            await js.stream_info(name)
    await js.update_stream(config)
    return config


def jstream(name: str = STREAM_NAME, prefix: str = SUBJECT_PREFIX) -> JStream:
    """The same stream for FastStream subscribers; `ensure_stream` declares it, FastStream does not."""
    from faststream.nats import JStream

    config = stream_config(name, prefix)
    return JStream(
        name=name,
        subjects=list(config.subjects or []),
        retention=config.retention,
        storage=config.storage,
        duplicate_window=config.duplicate_window,
        max_age=config.max_age,
        max_msg_size=config.max_msg_size,
        # One owner for the definition: FastStream would otherwise create it with its defaults.
        declare=False,
    )


def sequential_pullers(
    broker: NatsBroker,
    subject: str,
    handler: Callable[[NatsMessage], Awaitable[None]],
    *,
    stream: JStream,
    config: ConsumerConfig,
    workers: int,
    pull_timeout: float,
    title: str,
) -> list[Any]:
    """`workers` pullers of one durable consumer, each fetching one message when its last is
    acked or nakked (manual acks), registered on the broker with `handler`.

    Not one puller with FastStream's `max_workers`: that one fetches a message and lets it wait
    for a free worker unseen (no heartbeat), so JetStream redelivers it after ack_wait, maybe
    to another replica, while this one still holds it and later runs it too. A sequential
    puller runs what it fetched at once, so no message waits in a process.
    """
    import warnings

    from faststream.middlewares import AckPolicy as FastStreamAckPolicy
    from faststream.nats import PullSub

    durable = str(config.durable_name)
    with warnings.catch_warnings():
        # JetStream hands each message to one puller of a consumer; `queue` says the same to
        # FastStream's test broker (which would otherwise give it to every puller), and
        # FastStream warns that a pull subscription does not need it.
        warnings.filterwarnings("ignore", "The `queue` option has no effect", RuntimeWarning)
        pullers = [
            broker.subscriber(
                subject,
                stream=stream,
                durable=durable,
                config=config,
                pull_sub=PullSub(batch_size=1, timeout=pull_timeout),
                ack_policy=FastStreamAckPolicy.MANUAL,
                queue=durable,
                title=title + (f" (worker {worker + 1})" if worker else ""),
            )
            for worker in range(max(1, workers))
        ]
    for worker, puller in enumerate(pullers):
        puller(named_handler(handler, f"on_{durable}_{worker + 1}".replace("-", "_")))
    return pullers


def named_handler(
    handler: Callable[[NatsMessage], Awaitable[None]], name: str
) -> Callable[[NatsMessage], Awaitable[None]]:
    """A distinct handler function under `name` (FastStream names subscribers by them)."""

    from faststream.nats import NatsMessage

    async def named(message: NatsMessage) -> None:
        """Pass the message on to the handler."""
        await handler(message)

    named.__name__ = named.__qualname__ = name
    # FastStream reads the parameter's type from the annotations: real classes, not the
    # strings this module's postponed annotations would leave (NATS is imported lazily here).
    named.__annotations__ = {"message": NatsMessage, "return": None}
    return named


# --------------------------------------------------------------------------- ids


def thread_id(workflow_id: str, swarm: Swarm | str, attempt: int) -> str:
    """The LangGraph thread a swarm runs one attempt under: `{workflow_id}:{swarm}:{attempt}`."""
    return f"{workflow_id}:{Swarm(swarm).value}:{attempt}"


def msg_id(event_type: str, workflow_id: str, *parts: object) -> str:
    """A deterministic Nats-Msg-Id: the same event meaning always gives the same id."""
    # Hashing a JSON list keeps ids unambiguous whatever characters a workflow id holds.
    key = json.dumps([event_type, workflow_id, *[str(p) for p in parts]], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def utcnow() -> datetime:
    """Timezone-aware now."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- envelope

T = TypeVar("T", bound=BaseModel)


class Event(BaseModel, Generic[T]):
    """The one envelope every event uses (CloudEvents 1.0 attribute names, JSON mode)."""

    model_config = ConfigDict(extra="ignore")

    specversion: str = SPEC_VERSION
    id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="Dedupe id.")
    type: str = Field(description="What happened: the subject it was published on.")
    source: str = Field(description="Who published it, e.g. /autopilot/planner.")
    time: datetime = Field(default_factory=utcnow)
    subject: str = Field(description="The workflow id this event belongs to.")
    datacontenttype: str = "application/json"
    data: T

    def to_bytes(self) -> bytes:
        """JSON bytes for the wire; refuses events too big to belong on the bus."""
        raw = self.model_dump_json().encode()
        if len(raw) > MAX_EVENT_BYTES:
            raise ValueError(
                f"event {self.type} is {len(raw)} bytes (max {MAX_EVENT_BYTES}): "
                "store the content with ArtifactStore and send an ArtifactRef"
            )
        return raw

    def headers(self) -> dict[str, str]:
        """NATS headers: the dedupe id, plus CloudEvents binary-mode hints for taps."""
        return {MSG_ID_HEADER: self.id, "ce-type": self.type, "ce-subject": self.subject}


# --------------------------------------------------------------------------- payloads


class ArtifactRef(BaseModel):
    """Where a swarm's big output lives in the artifact store, with digests to check it."""

    workflow_id: str
    kind: str = Field(examples=["requirements", "plan", "chart", "report"])
    files: dict[str, str] = Field(
        default_factory=dict,
        description="File name -> SHA-256 hex of its plaintext (an HMAC when stored encrypted).",
    )


class SwarmRequest(BaseModel):
    """Ask a swarm to run one attempt of its step."""

    workflow_id: str
    attempt: int = Field(default=1, ge=1)
    swarm: Swarm
    input: dict[str, Any] | None = Field(default=None, description="Small input, inline.")
    input_refs: list[ArtifactRef] = Field(
        default_factory=list, description="Big input, in the artifact store."
    )
    feedback: list[Finding] = Field(
        default_factory=list, description="Findings of the last validation, for the fix loop."
    )
    deadline: datetime | None = Field(default=None, description="Give up after this time.")

    @model_validator(mode="after")
    def _has_input(self) -> Self:
        """A request without input would make the swarm fail later, far from the cause."""
        if self.input is None and not self.input_refs:
            raise ValueError("a SwarmRequest needs input or input_refs")
        return self

    @property
    def thread_id(self) -> str:
        """The checkpoint thread this attempt runs under."""
        return thread_id(self.workflow_id, self.swarm, self.attempt)


class SwarmResult(BaseModel):
    """A swarm finished an attempt; the output is in the artifact store."""

    workflow_id: str
    attempt: int = Field(default=1, ge=1)
    swarm: Swarm
    artifacts: list[ArtifactRef] = Field(default_factory=list)
    summary: dict[str, Any] = Field(
        default_factory=dict, description="A few numbers a router or a UI needs at a glance."
    )


class SwarmFailure(BaseModel):
    """A swarm gave up on an attempt; the error says whether to retry, escalate or fail."""

    workflow_id: str
    attempt: int = Field(default=1, ge=1)
    swarm: Swarm
    error: ErrorContext


def swarm_event(
    payload: SwarmRequest | SwarmResult | SwarmFailure,
    *,
    source: str,
    prefix: str = SUBJECT_PREFIX,
) -> Event[Any]:
    """Wrap a swarm payload in its envelope with the subject as type and a deterministic id."""
    phase = {
        SwarmRequest: Phase.REQUESTED,
        SwarmResult: Phase.COMPLETED,
        SwarmFailure: Phase.FAILED,
    }[type(payload)]
    subject = swarm_subject(payload.swarm, phase, prefix)
    # Type is prefix-free so a test prefix does not change the id of the same event.
    event_type = swarm_subject(payload.swarm, phase)
    return Event[Any](
        id=msg_id(event_type, payload.workflow_id, payload.swarm.value, payload.attempt),
        type=subject,
        source=source,
        subject=payload.workflow_id,
        data=payload,
    )
