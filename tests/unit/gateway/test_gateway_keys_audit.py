"""Trust (issue 11, points 4-5): stored API keys, no self-approval, the audit log, sealed gate
payloads; in memory (tests/integration/test_gateway_keys_audit_integration.py: on Postgres)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.cli import remote
from services.cli.main import main as cli
from services.cli.settings import CliSettings
from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from services.gateway.sealed import Sealer
from tests.fakes.gateway_world import MemoryWorld, keyed_client
from tests.gateway_client import at_gate, ended
from tests.unit.gateway.test_gateway_trust import GATES, KEYS, SPEC, auth, wait

KEYS_MORE = {
    **KEYS,
    "bea-key": {"id": "bea", "roles": ["approver"], "tenant": "t1"},
    "t1admin-key": {"id": "t1admin", "roles": ["admin"], "tenant": "t1"},
}


def client_of(tmp_path: Path, world: MemoryWorld, **extra: Any) -> TestClient:
    """A gateway outside local mode with the keys of KEYS_MORE."""
    return keyed_client(tmp_path, world, KEYS_MORE, **extra)


@pytest.fixture
def world() -> MemoryWorld:
    return MemoryWorld()


def decide(client: TestClient, wf: str, gate: str, key: str, **extra: Any) -> Any:
    body = {"gate": gate, "decision": "approve", **extra}
    return client.post(f"/v1/workflows/{wf}/decisions", json=body, headers=auth(key))


# --------------------------------------------------------------------------- 4a. keys


def test_an_admin_creates_lists_and_revokes_stored_keys(tmp_path: Path, world: MemoryWorld) -> None:
    with client_of(tmp_path, world) as client:
        body = {"name": "amy", "role": "approver", "tenant": "t1"}
        assert client.post("/v1/keys", json=body, headers=auth("bob-key")).status_code == 403
        made = client.post("/v1/keys", json=body, headers=auth("root-key"))
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        assert key.startswith("ap_") and made.json()["created_by"] == "root"
        # Only a hash is kept, and listing never shows the key or the hash.
        [(row, digest)] = world.keys.rows.values()
        assert key not in digest and key not in row.model_dump_json()
        listed = client.get("/v1/keys", headers=auth("root-key")).json()["items"]
        assert [(k["name"], k["role"], k["tenant"]) for k in listed] == [("amy", "approver", "t1")]
        assert key not in json.dumps(listed) and "digest" not in listed[0]

        # The stored key authenticates amy as a t1 approver: she sees and decides t1's work.
        wf = client.post("/v1/workflows", json={"requirements": SPEC}, headers=auth("alice-key"))
        wf_id = wf.json()["id"]
        wait(client, wf_id, at_gate("planning_review"), auth(key))
        assert decide(client, wf_id, "planning_review", key).status_code == 200
        forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        assert client.get("/v1/workflows", headers=auth(forged)).status_code == 401

        revoked = client.delete("/v1/keys/amy", headers=auth("root-key"))
        assert revoked.status_code == 200 and revoked.json()["items"][0]["revoked_by"] == "root"
        assert client.get("/v1/workflows", headers=auth(key)).status_code == 401  # at once
        assert client.delete("/v1/keys/amy", headers=auth("root-key")).status_code == 404


def test_a_tenant_admin_manages_only_its_tenants_keys(tmp_path: Path, world: MemoryWorld) -> None:
    with client_of(tmp_path, world) as client:
        other = {"name": "tom", "role": "submitter", "tenant": "t2"}
        assert client.post("/v1/keys", json=other, headers=auth("t1admin-key")).status_code == 403
        global_ = {"name": "gus", "role": "admin", "tenant": None}
        assert client.post("/v1/keys", json=global_, headers=auth("t1admin-key")).status_code == 403
        assert client.post("/v1/keys", json=other, headers=auth("root-key")).status_code == 201
        own = {"name": "tia", "role": "submitter", "tenant": "t1"}
        assert client.post("/v1/keys", json=own, headers=auth("t1admin-key")).status_code == 201
        names = [
            k["name"] for k in client.get("/v1/keys", headers=auth("t1admin-key")).json()["items"]
        ]
        assert names == ["tia"]
        assert client.delete("/v1/keys/tom", headers=auth("t1admin-key")).status_code == 404
        # A name is one principal: an env principal's, or one role and tenant across its keys.
        bob = {"name": "bob", "role": "admin", "tenant": None}
        assert client.post("/v1/keys", json=bob, headers=auth("root-key")).status_code == 409
        tia = {"name": "tia", "role": "admin", "tenant": "t1"}
        assert client.post("/v1/keys", json=tia, headers=auth("root-key")).status_code == 409
        rotated = client.post("/v1/keys", json=own, headers=auth("root-key"))
        assert rotated.status_code == 201  # a second key of the same principal: rotation


# --------------------------------------------------------------------------- 4b. self-approval


def test_an_approver_cannot_approve_what_they_submitted(tmp_path: Path, world: MemoryWorld) -> None:
    with client_of(tmp_path, world) as client:
        wf = client.post("/v1/workflows", json={"requirements": SPEC}, headers=auth("bob-key"))
        wf_id = wf.json()["id"]
        wait(client, wf_id, at_gate("planning_review"), auth("bob-key"))
        own = decide(client, wf_id, "planning_review", "bob-key")
        assert own.status_code == 403
        assert "bob submitted" in own.json()["detail"] and "self-approval" in own.json()["detail"]
        edit = decide(client, wf_id, "planning_review", "bob-key", decision="edit", changes={})
        assert edit.status_code == 403
        assert decide(client, wf_id, "planning_review", "bea-key").status_code == 200
        skip = {"requirements": SPEC, "options": {"auto_approve": ["planning_review"]}}
        refused = client.post("/v1/workflows", json=skip, headers=auth("bob-key"))
        assert refused.status_code == 403 and "self-approval" in refused.json()["detail"]
        # Rejecting one's own work stays possible.
        wait(client, wf_id, at_gate("security_review"), auth("bob-key"))
        assert (
            decide(client, wf_id, "security_review", "bob-key", decision="reject").status_code
            == 200
        )

    with client_of(tmp_path, MemoryWorld(), allow_self_approval=True) as client:
        wf = client.post("/v1/workflows", json={"requirements": SPEC}, headers=auth("bob-key"))
        wait(client, wf.json()["id"], at_gate("planning_review"), auth("bob-key"))
        assert decide(client, wf.json()["id"], "planning_review", "bob-key").status_code == 200

    # Local mode is one admin principal: it approves its own work whatever the setting says.
    settings = GatewaySettings(data_dir=tmp_path, local_mode=True, allow_self_approval=False)
    with TestClient(create_app(settings, resources=MemoryWorld())) as client:
        local_wf = client.post("/v1/workflows", json={"requirements": SPEC}).json()["id"]
        wait(client, local_wf, at_gate("planning_review"))
        response = client.post(
            f"/v1/workflows/{local_wf}/decisions",
            json={"gate": "planning_review", "decision": "approve"},
        )
        assert response.status_code == 200


# --------------------------------------------------------------------------- 4c. audit


def test_every_decision_is_in_the_audit_log(tmp_path: Path, world: MemoryWorld) -> None:
    policy = {"t1": ["planning_review"]}
    with client_of(tmp_path, world, auto_approve=policy, allow_self_approval=True) as client:
        wf = client.post("/v1/workflows", json={"requirements": SPEC}, headers=auth("alice-key"))
        wf_id = wf.json()["id"]
        wait(client, wf_id, at_gate("security_review"), auth("bob-key"))
        assert decide(client, wf_id, "security_review", "bob-key", comment="ok").status_code == 200
        wait(client, wf_id, at_gate("deployment_approval"), auth("bob-key"))
        assert decide(client, wf_id, "deployment_approval", "bea-key").status_code == 200
        assert wait(client, wf_id, ended, auth("bob-key"))["status"] == "completed"
        skip = {"requirements": SPEC, "options": {"auto_approve": GATES}}
        other = client.post("/v1/workflows", json=skip, headers=auth("carol-key")).json()["id"]
        assert wait(client, other, ended, auth("carol-key"))["status"] == "completed"

        assert client.get("/v1/audit", headers=auth("bob-key")).status_code == 403
        everything = client.get("/v1/audit", headers=auth("root-key")).json()["items"]
        mine = [e for e in reversed(everything) if e["workflow_id"] == wf_id]
        assert [
            (e["gate"], e["decision"], e["principal"], e["role"], e["how"], e["tenant"])
            for e in mine
        ] == [
            ("planning_review", "approve", "policy", "admin", "policy", "t1"),
            ("security_review", "approve", "bob", "approver", "human", "t1"),
            ("deployment_approval", "approve", "bea", "approver", "human", "t1"),
        ]
        assert mine[1]["comment"] == "ok" and mine[1]["principal_tenant"] == "t1"
        carols = [e for e in everything if e["workflow_id"] == other]
        assert {(e["principal"], e["how"], e["role"], e["tenant"]) for e in carols} == {
            ("carol", "role", "approver", "t2")
        } and len(carols) == 3
        tenant = client.get("/v1/audit", headers=auth("t1admin-key")).json()["items"]
        assert {e["workflow_id"] for e in tenant} == {wf_id}
        paged = client.get("/v1/audit", params={"limit": 2}, headers=auth("root-key")).json()
        rest = client.get(
            "/v1/audit", params={"cursor": paged["next_cursor"]}, headers=auth("root-key")
        ).json()
        assert [e["id"] for e in paged["items"] + rest["items"]] == [e["id"] for e in everything]
        # A re-sync of the same checkpoint logs nothing twice.
        assert len({e.id for e in world.store.audit_log}) == len(world.store.audit_log) == 6


def test_error_review_decisions_are_audited() -> None:
    from services.gateway.workflow.nodes.gates import audit_entry

    state: Any = {"workflow_id": "w1", "tenant": "t1"}
    [entry] = audit_entry(
        state,
        "error_review",
        {"decision": "reject", "by": "bob", "how": "human", "role": "approver", "comment": "no"},
    )
    assert (entry["principal"], entry["how"], entry["tenant"], entry["comment"]) == (
        "bob",
        "human",
        "t1",
        "no",
    )


# --------------------------------------------------------------------------- 5. sealing


def test_a_sealed_gate_payload_opens_only_for_its_workflow_and_gate() -> None:
    sealer = Sealer(b"k" * 32)
    payload = {"gate": "deployment_approval", "diff": "+  PASSWORD: hunter2-value"}
    sealed = sealer.seal("wf1", "deployment_approval", payload)
    assert "hunter2" not in sealed and "PASSWORD" not in sealed
    assert sealer.open("wf1", "deployment_approval", sealed) == payload
    with pytest.raises(ValueError):
        sealer.open("wf2", "deployment_approval", sealed)
    with pytest.raises(ValueError):
        Sealer(b"j" * 32).open("wf1", "deployment_approval", sealed)
    assert not Sealer(None).enabled


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_gateway(
    tmp_path: Path, world: MemoryWorld, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """`autopilot keys` and `autopilot audit` talking to an in-process gateway."""
    with client_of(tmp_path, world) as client:

        @contextlib.contextmanager
        def same_client(gateway: str | None, read_timeout: float = 30.0) -> Iterator[TestClient]:
            secret = CliSettings().api_key
            key = secret.get_secret_value() if secret else ""
            client.headers["Authorization"] = f"Bearer {key}"
            yield client

        monkeypatch.setattr(remote, "client", same_client)
        yield client


def test_cli_keys_and_audit(
    cli_gateway: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOPILOT_API_KEY", "root-key")
    assert cli(["keys", "create", "--name", "alice2", "--role", "approver", "--tenant", "t1"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("ap_") and "shown this once" in out.err
    assert cli(["keys", "list", "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["name"], k["role"], k["tenant"]) for k in listed] == [("alice2", "approver", "t1")]
    assert cli(["keys", "list"]) == 0
    table = capsys.readouterr().out
    assert "alice2" in table and "active" in table and key not in table
    assert cli(["keys", "revoke", "alice2"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert cli_gateway.get("/v1/workflows", headers=auth(key)).status_code == 401
    assert cli(["audit", "-o", "yaml"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    monkeypatch.setenv("AUTOPILOT_API_KEY", "bob-key")
    assert cli(["keys", "list"]) == 2  # 403: not an admin
    assert "403" in capsys.readouterr().err
