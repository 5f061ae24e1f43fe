"""Gateway settings: where to listen, which subjects and stream, limits and deadlines.

Environment variables carry the shared `AUTOPILOT_` prefix (`AUTOPILOT_GATEWAY_PORT`,
`AUTOPILOT_SUBJECT_PREFIX`, `AUTOPILOT_SWARM_DEADLINE_SECONDS`, ...).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from shared.config import Settings
from shared.gates import AutoApprovable

OFFLINE_MODEL = "offline"


class GatewaySettings(Settings):
    """Settings of the gateway service (one object per process)."""

    gateway_host: str | None = Field(
        default=None,
        description="Interface the API listens on; default 127.0.0.1 in local mode, else 0.0.0.0.",
    )
    gateway_port: int = Field(default=8080, ge=0, le=65535, description="API port (0 = any).")
    api_keys: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        repr=False,
        description='Outside local mode: JSON {"<key>": {"id": "alice", "roles": ["submitter", '
        '"approver"], "tenant": null}}; callers send Authorization: Bearer <key>.',
    )
    api_key_pepper: SecretStr | None = Field(
        default=None,
        repr=False,
        description="Secret the stored API keys are hashed under (HMAC-SHA256); unset, it is "
        "derived from LANGGRAPH_AES_KEY. Changing it invalidates every stored key.",
    )
    allow_self_approval: bool | None = Field(
        default=None,
        description="Whether a principal may approve (or edit, or auto-approve) a workflow it "
        "submitted. Unset: yes in local mode (one user), no elsewhere.",
    )
    auto_approve: dict[str, list[AutoApprovable]] = Field(
        default_factory=dict,
        description='Admin policy: JSON {"<tenant>": ["planning_review", ...]} of gates that '
        'workflows of that tenant pass without a reviewer ("*": every tenant, "": principals '
        "with no tenant). A submitter cannot ask for this; an approver or admin may, per workflow.",
    )
    webhook_allow_private: bool | None = Field(
        default=None,
        description="Whether webhook subscriptions may point at loopback or private addresses; "
        "unset: only in local mode (elsewhere a tenant must not reach the internal network).",
    )
    model: str = Field(
        default=OFFLINE_MODEL,
        description="Chat model ('provider:model'); 'offline' plans from structured input only.",
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_components: int = Field(
        default=200, ge=1, description="Components of a spec, services of a Compose file (422)."
    )
    max_env_entries: int = Field(
        default=500, ge=1, description="Env entries of one component or service (422 above)."
    )
    max_config_file_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest config file of a component (413)."
    )
    max_replays: int = Field(
        default=3, ge=0, description="Replays (time travel) allowed per workflow (409 above)."
    )
    sse_max_seconds: float = Field(
        default=0,
        ge=0,
        description="End a followed event stream after this long (0: when the workflow ends); "
        "an EventSource reconnects with Last-Event-ID.",
    )
    swarm_deadline_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a swarm step may take before the reconciler re-dispatches it.",
    )
    reconcile_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the reconciler looks for overdue steps."
    )
    max_fix_attempts: int = Field(
        default=2, ge=0, description="Validation-to-generation fix loop bound per workflow."
    )
    max_swarm_retries: int = Field(
        default=2,
        ge=0,
        description="Re-dispatches of a step whose swarm reported a transient error.",
    )
    node_retry_attempts: int = Field(
        default=4,
        ge=1,
        description="Attempts of a gateway node's I/O (RetryPolicy) before giving up.",
    )
    node_retry_initial_seconds: float = Field(
        default=0.2, gt=0, description="First back-off of a gateway node's I/O retries."
    )
    service_name: str = Field(default="gateway", description="Source name in event envelopes.")
    consumer_name: str = Field(
        default="gateway", description="Durable JetStream consumer name prefix for swarm results."
    )

    def self_approval(self) -> bool:
        """Whether a submitter may approve its own workflow (always in local mode)."""
        if self.local_mode:
            return True
        return bool(self.allow_self_approval)

    def key_pepper(self) -> bytes | None:
        """The secret stored API keys are hashed under, or None (no stored keys)."""
        if self.api_key_pepper is not None and self.api_key_pepper.get_secret_value():
            return self.api_key_pepper.get_secret_value().encode()
        return self.aes_key_bytes()

    @property
    def source(self) -> str:
        """CloudEvents source of every event this gateway publishes."""
        return f"/autopilot/{self.service_name}"
