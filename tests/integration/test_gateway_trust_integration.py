"""Trust against real NATS and PostgreSQL (issue 11): the leak test through the real gateway, and
published charts kept per tenant in the Postgres store."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import tarfile
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from psycopg import connect, sql

from services.gateway.config import GatewaySettings
from services.gateway.store import PostgresStore
from tests.gateway_client import approve, at_gate, ended, wait_for
from tests.integration import test_gateway_integration as base
from tests.integration.test_gateway_integration import GATES, Responder
from tests.unit.gateway.test_gateway_trust import LEAKY_COMPOSE, SERVER_SECRETS, leaked

pytestmark = pytest.mark.integration

# The gateway fixtures of the integration suite: a real app over this test's NATS and database.
gateway_settings = base.gateway_settings
running = base.running


def database_text(database_url: str) -> str:
    """Every row of every table in the test's database as text (bytes decoded, not hex)."""
    parts: list[str] = []
    with connect(database_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        assert {"autopilot_artifacts", "gateway_workflows", "gateway_events"} <= set(tables)
        for table in tables:
            for row in conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))):
                for value in row:
                    raw = bytes(value) if isinstance(value, bytes | memoryview) else None
                    parts.append(raw.decode("utf-8", "replace") if raw is not None else str(value))
    return "\n".join(parts)


def test_a_submitter_never_gets_the_servers_environment(
    running: Callable[..., tuple[TestClient, Responder]],
    gateway_settings: GatewaySettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, responder = running()
    # Planted after the settings were built, as a server's own secrets sit in its environment.
    for name, value in SERVER_SECRETS.items():
        monkeypatch.setenv(name, value)
    response = client.post("/v1/workflows", json={"compose": LEAKY_COMPOSE, "name": "leaky"})
    assert response.status_code == 202, response.text
    wf = response.json()["id"]
    seen: list[str] = []
    for gate in GATES:
        seen.append(json.dumps(wait_for(client, wf, at_gate(gate))))
        approve(client, wf, gate)
    done = wait_for(client, wf, ended)
    assert done["status"] == "completed", done
    seen.append(json.dumps(done))
    events = client.get(f"/v1/workflows/{wf}/events", params={"follow": "false"})
    assert events.status_code == 200 and "workflow.completed" in events.text
    seen.append(events.text)
    archive = client.get(f"/v1/workflows/{wf}/chart.tgz").content
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            if extracted is not None:
                seen.append(extracted.read().decode("utf-8", "replace"))
    assert any("values.yaml" in m for m in tarfile.open(fileobj=io.BytesIO(archive)).getnames())
    seen.append(json.dumps([r.model_dump(mode="json") for r in responder.requests]))
    seen.append(json.dumps([e.model_dump(mode="json") for e in responder.published]))
    stored = database_text(gateway_settings.database_url or "")
    assert "GREETING" in stored  # the input and the chart were really stored and read back

    assert leaked("\n".join(seen), SERVER_SECRETS) == []
    assert leaked(stored, SERVER_SECRETS) == []
    assert leaked(caplog.text, SERVER_SECRETS) == []


def test_published_charts_are_kept_per_tenant(pg_database: str) -> None:
    async def scenario() -> None:
        async with PostgresStore.open(pg_database) as store:
            await store.record_published("shop", "wf-t1", "chart.1", "t1")
            await store.record_published("shop", "wf-none", "chart.1", "")
            assert await store.last_published("shop", exclude="x", tenant="t2") is None
            assert await store.last_published("shop", exclude="x", tenant="t1") == (
                "wf-t1",
                "chart.1",
            )
            assert await store.last_published("shop", exclude="x", tenant="") == (
                "wf-none",
                "chart.1",
            )
            await store.record_published("shop", "wf-t2", "chart.2", "t2")
            assert await store.last_published("shop", exclude="x", tenant="t2") == (
                "wf-t2",
                "chart.2",
            )
            assert await store.last_published("shop", exclude="wf-t2", tenant="t2") is None

    asyncio.run(scenario())


def test_workflows_are_searched_per_tenant(pg_database: str) -> None:
    from services.gateway.store import WorkflowRecord

    async def scenario() -> list[list[str]]:
        async with PostgresStore.open(pg_database) as store:
            for wf, by, tenant in (
                ("a", "alice", "t1"),
                ("b", "bob", "t1"),
                ("c", "carol", "t2"),
                ("e", "erin", ""),
            ):
                await store.create(
                    WorkflowRecord(
                        id=wf,
                        status="running",
                        input_kind="requirements",
                        submitted_by=by,
                        tenant=tenant,
                    )
                )
            found = []
            for tenant in ("t1", "t2", "", None):
                rows = await store.search(
                    status=None,
                    input_kind=None,
                    submitted_by=None,
                    limit=10,
                    before_seq=None,
                    tenant=tenant,
                )
                found.append(sorted(r.id for r in rows))
            assert (await store.get("a")) is not None and (await store.get("a")).tenant == "t1"  # type: ignore[union-attr]
            return found

    assert asyncio.run(scenario()) == [["a", "b"], ["c"], ["e"], ["a", "b", "c", "e"]]
