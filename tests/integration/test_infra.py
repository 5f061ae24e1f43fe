"""The infrastructure against real servers: embedded NATS/Postgres, stream, checkpoints, artifacts.

Async code runs through `asyncio.run` inside plain test functions (no pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

import nats
import psycopg
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from shared.config import Settings
from shared.errors import ArtifactError, ArtifactNotFound
from shared.events import (
    ArtifactRef,
    Event,
    Swarm,
    SwarmFailure,
    SwarmRequest,
    SwarmResult,
    ensure_stream,
    msg_id,
    stream_config,
    swarm_event,
    swarm_subject,
    thread_id,
)
from shared.infra import (
    ArtifactStore,
    EmbeddedNats,
    EmbeddedPostgres,
    ensure_servers,
    free_port,
    open_checkpointer,
    open_store,
    serializer,
)
from shared.models.reports import Finding, Severity
from shared.models.workflow import ErrorCode, ErrorContext

KEY = "0123456789abcdef0123456789abcdef"  # 32 bytes
SECRET = "s3cr3t-db-password-Zq7Xw"

integration = pytest.mark.integration


# --------------------------------------------------------------------------- pure contracts


def test_settings_refuse_production_without_key() -> None:
    with pytest.raises(ValueError, match="LANGGRAPH_AES_KEY"):
        Settings(local_mode=False, nats_url="nats://x:4222", database_url="postgresql://x/y")
    ok = Settings(
        local_mode=False, nats_url="nats://x:4222", database_url="postgresql://x/y", aes_key=KEY
    )
    assert ok.aes_key_bytes() == KEY.encode()


def test_settings_reject_bad_key_size_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32 bytes") as info:
        Settings(aes_key="short-key")
    assert "short-key" not in str(info.value)


def test_settings_read_langgraph_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGGRAPH_AES_KEY", KEY[:16])
    monkeypatch.setenv("AUTOPILOT_NATS_URL", "nats://example:4222")
    settings = Settings()
    assert settings.aes_key_bytes() == KEY[:16].encode()
    assert settings.nats_url == "nats://example:4222"
    assert serializer(settings) is not None
    assert serializer(Settings(aes_key=None)) is None


def test_ids_are_deterministic() -> None:
    assert thread_id("wf-1", Swarm.GENERATION, 2) == "wf-1:generation:2"
    assert msg_id("t", "wf", 1) == msg_id("t", "wf", 1)
    assert msg_id("t", "a:b", "c") != msg_id("t", "a", "b:c")
    request = SwarmRequest(workflow_id="wf", swarm=Swarm.PLANNING, input={"a": 1})
    first = swarm_event(request, source="/test")
    again = swarm_event(request.model_copy(), source="/test")
    assert first.id == again.id and first.type == "autopilot.v1.planning.requested"
    retry = swarm_event(request.model_copy(update={"attempt": 2}), source="/test")
    assert retry.id != first.id


def test_event_round_trip_and_size_limit() -> None:
    request = SwarmRequest(
        workflow_id="wf",
        swarm=Swarm.GENERATION,
        input_refs=[ArtifactRef(workflow_id="wf", kind="plan", files={"data.json": "ab"})],
        feedback=[Finding(severity=Severity.ERROR, tool="helm-lint", message="bad")],
    )
    event = swarm_event(request, source="/gateway")
    back = Event[SwarmRequest].model_validate_json(event.to_bytes())
    assert back.data == request and back.subject == "wf"
    assert back.data.thread_id == "wf:generation:1"
    failure = swarm_event(
        SwarmFailure(
            workflow_id="wf",
            swarm=Swarm.VALIDATION,
            error=ErrorContext(code=ErrorCode.TRANSIENT, message="x"),
        ),
        source="/validator",
    )
    assert failure.type.endswith("validation.failed")
    with pytest.raises(ValueError, match="input"):
        SwarmRequest(workflow_id="wf", swarm=Swarm.PLANNING)
    huge = SwarmRequest(workflow_id="wf", swarm=Swarm.PLANNING, input={"x": "y" * 300_000})
    with pytest.raises(ValueError, match="ArtifactStore"):
        swarm_event(huge, source="/gateway").to_bytes()


# --------------------------------------------------------------------------- NATS


@integration
def test_embedded_nats_starts_on_free_port_and_keeps_streams_across_restart(
    tmp_path: Path,
) -> None:
    started = time.perf_counter()
    with EmbeddedNats(tmp_path / "nats") as server:
        elapsed = time.perf_counter() - started
        assert server.port not in (None, 4222)
        assert elapsed < 10

        async def publish() -> None:
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await ensure_stream(js, "RESTART", "restart.v1")
            await js.publish("restart.v1.x", b"kept")
            await nc.close()

        async def read() -> bytes:
            nc = await nats.connect(server.url)
            msg = await nc.jetstream().get_last_msg("RESTART", "restart.v1.x")
            await nc.close()
            return bytes(msg.data or b"")

        asyncio.run(publish())
        port = server.port
        server.restart()
        assert server.port == port
        assert asyncio.run(read()) == b"kept"
        server.kill()  # as a crash would; the store survives that too
        server.start()
        assert asyncio.run(read()) == b"kept"
    assert not server.running


@integration
def test_embedded_nats_refuses_a_taken_pinned_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = EmbeddedNats(tmp_path / "nats", port=sock.getsockname()[1], start_timeout=3)
        with pytest.raises(RuntimeError, match="did not start"):
            server.start()


@integration
def test_ensure_stream_is_idempotent(
    nats_url: str, nats_subject_prefix: str, nats_stream: str
) -> None:
    async def run() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        # Concurrent first calls, as several services starting at once would make.
        await asyncio.gather(
            *(ensure_stream(js, nats_stream, nats_subject_prefix) for _ in range(3))
        )
        await ensure_stream(js, nats_stream, nats_subject_prefix)
        info = await js.stream_info(nats_stream)
        expected = stream_config(nats_stream, nats_subject_prefix)
        assert info.config.subjects == [f"{nats_subject_prefix}.>"]
        assert info.config.duplicate_window == expected.duplicate_window
        assert info.config.storage == expected.storage
        assert info.config.retention == expected.retention
        await nc.close()

    asyncio.run(run())


@integration
def test_same_msg_id_is_stored_once(
    nats_url: str, nats_subject_prefix: str, nats_stream: str
) -> None:
    async def run() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await ensure_stream(js, nats_stream, nats_subject_prefix)
        result = SwarmResult(workflow_id="wf-dup", swarm=Swarm.PLANNING, summary={"n": 1})
        event = swarm_event(result, source="/planner", prefix=nats_subject_prefix)
        assert event.type == swarm_subject(Swarm.PLANNING, "completed", nats_subject_prefix)
        # A redelivered request re-publishes its stored result: rebuilt, same id.
        again = swarm_event(result.model_copy(), source="/planner", prefix=nats_subject_prefix)
        first = await js.publish(event.type, event.to_bytes(), headers=event.headers())
        second = await js.publish(again.type, again.to_bytes(), headers=again.headers())
        assert not first.duplicate and second.duplicate
        assert second.seq == first.seq
        info = await js.stream_info(nats_stream)
        assert info.state.messages == 1
        stored = await js.get_last_msg(nats_stream, event.type)
        assert Event[SwarmResult].model_validate_json(stored.data or b"").data == result
        await nc.close()

    asyncio.run(run())


# --------------------------------------------------------------------------- PostgreSQL


@integration
def test_embedded_postgres_restart_keeps_data(scratch_dir: Path) -> None:
    with EmbeddedPostgres(scratch_dir / "pg") as server:
        assert server.port not in (None, 5432)
        url = server.url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
        server.restart()
        assert server.url == url
        server.kill()  # immediate stop: the next start runs crash recovery
        server.start()
        assert server.url == url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == ("still here",)


@integration
def test_ensure_servers_uses_urls_when_set_and_embeds_otherwise(scratch_dir: Path) -> None:
    async def run() -> None:
        given = Settings(nats_url="nats://given:4222", database_url="postgresql://given/db")
        servers = await ensure_servers(given)
        assert (servers.nats, servers.postgres) == (None, None)
        assert servers.nats_url == "nats://given:4222"

        async with await ensure_servers(
            Settings(data_dir=scratch_dir, nats_url=None, database_url=None)
        ) as servers:
            assert servers.nats is not None and servers.postgres is not None
            nc = await nats.connect(servers.nats_url)
            await nc.jetstream().account_info()
            await nc.close()
            async with await psycopg.AsyncConnection.connect(servers.database_url) as conn:
                await conn.execute("SELECT 1")
        assert not servers.nats.running

    asyncio.run(run())


# --------------------------------------------------------------------------- checkpoints


class State(TypedDict, total=False):
    """A state with one secret-bearing field and a step log."""

    secret: str
    steps: Annotated[list[str], lambda a, b: a + b]


def build_graph() -> StateGraph[State]:
    """write_secret puts SECRET in state; await_human interrupts, like an await_x node."""

    def write_secret(state: State) -> dict[str, Any]:
        return {"secret": SECRET, "steps": ["write_secret"]}

    def await_human(state: State) -> dict[str, Any]:
        answer = interrupt({"question": "approve?"})
        return {"steps": [f"await_human:{answer}"]}

    graph = StateGraph(State)
    graph.add_node("write_secret", write_secret)
    graph.add_node("await_human", await_human)
    graph.add_edge(START, "write_secret")
    graph.add_edge("write_secret", "await_human")
    graph.add_edge("await_human", END)
    return graph


def checkpoint_table_text(url: str) -> str:
    """Every row of the three checkpoint tables as text (bytea shows as hex)."""
    chunks = []
    with psycopg.connect(url) as conn:
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            rows = conn.execute(f"SELECT t::text FROM {table} t").fetchall()
            assert rows, f"{table} is empty: the test would prove nothing"
            chunks.extend(row[0] for row in rows)
    return "\n".join(chunks)


def contains_secret(text: str) -> bool:
    """Whether SECRET appears as text or as hex-encoded bytes."""
    return SECRET in text or SECRET.encode().hex() in text


@integration
@pytest.mark.parametrize("key", [KEY, None], ids=["aes", "plaintext"])
def test_checkpoints_encrypted_at_rest_and_resume_in_new_saver(
    pg_database: str, key: str | None
) -> None:
    serde = serializer(Settings(aes_key=key))
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id("wf-ck", "planning", 1)}}

    async def first_run() -> None:
        async with open_checkpointer(pg_database, serde=serde) as saver:
            graph = build_graph().compile(checkpointer=saver)
            result = await graph.ainvoke({"steps": []}, config)
            assert "__interrupt__" in result

    async def resume() -> State:
        # A new saver (new pool), as a restarted service would open.
        async with open_checkpointer(pg_database, serde=serde) as saver:
            graph = build_graph().compile(checkpointer=saver)
            snapshot = await graph.aget_state(config)
            assert snapshot.next == ("await_human",)
            assert snapshot.values["secret"] == SECRET
            result: State = await graph.ainvoke(Command(resume="yes"), config)
            return result

    asyncio.run(first_run())
    at_rest = checkpoint_table_text(pg_database)
    assert contains_secret(at_rest) is (key is None)
    final = asyncio.run(resume())
    assert final["secret"] == SECRET
    assert final["steps"] == ["write_secret", "await_human:yes"]
    assert contains_secret(checkpoint_table_text(pg_database)) is (key is None)


@integration
def test_thread_begun_in_plaintext_resumes_under_encryption(pg_database: str) -> None:
    config: dict[str, Any] = {"configurable": {"thread_id": "wf-mig:planning:1"}}

    async def run() -> State:
        async with open_checkpointer(pg_database, serde=None) as saver:
            await build_graph().compile(checkpointer=saver).ainvoke({"steps": []}, config)
        encrypted = serializer(Settings(aes_key=KEY))
        async with open_checkpointer(pg_database, serde=encrypted) as saver:
            result: State = (
                await build_graph()
                .compile(checkpointer=saver)
                .ainvoke(Command(resume="ok"), config)
            )
        # Read back through a fresh saver: the last checkpoint must hold the value itself.
        async with open_checkpointer(pg_database, serde=encrypted) as saver:
            snapshot = await build_graph().compile(checkpointer=saver).aget_state(config)
            assert snapshot.values.get("secret") == SECRET
        return result

    final = asyncio.run(run())
    assert final["secret"] == SECRET  # unchanged inline value carried over into a blob
    assert final["steps"] == ["write_secret", "await_human:ok"]


@integration
def test_checkpoints_unreadable_with_another_key(pg_database: str) -> None:
    config: dict[str, Any] = {"configurable": {"thread_id": "wf-key:planning:1"}}

    async def run() -> None:
        async with open_checkpointer(pg_database, serde=serializer(Settings(aes_key=KEY))) as saver:
            await build_graph().compile(checkpointer=saver).ainvoke({"steps": []}, config)
        other = serializer(Settings(aes_key="f" * 32))
        async with open_checkpointer(pg_database, serde=other) as saver:
            with pytest.raises(ValueError):  # MAC check failed
                await build_graph().compile(checkpointer=saver).aget_state(config)

    asyncio.run(run())


@integration
def test_concurrent_setup_does_not_fail(pg_database: str) -> None:
    async def one() -> None:
        async with open_checkpointer(pg_database, max_connections=2) as saver:
            assert await saver.aget_tuple({"configurable": {"thread_id": "none"}}) is None
        async with open_store(pg_database, max_connections=2) as store:
            await store.aput(("wf",), "k", {"v": 1})
        async with ArtifactStore.open(pg_database, max_connections=2) as artifacts:
            assert not await artifacts.exists("wf", "chart")

    async def run() -> None:
        await asyncio.gather(*(one() for _ in range(4)))

    asyncio.run(run())
    with psycopg.connect(pg_database) as conn:
        versions = conn.execute("SELECT v FROM checkpoint_migrations ORDER BY v").fetchall()
    assert [v for (v,) in versions] == list(range(len(versions)))  # each migration once


# --------------------------------------------------------------------------- artifacts


CHART = {
    "Chart.yaml": b"apiVersion: v2\nname: shop\n",
    "values.yaml": f"db:\n  password: {SECRET}\n".encode(),
    "templates/deployment.yaml": b"kind: Deployment\n",
}


def artifact_rows(url: str) -> list[tuple[str, str, bytes, str]]:
    """name, kind, content, cipher of every stored artifact."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT name, kind, content, cipher FROM autopilot_artifacts ORDER BY name"
        ).fetchall()
    return [(n, k, bytes(c), ci) for n, k, c, ci in rows]


@integration
def test_artifact_store_round_trip_and_ciphertext_at_rest(pg_database: str) -> None:
    async def run() -> None:
        async with ArtifactStore.open(pg_database, key=KEY.encode()) as store:
            ref = await store.put_files("wf-a", "chart", CHART)
            assert set(ref.files) == set(CHART)
            assert await store.exists("wf-a", "chart")
            assert await store.get_files("wf-a", "chart") == CHART
            # Re-put replaces the kind whole: a shrunk chart leaves no stale file behind.
            smaller = {"Chart.yaml": CHART["Chart.yaml"]}
            again = await store.put_files("wf-a", "chart", smaller)
            assert again.files["Chart.yaml"] == ref.files["Chart.yaml"]  # deterministic digest
            assert await store.get_files("wf-a", "chart") == smaller
            await store.put_files("wf-a", "chart", CHART)

            result = SwarmResult(workflow_id="wf-a", swarm=Swarm.VALIDATION, summary={"ok": True})
            await store.put_json("wf-a", "report", result)
            assert await store.get_json("wf-a", "report", SwarmResult) == result
            with pytest.raises(ArtifactNotFound):
                await store.get_json("wf-a", "missing", SwarmResult)
            assert await store.get_files("wf-a", "missing") == {}

        async with ArtifactStore.open(pg_database, key=None) as keyless:
            with pytest.raises(ArtifactError, match="LANGGRAPH_AES_KEY"):
                await keyless.get_files("wf-a", "chart")
        async with ArtifactStore.open(pg_database, key=b"f" * 32) as wrong:
            with pytest.raises(ArtifactError, match="cannot decrypt"):
                await wrong.get_files("wf-a", "chart")

    asyncio.run(run())
    rows = artifact_rows(pg_database)
    assert rows and all(cipher == "aes-256-gcm" for *_, cipher in rows)
    for name, _, content, _ in rows:
        assert SECRET.encode() not in content
        if name in CHART:
            assert CHART[name] not in content
    with psycopg.connect(pg_database) as conn:
        digests = conn.execute("SELECT sha256 FROM autopilot_artifacts").fetchall()
    plain_digests = {hashlib.sha256(v).hexdigest() for v in CHART.values()}
    assert not plain_digests & {d for (d,) in digests}  # keyed: no guess-testing


@integration
def test_artifact_rows_cannot_be_moved(pg_database: str) -> None:
    async def run() -> None:
        async with ArtifactStore.open(pg_database, key=KEY.encode()) as store:
            await store.put_files("wf-victim", "chart", CHART)
            with psycopg.connect(pg_database, autocommit=True) as conn:
                conn.execute(
                    "UPDATE autopilot_artifacts SET workflow_id = 'wf-thief'"
                    " WHERE workflow_id = 'wf-victim'"
                )
            with pytest.raises(ArtifactError, match="cannot decrypt"):
                await store.get_files("wf-thief", "chart")

    asyncio.run(run())


@integration
def test_artifact_store_plaintext_without_key(pg_database: str) -> None:
    async def run() -> None:
        async with ArtifactStore.open(pg_database) as store:
            await store.put_files("wf-p", "chart", CHART)
            assert await store.get_files("wf-p", "chart") == CHART
            assert await store.delete("wf-p") == len(CHART)
            assert not await store.exists("wf-p", "chart")

    asyncio.run(run())


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
