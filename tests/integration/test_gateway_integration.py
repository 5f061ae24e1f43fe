"""Gateway against real NATS JetStream and PostgreSQL: each test its own database, subject prefix
and stream. Swarm answers come from an in-test responder that consumes `*.requested` from the
stream and answers with the real engines in-process (the swarm services are built elsewhere)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python
import nats
import pytest
from fastapi.testclient import TestClient
from psycopg import connect

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from services.generator.engine import generate_chart
from services.planner.engine import plan_chart
from shared.events import Event, Swarm, SwarmFailure, SwarmRequest, swarm_event
from shared.infra.artifacts import ArtifactStore
from shared.infra.embedded import EmbeddedNats
from shared.models.requirements import ChartRequirements
from shared.models.workflow import ErrorCode, ErrorContext
from tests.fakes.gateway_world import answer
from tests.gateway_client import approve, at_gate, ended, wait_for
from tests.gateway_client import submit as submit_to
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "name": "shop",
    "components": [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "ports": [{"port": 8080}]}],
}
GATES = ["planning_review", "security_review", "deployment_approval"]
Verdict = Callable[[SwarmRequest], "str | ErrorContext | None"]


class Responder(threading.Thread):
    """Answers swarm requests from the stream, in its own thread and event loop."""

    def __init__(self, settings: GatewaySettings, intercept: Verdict | None = None) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.intercept = intercept
        self.requests: list[SwarmRequest] = []
        self.published: list[Event[Any]] = []
        self.deleted: list[int] = []
        self.ready = threading.Event()
        self._halt = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        s = self.settings
        self.loop = asyncio.get_running_loop()
        nc = await nats.connect(s.nats_url)
        js = nc.jetstream()
        async with ArtifactStore.open(s.database_url or "", setup=False) as store:

            async def on_request(msg: Any) -> None:
                request = Event[SwarmRequest].model_validate_json(msg.data).data
                self.requests.append(request)
                verdict = self.intercept(request) if self.intercept else None
                if verdict in ("drop", "hold"):
                    if verdict == "drop":
                        # Lost for good: the request is deleted from the stream, not just unanswered.
                        await js.delete_msg(s.stream_name, msg.metadata.sequence.stream)
                        self.deleted.append(msg.metadata.sequence.stream)
                    await msg.ack()
                    return
                if isinstance(verdict, ErrorContext):
                    payload: Any = SwarmFailure(
                        workflow_id=request.workflow_id,
                        attempt=request.attempt,
                        swarm=request.swarm,
                        error=verdict,
                    )
                else:
                    payload = await answer(request, store)
                event = swarm_event(payload, source="/test/swarm", prefix=s.subject_prefix)
                self.published.append(event)
                await js.publish(
                    event.type, event.to_bytes(), headers=event.headers(), stream=s.stream_name
                )
                await msg.ack()

            sub = await js.subscribe(
                f"{s.subject_prefix}.*.requested",
                stream=s.stream_name,
                cb=on_request,
                manual_ack=True,
            )
            self.ready.set()
            await asyncio.to_thread(self._halt.wait)
            await sub.unsubscribe()
        await nc.close()

    def republish(self, event: Event[Any]) -> None:
        """Publish an event again from the responder's loop (for duplicate tests)."""

        async def send() -> None:
            nc = await nats.connect(self.settings.nats_url)
            await nc.jetstream().publish(
                event.type,
                event.to_bytes(),
                headers=event.headers(),
                stream=self.settings.stream_name,
            )
            await nc.close()

        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(send(), self.loop).result(10)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        if self.error:
            raise self.error


@pytest.fixture
def gateway_settings(
    nats_url: str, pg_database: str, nats_subject_prefix: str, nats_stream: str, tmp_path: Path
) -> GatewaySettings:
    return GatewaySettings(
        nats_url=nats_url,
        database_url=pg_database,
        subject_prefix=nats_subject_prefix,
        stream_name=nats_stream,
        data_dir=tmp_path,
        local_mode=True,
        reconcile_interval_seconds=0.2,
    )


@pytest.fixture
def running(
    gateway_settings: GatewaySettings,
) -> Iterator[Callable[..., tuple[TestClient, Responder]]]:
    """Start a gateway app and a responder; everything is stopped at the end of the test."""
    started: list[tuple[TestClient, Responder]] = []

    def start(intercept: Verdict | None = None, **overrides: Any) -> tuple[TestClient, Responder]:
        settings = gateway_settings.model_copy(update=overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        responder = Responder(settings, intercept)
        responder.start()
        assert responder.ready.wait(20)
        started.append((client, responder))
        return client, responder

    def stop(client: TestClient) -> None:
        """Stop one app and its responder before the test ends (a gateway restart)."""
        for pair in [p for p in started if p[0] is client]:
            started.remove(pair)
            pair[1].stop()
            client.__exit__(None, None, None)

    start.stop = stop  # type: ignore[attr-defined]
    yield start
    for client, responder in started:
        responder.stop()
        client.__exit__(None, None, None)


def checkpoints(database_url: str, wf: str) -> int:
    with connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (wf,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_three_gates_over_nats_produce_the_offline_chart_and_survive_a_restart(
    running: Callable[..., tuple[TestClient, Responder]],
    gateway_settings: GatewaySettings,
    tmp_path: Path,
) -> None:
    client, _ = running()
    started = time.perf_counter()
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    first_gate = time.perf_counter() - started
    # A second gateway process (new app, new pools) carries on from the checkpoints.
    running.stop(client)  # type: ignore[attr-defined]
    client, _ = running()
    approve(client, wf, "planning_review")
    for gate in GATES[1:]:
        wait_for(client, wf, at_gate(gate))
        approve(client, wf, gate)
    done = wait_for(client, wf, ended)
    assert done["status"] == "completed", done
    print(f"\nsubmit -> planning_review over NATS+Postgres: {first_gate * 1000:.0f} ms")

    chart_dir = generate_chart(
        plan_chart(ChartRequirements.model_validate(SPEC)), tmp_path / "offline"
    ).chart_dir
    expected = {
        str(p.relative_to(chart_dir))
        for p in chart_dir.rglob("*")
        if p.is_file() and ".autopilot" not in p.parts
    }
    for rel in expected:
        served = client.get(f"/v1/workflows/{wf}/files/{rel}")
        assert served.status_code == 200 and served.content == (chart_dir / rel).read_bytes(), rel
    archive = client.get(f"/v1/workflows/{wf}/chart.tgz")
    with helm_python.Chart.load_archive(archive.content) as chart:
        assert chart.name == "shop"

    with client.stream(
        "GET", f"/v1/workflows/{wf}/events", headers={"Last-Event-ID": "3"}
    ) as response:
        ids = [int(line[3:]) for line in response.iter_lines() if line.startswith("id:")]
    assert ids and ids[0] > 3 and ids == sorted(ids)
    history = client.get(f"/v1/workflows/{wf}/history").json()["checkpoints"]
    assert len(history) == checkpoints(gateway_settings.database_url or "", wf)


def test_rejected_plan_is_rejected_with_comment(
    running: Callable[..., tuple[TestClient, Responder]],
) -> None:
    client, responder = running()
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    client.post(
        f"/v1/workflows/{wf}/decisions",
        json={"gate": "planning_review", "decision": "reject", "comment": "no"},
    )
    body = wait_for(client, wf, ended)
    assert body["status"] == "rejected" and body["comment"] == "no"
    assert [r.swarm for r in responder.requests] == [Swarm.PLANNING]
    listed = client.get("/v1/workflows", params={"status": "rejected"}).json()["items"]
    assert [w["id"] for w in listed] == [wf]


def test_dropped_request_is_recovered_by_the_reconciler(
    running: Callable[..., tuple[TestClient, Responder]],
) -> None:
    dropped: list[int] = []

    def drop_first(request: SwarmRequest) -> str | None:
        if request.swarm is Swarm.GENERATION and not dropped:
            dropped.append(request.attempt)
            return "drop"
        return None

    client, responder = running(drop_first, swarm_deadline_seconds=1.5)
    wf = submit(client, requirements=SPEC, options={"auto_approve": ["planning_review"]})
    body = wait_for(client, wf, at_gate("security_review"))
    generation = [r for r in responder.requests if r.swarm is Swarm.GENERATION]
    assert dropped == [1] and [r.attempt for r in generation] == [1, 1]
    assert len(responder.deleted) == 1
    assert body["status"] == "waiting_for_approval"
    assert (
        'autopilot_reconciler_redispatches_total{swarm="generation"} 1.0'
        in client.get("/metrics").text
    )


def test_duplicate_completion_does_not_advance_the_graph(
    running: Callable[..., tuple[TestClient, Responder]], gateway_settings: GatewaySettings
) -> None:
    client, responder = running()
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    before = checkpoints(gateway_settings.database_url or "", wf)
    original = next(e for e in responder.published if e.data.swarm is Swarm.PLANNING)
    responder.republish(original)  # same Nats-Msg-Id: JetStream drops it
    fresh = original.model_copy(update={"id": "another-id"})
    responder.republish(fresh)  # new id: delivered, and the gateway must ignore it
    eventually(
        lambda: client.get("/metrics").text,
        until=lambda text: 'autopilot_duplicate_swarm_events_total{swarm="planning"} 1.0' in text,
        timeout=10,
        message="the duplicate was not counted",
    )
    assert checkpoints(gateway_settings.database_url or "", wf) == before
    assert at_gate("planning_review")(client.get(f"/v1/workflows/{wf}").json())


def test_policy_failure_escalates_to_error_review(
    running: Callable[..., tuple[TestClient, Responder]],
) -> None:
    def deny(request: SwarmRequest) -> ErrorContext | None:
        if request.swarm is Swarm.PLANNING and request.attempt == 1:
            return ErrorContext(
                code=ErrorCode.POLICY, message="registry not allowed", field="components[0].image"
            )
        return None

    client, responder = running(deny)
    wf = submit(client)
    body = wait_for(client, wf, at_gate("error_review"))
    assert (
        body["pending_gate"]["error"]["code"] == "policy"
        and body["error"]["field"] == "components[0].image"
    )
    approve(client, wf, "error_review")
    wait_for(client, wf, at_gate("planning_review"))
    assert [r.attempt for r in responder.requests if r.swarm is Swarm.PLANNING] == [1, 2]


def test_invalid_input_stores_nothing(
    running: Callable[..., tuple[TestClient, Responder]], gateway_settings: GatewaySettings
) -> None:
    client, _ = running()
    response = client.post(
        "/v1/workflows", json={"requirements": {"name": "Bad Name", "components": []}}
    )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][:2] == [
        "body",
        "requirements",
    ]
    with connect(gateway_settings.database_url or "") as conn:
        assert conn.execute("SELECT count(*) FROM gateway_workflows").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM autopilot_artifacts").fetchone() == (0,)


def test_readyz_reflects_nats_going_down(
    pg_database: str, scratch_dir: Path, tmp_path: Path
) -> None:
    with EmbeddedNats(scratch_dir / "nats") as server:
        settings = GatewaySettings(
            nats_url=server.url,
            database_url=pg_database,
            data_dir=tmp_path,
            subject_prefix="readyz.autopilot.v1",
            stream_name="READYZ",
        )
        with TestClient(create_app(settings)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            server.stop()
            down = eventually(
                lambda: client.get("/readyz"),
                until=lambda response: response.status_code == 503,
                timeout=15,
                interval=0.1,
                message="/readyz did not turn 503",
            )
            assert down.json()["checks"]["nats"].startswith("down")
            assert down.json()["checks"]["postgres"] == "ok"
            assert json.loads(client.get("/healthz").text) == {"status": "ok"}


def test_poison_answer_is_dead_lettered_and_fails_only_its_workflow(
    running: Callable[..., tuple[TestClient, Responder]], gateway_settings: GatewaySettings
) -> None:
    held: list[str] = []

    def hold_first_generation(request: SwarmRequest) -> str | None:
        if request.swarm is Swarm.GENERATION and not held:
            held.append(request.workflow_id)
            return "hold"
        return None

    client, responder = running(hold_first_generation)
    victim = submit(client, requirements=SPEC, options={"auto_approve": ["planning_review"]})
    wait_for(client, victim, lambda b: b["phase"] == "generation" and bool(held))
    other = submit(client, requirements=SPEC, options={"auto_approve": ["planning_review"]})
    poison = {
        "subject": victim,
        "type": "x",
        "source": "/evil",
        "data": {
            "workflow_id": victim,
            "swarm": "generation",
            "attempt": 1,
            "artifacts": "not-a-list",
        },
    }

    async def publish_and_read_dead_letter() -> bytes:
        nc = await nats.connect(gateway_settings.nats_url)
        js = nc.jetstream()
        dead = await js.subscribe(
            f"{gateway_settings.subject_prefix}.deadletter.gateway",
            stream=gateway_settings.stream_name,
        )
        await js.publish(
            f"{gateway_settings.subject_prefix}.generation.completed",
            json.dumps(poison).encode(),
            stream=gateway_settings.stream_name,
        )
        msg = await dead.next_msg(timeout=20)
        await nc.close()
        return bytes(msg.data)

    assert json.loads(asyncio.run(publish_and_read_dead_letter())) == poison
    failed = wait_for(client, victim, ended)
    assert failed["status"] == "failed"
    assert "unreadable answer" in json.dumps(failed["error"])
    assert wait_for(client, other, at_gate("security_review"))["status"] == "waiting_for_approval"


def submit(client: TestClient, **body: Any) -> str:
    return submit_to(client, SPEC, **body)
