"""Settings every swarm service has."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from shared.config import Settings
from shared.events import (
    Phase,
    Swarm,
    swarm_subject,
)


class SwarmSettings(Settings):
    """Settings every swarm service has; each service's config.py names its swarm."""

    SWARM: ClassVar[Swarm]

    max_deliver: int = Field(
        default=5, ge=1, description="Deliveries of one request before it is dead-lettered."
    )
    ack_wait_seconds: float = Field(
        # Short, because it is how long a crashed request waits for another replica; a request
        # that is still running sends a heartbeat every third of it.
        default=10.0,
        gt=0,
        description="Redelivery after a crash; a running request is kept alive by heartbeats.",
    )
    retry_delay_seconds: float = Field(
        default=1.0, ge=0, description="First nak delay; doubles with each delivery."
    )
    retry_delay_max_seconds: float = Field(default=30.0, ge=0, description="Cap of the nak delay.")
    max_workers: int = Field(
        # More than one, so a big request does not hold a replica while small ones wait; each
        # message is still acked only after its result is stored and its completion published.
        default=3,
        ge=1,
        description="Requests one process runs at once (AUTOPILOT_MAX_WORKERS).",
    )
    pull_timeout_seconds: float = Field(default=5.0, gt=0, description="One pull's long poll.")
    http_host: str | None = Field(
        default=None,
        description="Where /health, /readyz, /metrics listen; default 127.0.0.1 in local mode, "
        "0.0.0.0 otherwise (containers are probed from outside).",
    )
    http_port: int = Field(default=8100, ge=0, le=65535, description="Port of the HTTP side.")
    db_pool_size: int = Field(default=5, ge=1, description="Postgres connections per pool.")
    fault: str | None = Field(
        default=None,
        description="Test-only: `<service>:<node>` SIGKILLs the process after that node, once.",
    )
    fault_marker: Path | None = Field(
        default=None, description="Marker of a fired fault; default <data_dir>/fault-fired."
    )

    def requested_subject(self) -> str:
        """The subject this service consumes."""
        return swarm_subject(self.SWARM, Phase.REQUESTED, self.subject_prefix)

    def bind_host(self) -> str:
        """The interface the HTTP side listens on."""
        return self.listen_host(self.http_host)

    def fault_marker_path(self) -> Path:
        """Where the fired fault is remembered, so a restarted process does not fire again."""
        return self.fault_marker or self.data_dir / "fault-fired"
