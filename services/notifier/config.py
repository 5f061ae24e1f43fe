"""Notifier settings: where the gateway's pages are, how hard to try a webhook, where to listen.

Environment variables carry the shared `AUTOPILOT_` prefix (`AUTOPILOT_PUBLIC_URL`,
`AUTOPILOT_WEBHOOK_MAX_ATTEMPTS`, `AUTOPILOT_NOTIFIER_PORT`, ...).
"""

from __future__ import annotations

from pydantic import Field

from shared.config import Settings


class NotifierSettings(Settings):
    """One notifier process (one settings object per service)."""

    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The gateway's URL as reviewers reach it; Slack messages link to "
        "<public_url>/workflows/<id>.",
    )
    notifier_host: str | None = Field(
        default=None,
        description="Where /health, /readyz, /metrics listen; default 127.0.0.1 in local mode.",
    )
    notifier_port: int = Field(default=8104, ge=0, le=65535, description="Port of the HTTP side.")
    webhook_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Attempts of one delivery before its dead letter."
    )
    webhook_retry_seconds: float = Field(
        default=2.0, ge=0, description="First retry delay; doubles with each attempt."
    )
    webhook_retry_max_seconds: float = Field(
        default=300.0, ge=0, description="Cap of the retry delay."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="One request to a receiver, connect to last byte."
    )
    webhook_allow_private: bool | None = Field(
        default=None,
        description="Deliver to loopback and private addresses; unset: only in local mode.",
    )
    max_workers: int = Field(
        default=8, ge=1, description="Deliveries one process makes at once (per consumer)."
    )
    consumer_name: str = Field(default="notifier", description="Durable consumer name prefix.")
    service_name: str = Field(default="notifier", description="Source name of dead letters.")

    def allow_private(self) -> bool:
        """Whether receivers on loopback or private addresses are delivered to."""
        if self.webhook_allow_private is None:
            return self.local_mode
        return self.webhook_allow_private

    def retry_delay(self, attempt: int) -> float:
        """Exponential back-off after failed attempt `attempt` (1-based), capped."""
        delay = self.webhook_retry_seconds * 2 ** max(attempt - 1, 0)
        return float(min(delay, self.webhook_retry_max_seconds))
