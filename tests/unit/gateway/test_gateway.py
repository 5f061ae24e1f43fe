"""Gateway in memory: the real supervisor graph and API over InMemorySaver, a memory store, and
swarm answers computed in-process by the real planner, generator and validator engines."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from fastapi.testclient import TestClient

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from services.gateway.routes import ROUTERS
from services.gateway.supervisor import Supervisor
from services.generator.engine import generate_chart
from services.planner.engine import plan_chart
from shared.events import Phase, Swarm, SwarmRequest, SwarmResult
from shared.models.plan import ChartPlan
from shared.models.requirements import ChartRequirements
from shared.models.workflow import ErrorCode, ErrorContext
from shared.plan_edit import merge_patch
from tests.fakes.gateway_world import MemoryWorld, answer
from tests.gateway_client import approve, at_gate, ended, wait_for
from tests.gateway_client import submit as submit_to

SPEC: dict[str, Any] = {
    "name": "shop",
    "components": [
        {"name": "web", "image": "ghcr.io/acme/web:1.4.2", "ports": [{"port": 8080}]},
    ],
}
GATES = ["planning_review", "security_review", "deployment_approval"]


def settings(tmp_path: Path, **extra: Any) -> GatewaySettings:
    """Gateway settings for one test (memory resources, so no servers)."""
    return GatewaySettings(data_dir=tmp_path, local_mode=True, **extra)


@pytest.fixture
def world() -> MemoryWorld:
    return MemoryWorld()


@pytest.fixture
def client(tmp_path: Path, world: MemoryWorld) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path), resources=world)) as c:
        yield c


def run_through(client: TestClient, wf: str) -> dict[str, Any]:
    for gate in GATES:
        wait_for(client, wf, at_gate(gate))
        approve(client, wf, gate)
    return wait_for(client, wf, ended)


def offline_chart(plan: ChartPlan, tmp: Path) -> dict[str, bytes]:
    """What `autopilot generate` writes for the plan, minus its own bookkeeping."""
    chart_dir = generate_chart(plan, tmp).chart_dir
    return {
        str(p.relative_to(chart_dir)): p.read_bytes()
        for p in sorted(chart_dir.rglob("*"))
        if p.is_file() and ".autopilot" not in p.parts
    }


def chart_files(world: MemoryWorld, wf: str, kind: str) -> dict[str, bytes]:
    return world.artifacts.files[(wf, kind)]


# --------------------------------------------------------------------------- the flow


def test_three_gates_produce_the_offline_chart(
    client: TestClient, world: MemoryWorld, tmp_path: Path
) -> None:
    wf = submit(client)
    gate = wait_for(client, wf, at_gate("planning_review"))
    assert gate["status"] == "waiting_for_approval" and gate["submitted_by"] == "local"
    plan = gate["pending_gate"]["plan"]
    assert plan["decisions"] and "notes" in plan
    approve(client, wf, "planning_review")
    security = wait_for(client, wf, at_gate("security_review"))
    assert security["pending_gate"]["security"]["checkov"]["passed"] > 0
    assert security["validation"]["passed"] is True
    approve(client, wf, "security_review")
    deploy = wait_for(client, wf, at_gate("deployment_approval"))
    diff = deploy["pending_gate"]["diff"]
    assert diff.startswith("--- /dev/null") and "+kind: Deployment" in diff
    approve(client, wf, "deployment_approval")
    done = wait_for(client, wf, ended)
    assert done["status"] == "completed" and done["chart"]["archive"] == "shop-0.1.0.tgz"

    expected = offline_chart(plan_chart(ChartRequirements.model_validate(SPEC)), tmp_path)
    produced = chart_files(world, wf, done["chart"]["chart_kind"])
    assert produced.keys() == expected.keys()
    for rel, data in expected.items():
        assert produced[rel] == data, rel
    served = client.get(f"/v1/workflows/{wf}/files/templates/web/deployment.yaml")
    assert served.status_code == 200 and served.content == expected["templates/web/deployment.yaml"]

    archive = client.get(f"/v1/workflows/{wf}/chart.tgz")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/gzip"
    with helm_python.Chart.load_archive(archive.content) as chart:
        assert chart.name == "shop"


def test_second_chart_of_a_name_diffs_against_the_published_one(client: TestClient) -> None:
    first = submit(client)
    run_through(client, first)
    changed = json.loads(json.dumps(SPEC))
    changed["components"][0]["image"] = "ghcr.io/acme/web:1.5.0"
    second = submit(client, requirements=changed)
    for gate in GATES[:2]:
        wait_for(client, second, at_gate(gate))
        approve(client, second, gate)
    diff = wait_for(client, second, at_gate("deployment_approval"))["pending_gate"]
    assert diff["previous"] == first
    assert "-          image: ghcr.io/acme/web:1.4.2" in diff["diff"] or "1.4.2" in diff["diff"]
    assert "+" in diff["diff"] and "1.5.0" in diff["diff"]


def test_rejected_plan_ends_rejected_with_the_comment(
    client: TestClient, world: MemoryWorld
) -> None:
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    response = client.post(
        f"/v1/workflows/{wf}/decisions",
        json={"gate": "planning_review", "decision": "reject", "comment": "use our base image"},
    )
    assert response.status_code == 200
    body = wait_for(client, wf, ended)
    assert body["status"] == "rejected" and body["comment"] == "use our base image"
    assert body["pending_gate"] is None
    assert not any(r.swarm is Swarm.GENERATION for r in world.swarms.requests)
    types = [e.type for e in world.store.events if e.workflow_id == wf]
    assert types[-1] == "workflow.rejected" and "gate.planning_review.reject" in types


def test_edited_plan_continues_with_the_edit(
    client: TestClient, world: MemoryWorld, tmp_path: Path
) -> None:
    wf = submit(client)
    plan = wait_for(client, wf, at_gate("planning_review"))["pending_gate"]["plan"]
    assert plan["components"][0]["replicas"] != 5
    components = json.loads(json.dumps(plan["components"]))
    components[0]["replicas"] = 5
    response = client.post(
        f"/v1/workflows/{wf}/decisions",
        json={
            "gate": "planning_review",
            "decision": "edit",
            "changes": {"components": components},
            "comment": "five",
        },
    )
    assert response.status_code == 200, response.text
    approved = ChartPlan.model_validate_json(chart_files(world, wf, "plan.approved")["result.json"])
    assert approved.components[0].replicas == 5
    for gate in GATES[1:]:
        wait_for(client, wf, at_gate(gate))
        approve(client, wf, gate)
    done = wait_for(client, wf, ended)
    values = yaml.safe_load(chart_files(world, wf, done["chart"]["chart_kind"])["values.yaml"])
    assert values["web"]["replicaCount"] == 5
    edited = ChartPlan.model_validate(merge_patch(plan, {"components": components}))
    assert chart_files(world, wf, done["chart"]["chart_kind"]) == offline_chart(edited, tmp_path)


def test_invalid_edit_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, world: MemoryWorld
) -> None:
    wf = submit(client)
    plan = wait_for(client, wf, at_gate("planning_review"))["pending_gate"]["plan"]
    components = json.loads(json.dumps(plan["components"]))
    components[0]["replicas"] = -1
    response = client.post(
        f"/v1/workflows/{wf}/decisions",
        json={"gate": "planning_review", "decision": "edit", "changes": {"components": components}},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == [
        "body",
        "changes",
        "components",
        "web",
        "replicas",
    ]
    assert (wf, "plan.approved") not in world.artifacts.files
    body = client.get(f"/v1/workflows/{wf}").json()
    assert at_gate("planning_review")(body) and body["pending_gate"]["plan"] == plan
    approve(client, wf, "planning_review")  # the gate is still there to decide


LINKED: dict[str, Any] = {
    "name": "shop",
    "components": [
        {
            "name": "web",
            "image": "ghcr.io/acme/web:1.4.2",
            "ports": [{"port": 8080}],
            "env": {
                "DB_PASSWORD": {"secret": "db-password"},
                "WORKER_URL": {
                    "serviceRef": "worker",
                    "port": 9000,
                    "format": "http://{host}:{port}",
                },
            },
        },
        {"name": "worker", "image": "ghcr.io/acme/worker:2.0.1", "ports": [{"port": 9000}]},
    ],
    "secrets": [{"name": "db-password"}],
}


def edit(client: TestClient, wf: str, changes: Any) -> Any:
    return client.post(
        f"/v1/workflows/{wf}/decisions",
        json={"gate": "planning_review", "decision": "edit", "changes": changes},
    )


@pytest.mark.parametrize(
    "changes",
    [
        [{"op": "replace", "path": "/components/worker/replicas", "value": 3}],
        {"components": {"worker": {"replicas": 3}}},
    ],
    ids=["json-patch", "merge-by-name"],
)
def test_edit_addresses_a_component_by_name(
    client: TestClient, world: MemoryWorld, changes: Any
) -> None:
    wf = submit_to(client, LINKED)
    plan = wait_for(client, wf, at_gate("planning_review"))["pending_gate"]["plan"]
    assert [c["spec"]["name"] for c in plan["components"]] == ["web", "worker"]
    response = edit(client, wf, changes)
    assert response.status_code == 200, response.text
    approved = ChartPlan.model_validate_json(chart_files(world, wf, "plan.approved")["result.json"])
    assert approved.component("worker").replicas == 3
    assert (
        approved.component("web").replicas
        == ChartPlan.model_validate(plan).component("web").replicas
    )
    assert (
        approved.component("web").spec.env
        == ChartPlan.model_validate(plan).component("web").spec.env
    )
    wait_for(client, wf, at_gate("security_review"))
    values = yaml.safe_load(client.get(f"/v1/workflows/{wf}/files/values.yaml").text)
    assert values["worker"]["replicaCount"] == 3


def test_edit_by_name_reaches_into_env_and_removes_an_unused_secret_by_name(
    client: TestClient, world: MemoryWorld
) -> None:
    wf = submit_to(client, LINKED)
    wait_for(client, wf, at_gate("planning_review"))
    response = edit(
        client,
        wf,
        [
            {
                "op": "replace",
                "path": "/components/web/spec/env/DB_PASSWORD",
                "value": "not-a-secret-any-more",
            },
            {"op": "remove", "path": "/secrets/db-password"},
            {"op": "replace", "path": "/components/web/spec/ports/0/port", "value": 8081},
        ],
    )
    assert response.status_code == 200, response.text
    approved = ChartPlan.model_validate_json(chart_files(world, wf, "plan.approved")["result.json"])
    assert (
        approved.secrets == []
        and approved.component("web").spec.env["DB_PASSWORD"] == "not-a-secret-any-more"
    )
    assert approved.component("web").spec.ports[0].port == 8081


@pytest.mark.parametrize(
    ("changes", "loc", "words"),
    [
        (
            {"secrets": None},
            ["changes", "components", "web", "spec", "env", "DB_PASSWORD", "secret"],
            "still referenced",
        ),
        (
            [{"op": "remove", "path": "/secrets/db-password"}],
            ["changes", "components", "web", "spec", "env", "DB_PASSWORD", "secret"],
            "still referenced",
        ),
        (
            {"secrets": {"db-password": None}},
            ["changes", "components", "web", "spec", "env", "DB_PASSWORD", "secret"],
            "db-password",
        ),
        (
            {"components": {"worker": None}},
            ["changes", "components", "web", "spec", "env", "WORKER_URL", "serviceRef"],
            "unknown component 'worker'",
        ),
        (
            [
                {
                    "op": "replace",
                    "path": "/components/web/spec/env/WORKER_URL/serviceRef",
                    "value": "ghost",
                }
            ],
            ["changes", "components", "web", "spec", "env", "WORKER_URL", "serviceRef"],
            "unknown component 'ghost'",
        ),
        (
            [{"op": "replace", "path": "/components/ghost/replicas", "value": 2}],
            ["changes", "0", "path"],
            "no item 'ghost'",
        ),
        (
            {"components": {"ghost": {"replicas": 2}}},
            ["changes", "components", "ghost"],
            "no component 'ghost'",
        ),
        (
            {"components": {"worker": {"replicas": "three"}}},
            ["changes", "components", "worker", "replicas"],
            "integer",
        ),
        (
            [{"op": "replace", "path": "/components/worker/replicas", "value": -2}],
            ["changes", "components", "worker", "replicas"],
            "greater than or equal to 0",
        ),
        (
            {
                "components": [
                    {"spec": {"name": "web", "image": "x:1"}, "kind": "Deployment", "replicas": 1}
                ]
            },
            ["changes", "components"],
            "leaves out worker",
        ),
    ],
    ids=[
        "secrets-null",
        "patch-remove-secret",
        "merge-remove-secret",
        "remove-called-component",
        "serviceref-to-missing",
        "patch-unknown-component",
        "merge-unknown-component",
        "wrong-type",
        "patch-wrong-value",
        "list-drops-a-component",
    ],
)
def test_refused_edit_is_422_naming_the_field(
    client: TestClient, world: MemoryWorld, changes: Any, loc: list[str], words: str
) -> None:
    wf = submit_to(client, LINKED)
    plan = wait_for(client, wf, at_gate("planning_review"))["pending_gate"]["plan"]
    response = edit(client, wf, changes)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", *loc], detail
    assert words in detail["msg"], detail
    assert (wf, "plan.approved") not in world.artifacts.files
    body = client.get(f"/v1/workflows/{wf}").json()
    assert at_gate("planning_review")(body) and body["pending_gate"]["plan"] == plan


def test_decision_for_a_gate_not_pending_is_409(client: TestClient) -> None:
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    response = client.post(
        f"/v1/workflows/{wf}/decisions", json={"gate": "security_review", "decision": "approve"}
    )
    assert response.status_code == 409 and "planning_review" in response.json()["detail"]
    approve(client, wf, "planning_review")
    # Another answer for a gate already passed is refused...
    other = client.post(
        f"/v1/workflows/{wf}/decisions", json={"gate": "planning_review", "decision": "reject"}
    )
    assert other.status_code == 409
    # ...while the same answer again (a retry whose first answer was lost) is the same answer.
    again = client.post(
        f"/v1/workflows/{wf}/decisions", json={"gate": "planning_review", "decision": "approve"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["decisions"]["planning_review"]["decision"] == "approve"
    assert (
        client.post(
            "/v1/workflows/nope/decisions", json={"gate": "planning_review", "decision": "approve"}
        ).status_code
        == 404
    )


def test_auto_approve_skips_the_gate(client: TestClient) -> None:
    wf = submit(
        client, requirements=SPEC, options={"auto_approve": ["planning_review", "security_review"]}
    )
    body = wait_for(client, wf, at_gate("deployment_approval"))
    assert body["status"] == "waiting_for_approval"


def test_auto_approved_deployment_gate_renders_no_diff(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody reads the diff of a gate that passes by itself: it is not rendered."""
    from services.gateway import charts

    calls: list[str] = []
    real = charts.diff

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[2]))
        return await real(*args, **kwargs)

    monkeypatch.setattr(charts, "diff", counting)
    gates = ["planning_review", "security_review", "deployment_approval"]
    wf = submit(client, requirements=SPEC, options={"auto_approve": gates})
    body = wait_for(client, wf, ended)
    assert body["status"] == "completed", body
    assert calls == []
    # Waiting at the gate, the diff is rendered for the reviewer.
    wf = submit(client, requirements=SPEC, options={"auto_approve": gates[:2]})
    wait_for(client, wf, at_gate("deployment_approval"))
    assert len(calls) == 1


# --------------------------------------------------------------------------- input


def test_invalid_requirements_are_422_naming_the_field_and_nothing_is_stored(
    client: TestClient, world: MemoryWorld
) -> None:
    bad = {"name": "shop", "components": [{"name": "web", "image": "x:1", "replicas": "many"}]}
    response = client.post("/v1/workflows", json={"requirements": bad})
    assert response.status_code == 422
    loc = response.json()["detail"][0]["loc"]
    assert loc[:2] == ["body", "requirements"] and "components" in loc and "replicas" in loc[-1]
    assert (
        world.store.records == {} and world.artifacts.files == {} and world.swarms.published == []
    )


def test_bad_compose_is_422_and_compose_input_runs(client: TestClient, world: MemoryWorld) -> None:
    response = client.post("/v1/workflows", json={"compose": "services: [1, 2"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][:2] == [
        "body",
        "compose",
    ]
    compose = "services:\n  web:\n    image: nginx:1.27\n    ports: ['8080:80']\n"
    wf = submit(client, compose=compose, name="site")
    body = wait_for(client, wf, at_gate("planning_review"))
    assert body["input_kind"] == "compose" and body["pending_gate"]["plan"]["name"] == "site"
    assert world.store.records == {wf: world.store.records[wf]}


def test_prompt_offline_is_422_naming_the_inputs_that_work(client: TestClient) -> None:
    response = client.post("/v1/workflows", json={"prompt": "a web shop with postgres"})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert (
        detail["loc"] == ["body", "prompt"]
        and "requirements" in detail["msg"]
        and "compose" in detail["msg"]
    )


def test_body_must_name_exactly_one_input(client: TestClient) -> None:
    assert client.post("/v1/workflows", json={}).status_code == 422
    assert (
        client.post("/v1/workflows", json={"requirements": SPEC, "compose": "x"}).status_code == 422
    )
    assert client.post("/v1/workflows", json={"requirements": SPEC, "typo": 1}).status_code == 422


def test_oversized_body_is_413(tmp_path: Path) -> None:
    world = MemoryWorld()
    with TestClient(create_app(settings(tmp_path, max_body_bytes=4096), resources=world)) as client:
        big = {"compose": "x" * 5000}
        assert client.post("/v1/workflows", json=big).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size must count
            yield b'{"compose": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}'

        response = client.post(
            "/v1/workflows", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert world.store.records == {}


# --------------------------------------------------------------------------- reading


def test_sse_replays_after_last_event_id(client: TestClient) -> None:
    wf = submit(client)
    run_through(client, wf)

    def read(headers: dict[str, str]) -> list[tuple[int, str]]:
        events, current = [], {}
        with client.stream("GET", f"/v1/workflows/{wf}/events", headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith(("id:", "event:")):
                    key, _, value = line.partition(":")
                    current[key] = value.strip()
                elif line == "" and "id" in current:
                    events.append((int(current["id"]), current["event"]))
                    current = {}
        return events

    everything = read({})
    types = [t for _, t in everything]
    assert types[0] == "workflow.started" and types[-1] == "workflow.completed"
    assert "gate.security_review.pending" in types
    middle = everything[len(everything) // 2][0]
    resumed = read({"Last-Event-ID": str(middle)})
    assert resumed == [e for e in everything if e[0] > middle]


def test_list_filters_and_pagination(client: TestClient) -> None:
    ids = [submit(client) for _ in range(3)]
    compose = submit(client, compose="services:\n  web:\n    image: nginx:1.27\n", name="site")
    for wf in [*ids, compose]:
        wait_for(client, wf, at_gate("planning_review"))
    client.post(
        f"/v1/workflows/{ids[0]}/decisions", json={"gate": "planning_review", "decision": "reject"}
    )
    wait_for(client, ids[0], ended)

    page = client.get("/v1/workflows", params={"limit": 2}).json()
    assert [w["id"] for w in page["items"]] == [compose, ids[2]] and page["next_cursor"]
    rest = client.get("/v1/workflows", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [w["id"] for w in rest["items"]] == [ids[1], ids[0]] and rest["next_cursor"] is None
    kind = client.get("/v1/workflows", params={"input_kind": "compose"}).json()["items"]
    assert [w["id"] for w in kind] == [compose]
    rejected = client.get("/v1/workflows", params={"status": "rejected"}).json()["items"]
    assert [w["id"] for w in rejected] == [ids[0]]
    waiting = client.get(
        "/v1/workflows", params={"status": "waiting_for_approval", "submitted_by": "local"}
    )
    assert len(waiting.json()["items"]) == 3
    assert client.get("/v1/workflows", params={"submitted_by": "someone"}).json()["items"] == []
    assert client.get("/v1/workflows", params={"status": "bogus"}).status_code == 422


def test_files_refuses_paths_leaving_the_chart(client: TestClient) -> None:
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    approve(client, wf, "planning_review")
    wait_for(client, wf, at_gate("security_review"))
    assert client.get(f"/v1/workflows/{wf}/files/Chart.yaml").status_code == 200
    # Encoded, because an HTTP client resolves a literal "../" before the request is sent.
    for bad in [
        "..%2F..%2Fetc%2Fpasswd",
        "templates%2F..%2F..%2Fsecret",
        "%2Fetc%2Fpasswd",
        "%2E%2E",
    ]:
        response = client.get(f"/v1/workflows/{wf}/files/{bad}")
        assert response.status_code in (400, 404), bad
        assert response.status_code == 400 or "Chart" not in response.text
    assert client.get(f"/v1/workflows/{wf}/files/..%2FChart.yaml").status_code == 400
    assert client.get(f"/v1/workflows/{wf}/files/nope.yaml").status_code == 404
    assert client.get(f"/v1/workflows/{wf}/chart.tgz").status_code == 404  # not published yet


def test_history_lists_checkpoints_and_replay_reruns(
    client: TestClient, world: MemoryWorld
) -> None:
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    approve(client, wf, "planning_review")
    wait_for(client, wf, at_gate("security_review"))
    history = client.get(f"/v1/workflows/{wf}/history").json()["checkpoints"]
    assert len(history) > 8 and history[-1]["source"] == "input"
    assert history[0]["next"] == ["security_review"]
    before_review = next(h for h in history if h["next"] == ["planning_review"])
    generations = sum(r.swarm is Swarm.GENERATION for r in world.swarms.requests)

    response = client.post(
        f"/v1/workflows/{wf}/replay", json={"checkpoint_id": before_review["checkpoint_id"]}
    )
    assert response.status_code == 202, response.text
    assert at_gate("planning_review")(response.json())
    plan = response.json()["pending_gate"]["plan"]
    components = json.loads(json.dumps(plan["components"]))
    components[0]["replicas"] = 4
    client.post(
        f"/v1/workflows/{wf}/decisions",
        json={"gate": "planning_review", "decision": "edit", "changes": {"components": components}},
    )
    body = wait_for(client, wf, at_gate("security_review"))
    assert sum(r.swarm is Swarm.GENERATION for r in world.swarms.requests) == generations + 1
    values = yaml.safe_load(client.get(f"/v1/workflows/{wf}/files/values.yaml").text)
    assert values["web"]["replicaCount"] == 4 and body["status"] == "waiting_for_approval"
    assert (
        client.post(f"/v1/workflows/{wf}/replay", json={"checkpoint_id": "nope"}).status_code == 404
    )


# --------------------------------------------------------------------------- failures


def test_dropped_request_is_recovered_by_the_reconciler(tmp_path: Path) -> None:
    dropped: list[SwarmRequest] = []

    def drop_first(request: SwarmRequest) -> str | None:
        if request.swarm is Swarm.PLANNING and not dropped:
            dropped.append(request)
            return "drop"
        return None

    world = MemoryWorld(drop_first)
    config = settings(tmp_path, swarm_deadline_seconds=0.5, reconcile_interval_seconds=0.1)
    with TestClient(create_app(config, resources=world)) as client:
        wf = submit(client)
        body = wait_for(client, wf, at_gate("planning_review"), timeout=20)
        assert dropped and body["status"] == "waiting_for_approval"
        planning = [r for r in world.swarms.requests if r.swarm is Swarm.PLANNING]
        assert len(planning) == 2 and planning[0].attempt == planning[1].attempt
        ids = [e.id for s, e in world.swarms.published if s.endswith("planning.requested")]
        assert len(set(ids)) == 2  # a new Nats-Msg-Id, or JetStream would drop the re-send
        metrics = client.get("/metrics").text
        assert 'autopilot_reconciler_redispatches_total{swarm="planning"} 1.0' in metrics
        assert any(e.type == "workflow.redispatched" for e in world.store.events)


def test_policy_failure_escalates_to_error_review(tmp_path: Path) -> None:
    failed: list[int] = []

    def deny_generation(request: SwarmRequest) -> ErrorContext | None:
        if request.swarm is Swarm.GENERATION and not failed:
            failed.append(request.attempt)
            return ErrorContext(
                code=ErrorCode.POLICY,
                message="images must come from registry.acme",
                field="components[0].image",
            )
        return None

    world = MemoryWorld(deny_generation)
    with TestClient(create_app(settings(tmp_path), resources=world)) as client:
        wf = submit(client)
        wait_for(client, wf, at_gate("planning_review"))
        approve(client, wf, "planning_review")
        body = wait_for(client, wf, at_gate("error_review"))
        assert body["status"] == "waiting_for_approval"
        assert (
            body["pending_gate"]["error"]["code"] == "policy"
            and body["pending_gate"]["step"] == "dispatch_generation"
        )
        assert body["error"]["message"] == "images must come from registry.acme"
        approve(client, wf, "error_review", comment="exception granted")
        body = wait_for(client, wf, at_gate("security_review"))
        assert [r.attempt for r in world.swarms.requests if r.swarm is Swarm.GENERATION] == [1, 2]


def test_error_review_reject_fails_the_workflow(tmp_path: Path) -> None:
    world = MemoryWorld(
        lambda r: (
            ErrorContext(code=ErrorCode.PERMISSION, message="no")
            if r.swarm is Swarm.PLANNING
            else None
        )
    )
    with TestClient(create_app(settings(tmp_path), resources=world)) as client:
        wf = submit(client)
        wait_for(client, wf, at_gate("error_review"))
        client.post(
            f"/v1/workflows/{wf}/decisions",
            json={"gate": "error_review", "decision": "reject", "comment": "stop"},
        )
        body = wait_for(client, wf, ended)
        assert body["status"] == "failed" and body["error"]["code"] == "permission"
        assert body["error"]["details"]["comment"] == "stop"


def test_transient_failure_is_redispatched_then_invalid_input_fails(tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky(request: SwarmRequest) -> ErrorContext | None:
        if request.swarm is not Swarm.PLANNING:
            return None
        calls.append(request.attempt)
        if len(calls) == 1:
            return ErrorContext(code=ErrorCode.TRANSIENT, message="model busy", retryable=True)
        return ErrorContext(code=ErrorCode.INVALID_INPUT, message="bad spec", field="components")

    world = MemoryWorld(flaky)
    with TestClient(create_app(settings(tmp_path), resources=world)) as client:
        wf = submit(client)
        body = wait_for(client, wf, ended)
        assert calls == [1, 2] and body["status"] == "failed"
        assert body["error"]["code"] == "invalid_input" and body["error"]["field"] == "components"
        metrics = client.get("/metrics").text
        assert 'autopilot_workflows_failed_total{input_kind="requirements"} 1.0' in metrics


def test_duplicate_completion_does_not_advance_twice(
    client: TestClient, world: MemoryWorld
) -> None:
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    request = next(r for r in world.swarms.requests if r.swarm is Swarm.PLANNING)
    supervisor: Supervisor = client.app.state.supervisor  # type: ignore[attr-defined]

    async def redeliver() -> tuple[bool, int]:
        result = await answer(request, world.artifacts)
        assert isinstance(result, SwarmResult)
        before = len([c async for c in world.saver.alist(supervisor.config(wf))])
        applied = await supervisor.on_swarm_event(Phase.COMPLETED, result)
        after = len([c async for c in world.saver.alist(supervisor.config(wf))])
        return applied, after - before

    applied, new_checkpoints = client.portal.call(redeliver)  # type: ignore[union-attr]
    assert applied is False and new_checkpoints == 0
    assert at_gate("planning_review")(client.get(f"/v1/workflows/{wf}").json())
    steps = [e.data.get("node") for e in world.store.events if e.workflow_id == wf]
    assert steps.count("await_planning") == 1
    assert (
        'autopilot_duplicate_swarm_events_total{swarm="planning"} 1.0'
        in client.get("/metrics").text
    )


# --------------------------------------------------------------------------- service


def test_readyz_reflects_a_down_dependency(client: TestClient, world: MemoryWorld) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"nats": "ok", "postgres": "ok"}
    world.nats_down = True
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["nats"].startswith("down")
    world.nats_down, world.store.down = False, True
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["postgres"].startswith("down")


def test_openapi_documents_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    routes = {
        ("post", "/v1/workflows"),
        ("get", "/v1/workflows"),
        ("get", "/v1/workflows/{workflow_id}"),
        ("post", "/v1/workflows/{workflow_id}/decisions"),
        ("get", "/v1/workflows/{workflow_id}/events"),
        ("get", "/v1/workflows/{workflow_id}/chart.tgz"),
        ("get", "/v1/workflows/{workflow_id}/files/{path}"),
        ("get", "/v1/workflows/{workflow_id}/history"),
        ("post", "/v1/workflows/{workflow_id}/replay"),
        ("post", "/v1/workflows/{workflow_id}/cancel"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("post", "/v1/keys"),
        ("get", "/v1/keys"),
        ("delete", "/v1/keys/{name_or_id}"),
        ("get", "/v1/audit"),
        ("post", "/v1/webhooks"),
        ("get", "/v1/webhooks"),
        ("delete", "/v1/webhooks/{webhook_id}"),
        ("get", "/v1/events"),
    }
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert routes == documented
    app_routes = {
        (m.lower(), r.path.replace("{path:path}", "{path}"))
        for r in [route for router in ROUTERS for route in router.routes]
        if getattr(r, "include_in_schema", False)
        for m in r.methods - {"HEAD"}
    }
    assert app_routes == documented
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = (
                op["responses"].get("200")
                or op["responses"].get("201")
                or op["responses"].get("202")
            )
            assert ok and ok.get("content"), (method, path)
    view = spec["components"]["schemas"]["WorkflowView"]["properties"]
    assert {"id", "status", "phase", "pending_gate", "validation", "error"} <= view.keys()


def test_metrics_names_and_labels(client: TestClient) -> None:
    wf = submit(client)
    run_through(client, wf)
    text = client.get("/metrics").text
    for name in (
        'autopilot_workflows_started_total{input_kind="requirements"} 1.0',
        'autopilot_workflows_completed_total{input_kind="requirements"} 1.0',
        'autopilot_gate_decisions_total{decision="approve",gate="planning_review"} 1.0',
        "autopilot_workflow_duration_seconds_bucket",
        "autopilot_gate_wait_seconds_bucket",
        "autopilot_http_request_duration_seconds_bucket",
    ):
        assert name in text, name
    assert wf not in text


def test_merge_patch_follows_rfc_7386() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None, "e": 3}, "d": [2]}) == {
        "a": {"c": 2, "e": 3},
        "d": [2],
    }
    assert merge_patch({"a": 1}, [1]) == [1]


def test_api_latency_and_time_to_first_gate(client: TestClient) -> None:
    """Measured numbers for the report (loose bounds: this is a smoke check, not a benchmark)."""
    started = time.perf_counter()
    wf = submit(client)
    submit_s = time.perf_counter() - started
    wait_for(client, wf, at_gate("planning_review"))
    first_gate_s = time.perf_counter() - started
    gets = []
    for _ in range(50):
        t = time.perf_counter()
        client.get(f"/v1/workflows/{wf}")
        gets.append(time.perf_counter() - t)
    gets.sort()
    print(
        f"\nsubmit {submit_s * 1000:.1f} ms, first gate {first_gate_s * 1000:.1f} ms, "
        f"GET p50 {gets[25] * 1000:.2f} ms p95 {gets[47] * 1000:.2f} ms"
    )
    assert first_gate_s < 10 and gets[25] < 0.5


def test_asyncio_is_not_left_with_pending_answers(world: MemoryWorld) -> None:
    asyncio.run(world.swarms.idle(timeout=1))


def test_outside_local_mode_api_keys_decide_who_may_do_what(tmp_path: Path) -> None:
    keys = {
        "sub-key-123": {"id": "alice", "roles": ["submitter"]},
        "appr-key-456": {"id": "bob", "roles": ["approver"]},
    }
    prod = GatewaySettings(
        data_dir=tmp_path,
        local_mode=False,
        nats_url="nats://127.0.0.1:1",
        database_url="postgresql://x@127.0.0.1:1/x",
        LANGGRAPH_AES_KEY="k" * 16,
        api_keys=keys,
    )
    assert "sub-key-123" not in repr(prod)
    with TestClient(create_app(prod, resources=MemoryWorld())) as client:
        assert client.post("/v1/workflows", json={"requirements": SPEC}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (
            client.post("/v1/workflows", json={"requirements": SPEC}, headers=wrong).status_code
            == 401
        )
        alice = {"Authorization": "Bearer sub-key-123"}
        bob = {"Authorization": "Bearer appr-key-456"}
        response = client.post("/v1/workflows", json={"requirements": SPEC}, headers=alice)
        assert response.status_code == 202, response.text
        wf = response.json()["id"]
        assert client.get(f"/v1/workflows/{wf}", headers=alice).json()["submitted_by"] == "alice"
        decision = {"gate": "planning_review", "decision": "approve"}
        wait_for(client, wf, lambda b: b.get("pending_gate") is not None, 30, headers=bob)
        assert (
            client.post(f"/v1/workflows/{wf}/decisions", json=decision, headers=alice).status_code
            == 403
        )
        assert (
            client.post(f"/v1/workflows/{wf}/decisions", json=decision, headers=bob).status_code
            == 200
        )
        assert client.get("/metrics").status_code == 200  # scrapers carry no key
        assert client.get("/healthz").status_code == 200


def submit(client: TestClient, **body: Any) -> str:
    return submit_to(client, SPEC, **body)


def test_database_away_is_503_with_retry_after(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(Supervisor, "submit", away)
    response = client.post("/v1/workflows", json={"requirements": SPEC})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
