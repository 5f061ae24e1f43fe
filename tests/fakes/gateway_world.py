"""A gateway's world in one process for tests: the real engines, no swarm services.

`answer()` does what the planner, generator and validator services do with one request
(read the input artifacts, run the engine, store the result, return the completion) so the
gateway can be tested end to end while the services are built elsewhere. `InProcessSwarms` is a
publisher that records every event and answers `*.requested` ones through a callback;
`MemoryWorld` is what `create_app(settings, resources=world)` opens instead of Postgres and NATS.
Test support, so it lives under tests/ (no production module imports it).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.gateway.charts import write_chart
from services.gateway.config import GatewaySettings
from services.gateway.keys import MemoryKeys
from services.gateway.resources import Resources
from services.gateway.store import MemoryArtifacts, MemoryStore
from shared import artifacts as kinds
from shared.artifacts import Artifacts
from shared.errors import AutopilotError
from shared.events import Event, Phase, Swarm, SwarmFailure, SwarmRequest, SwarmResult
from shared.infra.webhooks import MemoryWebhooks
from shared.models.plan import ChartPlan, ImportNote
from shared.models.reports import ValidationReport
from shared.models.requirements import ChartRequirements
from shared.models.workflow import ErrorCode, ErrorContext

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from services.gateway.supervisor import Supervisor

Deliver = Callable[[Phase, SwarmResult | SwarmFailure], Awaitable[Any]]
# A hook deciding a request's fate: None answers it, "drop" never does, an ErrorContext fails it.
Intercept = Callable[[SwarmRequest], "str | ErrorContext | None"]


def _plan(files: dict[str, bytes]) -> ChartPlan:
    """Planner: requirements (+ import notes) -> plan."""
    from services.planner.engine import plan_chart

    requirements = ChartRequirements.model_validate_json(files[kinds.REQUIREMENTS_FILE])
    notes = [ImportNote.model_validate(n) for n in json.loads(files.get(kinds.NOTES_FILE, b"[]"))]
    return plan_chart(requirements, notes=notes)


def _chart(plan: ChartPlan) -> dict[str, bytes]:
    """Generator: plan -> chart files."""
    from services.generator.engine import render_files

    return {rel: text.encode() for rel, text in render_files(plan).items()}


def _validate(files: dict[str, bytes], name: str) -> ValidationReport:
    """Validator: chart files -> report."""
    from services.validator.engine import validate_chart

    with tempfile.TemporaryDirectory(prefix="autopilot-validate-") as tmp:
        return validate_chart(write_chart(files, Path(tmp), name))


async def answer(request: SwarmRequest, artifacts: Artifacts) -> SwarmResult | SwarmFailure:
    """Run one swarm attempt in-process, store its output, return its completion or failure."""
    wf, attempt = request.workflow_id, request.attempt
    ref = request.input_refs[0]
    try:
        files = await artifacts.get_files(wf, ref.kind)
        if request.swarm is Swarm.PLANNING:
            plan = await asyncio.to_thread(_plan, files)
            out = await artifacts.put_files(
                wf,
                kinds.plan(attempt),
                {kinds.RESULT_FILE: plan.model_dump_json(by_alias=True).encode()},
            )
            return SwarmResult(
                workflow_id=wf, attempt=attempt, swarm=request.swarm, artifacts=[out]
            )
        if request.swarm is Swarm.GENERATION:
            plan = ChartPlan.model_validate_json(files[kinds.RESULT_FILE])
            chart = await asyncio.to_thread(_chart, plan)
            out = await artifacts.put_files(wf, kinds.chart(attempt), chart)
            return SwarmResult(
                workflow_id=wf,
                attempt=attempt,
                swarm=request.swarm,
                artifacts=[out],
                summary={"files": len(chart)},
            )
        name = ref.kind
        if "Chart.yaml" in files:
            import yaml

            name = str(yaml.safe_load(files["Chart.yaml"])["name"])
        report = await asyncio.to_thread(_validate, files, name)
        out = await artifacts.put_files(
            wf,
            kinds.report(attempt),
            {kinds.RESULT_FILE: report.model_dump_json(by_alias=True).encode()},
        )
        return SwarmResult(
            workflow_id=wf,
            attempt=attempt,
            swarm=request.swarm,
            artifacts=[out],
            summary=report.summary(),
        )
    except AutopilotError as exc:
        error = exc.context(swarm=request.swarm.value, attempt=attempt)
        return SwarmFailure(workflow_id=wf, attempt=attempt, swarm=request.swarm, error=error)
    except Exception as exc:  # noqa: BLE001 - a swarm reports every failure, classified
        error = ErrorContext(
            code=ErrorCode.UNKNOWN,
            message=f"{type(exc).__name__}: {exc}",
            swarm=request.swarm.value,
            attempt=attempt,
        )
        return SwarmFailure(workflow_id=wf, attempt=attempt, swarm=request.swarm, error=error)


class InProcessSwarms:
    """A publisher that records events and answers swarm requests with the real engines."""

    def __init__(self, artifacts: Artifacts, intercept: Intercept | None = None) -> None:
        self.artifacts = artifacts
        self.intercept = intercept
        self.deliver: Deliver | None = None
        self.published: list[tuple[str, Event[Any]]] = []
        self.requests: list[SwarmRequest] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, subject: str, event: Event[Any]) -> None:
        """Record the event; answer it later if it is a swarm request."""
        self.published.append((subject, event))
        if subject.endswith(".requested") and isinstance(event.data, SwarmRequest):
            self.requests.append(event.data)
            task = asyncio.create_task(self._answer(event.data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: SwarmRequest) -> None:
        """Answer one request unless the intercept hook drops or fails it."""
        verdict = self.intercept(request) if self.intercept else None
        if verdict == "drop":
            return
        if isinstance(verdict, ErrorContext):
            payload: SwarmResult | SwarmFailure = SwarmFailure(
                workflow_id=request.workflow_id,
                attempt=request.attempt,
                swarm=request.swarm,
                error=verdict,
            )
        else:
            payload = await answer(request, self.artifacts)
        if self.deliver is not None:
            phase = Phase.COMPLETED if isinstance(payload, SwarmResult) else Phase.FAILED
            await self.deliver(phase, payload)

    async def idle(self, timeout: float = 60.0) -> None:
        """Wait until no answer is in flight."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)


class MemoryWorld:
    """In-memory resources for `create_app(settings, resources=world)`: saver, stores, swarms."""

    def __init__(self, intercept: Intercept | None = None) -> None:
        from langgraph.checkpoint.memory import InMemorySaver

        self.artifacts = MemoryArtifacts()
        self.store = MemoryStore()
        self.keys = MemoryKeys(b"memory-world-pepper")
        self.webhooks = MemoryWebhooks(b"memory-world-webhook-key", source=self.store)
        self.swarms = InProcessSwarms(self.artifacts, intercept)
        self.saver = InMemorySaver()
        self.nats_down = False

    @asynccontextmanager
    async def __call__(self, settings: GatewaySettings) -> AsyncIterator[Resources]:
        """The Resources a gateway app opens, all in this process."""

        async def start(supervisor: Supervisor) -> None:
            self.swarms.deliver = supervisor.on_swarm_event

        async def nats_probe() -> None:
            if self.nats_down:
                raise ConnectionError("NATS marked down")

        yield Resources(
            checkpointer=self.saver,
            store=self.store,
            artifacts=self.artifacts,
            publisher=self.swarms,
            start=start,
            probes={"nats": nats_probe, "postgres": self.store.ping},
            keys=self.keys,
            webhooks=self.webhooks,
        )


def keyed_client(
    tmp_path: Path, world: MemoryWorld, api_keys: dict[str, Any], **extra: Any
) -> TestClient:
    """A test client of a gateway outside local mode that knows `api_keys` (and `extra`
    settings); its NATS and Postgres URLs lead nowhere, the world stands in for them."""
    from fastapi.testclient import TestClient

    from services.gateway.main import create_app

    settings = GatewaySettings(
        data_dir=tmp_path,
        local_mode=False,
        nats_url="nats://127.0.0.1:1",
        database_url="postgresql://x@127.0.0.1:1/x",
        LANGGRAPH_AES_KEY="k" * 16,
        api_keys=api_keys,
        **extra,
    )
    return TestClient(create_app(settings, resources=world))
