"""The swarm runtime and the three swarm graphs, in memory.

FastStream's `TestNatsBroker` stands in for NATS (every delivery is the first, so tests of
the last delivery set `max_deliver=1`), LangGraph's `InMemorySaver` for Postgres, and a dict
for the artifact store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from faststream._internal.endpoint.subscriber.mixins import ConcurrentMixin
from faststream.nats import NatsMessage, TestNatsBroker
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import ValidationError

import shared.swarm.service as swarm_module
from services.generator.config import GeneratorSettings
from services.generator.engine import generate_chart
from services.generator.graph import build_graph as generator_graph
from services.generator.handlers import build_service as build_generator
from services.planner.config import PlannerSettings
from services.planner.engine import plan_chart
from services.planner.graph import build_graph as planner_graph
from services.planner.handlers import build_service as build_planner
from services.planner.intake import parse_requirements
from services.validator.config import ValidatorSettings
from services.validator.graph import build_graph as validator_graph
from services.validator.handlers import build_service as build_validator
from shared.errors import GenerationError, InputError, PlanningError, classify
from shared.events import (
    MSG_ID_HEADER,
    ArtifactRef,
    Event,
    Swarm,
    SwarmFailure,
    SwarmRequest,
    SwarmResult,
    swarm_event,
)
from shared.files import read_tree, safe_relpath, write_tree
from shared.models.plan import ChartPlan
from shared.models.reports import ValidationReport
from shared.models.workflow import ErrorCode
from shared.swarm.errors import peek_ids
from shared.swarm.nodes import SwarmContext
from shared.swarm.service import SwarmService, consumer_config
from shared.swarm.settings import SwarmSettings

PREFIX = "unit.autopilot.v1"
STREAM = "UNIT"
REQUIREMENTS: dict[str, Any] = {
    "name": "demo",
    "version": "1.0.0",
    "components": [
        {"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "port": 8080}]}
    ],
}


class FakeArtifacts:
    """The artifact store as a dict, with a switch to make reads fail."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], dict[str, bytes]] = {}
        self.fail_reads: BaseException | None = None

    async def put_files(self, workflow_id: str, kind: str, files: dict[str, bytes]) -> ArtifactRef:
        self.files[(workflow_id, kind)] = dict(files)
        digests = {n: hashlib.sha256(c).hexdigest() for n, c in files.items()}
        return ArtifactRef(workflow_id=workflow_id, kind=kind, files=digests)

    async def get_files(self, workflow_id: str, kind: str) -> dict[str, bytes]:
        if self.fail_reads is not None:
            raise self.fail_reads
        return dict(self.files.get((workflow_id, kind), {}))


@dataclass
class Harness:
    """A service wired to in-memory parts, and what it published."""

    service: SwarmService
    artifacts: FakeArtifacts
    saver: InMemorySaver
    published: dict[str, list[NatsMessage]] = field(default_factory=dict)

    def on(self, phase: str) -> list[NatsMessage]:
        """Messages published on `<swarm>.<phase>` (or `deadletter`)."""
        return self.published.get(phase, [])

    def count(self, outcome: str) -> float:
        """autopilot_swarm_requests_total for an outcome."""
        return self.service.metrics.value(
            "autopilot_swarm_requests_total", swarm=self.service.swarm.value, outcome=outcome
        )

    def runs(self, node: str) -> float:
        """autopilot_swarm_node_runs_total for a node."""
        return self.service.metrics.value(
            "autopilot_swarm_node_runs_total", swarm=self.service.swarm.value, node=node
        )

    @asynccontextmanager
    async def broker(self) -> Any:
        """The service's broker under TestNatsBroker."""
        async with TestNatsBroker(self.service.broker) as broker:
            yield broker

    async def send(self, broker: Any, request: SwarmRequest | bytes, **headers: str) -> None:
        """Publish a request (or raw bytes) on the service's subject."""
        subject = self.service.settings.requested_subject()
        if isinstance(request, bytes):
            await broker.publish(request, subject, headers=headers or None, stream=STREAM)
            return
        event = swarm_event(request, source="/test", prefix=PREFIX)
        await broker.publish(event.to_bytes(), subject, headers=event.headers(), stream=STREAM)


def harness(service: SwarmService, graph: Any) -> Harness:
    """Attach in-memory parts and capture everything the service publishes."""
    artifacts, saver = FakeArtifacts(), InMemorySaver()
    service.attach(graph.compile(checkpointer=saver), artifacts)
    h = Harness(service, artifacts, saver)
    swarm = service.swarm.value
    for phase, subject in (
        ("completed", f"{PREFIX}.{swarm}.completed"),
        ("failed", f"{PREFIX}.{swarm}.failed"),
        ("deadletter", f"{PREFIX}.deadletter.{swarm}"),
    ):
        service.broker.subscriber(subject, stream=STREAM)(_capture(h, phase))
    return h


def _capture(h: Harness, phase: str) -> Any:
    """A subscriber that records what arrives (FastStream would inject extra parameters)."""

    def capture(message: NatsMessage) -> None:
        h.published.setdefault(phase, []).append(message)

    return capture


def settings(cls: type[SwarmSettings], **extra: Any) -> Any:
    """Service settings for unit tests (no servers are contacted)."""
    return cls(subject_prefix=PREFIX, stream_name=STREAM, nats_url=None, database_url=None, **extra)


@pytest.fixture
def planner(tmp_path: Path) -> Iterator[Harness]:
    """The planner with an `input` artifact for workflow wf-1."""
    h = harness(build_planner(settings(PlannerSettings, data_dir=tmp_path)), planner_graph())
    h.artifacts.files[("wf-1", "input")] = {
        "requirements.json": json.dumps(REQUIREMENTS).encode(),
        "notes.json": b"[]",
    }
    yield h


def planning(workflow_id: str = "wf-1", **extra: Any) -> SwarmRequest:
    """A planning request pointing at the workflow's input."""
    refs = [ArtifactRef(workflow_id=workflow_id, kind="input")]
    return SwarmRequest(workflow_id=workflow_id, swarm=Swarm.PLANNING, input_refs=refs, **extra)


def result(message: NatsMessage) -> SwarmResult:
    """A completion's payload."""
    return Event[SwarmResult].model_validate_json(message.body).data


def failure(message: NatsMessage) -> SwarmFailure:
    """A failure's payload."""
    return Event[SwarmFailure].model_validate_json(message.body).data


# --------------------------------------------------------------------------- happy paths


def test_planner_plans_stores_and_publishes_once(planner: Harness) -> None:
    async def run() -> None:
        async with planner.broker() as broker:
            await planner.send(broker, planning())

    asyncio.run(run())
    (done,) = planner.on("completed")
    payload = result(done)
    assert payload.workflow_id == "wf-1" and [a.kind for a in payload.artifacts] == ["plan.1"]
    assert payload.summary == {
        "chart": "demo",
        "components": 1,
        "decisions": payload.summary["decisions"],
        "notes": 0,
    }
    assert done.headers[MSG_ID_HEADER] == Event[Any].model_validate_json(done.body).id
    stored = planner.artifacts.files[("wf-1", "plan.1")]["result.json"]
    assert ChartPlan.model_validate_json(stored).name == "demo"
    assert planner.count("completed") == 1
    for node in ("load_input", "validate", "plan", "store"):
        assert planner.runs(node) == 1
    assert not planner.on("failed") and not planner.on("deadletter")


def test_finished_thread_is_replayed_not_recomputed(planner: Harness) -> None:
    async def run() -> None:
        async with planner.broker() as broker:
            await planner.send(broker, planning())
            await planner.send(broker, planning())
            await planner.send(broker, planning(attempt=2))

    asyncio.run(run())
    first, again, second_attempt = planner.on("completed")
    assert result(first) == result(again)
    assert first.headers[MSG_ID_HEADER] == again.headers[MSG_ID_HEADER]
    assert [a.kind for a in result(second_attempt).artifacts] == ["plan.2"]
    assert planner.count("replayed") == 1 and planner.count("completed") == 2
    assert planner.runs("plan") == 2  # attempt 1 once, attempt 2 once


def test_unfinished_thread_resumes_where_it_stopped(planner: Harness) -> None:
    request = planning()
    config: Any = {"configurable": {"thread_id": request.thread_id}}
    graph = planner_graph().compile(checkpointer=planner.saver)
    context = SwarmContext(artifacts=planner.artifacts, swarm=Swarm.PLANNING)

    async def run() -> None:
        # A first run that stopped after `plan`, as a crash after its checkpoint would leave it.
        await graph.ainvoke(
            {"request": request.model_dump(mode="json")},
            config,
            context=context,
            interrupt_after=["plan"],
        )
        assert (await graph.aget_state(config)).next == ("store",)
        async with planner.broker() as broker:
            await planner.send(broker, request)

    asyncio.run(run())
    assert planner.count("resumed") == 1
    assert (
        planner.runs("store") == 1 and planner.runs("plan") == 0 and planner.runs("load_input") == 0
    )
    assert [a.kind for a in result(planner.on("completed")[0]).artifacts] == ["plan.1"]


def test_planner_takes_inline_input(tmp_path: Path) -> None:
    h = harness(build_planner(settings(PlannerSettings, data_dir=tmp_path)), planner_graph())
    request = SwarmRequest(
        workflow_id="wf-i", swarm=Swarm.PLANNING, input={"requirements": REQUIREMENTS}
    )

    async def run() -> None:
        async with h.broker() as broker:
            await h.send(broker, request)

    asyncio.run(run())
    assert result(h.on("completed")[0]).summary["chart"] == "demo"


def test_generator_generates_self_checks_and_stores(tmp_path: Path) -> None:
    h = harness(build_generator(settings(GeneratorSettings, data_dir=tmp_path)), generator_graph())
    plan = plan_chart(parse_requirements(REQUIREMENTS))
    h.artifacts.files[("wf-g", "plan.approved")] = {"result.json": plan.model_dump_json().encode()}
    request = SwarmRequest(
        workflow_id="wf-g",
        swarm=Swarm.GENERATION,
        input_refs=[ArtifactRef(workflow_id="wf-g", kind="plan.approved")],
    )

    async def run() -> None:
        async with h.broker() as broker:
            await h.send(broker, request)

    asyncio.run(run())
    payload = result(h.on("completed")[0])
    files = h.artifacts.files[("wf-g", "chart.1")]
    assert [a.kind for a in payload.artifacts] == ["chart.1"] and set(
        payload.artifacts[0].files
    ) == set(files)
    assert "Chart.yaml" in files and not any(n.startswith(".autopilot/") for n in files)
    assert payload.summary["selfCheck"]["passed"] is True and payload.summary["files"] == len(files)
    for node in ("load_plan", "generate", "self_check", "store"):
        assert h.runs(node) == 1


def test_validator_validates_and_stores_a_readable_report(tmp_path: Path) -> None:
    h = harness(build_validator(settings(ValidatorSettings, data_dir=tmp_path)), validator_graph())
    chart = generate_chart(
        plan_chart(parse_requirements(REQUIREMENTS)), tmp_path / "out", force=True
    )
    files = read_tree(chart.chart_dir, skip=(".autopilot/",))
    h.artifacts.files[("wf-v", "chart.1")] = {k: v.encode() for k, v in files.items()}
    request = SwarmRequest(
        workflow_id="wf-v",
        swarm=Swarm.VALIDATION,
        input_refs=[ArtifactRef(workflow_id="wf-v", kind="chart.1")],
        attempt=3,
    )

    async def run() -> None:
        async with h.broker() as broker:
            await h.send(broker, request)

    asyncio.run(run())
    payload = result(h.on("completed")[0])
    assert payload.summary == {"passed": True, "passRate": 1.0, "errors": 0, "warnings": 0}
    report = ValidationReport.model_validate_json(
        h.artifacts.files[("wf-v", "report.3")]["result.json"]
    )
    assert report.passed


# --------------------------------------------------------------------------- failures


def test_not_json_goes_to_dead_letter_only(planner: Harness) -> None:
    async def run() -> None:
        async with planner.broker() as broker:
            await planner.send(broker, b"{oops")
            await planner.send(broker, planning())  # the next message still flows

    asyncio.run(run())
    (dead,) = planner.on("deadletter")
    assert dead.body == b"{oops" and dead.headers["autopilot-error-code"] == "invalid_input"
    assert "Invalid JSON" in dead.headers["autopilot-error"]
    assert not planner.on("failed") and len(planner.on("completed")) == 1
    assert planner.count("dead_lettered") == 1
    assert planner.service.metrics.value("autopilot_dead_letters_total", swarm="planning") == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {
                "type": "t",
                "source": "s",
                "subject": "wf-x",
                "data": {"workflow_id": "wf-x", "swarm": "planning"},
            },
            "input or input_refs",
        ),
        (
            {
                "type": "t",
                "source": "s",
                "subject": "wf-x",
                "data": {"workflow_id": "wf-x", "swarm": "validation", "input": {"a": 1}},
            },
            "runs planning, not validation",
        ),
    ],
)
def test_invalid_request_is_dead_lettered_and_fails_the_workflow(
    planner: Harness, body: dict[str, Any], needle: str
) -> None:
    async def run() -> None:
        async with planner.broker() as broker:
            await planner.send(broker, json.dumps(body).encode())

    asyncio.run(run())
    (dead,) = planner.on("deadletter")
    (failed,) = planner.on("failed")
    error = failure(failed).error
    assert failure(failed).workflow_id == "wf-x" and error.code is ErrorCode.INVALID_INPUT
    assert needle in error.message and needle in dead.headers["autopilot-error"]


def test_missing_input_artifact_fails_with_the_field(planner: Harness) -> None:
    async def run() -> None:
        async with planner.broker() as broker:
            await planner.send(broker, planning("wf-nothing"))

    asyncio.run(run())
    error = failure(planner.on("failed")[0]).error
    assert error.code is ErrorCode.INVALID_INPUT and error.field == "input_refs"
    assert "no artifact 'input' stored for workflow wf-nothing" in error.message
    assert len(planner.on("deadletter")) == 1


def test_policy_refusal_fails_without_dead_letter(planner: Harness) -> None:
    cron = {"name": "demo", "components": [{"name": "c", "image": "x:1", "kind": "CronJob"}]}
    planner.artifacts.files[("wf-p", "input")] = {"requirements.json": json.dumps(cron).encode()}

    async def run() -> None:
        async with planner.broker() as broker:
            await planner.send(broker, planning("wf-p"))

    asyncio.run(run())
    error = failure(planner.on("failed")[0]).error
    assert error.code is ErrorCode.POLICY and error.field == "components[0].job.schedule"
    assert not planner.on("deadletter") and planner.count("failed") == 1


def test_transient_errors_are_retried_not_failed(planner: Harness) -> None:
    planner.artifacts.fail_reads = psycopg.OperationalError("connection refused")
    naks: list[float | None] = []

    async def nack(self: NatsMessage, delay: float | None = None) -> None:
        naks.append(delay)

    async def run() -> None:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(NatsMessage, "nack", nack)
            async with planner.broker() as broker:
                await planner.send(broker, planning())

    asyncio.run(run())
    assert naks == [planner.service.settings.retry_delay_seconds]
    assert planner.count("retried") == 1
    assert not planner.on("failed") and not planner.on("deadletter")
    assert (
        planner.service.metrics.value(
            "autopilot_swarm_failures_total", swarm="planning", error_class="transient"
        )
        == 1
    )


def test_unknown_error_on_the_last_delivery_is_poison(tmp_path: Path) -> None:
    h = harness(
        build_planner(settings(PlannerSettings, data_dir=tmp_path, max_deliver=1)), planner_graph()
    )
    h.artifacts.fail_reads = RuntimeError("boom")

    async def run() -> None:
        async with h.broker() as broker:
            await h.send(broker, planning())

    asyncio.run(run())
    error = failure(h.on("failed")[0]).error
    assert error.code is ErrorCode.INVALID_INPUT
    assert (
        error.message
        == "poison message: failed on all 1 deliveries; last error: RuntimeError: boom"
    )
    assert error.details["cause"] == "unknown" and len(h.on("deadletter")) == 1


def test_fault_hook_kills_after_the_node_once_then_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "fired"
    service = build_planner(settings(PlannerSettings, fault="planner:plan", fault_marker=marker))
    h = harness(service, planner_graph())
    h.artifacts.files[("wf-1", "input")] = {"requirements.json": json.dumps(REQUIREMENTS).encode()}
    kills: list[tuple[int, int]] = []
    monkeypatch.setattr(swarm_module.os, "kill", lambda pid, sig: kills.append((pid, sig)))

    async def run() -> None:
        async with h.broker() as broker:
            await h.send(broker, planning())  # "dies" after plan: nothing stored, retried
            await h.send(broker, planning())  # redelivery: resumes at store

    asyncio.run(run())
    assert [sig for _, sig in kills] == [signal.SIGKILL] and marker.exists()
    assert h.count("retried") == 1 and h.count("resumed") == 1
    assert h.runs("plan") == 1 and h.runs("store") == 1
    assert len(h.on("completed")) == 1


# --------------------------------------------------------------------------- pieces


def test_classify_uses_the_error_code() -> None:
    assert classify(PlanningError("no", field="f"), swarm=Swarm.PLANNING, attempt=2).model_dump(
        include={"code", "field", "attempt"}
    ) == {
        "code": ErrorCode.POLICY,
        "field": "f",
        "attempt": 2,
    }
    assert (
        classify(GenerationError("x"), swarm=Swarm.GENERATION, attempt=1).code is ErrorCode.UNKNOWN
    )
    transient = classify(psycopg.OperationalError("down"), swarm=Swarm.VALIDATION, attempt=1)
    assert transient.code is ErrorCode.TRANSIENT and transient.retryable
    assert classify(TimeoutError(), swarm=Swarm.VALIDATION, attempt=1).code is ErrorCode.TRANSIENT
    unknown = classify(KeyError("k"), swarm=Swarm.PLANNING, attempt=1)
    assert unknown.code is ErrorCode.UNKNOWN and unknown.message == "KeyError: 'k'"


def test_peek_ids_reads_what_it_can() -> None:
    assert peek_ids(b"nope") == (None, 1)
    assert peek_ids(b"[1]") == (None, 1)
    assert peek_ids(b'{"subject": "wf-a"}') == ("wf-a", 1)
    assert peek_ids(b'{"data": {"workflow_id": "wf-b", "attempt": 3}}') == ("wf-b", 3)
    assert peek_ids(b'{"data": {"workflow_id": "", "attempt": true}}') == (None, 1)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPILOT_SUBJECT_PREFIX", "x.v1")
    monkeypatch.setenv("AUTOPILOT_STREAM_NAME", "X")
    monkeypatch.setenv("AUTOPILOT_MAX_DELIVER", "3")
    monkeypatch.setenv("AUTOPILOT_HTTP_PORT", "9999")
    monkeypatch.setenv("AUTOPILOT_FAULT", "generator:generate")
    s = GeneratorSettings()
    assert s.requested_subject() == "x.v1.generation.requested" and s.stream_name == "X"
    assert s.http_port == 9999 and s.fault == "generator:generate"
    assert s.fault_marker_path() == s.data_dir / "fault-fired"
    config = consumer_config(s, "generator")
    assert (config.durable_name, config.max_deliver, config.ack_wait) == ("generator", 3, 10.0)
    assert (
        PlannerSettings.SWARM.service == "planner" and ValidatorSettings.SWARM is Swarm.VALIDATION
    )


def test_http_side_binds_loopback_locally_and_all_interfaces_in_containers() -> None:
    assert PlannerSettings().bind_host() == "127.0.0.1"
    prod = {"local_mode": False, "nats_url": "nats://n:4222", "database_url": "postgresql://p/d"}
    assert PlannerSettings(**prod, aes_key="k" * 32).bind_host() == "0.0.0.0"
    assert PlannerSettings(http_host="10.0.0.5").bind_host() == "10.0.0.5"


def test_each_service_has_its_own_default_port() -> None:
    ports = {cls().http_port for cls in (PlannerSettings, GeneratorSettings, ValidatorSettings)}
    assert len(ports) == 3


def test_graphs_have_one_node_per_step() -> None:
    def nodes(graph: Any) -> list[str]:
        return [n for n in graph.compile().get_graph().nodes if not n.startswith("__")]

    assert nodes(planner_graph()) == ["load_input", "read_prompt", "validate", "plan", "store"]
    assert nodes(generator_graph()) == ["load_plan", "generate", "self_check", "store"]
    assert nodes(validator_graph()) == ["load_chart", "validate", "store"]


def test_file_trees_refuse_paths_that_leave_the_chart(tmp_path: Path) -> None:
    write_tree(tmp_path / "c", {"Chart.yaml": "name: c\n", "templates/a.yaml": b"a: 1\n"})
    assert read_tree(tmp_path / "c") == {"Chart.yaml": "name: c\n", "templates/a.yaml": "a: 1\n"}
    for bad in ("../evil", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(InputError):
            safe_relpath(bad)


def test_http_health_readiness_and_metrics(planner: Harness) -> None:
    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=planner.service.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return (
                await client.get("/health"),
                await client.get("/readyz"),
                await client.get("/metrics"),
            )

    planner.service.metrics.node_runs.labels("planning", "plan").inc()
    health, ready, metrics = asyncio.run(run())
    assert health.status_code == 200
    assert ready.status_code == 503 and ready.json() == {
        "started": False,
        "nats": False,
        "postgres": False,
    }
    assert 'autopilot_swarm_node_runs_total{node="plan",swarm="planning"} 1.0' in metrics.text
    for name in (
        "autopilot_swarm_requests_total",
        "autopilot_swarm_duration_seconds",
        "autopilot_swarm_failures_total",
        "autopilot_dead_letters_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in metrics.text


def test_metrics_are_per_service_object(tmp_path: Path) -> None:
    a = build_planner(settings(PlannerSettings))
    b = build_planner(settings(PlannerSettings))
    a.metrics.node_runs.labels("planning", "plan").inc()
    assert b.metrics.value("autopilot_swarm_node_runs_total", swarm="planning", node="plan") == 0


def test_request_validation_error_names_the_field() -> None:
    with pytest.raises(ValidationError):
        Event[SwarmRequest].model_validate_json(
            b'{"type": "t", "source": "s", "subject": "w", "data": {}}'
        )


def test_each_worker_is_a_sequential_puller_of_the_one_consumer() -> None:
    """No puller holds a fetched request while it waits for a worker (unheartbeated)."""
    service = build_planner(settings(PlannerSettings, max_workers=3))
    assert len(service.subscribers) == 3
    for subscriber in service.subscribers:
        # FastStream's `max_workers` (ConcurrentMixin) fetched ahead of its free workers.
        assert not isinstance(subscriber, ConcurrentMixin)
        assert subscriber.config.durable_name == "planner"
        assert subscriber.pull_sub.batch_size == 1
