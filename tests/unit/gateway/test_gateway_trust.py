"""Trust (issue 11, points 1-3): a submitter never reads the server's environment, never skips a
gate on its own say-so, and never sees another tenant's chart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from services.planner.intake import intake
from shared.errors import InputError
from tests.fakes.gateway_world import MemoryWorld, keyed_client
from tests.gateway_client import at_gate, ended, wait_for

# Recognisable values planted in the server's own environment; none may come back to a submitter.
SERVER_SECRETS = {
    "AUTOPILOT_API_KEYS": '{"leak-admin-key-5f1c": {"id": "root", "roles": ["admin"]}}',
    "LANGGRAPH_AES_KEY": "leak-aes-key-0123456789abcdef012",
    "AUTOPILOT_DATABASE_URL": "postgresql://leakuser:leak-db-pass-7731@db.invalid/leakdb",
}
LEAKY_COMPOSE = """\
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    environment:
      GREETING: "${AUTOPILOT_API_KEYS}"
      MOTD: "hello $LANGGRAPH_AES_KEY"
      DB: "${AUTOPILOT_DATABASE_URL:-none}"
  worker:
    image: busybox:1.36
    command: ["sleep", "infinity"]
    environment: [AUTOPILOT_DATABASE_URL, LANGGRAPH_AES_KEY]
"""
SPEC: dict[str, Any] = {
    "name": "shop",
    "components": [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "ports": [{"port": 8080}]}],
}
GATES = ["planning_review", "security_review", "deployment_approval"]


@pytest.fixture
def server_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SERVER_SECRETS.items():
        monkeypatch.setenv(name, value)
    return SERVER_SECRETS


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets whose value (or a telling part of it) appears in `text`."""
    marks = {
        "AUTOPILOT_API_KEYS": "leak-admin-key",
        "LANGGRAPH_AES_KEY": "leak-aes-key",
        "AUTOPILOT_DATABASE_URL": "leak-db-pass",
    }
    return [name for name, mark in marks.items() if name in secrets and mark in text]


# --------------------------------------------------------------------------- 1. environment


def test_intake_never_reads_the_process_environment(server_secrets: dict[str, str]) -> None:
    taken = intake(LEAKY_COMPOSE)
    dumped = taken.requirements.model_dump_json() + json.dumps(
        [n.model_dump() for n in taken.notes]
    )
    assert leaked(dumped, server_secrets) == []
    web = next(c for c in taken.requirements.components if c.name == "web")
    assert web.env["GREETING"] == "" and web.env["MOTD"] == "hello " and web.env["DB"] == "none"
    warned = {n.source for n in taken.notes if n.severity == "warning"}
    assert "services.web.environment.GREETING" in warned
    worker = next(c for c in taken.requirements.components if c.name == "worker")
    assert "AUTOPILOT_DATABASE_URL" not in worker.env


def test_intake_interpolates_only_what_the_request_carries(server_secrets: dict[str, str]) -> None:
    compose = (
        "services:\n  web:\n    image: nginx:${TAG}\n    environment:\n"
        "      A: '${FROM_DOTENV}'\n      B: '${BOTH}'\n      C: '${AUTOPILOT_API_KEYS}'\n"
    )
    dotenv = (
        "TAG=1.27\nFROM_DOTENV=dot\nBOTH=from-dotenv\nAUTOPILOT_API_KEYS=${AUTOPILOT_API_KEYS}\n"
    )
    taken = intake(compose, environ={"BOTH": "from-env"}, dotenv=dotenv)
    [web] = taken.requirements.components
    assert web.image == "nginx:1.27"
    assert (web.env["A"], web.env["B"], web.env["C"]) == ("dot", "from-env", "")
    with pytest.raises(InputError) as err:
        intake("services:\n  a:\n    image: 'x:${LANGGRAPH_AES_KEY:?set the key}'\n")
    assert "LANGGRAPH_AES_KEY" in err.value.message and "set the key" in err.value.message
    assert err.value.field == "services.a.image"


def test_cli_intake_keeps_the_users_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("MY_TAG", "7.2")
    taken = intake("services:\n  a:\n    image: redis:${MY_TAG}\n", environ=os.environ)
    assert taken.requirements.components[0].image == "redis:7.2"


@pytest.fixture
def local(tmp_path: Path, world: MemoryWorld) -> Iterator[TestClient]:
    with TestClient(
        create_app(GatewaySettings(data_dir=tmp_path, local_mode=True), resources=world)
    ) as c:
        yield c


@pytest.fixture
def world() -> MemoryWorld:
    return MemoryWorld()


def wait(
    client: TestClient, wf: str, check: Any, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """`wait_for` with the caller's key; an error_review gate (never expected here) fails at once."""

    def unless_error_review(body: dict[str, Any]) -> bool:
        """`check`, failing at once at an error_review gate."""
        assert (body.get("pending_gate") or {}).get("gate") != "error_review", body["error"]
        return bool(check(body))

    return wait_for(client, wf, unless_error_review, timeout=60, headers=headers)


def test_gateway_compose_never_reads_the_server_environment(
    local: TestClient, world: MemoryWorld, server_secrets: dict[str, str]
) -> None:
    response = local.post("/v1/workflows", json={"compose": LEAKY_COMPOSE, "name": "leaky"})
    assert response.status_code == 202, response.text
    wf = response.json()["id"]
    seen = [json.dumps(wait(local, wf, at_gate("planning_review")))]
    for gate in GATES:
        body = wait(local, wf, at_gate(gate))
        seen.append(json.dumps(body))
        local.post(f"/v1/workflows/{wf}/decisions", json={"gate": gate, "decision": "approve"})
    assert wait(local, wf, ended)["status"] == "completed"
    stored = [
        data.decode("utf-8", "replace")
        for files in world.artifacts.files.values()
        for data in files.values()
    ]
    stored += [r.model_dump_json() for r in world.store.records.values()]
    stored += [json.dumps(e.data) for e in world.store.events]
    assert leaked("\n".join(seen + stored), server_secrets) == []


def test_request_env_and_dotenv_fill_the_compose_file(
    local: TestClient, world: MemoryWorld
) -> None:
    compose = "services:\n  web:\n    image: nginx:${TAG}\n    environment: [GREETING, 'MOTD=${MOTD:-x}']\n"
    response = local.post(
        "/v1/workflows",
        json={
            "compose": compose,
            "env": {"GREETING": "hi"},
            "dotenv": "TAG=1.27\nMOTD='from .env'\n",
        },
    )
    assert response.status_code == 202, response.text
    plan = wait(local, response.json()["id"], at_gate("planning_review"))["pending_gate"]["plan"]
    assert "nginx:1.27" in json.dumps(plan) and "from .env" in json.dumps(plan)
    required = local.post(
        "/v1/workflows", json={"compose": "services:\n  a:\n    image: 'x:${T:?give T}'\n"}
    )
    assert required.status_code == 422
    detail = required.json()["detail"][0]
    assert (
        detail["loc"][:2] == ["body", "compose"]
        and "T" in detail["msg"]
        and "give T" in detail["msg"]
    )


def test_env_and_dotenv_limits_name_the_field(local: TestClient, world: MemoryWorld) -> None:
    compose = "services:\n  a:\n    image: x:1\n"
    many = {f"V{i}": "1" for i in range(1001)}
    too_many = local.post("/v1/workflows", json={"compose": compose, "env": many})
    assert too_many.status_code == 413 and too_many.json()["detail"].startswith("env:")
    big = local.post("/v1/workflows", json={"compose": compose, "env": {"BIG": "x" * 70_000}})
    assert big.status_code == 413 and big.json()["detail"].startswith("env:")
    dotenv = local.post("/v1/workflows", json={"compose": compose, "dotenv": "A=" + "x" * 70_000})
    assert dotenv.status_code == 413 and dotenv.json()["detail"].startswith("dotenv:")
    bad = local.post("/v1/workflows", json={"compose": compose, "env": {"1BAD": "x"}})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "env", "1BAD"]
    spec = local.post("/v1/workflows", json={"requirements": SPEC, "env": {"A": "1"}})
    assert spec.status_code == 422 and spec.json()["detail"][0]["loc"] == ["body", "env"]
    assert world.store.records == {}


# --------------------------------------------------------------------------- 2. auto-approval

KEYS = {
    "alice-key": {"id": "alice", "roles": ["submitter"], "tenant": "t1"},
    "bob-key": {"id": "bob", "roles": ["submitter", "approver"], "tenant": "t1"},
    "carol-key": {"id": "carol", "roles": ["submitter", "approver"], "tenant": "t2"},
    "dave-key": {"id": "dave", "roles": ["submitter"], "tenant": "t2"},
    "erin-key": {"id": "erin", "roles": ["submitter"]},
    "root-key": {"id": "root", "roles": ["admin"]},
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def keyed(tmp_path: Path, world: MemoryWorld, **extra: Any) -> TestClient:
    return keyed_client(tmp_path, world, KEYS, **extra)


def test_a_submitter_cannot_skip_a_gate(tmp_path: Path, world: MemoryWorld) -> None:
    # bob auto-approves what he submits: self-approval, which the policy must allow (4b).
    with keyed(tmp_path, world, allow_self_approval=True) as client:
        body = {"requirements": SPEC, "options": {"auto_approve": GATES}}
        refused = client.post("/v1/workflows", json=body, headers=auth("alice-key"))
        assert refused.status_code == 403 and "options.auto_approve" in refused.json()["detail"]
        assert world.store.records == {} and world.artifacts.files == {}

        allowed = client.post("/v1/workflows", json=body, headers=auth("bob-key"))
        assert allowed.status_code == 202, allowed.text
        wf = allowed.json()["id"]
        done = wait(client, wf, ended, auth("bob-key"))
        assert done["status"] == "completed"
        for gate in GATES:
            assert done["decisions"][gate] == {
                "decision": "approve",
                "auto": True,
                "by": "bob (auto-approve by role approver)",
            }
        events = [
            e for e in world.store.events if e.workflow_id == wf and e.type.startswith("gate.")
        ]
        assert [(e.type, e.data["by"]) for e in events] == [
            (f"gate.{g}.approve", "bob (auto-approve by role approver)") for g in GATES
        ]


def test_auto_approve_policy_is_per_tenant_and_gate(tmp_path: Path, world: MemoryWorld) -> None:
    with keyed(tmp_path, world, auto_approve={"t1": ["planning_review"]}) as client:
        first = client.post("/v1/workflows", json={"requirements": SPEC}, headers=auth("alice-key"))
        wf = first.json()["id"]
        body = wait(client, wf, at_gate("security_review"), auth("alice-key"))
        assert body["decisions"]["planning_review"]["by"].startswith("policy")
        # The policy grants planning_review; asking for it again is fine, asking for more is not.
        asked = {"requirements": SPEC, "options": {"auto_approve": ["planning_review"]}}
        assert (
            client.post("/v1/workflows", json=asked, headers=auth("alice-key")).status_code == 202
        )
        more = {"requirements": SPEC, "options": {"auto_approve": ["security_review"]}}
        assert client.post("/v1/workflows", json=more, headers=auth("alice-key")).status_code == 403
        other = client.post("/v1/workflows", json={"requirements": SPEC}, headers=auth("dave-key"))
        wait(client, other.json()["id"], at_gate("planning_review"), auth("dave-key"))


def test_a_workflow_stored_with_a_bare_auto_approve_option_waits() -> None:
    """Only the grant the API records counts, not the option a submitter wrote."""
    from services.gateway.workflow.nodes.gates import auto_approver

    assert auto_approver({"options": {"auto_approve": GATES}}, "planning_review") is None
    state: Any = {"options": {"auto_approved_by": {"planning_review": "policy"}}}
    assert auto_approver(state, "planning_review") == "policy"


# --------------------------------------------------------------------------- 3. tenants' charts


def run_gates(client: TestClient, wf: str, key: str, gates: list[str]) -> dict[str, Any]:
    for gate in gates:
        wait(client, wf, at_gate(gate), auth(key))
        response = client.post(
            f"/v1/workflows/{wf}/decisions",
            json={"gate": gate, "decision": "approve"},
            headers=auth(key),
        )
        assert response.status_code == 200, response.text

    def moved_on(body: dict[str, Any]) -> bool:
        return ended(body) or (body.get("pending_gate") or {}).get("gate") not in (None, *gates)

    return wait(client, wf, moved_on, auth(key))


def test_a_tenant_never_diffs_against_another_tenants_chart(
    tmp_path: Path, world: MemoryWorld
) -> None:
    secret_spec = json.loads(json.dumps(SPEC))
    secret_spec["components"][0]["env"] = {"T1_ONLY": "t1-private-value"}
    with keyed(tmp_path, world, allow_self_approval=True) as client:
        first = client.post(
            "/v1/workflows", json={"requirements": secret_spec}, headers=auth("bob-key")
        ).json()["id"]
        assert run_gates(client, first, "bob-key", GATES)["status"] == "completed"

        other = client.post(
            "/v1/workflows", json={"requirements": SPEC}, headers=auth("carol-key")
        ).json()["id"]
        gate = run_gates(client, other, "carol-key", GATES[:2])["pending_gate"]
        assert gate["gate"] == "deployment_approval"
        assert gate["previous"] is None and gate["diff"].startswith("--- /dev/null")
        assert "t1-private-value" not in gate["diff"] and "T1_ONLY" not in gate["diff"]

        again = client.post(
            "/v1/workflows", json={"requirements": SPEC}, headers=auth("bob-key")
        ).json()["id"]
        own = run_gates(client, again, "bob-key", GATES[:2])["pending_gate"]
        assert own["previous"] == first and "T1_ONLY" in own["diff"]


def test_submit_sends_the_dotenv_and_env_flags_not_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.cli.commands import submit as cli_submit
    from shared.errors import AutopilotError

    monkeypatch.setenv("SHELL_ONLY", "from-the-shell")
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  a:\n    image: x:${TAG}\n")
    (tmp_path / ".env").write_text("TAG=1.0\n")
    sent: dict[str, Any] = {}

    def fake_submit(data: bytes, gateway: str, out: Path, **kwargs: Any) -> int:
        sent.update(
            cli_submit.request_body(
                data,
                yes=kwargs["yes"],
                name=kwargs["name"],
                env=kwargs["env"],
                dotenv=kwargs["dotenv"],
            )
        )
        return 0

    monkeypatch.setattr(cli_submit, "submit", fake_submit)
    args = cli_submit.argparse.Namespace(
        input=str(compose),
        gateway="http://x",
        output=str(tmp_path),
        yes=False,
        name=None,
        env=["A=1", "B=x=y"],
    )
    assert cli_submit.run(args) == 0
    assert sent["env"] == {"A": "1", "B": "x=y"} and sent["dotenv"] == "TAG=1.0\n"
    assert "from-the-shell" not in json.dumps(sent)
    with pytest.raises(AutopilotError) as err:
        cli_submit.env_flags(["NOVALUE"])
    assert err.value.field == "--env"
    with pytest.raises(AutopilotError):
        cli_submit.request_body(json.dumps(SPEC).encode(), yes=False, name=None, env={"A": "1"})


# --------------------------------------------------------------------------- 4. visibility


def test_a_workflow_is_seen_by_its_submitter_its_tenants_approvers_and_a_global_admin(
    tmp_path: Path, world: MemoryWorld
) -> None:
    with keyed(tmp_path, world) as client:
        ids = {}
        for who in ("alice", "bob", "carol", "erin"):
            response = client.post(
                "/v1/workflows", json={"requirements": SPEC}, headers=auth(f"{who}-key")
            )
            assert response.status_code == 202, response.text
            ids[who] = response.json()["id"]

        def listed(who: str) -> set[str]:
            items = client.get("/v1/workflows", headers=auth(f"{who}-key")).json()["items"]
            return {next(k for k, v in ids.items() if v == w["id"]) for w in items}

        assert listed("alice") == {"alice"}  # a submitter: only their own
        assert listed("bob") == {"alice", "bob"}  # an approver: the tenant's
        assert listed("carol") == {"carol"}
        assert listed("dave") == set()
        assert listed("erin") == {"erin"}  # no tenant is not every tenant
        assert listed("root") == set(ids)  # a global admin: all
        for who, key in (("dave", "dave-key"), ("carol", "carol-key"), ("erin", "erin-key")):
            assert (
                client.get(f"/v1/workflows/{ids['alice']}", headers=auth(key)).status_code == 404
            ), who
        # The tenant's approver can now approve what a submitter of the tenant sent.
        wait(client, ids["alice"], at_gate("planning_review"), auth("bob-key"))
        decision = {"gate": "planning_review", "decision": "approve"}
        response = client.post(
            f"/v1/workflows/{ids['alice']}/decisions", json=decision, headers=auth("bob-key")
        )
        assert response.status_code == 200, response.text
        other = client.post(
            f"/v1/workflows/{ids['bob']}/decisions", json=decision, headers=auth("carol-key")
        )
        assert other.status_code == 404
