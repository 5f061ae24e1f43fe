"""The supervisor graph's state: one workflow, checkpointed under thread id = workflow id.

Values are plain JSON data (no pydantic objects) so any checkpoint serializer, encrypted or
not, round-trips them, and an old checkpoint stays readable after a model changes.
"""

from __future__ import annotations

import operator
from enum import StrEnum
from typing import Annotated, Any, TypedDict


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later keys win, earlier keys stay."""
    return {**(left or {}), **(right or {})}


class Status(StrEnum):
    """What a client sees of a workflow."""

    RUNNING = "running"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.REJECTED, Status.CANCELLED})


class SupervisorState(TypedDict, total=False):
    """One workflow as the supervisor graph sees it."""

    workflow_id: str
    """Also the LangGraph thread id."""
    input_kind: str
    """requirements | compose | prompt."""
    submitted_by: str
    """Principal id of the submitter."""
    tenant: str
    """The submitter's tenant ('' for none); published charts are looked up within it."""
    options: dict[str, Any]
    """Submit options (auto_approve and who granted it in auto_approved_by, name)."""
    name: str
    """Chart name, known after intake."""
    phase: str
    """The step the workflow is in, for clients."""
    status: str
    """Set only when the workflow ends: completed | failed | rejected | cancelled."""
    refs: Annotated[dict[str, Any], merge_dicts]
    """Artifact references by kind (input, plan.approved, chart.N, ...)."""
    attempts: Annotated[dict[str, int], merge_dicts]
    """Last attempt dispatched per swarm."""
    waiting: dict[str, Any] | None
    """The swarm call in flight: swarm, attempt, deadline, request (for re-dispatch)."""
    result: dict[str, Any] | None
    """The last swarm answer the await node received."""
    plan_kind: str | None
    """Artifact kind of the planner's plan."""
    chart_kind: str | None
    """Artifact kind of the latest chart."""
    report_kind: str | None
    """Artifact kind of the latest validation report."""
    validation: dict[str, Any] | None
    """Summary of the latest validation (passed, passRate, errors, warnings)."""
    feedback: list[dict[str, Any]]
    """Findings fed back to the generator on a fix-loop attempt."""
    fix_attempts: int
    """Generation re-runs spent on findings so far."""
    retries: Annotated[dict[str, int], merge_dicts]
    """Transient-failure re-dispatches spent per step."""
    approvals: Annotated[dict[str, str], merge_dicts]
    """Gate -> approved | edited | rejected."""
    decisions: Annotated[dict[str, dict[str, Any]], merge_dicts]
    """Gate -> {decision, by (a principal, or who allowed an auto-approval), auto}."""
    comments: Annotated[dict[str, str], merge_dicts]
    """Gate -> the reviewer's comment."""
    audit: Annotated[list[dict[str, Any]], operator.add]
    """Every gate decision applied, in order (store.AuditEntry fields); the gateway logs them."""
    error: dict[str, Any] | None
    """An ErrorContext not yet handled; routes to error_handler."""
    failed_step: str | None
    """The node to re-run when an error is retried."""
    last_error: dict[str, Any] | None
    """The ErrorContext that failed the workflow, kept for clients."""
    published: dict[str, Any] | None
    """The packaged chart: name, version, archive file name."""
