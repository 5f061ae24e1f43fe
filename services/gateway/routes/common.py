"""What the routes share: who may call (role dependencies), the supervisor and settings of the
app, a workflow the caller may see (404 otherwise) and its view.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import (
    Depends,
    Request,
)

from services.gateway.auth import Principal, Role, authorize
from services.gateway.config import GatewaySettings
from services.gateway.guards import (
    WorkflowId,
)
from services.gateway.models import (
    PendingGate,
    Problem,
    PublishedChart,
    WorkflowView,
)
from services.gateway.state import Status
from services.gateway.store import WorkflowRecord
from services.gateway.supervisor import Supervisor
from shared.errors import WorkflowNotFound

_log = logging.getLogger(__name__)


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such workflow."}
}


Submitter = Annotated[Principal, Depends(authorize(Role.SUBMITTER))]


Approver = Annotated[Principal, Depends(authorize(Role.APPROVER))]


Admin = Annotated[Principal, Depends(authorize(Role.ADMIN))]


Reader = Annotated[Principal, Depends(authorize(None))]


def get_supervisor(request: Request) -> Supervisor:
    """The app's supervisor (set by the lifespan)."""
    supervisor: Supervisor = request.app.state.supervisor
    return supervisor


def get_settings(request: Request) -> GatewaySettings:
    """The app's settings."""
    settings: GatewaySettings = request.app.state.settings
    return settings


SupervisorDep = Annotated[Supervisor, Depends(get_supervisor)]


def is_global_admin(principal: Principal) -> bool:
    """An admin of no tenant (the local user too): the only principal who sees every tenant."""
    return Role.ADMIN in principal.roles and principal.tenant is None


def visible(record: WorkflowRecord, principal: Principal) -> bool:
    """A workflow belongs to its submitter's tenant: submitters see their own, approvers and
    admins the tenant's ('' for principals without one), a global admin every tenant's."""
    if is_global_admin(principal):
        return True
    if record.tenant != (principal.tenant or ""):
        return False
    return principal.has(Role.APPROVER) or record.submitted_by == principal.id


async def existing(
    workflow_id: WorkflowId, supervisor: SupervisorDep, principal: Reader
) -> WorkflowRecord:
    """The workflow's row, or 404 (also for workflows the principal may not see)."""
    record = await supervisor.store.get(workflow_id)
    if record is None or not visible(record, principal):
        raise WorkflowNotFound(f"no workflow {workflow_id}")
    return record


Existing = Annotated[WorkflowRecord, Depends(existing)]


def view(record: WorkflowRecord) -> WorkflowView:
    """A row as the API shows it."""
    gate = record.pending_gate
    return WorkflowView(
        id=record.id,
        status=Status(record.status),
        phase=record.phase,
        input_kind=record.input_kind,
        submitted_by=record.submitted_by,
        name=record.name,
        created_at=record.created_at,
        updated_at=record.updated_at,
        finished_at=record.finished_at,
        pending_gate=PendingGate.model_validate(gate) if gate else None,
        validation=record.validation,
        error=record.error,
        comment=record.comment,
        decisions=record.decisions,
        chart=PublishedChart.model_validate(record.published) if record.published else None,
    )
