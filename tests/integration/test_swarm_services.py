"""The three swarm services against real NATS JetStream and PostgreSQL.

Each test has its own subject prefix, stream and database (conftest fixtures). Services run
in-process (`SwarmService.running()`), except the crash test, which runs the generator as a
real subprocess and lets it SIGKILL itself. Async code runs through `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import nats
import psycopg
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from services.generator.config import GeneratorSettings
from services.generator.engine import generate_chart
from services.generator.graph import build_graph as build_generator_graph
from services.generator.handlers import build_service as build_generator
from services.planner.config import PlannerSettings
from services.planner.engine import plan_chart
from services.planner.handlers import build_service as build_planner
from services.planner.intake import parse_requirements
from services.validator.config import ValidatorSettings
from services.validator.handlers import build_service as build_validator
from shared.events import (
    MSG_ID_HEADER,
    ArtifactRef,
    Event,
    Swarm,
    SwarmFailure,
    SwarmRequest,
    SwarmResult,
    ensure_stream,
    swarm_event,
)
from shared.infra import ArtifactStore, free_port, open_checkpointer, serializer
from shared.models.plan import ChartPlan
from shared.models.reports import ValidationReport
from shared.swarm.nodes import SwarmContext, SwarmState, read_tree, swarm_node
from shared.swarm.service import SwarmService
from shared.swarm.settings import SwarmSettings
from tests.support.polling import eventually_async

KEY = "0123456789abcdef0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS: dict[str, Any] = {
    "name": "demo",
    "version": "1.0.0",
    "components": [
        {"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "port": 8080}]}
    ],
}

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SettingsT = TypeVar("SettingsT", bound=SwarmSettings)


@dataclass
class Env:
    """Where one test's services live."""

    nats_url: str
    database_url: str
    prefix: str
    stream: str
    data_dir: Path

    def settings(self, cls: type[SettingsT], **extra: Any) -> SettingsT:
        """Settings of one service for this test."""
        values: dict[str, Any] = {
            "nats_url": self.nats_url,
            "database_url": self.database_url,
            "subject_prefix": self.prefix,
            "stream_name": self.stream,
            "aes_key": KEY,
            "data_dir": self.data_dir,
            "retry_delay_seconds": 0.2,
            **extra,
        }
        return cls(**values)

    def process_env(self, **extra: str) -> dict[str, str]:
        """Environment of a service subprocess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPILOT_")}
        env.update(
            {
                "AUTOPILOT_NATS_URL": self.nats_url,
                "AUTOPILOT_DATABASE_URL": self.database_url,
                "AUTOPILOT_SUBJECT_PREFIX": self.prefix,
                "AUTOPILOT_STREAM_NAME": self.stream,
                "AUTOPILOT_DATA_DIR": str(self.data_dir),
                "LANGGRAPH_AES_KEY": KEY,
                **extra,
            }
        )
        return env


@pytest.fixture
def env(
    nats_url: str, pg_database: str, nats_subject_prefix: str, nats_stream: str, scratch_dir: Path
) -> Env:
    """This test's servers, subjects, stream and database."""
    return Env(nats_url, pg_database, nats_subject_prefix, nats_stream, scratch_dir)


@dataclass
class Tap:
    """Every event stored in the test's stream, read back through an ordered consumer."""

    js: JetStreamContext
    prefix: str
    seen: list[Msg] = field(default_factory=list)

    def on(self, suffix: str) -> list[Msg]:
        """Stored messages whose subject ends with `suffix`."""
        return [m for m in self.seen if m.subject.endswith(suffix)]

    async def wait(self, suffix: str, count: int = 1, timeout: float = 60.0) -> list[Msg]:
        """Wait until `count` messages ended with `suffix`."""
        return await eventually_async(
            lambda: self.on(suffix),
            until=lambda found: len(found) >= count,
            timeout=timeout,
            message=lambda: f"{count} x {suffix} not seen; saw {[m.subject for m in self.seen]}",
        )

    async def settled(self) -> None:
        """Publish a marker and wait until the tap reads it back.

        The tap reads the stream in order, so once the marker is seen, everything stored before
        it has been seen too: what the tap lacks then was never stored.
        """
        marker = f"test.marker.{uuid.uuid4().hex[:8]}"
        await self.js.publish(f"{self.prefix}.{marker}", b"")
        await self.wait(marker)


@asynccontextmanager
async def tapped(env: Env) -> AsyncIterator[tuple[Tap, JetStreamContext]]:
    """A NATS connection with the stream ensured and a tap on everything stored in it."""
    nc = await nats.connect(env.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, env.stream, env.prefix)
    tap = Tap(js, env.prefix)

    async def collect(msg: Msg) -> None:
        tap.seen.append(msg)

    sub = await js.subscribe(
        f"{env.prefix}.>", stream=env.stream, cb=collect, ordered_consumer=True
    )
    try:
        yield tap, js
    finally:
        await sub.unsubscribe()
        await nc.close()


async def publish_request(
    js: JetStreamContext, env: Env, request: SwarmRequest, *, msg_id: str | None = None
) -> None:
    """Publish a request as the gateway would, optionally with another Nats-Msg-Id."""
    event = swarm_event(request, source="/test", prefix=env.prefix)
    headers = event.headers()
    if msg_id is not None:
        headers[MSG_ID_HEADER] = msg_id
    await js.publish(event.type, event.to_bytes(), headers=headers)


def result_of(msg: Msg) -> SwarmResult:
    """The payload of a completion."""
    return Event[SwarmResult].model_validate_json(msg.data).data


def failure_of(msg: Msg) -> SwarmFailure:
    """The payload of a failure."""
    return Event[SwarmFailure].model_validate_json(msg.data).data


@asynccontextmanager
async def services(*built: SwarmService) -> AsyncIterator[None]:
    """Run services in this process until the block ends."""
    async with AsyncExitStack() as stack:
        for service in built:
            await stack.enter_async_context(service.running())
        yield


async def seed_input(env: Env, workflow_id: str) -> ArtifactRef:
    """The gateway's intake artifact for a workflow."""
    async with ArtifactStore.open(env.database_url, key=KEY.encode()) as store:
        return await store.put_files(
            workflow_id,
            "input",
            {"requirements.json": json.dumps(REQUIREMENTS).encode(), "notes.json": b"[]"},
        )


async def seed_plan(env: Env, workflow_id: str) -> ArtifactRef:
    """An approved plan for a workflow."""
    plan = plan_chart(parse_requirements(REQUIREMENTS))
    async with ArtifactStore.open(env.database_url, key=KEY.encode()) as store:
        return await store.put_files(
            workflow_id, "plan.approved", {"result.json": plan.model_dump_json().encode()}
        )


async def seed_chart(env: Env, workflow_id: str, tmp: Path) -> ArtifactRef:
    """A generated chart for a workflow, as the generator stores it."""
    generated = generate_chart(plan_chart(parse_requirements(REQUIREMENTS)), tmp, force=True)
    files = {
        k: v.encode() for k, v in read_tree(generated.chart_dir, skip=(".autopilot/",)).items()
    }
    async with ArtifactStore.open(env.database_url, key=KEY.encode()) as store:
        return await store.put_files(workflow_id, "chart.1", files)


def _one_node(node: Any) -> Callable[[], StateGraph[SwarmState, SwarmContext, Any, Any]]:
    """A swarm graph builder: `node` alone, as the step "store"."""

    def build() -> StateGraph[SwarmState, SwarmContext, Any, Any]:
        graph = StateGraph(SwarmState, context_schema=SwarmContext)
        graph.add_node("store", node)
        graph.add_edge(START, "store")
        graph.add_edge("store", END)
        return graph

    return build


def wf() -> str:
    """A fresh workflow id."""
    return f"wf-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- one per swarm


def test_planner_plans_and_stores_the_plan_encrypted(env: Env) -> None:
    async def run() -> None:
        workflow_id = wf()
        ref = await seed_input(env, workflow_id)
        planner = build_planner(env.settings(PlannerSettings))
        async with tapped(env) as (tap, js), services(planner):
            started = time.perf_counter()
            await publish_request(
                js,
                env,
                SwarmRequest(workflow_id=workflow_id, swarm=Swarm.PLANNING, input_refs=[ref]),
            )
            (done,) = await tap.wait("planning.completed")
            latency = time.perf_counter() - started
        result = result_of(done)
        assert (
            done.headers
            and done.headers[MSG_ID_HEADER] == Event[Any].model_validate_json(done.data).id
        )
        assert [a.kind for a in result.artifacts] == ["plan.1"]
        assert result.summary["components"] == 1 and result.summary["chart"] == "demo"
        async with ArtifactStore.open(env.database_url, key=KEY.encode()) as store:
            plan = await store.get_json(workflow_id, "plan.1", ChartPlan, name="result.json")
        assert plan.name == "demo" and plan.components[0].spec.image.startswith("nginx")
        # The checkpoint blobs are encrypted: the image name is nowhere in plaintext.
        async with await psycopg.AsyncConnection.connect(env.database_url) as conn:
            cur = await conn.execute(
                "SELECT blob FROM checkpoint_blobs WHERE thread_id = %s",
                (f"{workflow_id}:planning:1",),
            )
            blobs = [bytes(row[0]) for row in await cur.fetchall() if row[0] is not None]
        assert blobs and not any(b"nginx" in blob for blob in blobs)
        print(f"planning latency {latency * 1000:.0f} ms")

    asyncio.run(run())


def test_generator_generates_self_checks_and_stores_the_chart(env: Env) -> None:
    async def run() -> None:
        workflow_id = wf()
        ref = await seed_plan(env, workflow_id)
        generator = build_generator(env.settings(GeneratorSettings))
        async with tapped(env) as (tap, js), services(generator):
            started = time.perf_counter()
            request = SwarmRequest(
                workflow_id=workflow_id, swarm=Swarm.GENERATION, input_refs=[ref]
            )
            await publish_request(js, env, request)
            (done,) = await tap.wait("generation.completed")
            print(f"generation latency {(time.perf_counter() - started) * 1000:.0f} ms")
        result = result_of(done)
        assert [a.kind for a in result.artifacts] == ["chart.1"]
        assert result.summary["selfCheck"]["passed"] is True
        assert result.summary["chart"] == "demo" and result.summary["files"] > 10
        async with ArtifactStore.open(env.database_url, key=KEY.encode()) as store:
            files = await store.get_files(workflow_id, "chart.1")
        assert set(files) == set(result.artifacts[0].files)
        assert "Chart.yaml" in files and "templates/web/deployment.yaml" in files
        assert not any(name.startswith(".autopilot/") for name in files)

    asyncio.run(run())


def test_validator_validates_and_stores_the_report(env: Env, scratch_dir: Path) -> None:
    async def run() -> None:
        workflow_id = wf()
        ref = await seed_chart(env, workflow_id, scratch_dir / "chart")
        validator = build_validator(env.settings(ValidatorSettings))
        async with tapped(env) as (tap, js), services(validator):
            started = time.perf_counter()
            request = SwarmRequest(
                workflow_id=workflow_id, swarm=Swarm.VALIDATION, input_refs=[ref]
            )
            await publish_request(js, env, request)
            (done,) = await tap.wait("validation.completed")
            print(f"validation latency {(time.perf_counter() - started) * 1000:.0f} ms")
        result = result_of(done)
        assert [a.kind for a in result.artifacts] == ["report.1"]
        assert result.summary == {"passed": True, "passRate": 1.0, "errors": 0, "warnings": 0}
        async with ArtifactStore.open(env.database_url, key=KEY.encode()) as store:
            report = await store.get_json(
                workflow_id, "report.1", ValidationReport, name="result.json"
            )
        assert report.passed and report.chart.endswith("demo")

    asyncio.run(run())


# --------------------------------------------------------------------------- scaling, dedupe


def test_two_replicas_split_the_work_and_none_runs_twice(env: Env) -> None:
    async def run() -> None:
        ids = [wf() for _ in range(20)]
        refs = [await seed_plan(env, workflow_id) for workflow_id in ids]
        replicas = [build_generator(env.settings(GeneratorSettings)) for _ in range(2)]
        async with tapped(env) as (tap, js), services(*replicas):
            started = time.perf_counter()
            for workflow_id, ref in zip(ids, refs, strict=True):
                request = SwarmRequest(
                    workflow_id=workflow_id, swarm=Swarm.GENERATION, input_refs=[ref]
                )
                await publish_request(js, env, request)
            done = await tap.wait("generation.completed", 20, timeout=120)
            elapsed = time.perf_counter() - started
        assert sorted(result_of(m).workflow_id for m in done) == sorted(ids)
        per_replica = [
            r.metrics.value(
                "autopilot_swarm_requests_total", swarm="generation", outcome="completed"
            )
            for r in replicas
        ]
        generated = [
            r.metrics.value("autopilot_swarm_node_runs_total", swarm="generation", node="generate")
            for r in replicas
        ]
        print(f"20 generations on 2 replicas in {elapsed:.1f}s, split {per_replica}")
        assert sum(per_replica) == 20 and min(per_replica) >= 1
        assert generated == per_replica  # every request generated once, by one replica
        for replica in replicas:
            for outcome in ("replayed", "resumed", "retried", "failed", "dead_lettered"):
                assert (
                    replica.metrics.value(
                        "autopilot_swarm_requests_total", swarm="generation", outcome=outcome
                    )
                    == 0
                )

    asyncio.run(run())


def test_duplicate_requests_give_one_result(env: Env) -> None:
    async def run() -> None:
        workflow_id = wf()
        ref = await seed_input(env, workflow_id)
        planner = build_planner(env.settings(PlannerSettings))
        request = SwarmRequest(workflow_id=workflow_id, swarm=Swarm.PLANNING, input_refs=[ref])

        def count(outcome: str) -> float:
            return planner.metrics.value(
                "autopilot_swarm_requests_total", swarm="planning", outcome=outcome
            )

        def runs(node: str) -> float:
            return planner.metrics.value(
                "autopilot_swarm_node_runs_total", swarm="planning", node=node
            )

        async with tapped(env) as (tap, js), services(planner):
            # Same Nats-Msg-Id twice: JetStream stores the request once.
            await publish_request(js, env, request)
            await publish_request(js, env, request)
            await tap.wait("planning.completed")
            await eventually_async(lambda: count("completed") == 1)
            nodes = {n: runs(n) for n in ("load_input", "validate", "plan", "store")}
            assert nodes == dict.fromkeys(nodes, 1.0)
            # Different ids (a reconciler re-send): both delivered, answered from the thread.
            await publish_request(js, env, request, msg_id="resend-1")
            await publish_request(js, env, request, msg_id="resend-2")
            # Counted after the replay's completion is published (and acked by the stream).
            await eventually_async(lambda: count("replayed") == 2)
            assert {n: runs(n) for n in nodes} == nodes  # nothing recomputed
            await tap.settled()
        assert len(tap.on("planning.requested")) == 3
        # The re-published completions carry the same Nats-Msg-Id: the stream keeps one.
        assert len(tap.on("planning.completed")) == 1
        assert count("completed") == 1

    asyncio.run(run())


def test_heartbeats_keep_a_long_request_from_being_redelivered(env: Env) -> None:
    settings = env.settings(PlannerSettings, ack_wait_seconds=1.0)

    @swarm_node("store")
    async def slow(state: SwarmState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
        # Timer-driven on purpose: the request must outlast several ack waits, after each of
        # which the server would redeliver it were it not for the heartbeats.
        await asyncio.sleep(3.5 * settings.ack_wait_seconds)
        request = state.swarm_request()
        ref = await runtime.context.artifacts.put_files(request.workflow_id, "plan.1", {"a": b"1"})
        return {"artifacts": [ref.model_dump(mode="json")]}

    replicas: list[SwarmService] = []

    def total(outcome: str) -> float:
        """A request outcome counted over both replicas."""
        return sum(
            r.metrics.value("autopilot_swarm_requests_total", swarm="planning", outcome=outcome)
            for r in replicas
        )

    async def run() -> ConsumerInfo:
        """One long request through two replicas; the planner consumer's info once acked."""
        # Two replicas: without heartbeats the idle one would get the redelivery.
        replicas.extend(SwarmService(settings, _one_node(slow)) for _ in range(2))
        request = SwarmRequest(workflow_id=wf(), swarm=Swarm.PLANNING, input={"x": 1})
        async with tapped(env) as (tap, js), services(*replicas):
            await publish_request(js, env, request)
            await tap.wait("planning.completed")
            await eventually_async(lambda: total("completed") == 1)
            # The server's record once the request is acked: a redelivery, had an ack wait
            # passed without a heartbeat, went to the idle replica while the first still worked.
            return await eventually_async(
                lambda: js.consumer_info(env.stream, settings.SWARM.service),
                until=lambda info: info.num_ack_pending == 0 and info.num_pending == 0,
                message="the request was not acked",
            )

    consumer = asyncio.run(run())
    assert consumer.delivered.consumer_seq == 1, consumer  # one delivery, ever
    assert consumer.num_redelivered == 0, consumer
    assert total("completed") == 1 and total("replayed") == 0
    assert (
        sum(
            r.metrics.value("autopilot_swarm_node_runs_total", swarm="planning", node="store")
            for r in replicas
        )
        == 1
    )


# --------------------------------------------------------------------------- poison


def test_poison_goes_to_dead_letter_and_fails_the_workflow(env: Env) -> None:
    async def run() -> None:
        planner = build_planner(env.settings(PlannerSettings))
        subject = f"{env.prefix}.planning.requested"
        good, bad_shape, no_input = wf(), wf(), wf()
        ref = await seed_input(env, good)
        async with tapped(env) as (tap, js), services(planner):
            await js.publish(subject, b"{not json", headers={MSG_ID_HEADER: "poison-1"})
            invalid = {
                "type": subject,
                "source": "/test",
                "subject": bad_shape,
                "data": {"workflow_id": bad_shape, "swarm": "planning"},
            }
            await js.publish(
                subject, json.dumps(invalid).encode(), headers={MSG_ID_HEADER: "poison-2"}
            )
            missing = ArtifactRef(workflow_id=no_input, kind="input")
            await publish_request(
                js,
                env,
                SwarmRequest(workflow_id=no_input, swarm=Swarm.PLANNING, input_refs=[missing]),
            )
            await publish_request(
                js, env, SwarmRequest(workflow_id=good, swarm=Swarm.PLANNING, input_refs=[ref])
            )
            (done,) = await tap.wait("planning.completed")
            dead = await tap.wait("deadletter.planning", 3)
            failed = await tap.wait("planning.failed", 2)
        assert result_of(done).workflow_id == good
        assert [m.data for m in dead][0] == b"{not json"
        assert all(m.headers and m.headers["autopilot-error-code"] == "invalid_input" for m in dead)
        assert "Invalid JSON" in (dead[0].headers or {})["autopilot-error"]
        errors = {failure_of(m).workflow_id: failure_of(m).error for m in failed}
        assert set(errors) == {bad_shape, no_input}
        assert errors[bad_shape].code == "invalid_input"
        assert "input or input_refs" in errors[bad_shape].message
        assert errors[no_input].field == "input_refs"
        assert f"no artifact 'input' stored for workflow {no_input}" in errors[no_input].message
        assert planner.metrics.value("autopilot_dead_letters_total", swarm="planning") == 3

    asyncio.run(run())


# --------------------------------------------------------------------------- crash


def _get(url: str) -> tuple[int, str]:
    """GET a URL: (status, body); (0, '') when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


async def _ready(proc: subprocess.Popen[bytes], port: int, timeout: float = 60.0) -> None:
    """Wait until the subprocess answers /readyz with 200 (fails at once if it exits)."""

    def ready() -> bool:
        """/readyz answers 200; the process exiting first fails at once."""
        assert proc.poll() is None, f"service exited with {proc.returncode} before it was ready"
        return _get(f"http://127.0.0.1:{port}/readyz")[0] == 200

    await eventually_async(ready, timeout=timeout, interval=0.1, message="service not ready")


def _metric(text: str, name: str, **labels: str) -> float:
    """One sample from Prometheus text output (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            sample, value = line.rsplit(" ", 1)
            got = ",".join(sorted(sample[len(name) + 1 : -1].split(",")))
            if got == want:
                return float(value)
    return 0.0


def test_crash_after_generate_resumes_at_self_check(env: Env) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    log = env.data_dir / "generator.log"

    def start(port: int, **extra: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.generator.main"],
                cwd=ROOT,
                env=env.process_env(
                    AUTOPILOT_HTTP_PORT=str(port), AUTOPILOT_ACK_WAIT_SECONDS="2", **extra
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        return proc

    async def run() -> None:
        workflow_id = wf()
        ref = await seed_plan(env, workflow_id)
        async with tapped(env) as (tap, js):
            first_port = free_port()
            first = start(first_port, AUTOPILOT_FAULT="generator:generate")
            await _ready(first, first_port)
            request = SwarmRequest(
                workflow_id=workflow_id, swarm=Swarm.GENERATION, input_refs=[ref]
            )
            await publish_request(js, env, request)
            await asyncio.to_thread(first.wait, 60)
            assert first.returncode == -signal.SIGKILL
            assert (env.data_dir / "fault-fired").exists()
            await tap.settled()  # the tap has read all the first process stored
            assert not tap.on("generation.completed")

            second_port = free_port()
            restarted = time.perf_counter()
            second = start(second_port)
            (done,) = await tap.wait("generation.completed", timeout=90)
            resumed = time.perf_counter() - restarted
            assert result_of(done).workflow_id == workflow_id
            _, metrics = _get(f"http://127.0.0.1:{second_port}/metrics")
            second.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert await asyncio.to_thread(second.wait, 30) in (0, -signal.SIGTERM)
        print(f"completion {resumed:.1f}s after the restart (ack wait 2s)")
        assert "Application shutdown complete" in log.read_text()

        # The restarted process never ran load_plan or generate; it resumed at self_check.
        name = "autopilot_swarm_node_runs_total"
        assert _metric(metrics, name, swarm="generation", node="generate") == 0
        assert _metric(metrics, name, swarm="generation", node="load_plan") == 0
        assert _metric(metrics, name, swarm="generation", node="self_check") == 1
        assert (
            _metric(
                metrics, "autopilot_swarm_requests_total", swarm="generation", outcome="resumed"
            )
            == 1
        )
        # The checkpoint (stored in Postgres, encrypted) records which process ran each node.
        settings = env.settings(GeneratorSettings)
        async with open_checkpointer(env.database_url, serde=serializer(settings)) as saver:
            graph = build_generator_graph().compile(checkpointer=saver)
            config: Any = {"configurable": {"thread_id": request.thread_id}}
            state = await graph.aget_state(config)
            history = [s async for s in graph.aget_state_history(config)]
        runs = state.values["node_runs"]
        # `self_check` is the first node after the crash (offline there is no `improve`).
        assert [r.split("@")[0] for r in runs] == ["load_plan", "generate", "self_check", "store"]
        pids = [int(r.split("@")[1]) for r in runs]
        assert pids == [first.pid, first.pid, second.pid, second.pid]
        scheduled = [task.name for snap in history for task in snap.tasks]
        assert scheduled.count("generate") == 1

    try:
        asyncio.run(run())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


# --------------------------------------------------------------------------- concurrency


def test_one_replica_runs_several_requests_at_once(env: Env) -> None:
    """A long request must not hold a replica while others wait (issue 11, point 6)."""
    running: list[str] = []
    peak = 0
    overlapped = asyncio.Event()

    @swarm_node("store")
    async def overlapping(state: SwarmState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
        nonlocal peak
        request = state.swarm_request()
        running.append(request.workflow_id)
        peak = max(peak, len(running))
        if peak >= 2:
            overlapped.set()
        # Each request waits until another runs beside it (or gives up after a while, and the
        # test says the requests ran one after another).
        with suppress(TimeoutError):
            async with asyncio.timeout(15):
                await overlapped.wait()
        ref = await runtime.context.artifacts.put_files(request.workflow_id, "plan.1", {"a": b"1"})
        running.remove(request.workflow_id)
        return {"artifacts": [ref.model_dump(mode="json")]}

    def graph() -> StateGraph[SwarmState, SwarmContext, Any, Any]:
        built = StateGraph(SwarmState, context_schema=SwarmContext)
        built.add_node("store", overlapping)
        built.add_edge(START, "store")
        built.add_edge("store", END)
        return built

    async def run() -> None:
        settings = env.settings(PlannerSettings)
        assert settings.max_workers >= 2  # the default, not a test override
        replica = SwarmService(settings, graph)
        requests = [
            SwarmRequest(workflow_id=wf(), swarm=Swarm.PLANNING, input={"x": i}) for i in range(3)
        ]
        async with tapped(env) as (tap, js), services(replica):
            for request in requests:
                await publish_request(js, env, request)
            done = await tap.wait("planning.completed", count=3, timeout=60)
        assert peak >= 2, "requests ran one after another"
        assert {result_of(m).workflow_id for m in done} == {r.workflow_id for r in requests}
        completed = replica.metrics.value(
            "autopilot_swarm_requests_total", swarm="planning", outcome="completed"
        )
        assert completed == 3

    asyncio.run(run())


def test_a_request_waiting_for_a_worker_is_not_redelivered(env: Env) -> None:
    """More requests than workers: none is held unheartbeated past ack_wait and run twice.

    With FastStream's `max_workers` a replica fetched the third request and let it wait for a
    worker without heartbeats; JetStream redelivered it after ack_wait and it ran twice.
    """
    settings = env.settings(PlannerSettings, ack_wait_seconds=1.5, max_workers=2)
    runs: list[str] = []
    running = 0
    peak = 0

    @swarm_node("store")
    async def slow(state: SwarmState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
        """Outlast two ack waits, so a request queued behind it would be redelivered."""
        nonlocal running, peak
        request = state.swarm_request()
        runs.append(request.workflow_id)
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(3 * settings.ack_wait_seconds)
        finally:
            running -= 1
        ref = await runtime.context.artifacts.put_files(request.workflow_id, "plan.1", {"a": b"1"})
        return {"artifacts": [ref.model_dump(mode="json")]}

    replica = SwarmService(settings, _one_node(slow))
    requests = [
        SwarmRequest(workflow_id=wf(), swarm=Swarm.PLANNING, input={"x": i}) for i in range(4)
    ]

    def count(outcome: str) -> float:
        """How many requests ended with `outcome`."""
        return replica.metrics.value(
            "autopilot_swarm_requests_total", swarm="planning", outcome=outcome
        )

    async def run() -> ConsumerInfo:
        """Four requests at once through one replica of two slots; the consumer's info after."""
        async with tapped(env) as (tap, js), services(replica):
            for request in requests:
                await publish_request(js, env, request)
            await tap.wait("planning.completed", count=len(requests), timeout=90)
            await eventually_async(lambda: count("completed") == len(requests))
            return await eventually_async(
                lambda: js.consumer_info(env.stream, settings.SWARM.service),
                until=lambda info: info.num_ack_pending == 0 and info.num_pending == 0,
                message="the requests were not all acked",
            )

    consumer = asyncio.run(run())
    assert sorted(runs) == sorted(r.workflow_id for r in requests), runs  # each ran once
    assert peak <= settings.max_workers, peak
    assert consumer.delivered.consumer_seq == len(requests), consumer  # one delivery each
    assert consumer.num_redelivered == 0, consumer
    for outcome in ("replayed", "resumed", "retried", "failed", "dead_lettered"):
        assert count(outcome) == 0, outcome
