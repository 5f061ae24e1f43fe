"""Workflow-level contracts: Argo CD config, approvals, metadata and error context."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from shared.gates import Gate
from shared.models.requirements import SpecModel


def utcnow() -> datetime:
    """Timezone-aware now, for defaults."""
    return datetime.now(UTC)


class ArgoCDConfig(SpecModel):
    """How the Argo CD Application beside the chart points at it."""

    project: str = "default"
    repoURL: str = Field(default="https://git.example.com/platform/charts.git")
    targetRevision: str = "main"
    path: str = Field(description="Chart path inside the repository.")
    namespace: str = Field(description="Destination namespace.")
    server: str = "https://kubernetes.default.svc"
    automated: bool = True
    selfHeal: bool = True
    prune: bool = True


class ApprovalStatus(StrEnum):
    """State of one human gate."""

    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"


class WorkflowMetadata(SpecModel):
    """Who asked for what, when."""

    id: str
    inputKind: Literal["requirements", "compose", "prompt"]
    submittedBy: str = "local"
    createdAt: datetime = Field(default_factory=utcnow)
    approvals: dict[Gate, ApprovalStatus] = Field(default_factory=dict)


class ErrorCode(StrEnum):
    """Error classes that travel in failure events and decide what happens next."""

    INVALID_INPUT = "invalid_input"
    INVALID_OUTPUT = "invalid_output"
    VALIDATION_FAILED = "validation_failed"
    TRANSIENT = "transient"
    RATE_LIMIT = "rate_limit"
    PERMISSION = "permission"
    POLICY = "policy"
    UNKNOWN = "unknown"


class ErrorContext(SpecModel):
    """A classified error with enough context to retry, escalate or fail cleanly."""

    code: ErrorCode
    message: str
    field: str | None = Field(default=None, description="Input field at fault, when known.")
    swarm: str | None = None
    attempt: int = 1
    retryable: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
