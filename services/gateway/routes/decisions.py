"""Decisions at a gate: approve, edit or reject (gates: shared/gates.py)."""

from __future__ import annotations

from fastapi import (
    APIRouter,
    HTTPException,
)

from services.gateway.models import (
    DecisionRequest,
    Problem,
    WorkflowView,
)
from services.gateway.routes.common import NOT_FOUND, Approver, Existing, SupervisorDep, view
from shared.gates import Gate

router = APIRouter()


@router.post(
    "/v1/workflows/{workflow_id}/decisions",
    response_model=WorkflowView,
    responses={
        **NOT_FOUND,
        409: {
            "model": Problem,
            "description": "That gate is not pending (the same reviewer repeating the approve or reject that passed it gets 200).",
        },
        403: {
            "model": Problem,
            "description": "Needs the approver role; or the caller submitted the workflow and "
            "self-approval is off.",
        },
    },
    summary="Decide at the pending gate",
)
async def decide(
    record: Existing, body: DecisionRequest, principal: Approver, supervisor: SupervisorDep
) -> WorkflowView:
    """approve, edit (planning_review: a JSON Patch or a merge keyed by component name, validated
    like a spec; error_review: answers) or reject."""
    if (
        record.submitted_by == principal.id
        and body.decision in ("approve", "edit")
        and body.gate != Gate.ERROR_REVIEW
        and not supervisor.settings.self_approval()
    ):
        raise HTTPException(
            403,
            f"{principal.id} submitted workflow {record.id} and may not approve it: another "
            "approver of the tenant decides (self-approval is off: AUTOPILOT_ALLOW_SELF_APPROVAL)",
        )
    return view(await supervisor.decide(record.id, body, principal))
