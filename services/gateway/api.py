"""The HTTP API: workflows, decisions, progress (SSE), charts, time travel, probes, metrics.

Every route depends on `authorize(...)`; handlers stay thin and leave the work to the
Supervisor. Input is validated synchronously (intake) so a bad spec is refused with a 422 that
names the field before anything is stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import nats.errors
import psycopg
import psycopg_pool
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from services.gateway.auth import Principal, Role, authorize
from services.gateway.config import OFFLINE_MODEL, GatewaySettings
from services.gateway.guards import (
    CURSOR_PATTERN,
    NO_NUL_PATTERN,
    WorkflowId,
    check_size,
    precheck_components,
)
from services.gateway.keys import KeyError_, KeyStore
from services.gateway.models import (
    AuditList,
    AuditView,
    DecisionRequest,
    Health,
    History,
    KeyCreated,
    KeyList,
    KeyRequest,
    KeyView,
    PendingGate,
    Problem,
    PublishedChart,
    Readiness,
    ReplayRequest,
    SubmitRequest,
    SubmitResponse,
    WorkflowList,
    WorkflowView,
    check_env,
)
from services.gateway.state import TERMINAL, Status
from services.gateway.store import WorkflowRecord
from services.gateway.supervisor import (
    GateNotPending,
    NotCancellable,
    NothingToReplay,
    ReplayLimit,
    Supervisor,
    WorkflowNotFound,
)
from shared import artifacts as kinds
from shared.errors import InputError
from shared.gates import AutoApprovable, Gate
from shared.models.plan import ImportNote

SSE_POLL_SECONDS = 0.25
SSE_KEEPALIVE_SECONDS = 15.0
TERMINAL_EVENTS = {f"workflow.{s.value}" for s in TERMINAL}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such workflow."}
}

router = APIRouter()
probes = APIRouter()

Submitter = Annotated[Principal, Depends(authorize(Role.SUBMITTER))]
Approver = Annotated[Principal, Depends(authorize(Role.APPROVER))]
Admin = Annotated[Principal, Depends(authorize(Role.ADMIN))]
Reader = Annotated[Principal, Depends(authorize(None))]

_log = logging.getLogger(__name__)


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
        raise HTTPException(404, f"no workflow {workflow_id}")
    return record


Existing = Annotated[WorkflowRecord, Depends(existing)]


def invalid(source: str, exc: InputError) -> RequestValidationError:
    """An intake error as FastAPI's 422, its location naming the field."""
    loc: list[str | int] = ["body", source]
    if exc.field and exc.field != "input":
        loc += exc.field.split(".")
    return RequestValidationError(
        [{"type": "value_error", "loc": tuple(loc), "msg": exc.message, "input": None}]
    )


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


# --------------------------------------------------------------------------- workflows


def _input_files(body: SubmitRequest, settings: GatewaySettings) -> tuple[str, dict[str, bytes]]:
    """Run intake on the submitted input: its kind and the files of the `input` artifact."""
    from services.planner.intake import intake, parse_requirements

    if body.prompt is not None:
        if settings.model == OFFLINE_MODEL:
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("body", "prompt"), "input": None,
                  "msg": "plain-language prompts need a model (set AUTOPILOT_MODEL); offline, "
                         "send 'requirements' (a native spec) or 'compose' (a Docker Compose file)"}]
            )  # fmt: skip
        return "prompt", {kinds.PROMPT_FILE: body.prompt.encode()}
    notes: list[ImportNote] = []
    if body.requirements is not None:
        precheck_components(body.requirements, settings)
        try:
            requirements = parse_requirements(body.requirements)
        except InputError as exc:
            raise invalid("requirements", exc) from exc
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
            raise invalid("compose", exc) from exc
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
        else {"how": "role", "principal": principal.id, "principal_tenant": principal.tenant,
              "role": principal.top_role and principal.top_role.value}
        for gate, who in granted.items()
    }  # fmt: skip


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
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", *field.split(".", 1)), "msg": message,
              "input": None}]
        )  # fmt: skip
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


@router.post(
    "/v1/workflows/{workflow_id}/decisions",
    response_model=WorkflowView,
    responses={
        **NOT_FOUND,
        409: {"model": Problem, "description": "That gate is not pending."},
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
    try:
        updated = await supervisor.decide(record.id, body, principal)
    except GateNotPending as exc:
        raise HTTPException(409, str(exc)) from exc
    except InputError as exc:
        raise invalid(exc.field.split(".")[0] if exc.field else "changes", _strip(exc)) from exc
    return view(updated)


def _strip(exc: InputError) -> InputError:
    """The error with its first field segment removed (it becomes the location's source)."""
    rest = exc.field.split(".", 1)[1] if exc.field and "." in exc.field else None
    return InputError(exc.message, field=rest)


@router.get(
    "/v1/workflows/{workflow_id}/events",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"text/event-stream": {}},
                                  "description": "Server-Sent Events: `id`, `event` (the "
                                  "notice's type), `data` (its JSON)."}},
    summary="Progress as Server-Sent Events",
)  # fmt: skip
async def events(
    record: Existing,
    supervisor: SupervisorDep,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d{0,18}$")] = None,
    follow: Annotated[bool, Query(description="Keep streaming until the workflow ends.")] = True,
) -> Response:
    """Every event after `Last-Event-ID`, then live ones until the workflow ends."""
    # A plain streaming response: Starlette stops it when the client hangs up, where FastAPI's
    # SSE helper logs a BrokenResourceError traceback from its keep-alive task.
    stream = _event_stream(supervisor, record.id, int(last_event_id or 0), follow)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    supervisor: Supervisor, workflow_id: str, last: int, follow: bool
) -> AsyncIterator[bytes]:
    """The event log after `last` as SSE frames, then live ones (polled) while following."""
    last_type = ""
    bound = supervisor.settings.sse_max_seconds
    until = time.monotonic() + bound if bound else None
    idle_since = time.monotonic()
    while True:
        # Shielded: a client that leaves cancels this generator, and a query cancelled half-way
        # costs the pool its connection (and logs a warning); let it finish instead.
        rows = await asyncio.shield(supervisor.store.events_after(workflow_id, last))
        for row in rows:
            last, last_type = row.id, row.type
            data = json.dumps(row.data, separators=(",", ":"), default=str)
            yield format_sse_event(data_str=data, event=row.type, id=str(row.id))
        if rows:
            idle_since = time.monotonic()
            continue
        if not follow:
            return
        current = await asyncio.shield(supervisor.store.get(workflow_id))
        if current is None or (current.status in TERMINAL and last_type in TERMINAL_EVENTS):
            return
        if until is not None and time.monotonic() > until:
            return  # an EventSource reconnects with Last-Event-ID
        if time.monotonic() - idle_since > SSE_KEEPALIVE_SECONDS:
            idle_since = time.monotonic()
            yield KEEPALIVE_COMMENT  # proxies keep an idle stream open
        await asyncio.sleep(SSE_POLL_SECONDS)


@router.get(
    "/v1/workflows/{workflow_id}/chart.tgz",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"application/gzip": {}},
                                  "description": "The `helm package` archive."}},
    summary="The packaged chart",
)  # fmt: skip
async def chart_archive(record: Existing, supervisor: SupervisorDep, principal: Reader) -> Response:
    """The archive `helm package` made at publish (404 until then)."""
    files = await supervisor.deps.artifacts.get_files(record.id, kinds.CHART_TGZ)
    if not files:
        raise HTTPException(404, f"workflow {record.id} has not published a chart")
    name, data = next(iter(files.items()))
    return Response(
        data,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def safe_path(path: str) -> str:
    """A chart-relative path, or 400 for absolute paths and `..` segments."""
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or not path.strip("/"):
        raise HTTPException(400, "the path must be relative to the chart and stay inside it")
    return "/".join(p for p in parts if p not in ("", "."))


@router.get(
    "/v1/workflows/{workflow_id}/files/{path:path}",
    response_class=Response,
    responses={**NOT_FOUND, 400: {"model": Problem, "description": "Path leaves the chart."},
               200: {"content": {"text/plain": {}, "application/octet-stream": {}},
                     "description": "One file of the latest chart."}},
    summary="A file of the latest chart",
)  # fmt: skip
async def chart_file(
    record: Existing, path: str, supervisor: SupervisorDep, principal: Reader
) -> Response:
    """One file of the latest generated chart, by its path inside the chart."""
    rel = safe_path(path)
    if not record.chart_kind:
        raise HTTPException(404, f"workflow {record.id} has no chart yet")
    files = await supervisor.deps.artifacts.get_files(record.id, record.chart_kind)
    if rel not in files:
        raise HTTPException(404, f"no file {rel} in the chart")
    media = mimetypes.guess_type(rel)[0] or "text/plain"
    if rel.endswith((".yaml", ".yml", ".tpl", ".txt", ".md", ".helmignore")):
        media = "text/plain; charset=utf-8"
    return Response(files[rel], media_type=media)


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
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "Nothing to re-run there, "
                                  "the workflow was cancelled, or its replays are used up."}},
    summary="Re-run from a checkpoint (time travel)",
)  # fmt: skip
async def replay(
    record: Existing,
    body: ReplayRequest,
    principal: Admin,
    supervisor: SupervisorDep,
    response: Response,
) -> WorkflowView:
    """Fork the workflow at a checkpoint and run from there (at most AUTOPILOT_MAX_REPLAYS
    times); a chart it publishes again is versioned `<version>+replay.N`."""
    try:
        updated = await supervisor.replay(record.id, body.checkpoint_id)
    except WorkflowNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except (NothingToReplay, ReplayLimit) as exc:
        raise HTTPException(409, str(exc)) from exc
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
    try:
        updated = await supervisor.cancel(record.id, principal.id)
    except NotCancellable as exc:
        raise HTTPException(409, str(exc)) from exc
    return view(updated)


# --------------------------------------------------------------------------- probes


@probes.get("/healthz", response_model=Health, summary="Liveness")
async def healthz(principal: Reader) -> Health:
    """The process answers."""
    return Health()


@probes.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is down."}},
    summary="Readiness: NATS and Postgres reachable",
)
async def readyz(principal: Reader, request: Request) -> Response:
    """200 when every dependency answers, 503 naming the ones that do not."""
    checks: dict[str, str] = {}
    for name, probe in request.app.state.probes.items():
        try:
            await asyncio.wait_for(probe(), timeout=3.0)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks[name] = f"down: {type(exc).__name__}: {exc}"[:300]
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@probes.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics",
)
async def metrics(principal: Reader, supervisor: SupervisorDep) -> Response:
    """Workflow, gate, reconciler, JetStream and HTTP metrics."""
    try:
        await supervisor.refresh_gauges()
    except Exception as exc:  # noqa: BLE001 - a scrape still gets the counters
        _log.warning("could not refresh the gate and backlog gauges: %s", exc)
    return Response(
        supervisor.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


def install_timing(app: FastAPI) -> None:
    """Observe every request's latency by route template (never by raw path)."""

    @app.middleware("http")
    async def timing(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        supervisor = getattr(request.app.state, "supervisor", None)
        if supervisor is not None and template != "/v1/workflows/{workflow_id}/events":
            supervisor.metrics.http.labels(
                request.method, template, str(response.status_code)
            ).observe(time.perf_counter() - started)
        return response


# Dependencies that come back by themselves (a Postgres or NATS restart): the caller should
# retry, not treat the request as broken.
UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.TimeoutError,
)


def install_unavailable(app: FastAPI) -> None:
    """Answer 503 with Retry-After while Postgres or NATS is away, instead of a bare 500."""

    async def unavailable(request: Request, exc: Exception) -> Response:
        _log.warning("%s %s: dependency unavailable: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": f"a dependency is unavailable ({type(exc).__name__}); retry shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    for exc_type in UNAVAILABLE:
        app.add_exception_handler(exc_type, unavailable)


# --------------------------------------------------------------------------- keys and audit


def key_scope(principal: Principal) -> tuple[str | None, bool]:
    """(tenant, every): a global admin manages every key, a tenant's admin its tenant's."""
    return principal.tenant, is_global_admin(principal)


def stored_keys(request: Request) -> KeyStore:
    """The key store, or 409 when keys cannot be stored here (no pepper)."""
    keys: KeyStore | None = getattr(request.app.state, "keys", None)
    if keys is None or not keys.hasher.enabled:
        raise HTTPException(
            409,
            "stored API keys need LANGGRAPH_AES_KEY or AUTOPILOT_API_KEY_PEPPER on the gateway",
        )
    return keys


@router.post(
    "/v1/keys",
    status_code=201,
    response_model=KeyCreated,
    responses={403: {"model": Problem, "description": "Not an admin, or another tenant's key."},
               409: {"model": Problem, "description": "The name is another principal's."}},
    summary="Create an API key (admin)",
)  # fmt: skip
async def create_key(body: KeyRequest, principal: Admin, request: Request) -> KeyCreated:
    """Store a new key's hash; the key itself is in this answer only."""
    tenant, every = key_scope(principal)
    if not every and body.tenant != tenant:
        raise HTTPException(403, f"an admin of tenant {tenant} creates keys of that tenant only")
    settings = get_settings(request)
    if any(p.get("id") == body.name for p in settings.api_keys.values()):
        raise HTTPException(409, f"{body.name} is a principal of AUTOPILOT_API_KEYS")
    keys = stored_keys(request)
    try:
        row, key = await keys.create(body.name, Role(body.role), body.tenant, principal.id)
    except KeyError_ as exc:
        raise HTTPException(409, str(exc)) from exc
    return KeyCreated(**row.model_dump(), key=key)


@router.get("/v1/keys", response_model=KeyList, summary="List API keys (admin)")
async def list_keys(principal: Admin, request: Request) -> KeyList:
    """Every stored key the admin manages, revoked ones too; never a key or its hash."""
    tenant, every = key_scope(principal)
    keys: KeyStore | None = getattr(request.app.state, "keys", None)
    rows = await keys.search(tenant, every=every) if keys is not None else []
    return KeyList(items=[KeyView.model_validate(r.model_dump()) for r in rows])


@router.delete(
    "/v1/keys/{name_or_id}",
    response_model=KeyList,
    responses={404: {"model": Problem, "description": "No active key of that name or id."}},
    summary="Revoke API keys by name or id (admin)",
)
async def revoke_key(
    name_or_id: Annotated[str, Path(max_length=64)], principal: Admin, request: Request
) -> KeyList:
    """Revoke at once: the next request with the key gets 401."""
    tenant, every = key_scope(principal)
    keys: KeyStore | None = getattr(request.app.state, "keys", None)
    rows = await keys.revoke(name_or_id, principal.id, tenant, every=every) if keys else []
    if not rows:
        raise HTTPException(404, f"no active key named or with id {name_or_id}")
    return KeyList(items=[KeyView.model_validate(r.model_dump()) for r in rows])


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
        tenant=tenant, workflow_id=workflow_id, limit=limit + 1,
        before_seq=int(cursor) if cursor else None,
    )  # fmt: skip
    page = rows[:limit]
    more = len(rows) > limit
    return AuditList(
        items=[AuditView.model_validate(e.model_dump()) for e in page],
        next_cursor=str(page[-1].seq) if more and page else None,
    )
