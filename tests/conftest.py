"""Shared fixtures: real NATS and PostgreSQL, from the environment or embedded.

With AUTOPILOT_NATS_URL / AUTOPILOT_DATABASE_URL set, tests use those servers; unset, the
session starts embedded ones on free ports. Each test gets its own database and its own
subject prefix and stream, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from shared.infra.embedded import EmbeddedNats, EmbeddedPostgres
from shared.infra.pg import create_database, drop_database


def _scratch(name: str) -> Path:
    """A fresh directory directly under the system temp dir."""
    # Not pytest's tmp tree: as root, embedded Postgres runs as a system user that must traverse
    # every parent, and any other pytest session on the machine resets /tmp/pytest-of-root to
    # 0700 when it starts, which cut a running server off from its data mid-test.
    return Path(tempfile.mkdtemp(prefix=f"autopilot-{name}-"))


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A temp dir embedded servers can use (see `_scratch`), removed afterwards."""
    path = _scratch("test")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JetStream-enabled NATS: AUTOPILOT_NATS_URL, or an embedded server for the session."""
    if url := os.environ.get("AUTOPILOT_NATS_URL"):
        yield url
        return
    with EmbeddedNats(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A PostgreSQL admin URL: AUTOPILOT_DATABASE_URL, or an embedded server for the session."""
    if url := os.environ.get("AUTOPILOT_DATABASE_URL"):
        yield url
        return
    path = _scratch("pg")
    try:
        with EmbeddedPostgres(path / "data") as server:
            yield server.url
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pg_database(database_url: str) -> Iterator[str]:
    """A throwaway database for one test; yields its URL and drops it afterwards."""
    name = f"test_{uuid.uuid4().hex}"
    url = asyncio.run(create_database(database_url, name, exist_ok=False))
    try:
        yield url
    finally:
        asyncio.run(drop_database(database_url, name))


@pytest.fixture
def nats_subject_prefix() -> str:
    """A subject prefix no other test (or the real AUTOPILOT stream) overlaps."""
    return f"test{uuid.uuid4().hex[:12]}.autopilot.v1"


@pytest.fixture
def nats_stream(nats_url: str, nats_subject_prefix: str) -> Iterator[str]:
    """This test's stream name (for `nats_subject_prefix`); deleted afterwards if created."""
    name = "AUTOPILOT_" + nats_subject_prefix.split(".", 1)[0].upper()
    yield name

    async def delete() -> None:
        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().delete_stream(name)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(delete())
