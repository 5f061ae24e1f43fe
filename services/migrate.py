"""Schema migrations for every Postgres table the system uses, run once per release."""

from __future__ import annotations

from services.gateway.store import PostgresStore
from shared.infra.artifacts import ArtifactStore
from shared.infra.checkpoint import open_checkpointer, open_store


async def migrate(database_url: str) -> list[str]:
    """Create or upgrade the checkpoint, store and artifact tables; returns what was done."""
    done = []
    async with open_checkpointer(database_url, max_connections=2):
        done.append("checkpoints: up to date")
    async with open_store(database_url, max_connections=2):
        done.append("long-term store: up to date")
    async with ArtifactStore.open(database_url, max_connections=2):
        done.append("artifacts: up to date")
    async with PostgresStore.open(database_url, max_connections=2):
        done.append("gateway workflows and events: up to date")
    return done
