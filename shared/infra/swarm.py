"""The one runtime the three swarm services share; they differ only in their graph.

A swarm service is a FastStream `NatsBroker` with one durable JetStream pull consumer on
`<prefix>.<swarm>.requested`, a LangGraph subgraph compiled with the shared Postgres
checkpointer, and a small ASGI app (`/health`, `/readyz`, `/metrics`). For every request:

1. parse `Event[SwarmRequest]`; unparseable -> dead letter (+ `<swarm>.failed` if a workflow
   id can be read), ack;
2. under an advisory lock on the thread `{workflow_id}:{swarm}:{attempt}`, look at the
   thread: finished -> the stored result; unfinished -> resume (`ainvoke(None)`); none -> start;
3. publish `<swarm>.completed` (Nats-Msg-Id = the event id) and only then ack.

Errors are classified into `ErrorContext`: transient infrastructure errors are naked with a
delay so JetStream redelivers; deliberate refusals (`AutopilotError`) fail at once, bad input
also to the dead-letter subject (unless it asks a human: `details.escalate`); anything else
is retried until the last delivery, then dead-lettered as poison. Tests can make a service
SIGKILL itself right after one node's checkpoint is written (`AUTOPILOT_FAULT=<service>:<node>`,
once per marker file).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import operator
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, ClassVar, Literal, Protocol, TypeVar

import nats.errors
import nats.js.errors
import psycopg
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Scope
from faststream.middlewares import AckPolicy as FastStreamAckPolicy
from faststream.nats import NatsBroker, NatsMessage, PullSub
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import make_asgi_app
from pydantic import BaseModel, Field, ValidationError

from shared.config import Settings
from shared.errors import ArtifactError, AutopilotError, InputError, classify
from shared.events import (
    MSG_ID_HEADER,
    ArtifactRef,
    Event,
    Phase,
    Swarm,
    SwarmFailure,
    SwarmRequest,
    SwarmResult,
    dead_letter_subject,
    ensure_stream,
    jstream,
    msg_id,
    swarm_event,
    swarm_subject,
)
from shared.infra.artifacts import ArtifactStore
from shared.infra.checkpoint import open_checkpointer, serializer, time_writes
from shared.infra.embedded import ensure_servers
from shared.infra.metrics import MetricSet, checkpoint_histogram
from shared.infra.model_metrics import ModelMetrics
from shared.infra.pg import advisory_lock
from shared.models.workflow import ErrorCode, ErrorContext

_log = logging.getLogger("autopilot.swarm")

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)

Outcome = Literal["completed", "resumed", "replayed", "failed", "dead_lettered", "retried"]

_HEADER_MAX = 1000


# --------------------------------------------------------------------------- settings


class SwarmSettings(Settings):
    """Settings every swarm service has; each service's config.py names its swarm."""

    SWARM: ClassVar[Swarm]

    max_deliver: int = Field(
        default=5, ge=1, description="Deliveries of one request before it is dead-lettered."
    )
    ack_wait_seconds: float = Field(
        # Short, because it is how long a crashed request waits for another replica; a request
        # that is still running sends a heartbeat every third of it.
        default=10.0,
        gt=0,
        description="Redelivery after a crash; a running request is kept alive by heartbeats.",
    )
    retry_delay_seconds: float = Field(
        default=1.0, ge=0, description="First nak delay; doubles with each delivery."
    )
    retry_delay_max_seconds: float = Field(default=30.0, ge=0, description="Cap of the nak delay.")
    max_workers: int = Field(
        # More than one, so a big request does not hold a replica while small ones wait; each
        # message is still acked only after its result is stored and its completion published.
        default=3,
        ge=1,
        description="Requests one process runs at once (AUTOPILOT_MAX_WORKERS).",
    )
    pull_timeout_seconds: float = Field(default=5.0, gt=0, description="One pull's long poll.")
    http_host: str | None = Field(
        default=None,
        description="Where /health, /readyz, /metrics listen; default 127.0.0.1 in local mode, "
        "0.0.0.0 otherwise (containers are probed from outside).",
    )
    http_port: int = Field(default=8100, ge=0, le=65535, description="Port of the HTTP side.")
    db_pool_size: int = Field(default=5, ge=1, description="Postgres connections per pool.")
    fault: str | None = Field(
        default=None,
        description="Test-only: `<service>:<node>` SIGKILLs the process after that node, once.",
    )
    fault_marker: Path | None = Field(
        default=None, description="Marker of a fired fault; default <data_dir>/fault-fired."
    )

    def requested_subject(self) -> str:
        """The subject this service consumes."""
        return swarm_subject(self.SWARM, Phase.REQUESTED, self.subject_prefix)

    def bind_host(self) -> str:
        """The interface the HTTP side listens on."""
        return self.listen_host(self.http_host)

    def fault_marker_path(self) -> Path:
        """Where the fired fault is remembered, so a restarted process does not fire again."""
        return self.fault_marker or self.data_dir / "fault-fired"


# --------------------------------------------------------------------------- metrics


class SwarmMetrics:
    """Prometheus metrics on a registry of their own (one per service object, not global)."""

    def __init__(self, enabled: bool = True) -> None:
        metrics = MetricSet(enabled)
        self.registry = metrics.registry
        self.requests = metrics.counter(
            "autopilot_swarm_requests", "Swarm requests handled, by outcome.", ["swarm", "outcome"]
        )
        self.duration = metrics.histogram(
            "autopilot_swarm_duration_seconds",
            "Time from receiving a request to its ack or nak.",
            ["swarm"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.failures = metrics.counter(
            "autopilot_swarm_failures",
            "Exceptions while handling a request, by error class (retries included).",
            ["swarm", "error_class"],
        )
        self.retries = metrics.counter(
            "autopilot_swarm_retries",
            "Deliveries handed back to JetStream for a later retry, by error class.",
            ["swarm", "error_class"],
        )
        self.dead_letters = metrics.counter(
            "autopilot_dead_letters", "Messages published to the dead-letter subject.", ["swarm"]
        )
        self.node_runs = metrics.counter(
            "autopilot_swarm_node_runs",
            "Graph node executions (a resumed node that did not re-run is not counted).",
            ["swarm", "node"],
        )
        self.checkpoint_write = checkpoint_histogram(metrics)
        self.models = ModelMetrics(metrics)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when never set); for tests and diagnostics."""
        return self.registry.get_sample_value(name, labels) or 0.0


# --------------------------------------------------------------------------- graph support


class Artifacts(Protocol):
    """What nodes need of the artifact store (ArtifactStore, or a fake in unit tests)."""

    async def put_files(
        self, workflow_id: str, kind: str, files: dict[str, bytes]
    ) -> ArtifactRef: ...

    async def get_files(self, workflow_id: str, kind: str) -> dict[str, bytes]: ...


@dataclass(frozen=True)
class SwarmContext:
    """What a node may use besides its state (LangGraph run context, not checkpointed)."""

    artifacts: Artifacts
    swarm: Swarm
    metrics: SwarmMetrics | None = None


@dataclass
class SwarmState:
    """State every swarm graph has: the request in, the stored result out, a run log."""

    request: dict[str, Any] = field(default_factory=dict)
    """The SwarmRequest this thread runs, as JSON."""
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    """ArtifactRefs of the stored result (set by the `store` node)."""
    summary: dict[str, Any] = field(default_factory=dict)
    """The few numbers the completion event carries."""
    node_runs: Annotated[list[str], operator.add] = field(default_factory=list)
    """`<node>@<pid>` per finished node run, checkpointed: shows which process ran what."""

    def swarm_request(self) -> SwarmRequest:
        """The request as its model."""
        return SwarmRequest.model_validate(self.request)


class Node(Protocol[S_contra]):
    """A swarm graph node: state in, update out, the run context as LangGraph injects it."""

    def __call__(
        self, state: S_contra, *, runtime: Runtime[SwarmContext]
    ) -> Awaitable[dict[str, Any]]: ...


def swarm_node(name: str) -> Callable[[Node[S]], Node[S]]:
    """Count a node's runs and record it in `node_runs`; every swarm node wears this."""

    def decorate(fn: Node[S]) -> Node[S]:
        @functools.wraps(fn)
        async def run(state: S, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
            context = runtime.context
            # Counted before running, so a node that crashed still shows it started.
            if context.metrics is not None:
                context.metrics.node_runs.labels(context.swarm.value, name).inc()
            update = await fn(state, runtime=runtime)
            return {**update, "node_runs": [f"{name}@{os.getpid()}"]}

        return run

    return decorate


async def load_json(
    artifacts: Artifacts, ref: ArtifactRef, name: str, model: type[M], *, field_name: str
) -> M:
    """One JSON file of a referenced artifact as a model; InputError when missing or invalid."""
    files = await load_files(artifacts, ref, field_name=field_name)
    if name not in files:
        raise InputError(
            f"artifact {ref.kind!r} of workflow {ref.workflow_id} has no {name}"
            f" (files: {', '.join(sorted(files))})",
            field=field_name,
        )
    try:
        return model.model_validate_json(files[name])
    except ValidationError as exc:
        raise InputError.from_validation(exc, prefix=f"{ref.kind}/{name}") from exc


async def load_files(
    artifacts: Artifacts, ref: ArtifactRef, *, field_name: str
) -> dict[str, bytes]:
    """Every file of a referenced artifact; InputError when nothing is stored there."""
    try:
        files = await artifacts.get_files(ref.workflow_id, ref.kind)
    except ArtifactError as exc:
        raise InputError(str(exc), field=field_name) from exc
    if not files:
        raise InputError(
            f"no artifact {ref.kind!r} stored for workflow {ref.workflow_id}", field=field_name
        )
    return files


def first_ref(request: SwarmRequest) -> ArtifactRef:
    """The request's first input reference; InputError when it has none."""
    if not request.input_refs:
        raise InputError("this swarm needs its input as an artifact reference", field="input_refs")
    return request.input_refs[0]


def safe_relpath(name: str) -> PurePosixPath:
    """A stored file name as a relative path that cannot leave its directory."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise InputError(f"unsafe file name {name!r} in a chart artifact", field="files")
    return path


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write `files` (relative path -> content) under root."""
    for name, content in files.items():
        target = root / safe_relpath(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)


def read_tree(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under root as text, by relative POSIX path, minus the `skip` prefixes."""
    files: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(skip):
            files[rel] = path.read_text(encoding="utf-8")
    return files


# --------------------------------------------------------------------------- errors


def _header(value: object) -> str:
    """A value safe for a NATS header: one line, bounded."""
    return re.sub(r"[\r\n]+", " ", str(value))[:_HEADER_MAX]


def _deliveries(message: NatsMessage) -> int:
    """How many times JetStream has delivered this message (1 outside JetStream)."""
    try:
        return int(message.raw_message.metadata.num_delivered)
    except (nats.errors.Error, AttributeError, TypeError, ValueError):
        return 1


def _stream_seq(message: NatsMessage) -> str | None:
    """The message's stream sequence, when it came from JetStream."""
    try:
        return str(message.raw_message.metadata.sequence.stream)
    except (nats.errors.Error, AttributeError, TypeError, ValueError):
        return None


def peek_ids(body: bytes) -> tuple[str | None, int]:
    """Workflow id and attempt of a payload that is not a valid request, if they can be read."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, 1
    if not isinstance(doc, dict):
        return None, 1
    data = doc.get("data")
    data = data if isinstance(data, dict) else {}
    workflow_id = data.get("workflow_id", doc.get("subject"))
    attempt = data.get("attempt")
    attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1
    if not isinstance(workflow_id, str) or not workflow_id.strip() or len(workflow_id) > 256:
        return None, max(attempt, 1)
    return workflow_id, max(attempt, 1)


# --------------------------------------------------------------------------- the service

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
        self.subscriber = self.broker.subscriber(
            settings.requested_subject(),
            stream=jstream(settings.stream_name, settings.subject_prefix),
            durable=self.service,
            config=consumer_config(settings, self.service),
            pull_sub=PullSub(batch_size=1, timeout=settings.pull_timeout_seconds),
            ack_policy=FastStreamAckPolicy.MANUAL,
            max_workers=settings.max_workers if settings.max_workers > 1 else None,
            title=f"{self.service}: {self.swarm.value} requests",
        )
        self.subscriber(self._on_message)
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
        deliveries = _deliveries(message)
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
            return await self._nak(message, _deliveries(message))
        await message.ack()
        return "dead_lettered" if dead_letter else "failed"

    async def _dead_letter(
        self, message: NatsMessage, body: bytes, error: ErrorContext, workflow_id: str | None
    ) -> None:
        """The original bytes on `deadletter.<swarm>`, with why in the headers."""
        where = _stream_seq(message) or hashlib.sha256(body).hexdigest()[:16]
        headers = {
            MSG_ID_HEADER: msg_id("deadletter", workflow_id or "", self.swarm.value, where),
            "autopilot-service": self.service,
            "autopilot-error-code": error.code.value,
            "autopilot-error": _header(error.message),
            "autopilot-deliveries": str(_deliveries(message)),
            "autopilot-original-subject": _header(message.raw_message.subject),
        }
        if workflow_id is not None:
            headers["ce-subject"] = _header(workflow_id)
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

        @get(include_in_schema=False)
        async def health(scope: Scope) -> AsgiResponse:
            return AsgiResponse(b"ok", 200, {"content-type": "text/plain"})

        @get(include_in_schema=False)
        async def readyz(scope: Scope) -> AsgiResponse:
            checks = await self.readiness()
            status = 200 if all(checks.values()) else 503
            return AsgiResponse(
                json.dumps(checks).encode(), status, {"content-type": "application/json"}
            )

        return [
            ("/health", health),
            ("/readyz", readyz),
            ("/metrics", make_asgi_app(self.metrics.registry)),
        ]

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


SettingsT = TypeVar("SettingsT", bound=SwarmSettings)


async def serve(service_factory: Callable[[SettingsT], SwarmService], settings: SettingsT) -> None:
    """Run a service until SIGTERM; embedded NATS/Postgres when their URLs are unset."""
    servers = await ensure_servers(settings)
    try:
        settings = settings.model_copy(
            update={"nats_url": servers.nats_url, "database_url": servers.database_url}
        )
        service = service_factory(settings)
        await service.asgi_app().run(
            run_extra_options={"host": settings.bind_host(), "port": settings.http_port}
        )
    finally:
        await servers.aclose()


def run_service(service_factory: Callable[[SettingsT], SwarmService], settings: SettingsT) -> None:
    """Blocking entry point for a service's `main()`."""
    logging.basicConfig(
        level=os.environ.get("AUTOPILOT_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # uvicorn handles SIGTERM while it serves, then restores this handler and re-raises the
    # signal; as SystemExit it unwinds `serve`, so embedded servers are stopped, not orphaned.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    asyncio.run(serve(service_factory, settings))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM outside uvicorn's graceful shutdown: unwind with cleanup, exit 0."""
    raise SystemExit(0)
