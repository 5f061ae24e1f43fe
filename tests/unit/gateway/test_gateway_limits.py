"""Issue 11, points 6 and 7, in memory: limits with clear answers, cancel, malformed input as
422s naming the field, the replay guard and version bump, JSON errors and the OpenAPI document."""

from __future__ import annotations

import argparse
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from services.cli import remote
from services.cli.main import main as cli_main
from services.gateway.charts import replay_version, write_chart
from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from shared.errors import ArtifactError, InputError
from shared.events import Phase, Swarm, SwarmResult
from tests.fakes.gateway_world import MemoryWorld, keyed_client
from tests.gateway_client import approve, at_gate, ended, lend, wait_for

SPEC: dict[str, Any] = {
    "name": "shop",
    "components": [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "ports": [{"port": 8080}]}],
}
GATES = ["planning_review", "security_review", "deployment_approval"]
KEYS = {
    "alice-key": {"id": "alice", "roles": ["submitter"], "tenant": "t1"},
    "amy-key": {"id": "amy", "roles": ["submitter"], "tenant": "t1"},
    "bob-key": {"id": "bob", "roles": ["approver"], "tenant": "t1"},
    "carol-key": {"id": "carol", "roles": ["submitter", "approver"], "tenant": "t2"},
    "root-key": {"id": "root", "roles": ["admin"]},
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def world() -> MemoryWorld:
    return MemoryWorld()


@pytest.fixture
def client(tmp_path: Path, world: MemoryWorld) -> Iterator[TestClient]:
    settings = GatewaySettings(data_dir=tmp_path, local_mode=True)
    with TestClient(create_app(settings, resources=world)) as c:
        yield c


def keyed(tmp_path: Path, world: MemoryWorld) -> TestClient:
    return keyed_client(tmp_path, world, KEYS)


def loc(response: httpx.Response) -> list[Any]:
    assert response.status_code == 422, response.text
    return list(response.json()["detail"][0]["loc"])


def submit(client: TestClient, headers: dict[str, str] | None = None) -> str:
    response = client.post("/v1/workflows", json={"requirements": SPEC}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


# --------------------------------------------------------------------------- 6. limits


def test_too_many_components_services_or_env_entries_are_422s_naming_the_field(
    client: TestClient, world: MemoryWorld
) -> None:
    many = [{"name": f"c{i}", "image": "nginx:1.27"} for i in range(201)]
    spec = client.post("/v1/workflows", json={"requirements": {"name": "big", "components": many}})
    assert loc(spec) == ["body", "requirements", "components"]
    assert "201 components" in spec.json()["detail"][0]["msg"]

    services = "".join(f"  s{i}:\n    image: nginx:1.27\n" for i in range(201))
    compose = client.post("/v1/workflows", json={"compose": "services:\n" + services})
    assert loc(compose) == ["body", "compose", "services"]

    env = {f"V{i}": "1" for i in range(501)}
    one = {"name": "big", "components": [{"name": "a", "image": "nginx:1.27", "env": env}]}
    assert loc(client.post("/v1/workflows", json={"requirements": one})) == [
        "body",
        "requirements",
        "components",
        0,
        "env",
    ]
    lines = "".join(f"      V{i}: '1'\n" for i in range(501))
    big_env = f"services:\n  web:\n    image: nginx:1.27\n    environment:\n{lines}"
    assert loc(client.post("/v1/workflows", json={"compose": big_env})) == [
        "body",
        "compose",
        "services",
        "web",
        "environment",
    ]
    assert world.store.records == {}


def test_a_big_config_file_or_body_is_a_json_413(client: TestClient, world: MemoryWorld) -> None:
    big = {"path": "/etc/app.conf", "content": "x" * 300_000}
    spec = {
        "name": "big",
        "components": [{"name": "a", "image": "nginx:1.27", "configFiles": [big]}],
    }
    file = client.post("/v1/workflows", json={"requirements": spec})
    assert file.status_code == 413 and file.headers["content-type"] == "application/json"
    assert file.json()["detail"].startswith("requirements.components.0.configFiles.0.content:")

    body = b'{"prompt": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    sized = client.post("/v1/workflows", content=body, headers={"content-type": "application/json"})
    assert sized.status_code == 413 and sized.headers["content-type"] == "application/json"
    assert sized.json()["detail"].startswith("body:")

    # Chunked, without Content-Length: refused as it streams.
    streamed = client.post(
        "/v1/workflows",
        content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413 and streamed.json()["detail"].startswith("body:")
    assert world.store.records == {}


def test_202_answers_carry_a_location(client: TestClient) -> None:
    response = client.post("/v1/workflows", json={"requirements": SPEC})
    assert response.status_code == 202
    wf = response.json()["id"]
    assert response.headers["location"] == f"/v1/workflows/{wf}"
    assert client.get(response.headers["location"]).json()["id"] == wf


# --------------------------------------------------------------------------- 6. cancel


def test_cancel_closes_the_gate_and_ends_the_workflow(client: TestClient) -> None:
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    response = client.post(f"/v1/workflows/{wf}/cancel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled" and body["pending_gate"] is None
    assert body["finished_at"] and body["comment"] == "cancelled by local"
    late = client.post(
        f"/v1/workflows/{wf}/decisions", json={"gate": "planning_review", "decision": "approve"}
    )
    assert late.status_code == 409
    assert client.post(f"/v1/workflows/{wf}/cancel").status_code == 409
    events = client.get(f"/v1/workflows/{wf}/events", params={"follow": False}).text
    assert "event: workflow.cancelled" in events
    listed = client.get("/v1/workflows", params={"status": "cancelled"}).json()["items"]
    assert [w["id"] for w in listed] == [wf]


def test_swarm_work_that_comes_back_after_a_cancel_is_ignored(tmp_path: Path) -> None:
    # Planning requests are held: the workflow waits for the planner when it is cancelled.
    world = MemoryWorld(intercept=lambda request: "drop")
    settings = GatewaySettings(data_dir=tmp_path, local_mode=True)
    with TestClient(create_app(settings, resources=world)) as client:
        wf = submit(client)
        assert client.get(f"/v1/workflows/{wf}").json()["phase"] == "planning"
        assert client.post(f"/v1/workflows/{wf}/cancel").json()["status"] == "cancelled"
        supervisor = client.app.state.supervisor  # type: ignore[attr-defined]
        late = SwarmResult(workflow_id=wf, attempt=1, swarm=Swarm.PLANNING, artifacts=[])
        resumed = client.portal.call(supervisor.on_swarm_event, Phase.COMPLETED, late)
        assert resumed is False
        after = client.get(f"/v1/workflows/{wf}").json()
        assert after["status"] == "cancelled" and after["pending_gate"] is None
        assert world.store.records[wf].deadline is None  # nothing for the reconciler to chase


def test_who_may_cancel(tmp_path: Path, world: MemoryWorld) -> None:
    with keyed(tmp_path, world) as client:
        wf = submit(client, auth("alice-key"))
        other_submitter = client.post(f"/v1/workflows/{wf}/cancel", headers=auth("amy-key"))
        other_tenant = client.post(f"/v1/workflows/{wf}/cancel", headers=auth("carol-key"))
        assert other_submitter.status_code == 404 and other_tenant.status_code == 404
        approver = client.post(f"/v1/workflows/{wf}/cancel", headers=auth("bob-key"))
        assert approver.status_code == 200 and approver.json()["status"] == "cancelled"
        own = submit(client, auth("alice-key"))
        mine = client.post(f"/v1/workflows/{own}/cancel", headers=auth("alice-key"))
        assert mine.json()["comment"] == "cancelled by alice"
        anyone = client.post(f"/v1/workflows/{own}/cancel")
        assert anyone.status_code == 401 and anyone.headers["content-type"] == "application/json"


def test_cli_cancel(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    monkeypatch.setattr(remote, "client", lend(client))
    assert cli_main(["cancel", wf]) == 0
    out = capsys.readouterr().out
    assert f"cancelled {wf}" in out and "status:    cancelled" in out
    assert cli_main(["cancel", wf, "-o", "json"]) == 2
    assert "409" in capsys.readouterr().err
    assert isinstance(argparse.Namespace(), argparse.Namespace)


# --------------------------------------------------------------------------- 7. malformed input


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"compose": "services:\\n  a:\\n    image: x\\u0001\\n"}', ["body", "compose"]),
        ('{"compose": "services:\\n  a:\\n    image: \\ud800\\n"}', ["body", "compose"]),
        ('{"compose": "services: {}", "dotenv": "A=\\u0000"}', ["body", "dotenv"]),
        ('{"requirements": {"name": "a\\u0000", "components": []}}', ["body", "requirements"]),
        ('{"prompt": "hi \\udfff"}', ["body", "prompt"]),
        (
            '{"requirements": {"name": "a"}, "options": {"name": "\\u0000"}}',
            ["body", "options", "name"],
        ),
    ],
)
def test_malformed_text_is_a_422_naming_the_field(
    client: TestClient, world: MemoryWorld, raw: str, field: list[str]
) -> None:
    response = client.post(
        "/v1/workflows", content=raw.encode(), headers={"content-type": "application/json"}
    )
    assert loc(response)[: len(field)] == field
    assert world.store.records == {}


def test_nul_in_ids_queries_headers_and_comments_is_a_422(client: TestClient) -> None:
    assert loc(client.get("/v1/workflows/a%00b")) == ["path", "workflow_id"]
    assert loc(client.post("/v1/workflows/a%00b/cancel")) == ["path", "workflow_id"]
    assert loc(client.get("/v1/workflows", params={"submitted_by": "a\x00"})) == [
        "query",
        "submitted_by",
    ]
    beyond = str(2**63)
    assert loc(client.get("/v1/workflows", params={"cursor": beyond})) == ["query", "cursor"]
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    events = client.get(f"/v1/workflows/{wf}/events", headers={"Last-Event-ID": beyond})
    assert loc(events) == ["header", "last-event-id"]
    decision = {"gate": "planning_review", "decision": "approve", "comment": "ok\x00"}
    assert loc(client.post(f"/v1/workflows/{wf}/decisions", json=decision)) == [
        "body",
        "comment",
    ]
    changes = {"gate": "planning_review", "decision": "edit", "changes": {"a": "\x00"}}
    assert loc(client.post(f"/v1/workflows/{wf}/decisions", json=changes)) == ["body", "changes"]
    replay = client.post(f"/v1/workflows/{wf}/replay", json={"checkpoint_id": "x\x00"})
    assert loc(replay) == ["body", "checkpoint_id"]
    assert client.get(f"/v1/workflows/{wf}").json()["pending_gate"]["gate"] == "planning_review"


def test_a_422_never_echoes_a_whole_file(client: TestClient) -> None:
    compose = "services:\n  a:\n    image: x\x01\n" + "#" * 100_000
    response = client.post("/v1/workflows", json={"compose": compose})
    assert loc(response) == ["body", "compose"]
    assert len(response.content) < 2_000


# --------------------------------------------------------------------------- 7. replay


def _history(client: TestClient, wf: str) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/workflows/{wf}/history").json()["checkpoints"])


def _at(history: list[dict[str, Any]], node: str) -> str:
    return next(h["checkpoint_id"] for h in history if node in h["next"])


def _archive_version(client: TestClient, wf: str) -> str:
    data = client.get(f"/v1/workflows/{wf}/chart.tgz").content
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/Chart.yaml"))
        handle = tar.extractfile(member)
        assert handle is not None
        return str(yaml.safe_load(handle.read())["version"])


def test_replays_are_limited_and_each_republication_gets_its_own_version(
    client: TestClient,
) -> None:
    wf = submit(client)
    for gate in GATES:
        wait_for(client, wf, at_gate(gate))
        approve(client, wf, gate)
    done = wait_for(client, wf, lambda b: b["status"] == "completed")
    assert done["chart"]["version"] == "0.1.0" and _archive_version(client, wf) == "0.1.0"
    versions = {done["chart"]["version"]}
    for n in (1, 2, 3):
        checkpoint = _at(_history(client, wf), "deployment_approval")
        replayed = client.post(f"/v1/workflows/{wf}/replay", json={"checkpoint_id": checkpoint})
        assert replayed.status_code == 202, replayed.text
        assert replayed.headers["location"] == f"/v1/workflows/{wf}"
        wait_for(client, wf, at_gate("deployment_approval"))
        approve(client, wf, "deployment_approval")
        again = wait_for(client, wf, lambda b: b["status"] == "completed")
        assert again["chart"]["version"] == f"0.1.0+replay.{n}"
        assert _archive_version(client, wf) == f"0.1.0+replay.{n}"
        versions.add(again["chart"]["version"])
    assert len(versions) == 4
    checkpoint = _at(_history(client, wf), "deployment_approval")
    refused = client.post(f"/v1/workflows/{wf}/replay", json={"checkpoint_id": checkpoint})
    assert refused.status_code == 409 and "replayed 3 times" in refused.json()["detail"]


def test_a_cancelled_workflow_is_not_replayed(client: TestClient) -> None:
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    client.post(f"/v1/workflows/{wf}/cancel")
    checkpoint = _at(_history(client, wf), "planning_review")
    refused = client.post(f"/v1/workflows/{wf}/replay", json={"checkpoint_id": checkpoint})
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]


def test_replay_version_is_semver_build_metadata() -> None:
    chart = b'apiVersion: v2\nname: shop\nversion: "1.2.3"\nappVersion: "1.0"\n'
    assert replay_version(chart, 0) == chart
    bumped = yaml.safe_load(replay_version(chart, 2))
    assert bumped["version"] == "1.2.3+replay.2" and bumped["appVersion"] == "1.0"
    assert yaml.safe_load(replay_version(replay_version(chart, 1), 2))["version"] == (
        "1.2.3+replay.2"
    )


def test_a_stored_chart_file_outside_the_chart_fails_the_workflow_as_invalid_output(
    client: TestClient, world: MemoryWorld
) -> None:
    """A chart artifact with a file name that leaves the chart (put there after validation)
    fails the workflow at deployment_approval, naming the file, and nothing is written."""
    wf = submit(client)
    wait_for(client, wf, at_gate("planning_review"))
    approve(client, wf, "planning_review")
    wait_for(client, wf, at_gate("security_review"))
    chart = next(f for (w, _), f in world.artifacts.files.items() if w == wf and "Chart.yaml" in f)
    chart["../outside.yaml"] = b"kind: ConfigMap\n"
    approve(client, wf, "security_review")
    body = wait_for(client, wf, ended)
    assert body["status"] == "failed" and body["phase"] == "failed"
    assert body["error"]["code"] == "invalid_output" and body["error"]["details"] == {}
    assert body["error"]["message"] == (
        "deployment_approval: chart file '../outside.yaml' points outside the chart"
    )


@pytest.mark.parametrize("name", ["../outside.yaml", "/abs.yaml", "templates/../x.yaml", ""])
def test_write_chart_refuses_unsafe_names_as_an_artifact_error(tmp_path: Path, name: str) -> None:
    """write_chart writes through shared.files and maps its InputError to ArtifactError."""
    with pytest.raises(ArtifactError, match="points outside the chart") as caught:
        write_chart({"Chart.yaml": b"name: x\n", name: b"x"}, tmp_path / "root", "shop")
    assert isinstance(caught.value.__cause__, InputError)
    assert not (tmp_path / "root" / "outside.yaml").exists()
    assert not (tmp_path / "outside.yaml").exists()


def test_write_chart_writes_nested_files_under_the_chart_name(tmp_path: Path) -> None:
    """Each file lands at its relative path under root/name."""
    chart_dir = write_chart({"Chart.yaml": b"a", "templates/x.yaml": b"b"}, tmp_path, "shop")
    assert chart_dir == tmp_path / "shop"
    assert (chart_dir / "templates" / "x.yaml").read_bytes() == b"b"


# --------------------------------------------------------------------------- 7. OpenAPI


def test_openapi_lists_auth_statuses_the_scheme_and_exactly_one_input(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]
    assert list(scheme.values()) == [
        {
            "type": "http",
            "scheme": "bearer",
            "description": scheme[next(iter(scheme))]["description"],
        }
    ]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if path in ("/healthz", "/readyz", "/metrics"):
                assert "security" not in operation, path
                continue
            assert {"401", "403", "503"} <= codes, (method, path, codes)
            assert operation["security"] == [{next(iter(scheme)): []}]
            if method == "post":
                assert {"413", "422"} <= codes, (method, path, codes)
    cancel = doc["paths"]["/v1/workflows/{workflow_id}/cancel"]["post"]["responses"]
    assert {"200", "404", "409"} <= set(cancel)
    submit_schema = doc["components"]["schemas"]["SubmitRequest"]
    assert [branch["required"] for branch in submit_schema["oneOf"]] == [
        ["requirements"],
        ["compose"],
        ["prompt"],
    ]
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]


def test_every_error_is_json(client: TestClient) -> None:
    for response in (
        client.get("/v1/nowhere"),
        client.delete("/v1/workflows"),
        client.get("/v1/workflows/nope"),
        client.post("/v1/workflows", content=b"{", headers={"content-type": "application/json"}),
    ):
        assert response.status_code >= 400
        assert response.headers["content-type"] == "application/json", response.text
        assert "detail" in response.json()
