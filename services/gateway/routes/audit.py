"""The audit log of gate decisions (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    APIRouter,
    Query,
)

from services.gateway.models import (
    AuditList,
    AuditView,
)
from services.gateway.routes.common import Admin, SupervisorDep, is_global_admin

router = APIRouter()


@router.get("/v1/audit", response_model=AuditList, summary="Gate decisions (admin)")
async def audit(
    principal: Admin,
    supervisor: SupervisorDep,
    workflow_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> AuditList:
    """Newest first: a global admin reads every tenant's, a tenant's admin its tenant's."""
    tenant = None if is_global_admin(principal) else principal.tenant or ""
    rows = await supervisor.store.audit(
        tenant=tenant,
        workflow_id=workflow_id,
        limit=limit + 1,
        before_seq=int(cursor) if cursor else None,
    )
    page = rows[:limit]
    more = len(rows) > limit
    return AuditList(
        items=[AuditView.model_validate(e.model_dump()) for e in page],
        next_cursor=str(page[-1].seq) if more and page else None,
    )
