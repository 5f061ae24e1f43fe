"""Trust on real PostgreSQL and NATS (issue 11, points 4-5): stored keys hashed, revocation at
once, no self-approval, the append-only audit log, gate payloads encrypted in the workflow row."""

from __future__ import annotations

import asyncio
import functools
import json
import types
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.gateway.auth import Role
from services.gateway.config import GatewaySettings
from services.gateway.keys import KeyError_, PostgresKeys
from services.gateway.store import PostgresStore, WorkflowRecord
from shared.infra.artifacts import ArtifactStore
from tests.gateway_client import at_gate, ended, wait_for
from tests.integration import test_gateway_integration as base
from tests.integration.test_gateway_integration import Responder

pytestmark = pytest.mark.integration

gateway_settings = base.gateway_settings
running = base.running

AES_KEY = "integration-aes-key-0123456789ab"
ROOT = {"root-key": {"id": "root", "roles": ["admin"], "tenant": None}}
PRIVATE = "t1-private-value-93f1"
SPEC: dict[str, Any] = {
    "name": "shop",
    "components": [
        {
            "name": "web",
            "image": "ghcr.io/acme/private-web:1.4.2",
            "ports": [{"port": 8080}],
            "env": {"PRIVATE_SETTING": PRIVATE},
        }
    ],
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def row_text(database_url: str, query: str, *params: Any) -> str:
    with psycopg.connect(database_url) as conn:
        return json.dumps(conn.execute(query, params).fetchall(), default=str)


def test_stored_keys_sealed_gates_and_the_audit_log_through_the_real_gateway(
    running: Callable[..., tuple[TestClient, Responder]],
    gateway_settings: GatewaySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = gateway_settings.database_url or ""
    # The in-test swarm reads and writes artifacts under the same key as the gateway.
    keyed_open = functools.partial(ArtifactStore.open, key=AES_KEY.encode())
    monkeypatch.setattr(base, "ArtifactStore", types.SimpleNamespace(open=keyed_open))
    client, _ = running(local_mode=False, aes_key=SecretStr(AES_KEY), api_keys=ROOT)

    keys = {}
    for name, role in (("alice", "submitter"), ("bob", "approver"), ("bea", "approver")):
        made = client.post(
            "/v1/keys", json={"name": name, "role": role, "tenant": "t1"}, headers=auth("root-key")
        )
        assert made.status_code == 201, made.text
        keys[name] = made.json()["key"]
    stored = row_text(db, "SELECT * FROM gateway_api_keys")
    assert "alice" in stored and not any(k in stored or k[20:] in stored for k in keys.values())

    response = client.post("/v1/workflows", json={"requirements": SPEC}, headers=auth(keys["bob"]))
    assert response.status_code == 202, response.text
    wf = response.json()["id"]

    client.headers.update(auth(keys["bea"]))  # polls as bea, a t1 approver

    def at(gate: str) -> dict[str, Any]:
        """Wait until the workflow waits at `gate` or ends."""
        return wait_for(client, wf, lambda b: at_gate(gate)(b) or ended(b), timeout=120)

    gate = at("planning_review")["pending_gate"]
    assert PRIVATE in json.dumps(gate["plan"])  # the reviewer sees the plan, decrypted
    row = row_text(db, "SELECT view::text, status, phase FROM gateway_workflows WHERE id = %s", wf)
    assert "planning_review" in row and "sealed" in row
    assert PRIVATE not in row and "private-web" not in row and "PRIVATE_SETTING" not in row

    # bob submitted it: he may not approve it; bea (same tenant) may.
    own = client.post(
        f"/v1/workflows/{wf}/decisions",
        headers=auth(keys["bob"]),
        json={"gate": "planning_review", "decision": "approve"},
    )
    assert own.status_code == 403 and "self-approval" in own.json()["detail"]
    for name in ("planning_review", "security_review", "deployment_approval"):
        pending = at(name)["pending_gate"]
        if name == "deployment_approval":
            assert PRIVATE in pending["diff"]
            row = row_text(db, "SELECT view::text FROM gateway_workflows WHERE id = %s", wf)
            assert PRIVATE not in row and "kind: Deployment" not in row
        decided = client.post(
            f"/v1/workflows/{wf}/decisions",
            headers=auth(keys["bea"]),
            json={"gate": name, "decision": "approve", "comment": f"ok {name}"},
        )
        assert decided.status_code == 200, decided.text
    assert at("none")["status"] == "completed"

    audit = client.get("/v1/audit", headers=auth("root-key")).json()["items"]
    assert [
        (e["gate"], e["principal"], e["role"], e["how"], e["tenant"]) for e in reversed(audit)
    ] == [
        (g, "bea", "approver", "human", "t1")
        for g in ("planning_review", "security_review", "deployment_approval")
    ]
    assert client.get("/v1/audit", headers=auth(keys["bea"])).status_code == 403
    with psycopg.connect(db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM gateway_audit").fetchone() == (3,)
        for statement in (
            "UPDATE gateway_audit SET decision = 'reject'",
            "DELETE FROM gateway_audit",
            "TRUNCATE gateway_audit",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)

    # Revocation holds from the next request on, on every replica (no cache).
    assert client.get("/v1/workflows", headers=auth(keys["bea"])).status_code == 200
    assert client.delete("/v1/keys/bea", headers=auth("root-key")).status_code == 200
    assert client.get("/v1/workflows", headers=auth(keys["bea"])).status_code == 401
    listed = client.get("/v1/keys", headers=auth("root-key")).json()["items"]
    assert {k["name"]: bool(k["revoked_at"]) for k in listed} == {
        "alice": False,
        "bob": False,
        "bea": True,
    }


def test_postgres_keys_hash_verify_and_revoke(pg_database: str) -> None:
    async def scenario() -> None:
        async with PostgresKeys.open(pg_database, pepper=b"pepper-1") as keys:
            row, key = await keys.create("amy", Role.APPROVER, "t1", "root")
            assert (await keys.verify(key)) == row
            assert row.principal().has(Role.APPROVER) and row.principal().tenant == "t1"
            async with PostgresKeys.open(pg_database, pepper=b"another-pepper") as other:
                assert await other.verify(key) is None  # the table alone opens nothing
            with pytest.raises(KeyError_):
                await keys.create("amy", Role.ADMIN, "t1", "root")
            assert await keys.search("t2", every=False) == []
            assert [k.name for k in await keys.search("t1", every=False)] == ["amy"]
            assert await keys.revoke("amy", "root", "t2", every=False) == []
            [revoked] = await keys.revoke(row.id, "root", None, every=True)
            assert revoked.revoked_by == "root" and await keys.verify(key) is None

    asyncio.run(scenario())


def test_postgres_store_seals_gates_and_logs_decisions_once(pg_database: str) -> None:
    entry = {
        "id": "a1",
        "time": "2025-01-01T00:00:00+00:00",
        "workflow_id": "w1",
        "tenant": "t1",
        "gate": "planning_review",
        "decision": "approve",
        "principal": "bea",
        "principal_tenant": "t1",
        "role": "approver",
        "how": "human",
        "comment": None,
    }

    async def scenario() -> None:
        async with PostgresStore.open(pg_database, key=AES_KEY.encode()) as store:
            record = await store.create(
                WorkflowRecord(
                    id="w1",
                    status="waiting_for_approval",
                    input_kind="requirements",
                    submitted_by="bob",
                    tenant="t1",
                )
            )
            record.pending_gate = {"gate": "planning_review", "plan": {"secret": PRIVATE}}
            record.error = {"code": "unknown", "message": PRIVATE}
            await store.save(record, [entry])
            await store.save(record, [entry])  # a re-sync: no second row
            got = await store.get("w1")
            assert got is not None and got.pending_gate is not None
            assert got.pending_gate["plan"] == {"secret": PRIVATE} and got.error == record.error
            [logged] = await store.audit(tenant="t1", workflow_id=None, limit=10, before_seq=None)
            assert logged.principal == "bea" and logged.how == "human"
            assert await store.audit(tenant="t2", workflow_id=None, limit=10, before_seq=None) == []
        async with PostgresStore.open(pg_database) as keyless:
            with pytest.raises(ValueError):
                await keyless.get("w1")

    asyncio.run(scenario())
    assert PRIVATE not in row_text(pg_database, "SELECT * FROM gateway_workflows")


def test_migrate_creates_the_key_and_audit_tables(pg_database: str) -> None:
    from services.cli.commands.migrate import migrate

    assert "gateway API keys: up to date" in asyncio.run(migrate(pg_database))
    tables = row_text(pg_database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert "gateway_api_keys" in tables and "gateway_audit" in tables
