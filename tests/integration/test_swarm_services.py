"""The three swarm services against real NATS JetStream and PostgreSQL.

Each test has its own subject prefix, stream and database (conftest fixtures). Services run
in-process (`SwarmService.running()`), except the crash test, which runs the generator as a
real subprocess and lets it SIGKILL itself. Async code runs through `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import nats
import psycopg
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.generator.engine import generate_chart
from services.planner.config import PlannerSettings
from services.planner.engine import plan_chart
from services.planner.handlers import build_service as build_planner
from services.planner.intake import parse_requirements
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
from shared.infra import ArtifactStore
from shared.infra.swarm import SwarmService, SwarmSettings, read_tree
from shared.models.plan import ChartPlan

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
    seen: list[Msg] = field(default_factory=list)

    def on(self, suffix: str) -> list[Msg]:
        """Stored messages whose subject ends with `suffix`."""
        return [m for m in self.seen if m.subject.endswith(suffix)]

    async def wait(self, suffix: str, count: int = 1, timeout: float = 60.0) -> list[Msg]:
        """Wait until `count` messages ended with `suffix`."""
        deadline = time.monotonic() + timeout
        while len(self.on(suffix)) < count:
            if time.monotonic() > deadline:
                subjects = [m.subject for m in self.seen]
                raise AssertionError(f"{count} x {suffix} not seen in {timeout}s; saw {subjects}")
            await asyncio.sleep(0.05)
        return self.on(suffix)


@asynccontextmanager
async def tapped(env: Env) -> AsyncIterator[tuple[Tap, JetStreamContext]]:
    """A NATS connection with the stream ensured and a tap on everything stored in it."""
    nc = await nats.connect(env.nats_url)
    js = nc.jetstream()
    await ensure_stream(js, env.stream, env.prefix)
    tap = Tap(js)

    async def collect(msg: Msg) -> None:
        tap.seen.append(msg)

    sub = await js.subscribe(f"{env.prefix}.>", stream=env.stream, cb=collect, ordered_consumer=True)
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
    files = {k: v.encode() for k, v in read_tree(generated.chart_dir, skip=(".autopilot/",)).items()}
    async with ArtifactStore.open(env.database_url, key=KEY.encode()) as store:
        return await store.put_files(workflow_id, "chart.1", files)


def wf() -> str:
    """A fresh workflow id."""
    return f"wf-{uuid.uuid4().hex[:10]}"


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until `check()` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- one per swarm


def test_planner_plans_and_stores_the_plan_encrypted(env: Env) -> None:
    async def run() -> None:
        workflow_id = wf()
        ref = await seed_input(env, workflow_id)
        planner = build_planner(env.settings(PlannerSettings))
        async with tapped(env) as (tap, js), services(planner):
            started = time.perf_counter()
            await publish_request(
                js, env, SwarmRequest(workflow_id=workflow_id, swarm=Swarm.PLANNING, input_refs=[ref])
            )
            (done,) = await tap.wait("planning.completed")
            latency = time.perf_counter() - started
        result = result_of(done)
        assert done.headers and done.headers[MSG_ID_HEADER] == Event[Any].model_validate_json(done.data).id
        assert [a.kind for a in result.artifacts] == ["plan.1"]
        assert result.summary["components"] == 1 and result.summary["chart"] == "demo"
        async with ArtifactStore.open(env.database_url, key=KEY.encode()) as store:
            plan = await store.get_json(workflow_id, "plan.1", ChartPlan, name="result.json")
        assert plan.name == "demo" and plan.components[0].spec.image.startswith("nginx")
        # The checkpoint blobs are encrypted: the image name is nowhere in plaintext.
        async with await psycopg.AsyncConnection.connect(env.database_url) as conn:
            cur = await conn.execute("SELECT blob FROM checkpoint_blobs WHERE thread_id = %s",
                                     (f"{workflow_id}:planning:1",))
            blobs = [bytes(row[0]) for row in await cur.fetchall() if row[0] is not None]
        assert blobs and not any(b"nginx" in blob for blob in blobs)
        print(f"planning latency {latency * 1000:.0f} ms")

    asyncio.run(run())
