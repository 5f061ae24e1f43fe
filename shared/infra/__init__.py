"""Infrastructure the services stand on: embedded servers, checkpoints, artifact storage."""

from shared.infra.artifacts import ArtifactStore
from shared.infra.checkpoint import open_checkpointer, open_store, serializer
from shared.infra.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    Servers,
    ensure_servers,
    free_port,
)
from shared.infra.pg import advisory_lock, create_database, drop_database, with_database

__all__ = [
    "ArtifactStore",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "Servers",
    "advisory_lock",
    "create_database",
    "drop_database",
    "ensure_servers",
    "free_port",
    "open_checkpointer",
    "open_store",
    "serializer",
    "with_database",
]
