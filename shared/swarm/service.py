"""SwarmService: the durable consumer, the graph runner and the HTTP side of one swarm service."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from typing import Any, Literal

import psycopg
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Scope
from faststream.nats import NatsBroker, NatsMessage
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import CollectorRegistry, make_asgi_app
from pydantic import ValidationError

from shared.artifacts import Artifacts
from shared.errors import AutopilotError, InputError, classify
from shared.events import (
    MSG_ID_HEADER,
    ArtifactRef,
    Event,
    SwarmFailure,
    SwarmRequest,
    SwarmResult,
    dead_letter_subject,
    ensure_stream,
    jstream,
    msg_id,
    sequential_pullers,
    swarm_event,
)
from shared.infra.artifacts import ArtifactStore
from shared.infra.checkpoint import open_checkpointer, serializer, time_writes
from shared.infra.pg import advisory_lock
from shared.models.workflow import ErrorCode, ErrorContext
from shared.swarm.errors import delivery_count, header_value, peek_ids, stream_seq
from shared.swarm.metrics import SwarmMetrics
from shared.swarm.nodes import SwarmContext
from shared.swarm.settings import SwarmSettings

_log = logging.getLogger("autopilot.swarm")

Outcome = Literal["completed", "resumed", "replayed", "failed", "dead_lettered", "retried"]

ThreadLock = Callable[[str], AbstractAsyncContextManager[None]]
GraphFactory = Callable[[], StateGraph[Any, Any, Any, Any]]


def memory_lock() -> ThreadLock:
    """Per-thread locks inside one process (unit tests); Postgres advisory locks otherwise."""
    locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def lock(thread: str) -> AsyncIterator[None]:
        async with locks.setdefault(thread, asyncio.Lock()):
            yield

    return lock


def postgres_lock(database_url: str) -> ThreadLock:
    """One advisory lock per thread, so two replicas never run the same thread at once."""

    def lock(thread: str) -> AbstractAsyncContextManager[None]:
        return advisory_lock(database_url, f"autopilot:thread:{thread}")

    return lock


def probe_routes(
    readiness: Callable[[], Awaitable[dict[str, bool]]], registry: CollectorRegistry
) -> list[tuple[str, ASGIApp]]:
    """/health (alive), /readyz (200 when every check is true, else 503), /metrics."""

    @get(include_in_schema=False)
    async def health(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b"ok", 200, {"content-type": "text/plain"})

    @get(include_in_schema=False)
    async def readyz(scope: Scope) -> AsgiResponse:
        checks = await readiness()
        status = 200 if all(checks.values()) else 503
        return AsgiResponse(
            json.dumps(checks).encode(), status, {"content-type": "application/json"}
        )

    return [("/health", health), ("/readyz", readyz), ("/metrics", make_asgi_app(registry))]


class SwarmService:
    """One swarm service: broker, durable consumer, graph runner, HTTP side."""

    def __init__(
        self,
        settings: SwarmSettings,
        build_graph: GraphFactory,
        *,
        warm_up: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.swarm = settings.SWARM
        self.service = settings.SWARM.service
        self.source = f"/autopilot/{self.service}"
        self.build_graph = build_graph
        self.warm_up = warm_up
        self.metrics = SwarmMetrics(settings.metrics_enabled)
        self.broker = build_broker(settings)
        # `max_workers` sequential pullers of the one durable consumer (why: shared/events.py).
        self.subscribers = sequential_pullers(
            self.broker,
            settings.requested_subject(),
            self._on_message,
            stream=jstream(settings.stream_name, settings.subject_prefix),
            config=consumer_config(settings, self.service),
            workers=settings.max_workers,
            pull_timeout=settings.pull_timeout_seconds,
            title=f"{self.service}: {self.swarm.value} requests",
        )
        self._graph: CompiledStateGraph[Any, Any, Any, Any] | None = None
        self._context: SwarmContext | None = None
        self._lock: ThreadLock = memory_lock()
        self._ready = False
        self._model_metrics = self.metrics.models.handler(self.swarm.value)

    # ----------------------------------------------------------------- wiring

    def attach(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        artifacts: Artifacts,
        *,
        lock: ThreadLock | None = None,
    ) -> None:
        """Give the service its compiled graph and artifact store (done by `resources`)."""
        self._graph = graph
        self._context = SwarmContext(artifacts=artifacts, swarm=self.swarm, metrics=self.metrics)
        if lock is not None:
            self._lock = lock

    @asynccontextmanager
    async def resources(self) -> AsyncIterator[None]:
        """Checkpointer, artifact store, warm-up and the stream; the broker connects here too."""
        database_url = self._database_url()
        async with AsyncExitStack() as stack:
            saver = await stack.enter_async_context(
                open_checkpointer(
                    database_url,
                    serde=serializer(self.settings),
                    max_connections=self.settings.db_pool_size,
                )
            )
            store = await stack.enter_async_context(
                ArtifactStore.open(
                    database_url,
                    key=self.settings.aes_key_bytes(),
                    max_connections=self.settings.db_pool_size,
                )
            )
            time_writes(saver, self.metrics.checkpoint_write)
            self.attach(
                self.build_graph().compile(checkpointer=saver),
                store,
                lock=postgres_lock(database_url),
            )
            if self.warm_up is not None:
                await asyncio.to_thread(self.warm_up)
            connection = await self.broker.connect()
            await ensure_stream(
                connection.jetstream(), self.settings.stream_name, self.settings.subject_prefix
            )
            self._ready = True
            try:
                yield
            finally:
                self._ready = False

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SwarmService]:
        """The whole service without the HTTP server (tests, embedding)."""
        async with self.resources():
            await self.broker.start()
            try:
                yield self
            finally:
                await self.broker.stop()

    def _database_url(self) -> str:
        """The Postgres URL; `serve` fills it in when an embedded server was started."""
        if not self.settings.database_url:
            raise RuntimeError("AUTOPILOT_DATABASE_URL is not set")
        return self.settings.database_url

    # ----------------------------------------------------------------- messages

    async def _on_message(self, message: NatsMessage) -> None:
        """The subscriber: one request in, ack or nak out."""
        started = time.perf_counter()
        outcome = await self.handle(message)
        self.metrics.requests.labels(self.swarm.value, outcome).inc()
        self.metrics.duration.labels(self.swarm.value).observe(time.perf_counter() - started)

    async def handle(self, message: NatsMessage) -> Outcome:
        """Run one delivery of a request to its ack (or nak); returns what happened."""
        body: bytes = message.body
        try:
            request = self._parse(body)
        except InputError as exc:
            workflow_id, attempt = peek_ids(body)
            error = exc.context(self.swarm.value, attempt)
            self.metrics.failures.labels(self.swarm.value, error.code.value).inc()
            return await self._give_up(message, body, error, workflow_id, dead_letter=True)
        try:
            async with self._keep_alive(message):
                result, outcome = await self.run(request)
                await self._publish_event(
                    swarm_event(result, source=self.source, prefix=self.settings.subject_prefix)
                )
            await message.ack()
            _log.info("%s %s: %s", self.service, request.thread_id, outcome)
            return outcome
        except Exception as exc:  # noqa: BLE001 - every error is classified below
            return await self._on_error(message, body, request, exc)

    def _parse(self, body: bytes) -> SwarmRequest:
        """The request in an envelope; InputError naming what is wrong."""
        try:
            event = Event[SwarmRequest].model_validate_json(body)
        except ValidationError as exc:
            raise InputError.from_validation(exc) from exc
        if event.data.swarm is not self.swarm:
            raise InputError(
                f"the {self.service} service runs {self.swarm.value}, not {event.data.swarm.value}",
                field="data.swarm",
            )
        return event.data

    async def _on_error(
        self, message: NatsMessage, body: bytes, request: SwarmRequest, exc: Exception
    ) -> Outcome:
        """Retry, fail, or dead-letter, by the error's class and the delivery count."""
        error = classify(exc, swarm=self.swarm, attempt=request.attempt)
        self.metrics.failures.labels(self.swarm.value, error.code.value).inc()
        deliveries = delivery_count(message)
        last = deliveries >= self.settings.max_deliver
        deliberate = isinstance(exc, AutopilotError)
        if (error.retryable or not deliberate) and not last:
            # Transient, or a bug that may not repeat: let JetStream deliver it again later.
            _log.warning(
                "%s %s: delivery %d failed (%s), retrying",
                self.service,
                request.thread_id,
                deliveries,
                error.message,
                exc_info=error.code is ErrorCode.UNKNOWN,
            )
            self.metrics.retries.labels(self.swarm.value, error.code.value).inc()
            return await self._nak(message, deliveries)
        if not deliberate and error.code is not ErrorCode.TRANSIENT:
            # ARCHITECTURE.md: what fails on every delivery is poison, reported as invalid input.
            error = ErrorContext(
                code=ErrorCode.INVALID_INPUT,
                message=f"poison message: failed on all {deliveries} deliveries; last error: {error.message}",
                swarm=self.swarm.value,
                attempt=request.attempt,
                details={**error.details, "cause": error.code.value, "deliveries": deliveries},
            )
        _log.error("%s %s: giving up: %s", self.service, request.thread_id, error.message)
        # Refusals such as a policy violation are answers, not poison: no dead letter. Neither
        # is a question for a human (`details.escalate`, e.g. a clarification): the gateway
        # opens its error_review gate for it.
        dead_letter = error.code in (ErrorCode.INVALID_INPUT, ErrorCode.TRANSIENT) and not (
            error.details.get("escalate")
        )
        return await self._give_up(
            message, body, error, request.workflow_id, dead_letter=dead_letter
        )

    async def _give_up(
        self,
        message: NatsMessage,
        body: bytes,
        error: ErrorContext,
        workflow_id: str | None,
        *,
        dead_letter: bool,
    ) -> Outcome:
        """Dead-letter and/or fail the workflow, then ack; nak if even that cannot be published."""
        try:
            if dead_letter:
                await self._dead_letter(message, body, error, workflow_id)
            if workflow_id is not None:
                failure = SwarmFailure(
                    workflow_id=workflow_id, attempt=error.attempt, swarm=self.swarm, error=error
                )
                await self._publish_event(
                    swarm_event(failure, source=self.source, prefix=self.settings.subject_prefix)
                )
        except Exception as exc:  # noqa: BLE001 - NATS down: try again on redelivery
            _log.warning("%s: cannot publish the failure (%s), retrying", self.service, exc)
            return await self._nak(message, delivery_count(message))
        await message.ack()
        return "dead_lettered" if dead_letter else "failed"

    async def _dead_letter(
        self, message: NatsMessage, body: bytes, error: ErrorContext, workflow_id: str | None
    ) -> None:
        """The original bytes on `deadletter.<swarm>`, with why in the headers."""
        where = stream_seq(message) or hashlib.sha256(body).hexdigest()[:16]
        headers = {
            MSG_ID_HEADER: msg_id("deadletter", workflow_id or "", self.swarm.value, where),
            "autopilot-service": self.service,
            "autopilot-error-code": error.code.value,
            "autopilot-error": header_value(error.message),
            "autopilot-deliveries": str(delivery_count(message)),
            "autopilot-original-subject": header_value(message.raw_message.subject),
        }
        if workflow_id is not None:
            headers["ce-subject"] = header_value(workflow_id)
        await self.broker.publish(
            body,
            dead_letter_subject(self.swarm, self.settings.subject_prefix),
            headers=headers,
            stream=self.settings.stream_name,
            timeout=5.0,
        )
        self.metrics.dead_letters.labels(self.swarm.value).inc()

    async def _publish_event(self, event: Event[Any]) -> None:
        """Publish to the stream and wait for its ack (durable before we ack the request)."""
        await self.broker.publish(
            event.to_bytes(),
            event.type,
            headers=event.headers(),
            stream=self.settings.stream_name,
            timeout=5.0,
        )

    async def _nak(self, message: NatsMessage, deliveries: int) -> Outcome:
        """Ask JetStream to redeliver after a delay that doubles with each delivery."""
        delay = min(
            self.settings.retry_delay_max_seconds,
            self.settings.retry_delay_seconds * 2 ** max(deliveries - 1, 0),
        )
        with suppress(Exception):  # a lost nak becomes a redelivery after ack_wait
            await message.nack(delay=delay)
        return "retried"

    @asynccontextmanager
    async def _keep_alive(self, message: NatsMessage) -> AsyncIterator[None]:
        """Tell JetStream we are still working, so a long request is not redelivered meanwhile."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.settings.ack_wait_seconds / 3)
                with suppress(Exception):
                    await message.in_progress()

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    # ----------------------------------------------------------------- graph

    async def run(self, request: SwarmRequest) -> tuple[SwarmResult, Outcome]:
        """Finished thread -> its result; unfinished -> resume; none -> start."""
        if self._graph is None or self._context is None:
            raise RuntimeError("the service has no graph yet: use resources() or attach()")
        config: Any = {
            "configurable": {"thread_id": request.thread_id},
            # Children inherit run callbacks: a model called inside a node is counted here.
            "callbacks": [self._model_metrics],
        }
        async with self._lock(request.thread_id):
            snapshot = await self._graph.aget_state(config)
            if snapshot.values and not snapshot.next:
                return self._result(request, snapshot.values), "replayed"
            outcome: Outcome = "resumed" if snapshot.next else "completed"
            inputs = None if snapshot.next else {"request": request.model_dump(mode="json")}
            fault = self._armed_fault()
            values = await self._graph.ainvoke(
                inputs,
                config,
                context=self._context,
                # Each node's checkpoint is durable before the next node starts.
                durability="sync",
                interrupt_after=[fault] if fault else None,
            )
            if fault is not None and (await self._graph.aget_state(config)).next:
                self._fire_fault(fault)
            return self._result(request, values), outcome

    def _result(self, request: SwarmRequest, values: Mapping[str, Any]) -> SwarmResult:
        """The completion payload from a finished thread's state."""
        artifacts = [ArtifactRef.model_validate(a) for a in values.get("artifacts") or []]
        if not artifacts:
            raise RuntimeError(f"thread {request.thread_id} finished without storing a result")
        return SwarmResult(
            workflow_id=request.workflow_id,
            attempt=request.attempt,
            swarm=self.swarm,
            artifacts=artifacts,
            summary=dict(values.get("summary") or {}),
        )

    def _armed_fault(self) -> str | None:
        """The node to die after, if the fault hook targets this service and has not fired."""
        spec = self.settings.fault
        if not spec:
            return None
        service, _, node = spec.partition(":")
        if service != self.service or not node or self.settings.fault_marker_path().exists():
            return None
        return node

    def _fire_fault(self, node: str) -> None:
        """Remember the fault, then die the hard way (no cleanup, no ack)."""
        marker = self.settings.fault_marker_path()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{self.service}:{node} pid {os.getpid()}\n")
        _log.critical("fault hook: SIGKILL after %s:%s", self.service, node)
        os.kill(os.getpid(), signal.SIGKILL)

    # ----------------------------------------------------------------- HTTP

    async def readiness(self) -> dict[str, bool]:
        """What /readyz checks: started, NATS connected, Postgres answering."""
        checks = {"started": self._ready, "nats": False, "postgres": False}
        with suppress(Exception):
            checks["nats"] = bool(await self.broker.ping(timeout=1.0))
        if self.settings.database_url:
            with suppress(Exception):
                async with await psycopg.AsyncConnection.connect(
                    self.settings.database_url, connect_timeout=2
                ) as conn:
                    await conn.execute("SELECT 1")
                    checks["postgres"] = True
        return checks

    def http_routes(self) -> list[tuple[str, ASGIApp]]:
        """/health (alive), /readyz (can work), /metrics (Prometheus)."""
        return probe_routes(self.readiness, self.metrics.registry)

    def asgi_app(self) -> AsgiFastStream:
        """The ASGI app: the broker runs in its lifespan, HTTP serves the probes and metrics."""
        return AsgiFastStream(self.broker, asgi_routes=self.http_routes(), lifespan=self.resources)


def consumer_config(settings: SwarmSettings, durable: str) -> ConsumerConfig:
    """The durable pull consumer all replicas of one service share."""
    return ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        max_deliver=settings.max_deliver,
        ack_wait=settings.ack_wait_seconds,
        description=f"K8s Autopilot {durable}: {settings.SWARM.value} requests",
    )


def build_broker(settings: SwarmSettings) -> NatsBroker:
    """The FastStream NATS broker of one service process."""
    return NatsBroker(
        settings.nats_url or "nats://127.0.0.1:4222",
        name=f"autopilot-{settings.SWARM.service}",
        # Let an in-flight request finish on SIGTERM; JetStream redelivers whatever does not.
        graceful_timeout=settings.ack_wait_seconds,
    )
