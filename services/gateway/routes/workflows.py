"""Workflows: submit (input validated synchronously, so a bad spec is a 422 naming the field
before anything is stored), list, get, history, replay (time travel), cancel.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    HTTPException,
    Query,
    Request,
    Response,
)

from services.gateway.auth import Principal, Role
from services.gateway.config import OFFLINE_MODEL, GatewaySettings
from services.gateway.guards import (
    CURSOR_PATTERN,
    NO_NUL_PATTERN,
    check_size,
    precheck_components,
    unprocessable,
)
from services.gateway.models import (
    History,
    Problem,
    ReplayRequest,
    SubmitRequest,
    SubmitResponse,
    WorkflowList,
    WorkflowView,
    check_env,
)
from services.gateway.routes.common import (
    NOT_FOUND,
    Admin,
    Existing,
    Reader,
    Submitter,
    SupervisorDep,
    get_settings,
    is_global_admin,
    view,
)
from services.gateway.state import Status
from shared import artifacts as kinds
from shared.errors import InputError
from shared.gates import AutoApprovable
from shared.models.plan import ImportNote

router = APIRouter()


_PROMPT_NEEDS_MODEL = (
    "plain-language prompts need a model (set AUTOPILOT_MODEL); offline, "
    "send 'requirements' (a native spec) or 'compose' (a Docker Compose file)"
)


def _input_files(body: SubmitRequest, settings: GatewaySettings) -> tuple[str, dict[str, bytes]]:
    """Run intake on the submitted input: its kind and the files of the `input` artifact."""
    from services.planner.intake import intake, parse_requirements

    if body.prompt is not None:
        if settings.model == OFFLINE_MODEL:
            raise unprocessable(("prompt",), _PROMPT_NEEDS_MODEL)
        return "prompt", {kinds.PROMPT_FILE: body.prompt.encode()}
    notes: list[ImportNote] = []
    if body.requirements is not None:
        precheck_components(body.requirements, settings)
        try:
            requirements = parse_requirements(body.requirements)
        except InputError as exc:
            raise exc.under("requirements") from exc
        kind = "requirements"
    else:
        try:
            # Only what the request carries fills `${VAR}`: never this server's environment.
            taken = intake(
                body.compose or "",
                name=body.name or body.options.name,
                environ=body.env or {},
                dotenv=body.dotenv,
                max_services=settings.max_components,
            )
        except InputError as exc:
            raise exc.under("compose") from exc
        requirements, notes, kind = taken.requirements, taken.notes, "compose"
    check_size(requirements, kind, settings)
    notes_json = "[" + ",".join(n.model_dump_json(by_alias=True) for n in notes) + "]"
    return kind, {
        kinds.REQUIREMENTS_FILE: requirements.model_dump_json(by_alias=True).encode(),
        kinds.NOTES_FILE: notes_json.encode(),
    }


def auto_approvals(
    asked: list[AutoApprovable], principal: Principal, settings: GatewaySettings
) -> dict[str, str]:
    """Gate -> who allowed passing it without a reviewer: the admin's policy for the tenant,
    or an approver or admin who asked; a submitter asking is refused (403 naming the field)."""
    policy = settings.auto_approve
    tenant = principal.tenant or ""
    granted = {
        gate.value: f"policy (AUTOPILOT_AUTO_APPROVE for tenant {tenant or '-'})"
        for gate in [*policy.get("*", []), *policy.get(tenant, [])]
    }
    wanted = [gate.value for gate in asked if gate.value not in granted]
    if not wanted:
        return granted
    if not principal.has(Role.APPROVER):
        raise HTTPException(
            403,
            f"options.auto_approve: {', '.join(wanted)} may be auto-approved only by the "
            "approver or admin role or by the admin's AUTOPILOT_AUTO_APPROVE policy; leave it "
            "out and a reviewer decides at the gate",
        )
    if not settings.self_approval():
        raise HTTPException(
            403,
            f"options.auto_approve: {', '.join(wanted)} would be approved by {principal.id}, who "
            "submits the workflow, and self-approval is off (AUTOPILOT_ALLOW_SELF_APPROVAL); "
            "leave it out and another approver decides, or ask an admin for a policy",
        )
    role = Role.ADMIN if Role.ADMIN in principal.roles else Role.APPROVER
    return {**granted, **{g: f"{principal.id} (auto-approve by role {role})" for g in wanted}}


def grant_details(granted: dict[str, str], principal: Principal) -> dict[str, dict[str, Any]]:
    """Gate -> how its auto-approval was allowed, for the audit log (policy or the role)."""
    return {
        gate: {"how": "policy", "principal": "policy", "role": "admin", "principal_tenant": None}
        if who.startswith("policy")
        else {
            "how": "role",
            "principal": principal.id,
            "principal_tenant": principal.tenant,
            "role": principal.top_role and principal.top_role.value,
        }
        for gate, who in granted.items()
    }


@router.post(
    "/v1/workflows",
    status_code=202,
    response_model=SubmitResponse,
    responses={
        403: {"model": Problem, "description": "options.auto_approve needs the approver role."},
        413: {"model": Problem, "description": "Body, env or dotenv too large."},
    },
    summary="Submit a spec, a Compose file or a prompt",
)
async def submit(
    body: SubmitRequest,
    principal: Submitter,
    supervisor: SupervisorDep,
    request: Request,
    response: Response,
) -> SubmitResponse:
    """Validate the input, store it and start the workflow; it runs on after the 202."""
    settings = get_settings(request)
    if bad := check_env(body):
        code, field, message = bad
        if code == 413:
            raise HTTPException(413, f"{field}: {message}")
        raise unprocessable(tuple(field.split(".", 1)), message)
    granted = auto_approvals(body.options.auto_approve, principal, settings)
    # Intake parses untrusted YAML; off the event loop so a big file never stalls other calls.
    kind, files = await asyncio.to_thread(_input_files, body, settings)
    options = body.options.model_dump(mode="json")
    options["auto_approve"] = sorted(granted)
    options["auto_approved_by"] = granted
    options["auto_approval"] = grant_details(granted, principal)
    if body.name and not options.get("name"):
        options["name"] = body.name
    record = await supervisor.submit(
        input_kind=kind,
        files=files,
        options=options,
        submitted_by=principal.id,
        tenant=principal.tenant,
    )
    response.headers["Location"] = f"/v1/workflows/{record.id}"
    return SubmitResponse(id=record.id, status=Status(record.status))


@router.get("/v1/workflows", response_model=WorkflowList, summary="List workflows")
async def list_workflows(
    principal: Reader,
    supervisor: SupervisorDep,
    status: Annotated[Status | None, Query()] = None,
    input_kind: Annotated[str | None, Query(pattern="^(requirements|compose|prompt)$")] = None,
    submitted_by: Annotated[str | None, Query(max_length=200, pattern=NO_NUL_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> WorkflowList:
    """Newest first; pass `next_cursor` back as `cursor` for the next page."""
    tenant = None if is_global_admin(principal) else principal.tenant or ""
    if tenant is not None and not principal.has(Role.APPROVER):
        submitted_by = principal.id
    rows = await supervisor.store.search(
        status=status.value if status else None,
        input_kind=input_kind,
        submitted_by=submitted_by,
        limit=limit + 1,
        before_seq=int(cursor) if cursor else None,
        tenant=tenant,
    )
    page = rows[:limit]
    more = len(rows) > limit
    return WorkflowList(
        items=[view(r) for r in page], next_cursor=str(page[-1].seq) if more and page else None
    )


@router.get(
    "/v1/workflows/{workflow_id}",
    response_model=WorkflowView,
    responses=NOT_FOUND,
    summary="A workflow's status",
)
async def get_workflow(record: Existing) -> WorkflowView:
    """Status, phase, the pending gate with what the reviewer needs, validation, error."""
    return view(record)


@router.get(
    "/v1/workflows/{workflow_id}/history",
    response_model=History,
    responses=NOT_FOUND,
    summary="The supervisor's checkpoints",
)
async def history(record: Existing, supervisor: SupervisorDep) -> History:
    """Checkpoints newest first: id, the node that wrote it, what runs next, time."""
    return History(id=record.id, checkpoints=await supervisor.history(record.id))


@router.post(
    "/v1/workflows/{workflow_id}/replay",
    status_code=202,
    response_model=WorkflowView,
    responses={
        **NOT_FOUND,
        409: {
            "model": Problem,
            "description": (
                "Nothing to re-run there, the workflow was cancelled, or its replays are used up."
            ),
        },
    },
    summary="Re-run from a checkpoint (time travel)",
)
async def replay(
    record: Existing,
    body: ReplayRequest,
    principal: Admin,
    supervisor: SupervisorDep,
    response: Response,
) -> WorkflowView:
    """Fork the workflow at a checkpoint and run from there (at most AUTOPILOT_MAX_REPLAYS
    times); a chart it publishes again is versioned `<version>+replay.N`."""
    updated = await supervisor.replay(record.id, body.checkpoint_id)
    response.headers["Location"] = f"/v1/workflows/{record.id}"
    return view(updated)


@router.post(
    "/v1/workflows/{workflow_id}/cancel",
    response_model=WorkflowView,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "The workflow already ended."}},
    summary="Cancel a running or waiting workflow",
)
async def cancel(record: Existing, principal: Reader, supervisor: SupervisorDep) -> WorkflowView:
    """End the workflow as `cancelled`: its gate closes and swarm work still under way is
    ignored when it comes back. Its submitter, or an approver or admin of its tenant."""
    if record.submitted_by != principal.id and not principal.has(Role.APPROVER):
        raise HTTPException(403, "only the submitter or an approver of its tenant may cancel it")
    return view(await supervisor.cancel(record.id, principal.id))
