"""Notifications on the API: webhook subscriptions (`/v1/webhooks`) and the event feed (`/v1/events`).

Approvers and admins manage their tenant's subscriptions (a global admin sees every tenant's);
the notifier service (`services.notifier`) delivers them. `/v1/events` streams the notification
log of every workflow the caller may see as Server-Sent Events; `autopilot events -f` reads it.
It is read from the gateway's Postgres event log, not NATS, so a remote user needs only the
gateway's URL and a key, and `Last-Event-ID` resumes exactly where a dropped stream stopped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.sse import ServerSentEvent, format_sse_event
from pydantic import BaseModel, Field

from services.gateway.auth import Principal, Role, authorize
from services.gateway.config import GatewaySettings
from shared.infra.webhooks import FeedEvent, Webhook, WebhookStore
from shared.webhooks import (
    MAX_PATTERNS,
    WebhookError,
    WebhookFormat,
    check_patterns,
    check_secret,
    check_url,
    matches_any,
)

FEED_POLL_SECONDS = 0.5
# A followed feed has no natural end: it closes after this long (or AUTOPILOT_SSE_MAX_SECONDS)
# and the client resumes with Last-Event-ID, so no connection is held forever.
FEED_MAX_SECONDS = 300.0
FEED_PAGE = 200

router = APIRouter()
Approver = Annotated[Principal, Depends(authorize(Role.APPROVER))]
Reader = Annotated[Principal, Depends(authorize(None))]


class WebhookRequest(BaseModel):
    """A new subscription: where to post which events, signed with which secret."""

    url: str = Field(max_length=2000, examples=["https://hooks.example.com/autopilot"])
    secret: str = Field(
        max_length=256, description="Signs every request (X-Autopilot-Signature); never returned."
    )
    events: list[str] = Field(
        default_factory=lambda: ["gate.*", "workflow.*"],
        max_length=MAX_PATTERNS,
        description="Patterns over event types: gate.*, gate.*.pending, workflow.completed, *.",
    )
    format: WebhookFormat = Field(
        default=WebhookFormat.CLOUDEVENTS,
        description="cloudevents: CloudEvents 1.0 JSON (structured mode); slack: {'text': ...}.",
    )


class WebhookView(BaseModel):
    """A subscription as listed: its delivery counts, never its secret."""

    id: str
    tenant: str | None = None
    url: str
    events: list[str]
    format: WebhookFormat
    created_by: str
    created_at: str
    delivered: int = 0
    dead_lettered: int = 0
    last_outcome: str | None = None
    last_error: str | None = None


class WebhookList(BaseModel):
    """Subscriptions, oldest first."""

    items: list[WebhookView]


def _view(row: Webhook) -> WebhookView:
    """A stored webhook as the API lists it: no secret, an empty tenant shown as null."""
    data = row.model_dump(mode="json")
    data["tenant"] = row.tenant or None
    return WebhookView.model_validate(data)


def webhook_store(request: Request) -> WebhookStore:
    """The subscription store, or 409 when this gateway runs without one."""
    store: WebhookStore | None = getattr(request.app.state, "webhooks", None)
    if store is None:
        raise HTTPException(409, "webhooks need the gateway's Postgres store")
    return store


Store = Annotated[WebhookStore, Depends(webhook_store)]


def scope(principal: Principal) -> str | None:
    """The tenant a principal manages ('' for none); None for a global admin (every tenant)."""
    if Role.ADMIN in principal.roles and principal.tenant is None:
        return None
    return principal.tenant or ""


def allow_private(settings: GatewaySettings) -> bool:
    """Whether subscriptions may point at loopback or private addresses."""
    explicit = settings.webhook_allow_private
    return settings.local_mode if explicit is None else explicit


def _invalid(exc: WebhookError) -> RequestValidationError:
    """A refused webhook field as FastAPI's 422, its dotted field as `loc` under "body"."""
    loc: tuple[str | int, ...] = (
        "body",
        *[int(p) if p.isdigit() else p for p in exc.field.split(".")],
    )
    return RequestValidationError(
        [{"type": "value_error", "loc": loc, "msg": str(exc), "input": None}]
    )


@router.post(
    "/v1/webhooks",
    status_code=201,
    response_model=WebhookView,
    summary="Subscribe a URL to notifications (approver)",
    tags=["notifications"],
)
async def create_webhook(
    body: WebhookRequest, principal: Approver, request: Request, store: Store
) -> WebhookView:
    """Validate the URL, patterns and secret; store the secret encrypted; answer without it."""
    settings: GatewaySettings = request.app.state.settings
    try:
        url = check_url(body.url, allow_private=allow_private(settings))
        events = check_patterns(body.events)
        secret = check_secret(body.secret)
    except WebhookError as exc:
        raise _invalid(exc) from exc
    row = await store.create(
        tenant=principal.tenant or "",
        url=url,
        events=events,
        format=body.format,
        secret=secret,
        created_by=principal.id,
    )
    return _view(row)


@router.get(
    "/v1/webhooks",
    response_model=WebhookList,
    summary="List notification subscriptions (approver)",
    tags=["notifications"],
)
async def list_webhooks(principal: Approver, store: Store) -> WebhookList:
    """The tenant's subscriptions (every tenant's for a global admin), never a secret."""
    return WebhookList(items=[_view(r) for r in await store.search(scope(principal))])


@router.delete(
    "/v1/webhooks/{webhook_id}",
    response_model=WebhookView,
    summary="Delete a notification subscription (approver)",
    tags=["notifications"],
)
async def delete_webhook(
    webhook_id: Annotated[str, Path(pattern=r"^wh_[0-9a-f]{12}$")],
    principal: Approver,
    store: Store,
) -> WebhookView:
    """Stop delivering at once (deliveries in flight for it are dropped)."""
    row = await store.delete(webhook_id, scope(principal))
    if row is None:
        raise HTTPException(404, f"no webhook {webhook_id}")
    return _view(row)


def _feed_event(event: FeedEvent) -> ServerSentEvent:
    """One notification of the feed as a Server-Sent Event (`id`, `event`, JSON `data`)."""
    data = {
        "id": event.id,
        "type": event.type,
        "workflow_id": event.workflow_id,
        "time": event.time.isoformat(),
        "data": event.data,
    }
    return ServerSentEvent(id=str(event.id), event=event.type, data=data)


def feed_patterns(
    events: Annotated[
        list[str] | None,
        Query(max_length=MAX_PATTERNS, description="Event patterns (gate.*, workflow.completed)."),
    ] = None,
) -> list[str]:
    """The feed's patterns, checked before the stream starts (a 422 cannot follow a 200)."""
    try:
        return check_patterns(events) if events else ["*"]
    except WebhookError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "events"), "msg": str(exc), "input": None}]
        ) from exc


@router.get(
    "/v1/events",
    response_class=Response,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events: `id`, `event` (the type), `data`.",
        }
    },
    summary="Notifications of every visible workflow as Server-Sent Events",
    tags=["notifications"],
)
async def feed(
    request: Request,
    principal: Reader,
    store: Store,
    patterns: Annotated[list[str], Depends(feed_patterns)],
    follow: Annotated[bool, Query(description="Keep streaming new events.")] = True,
    after: Annotated[
        int | None, Query(ge=0, le=10**18, description="Events after this id (0: all).")
    ] = None,
    tail: Annotated[
        int, Query(ge=0, le=1000, description="Without `after`: how many past events first.")
    ] = 0,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d{0,18}$")] = None,
) -> Response:
    """Submitters see their own workflows' events, approvers their tenant's, global admins all."""
    # A plain streaming response: Starlette stops it when the client hangs up, where FastAPI's
    # SSE helper logs a BrokenResourceError traceback from its keep-alive task.
    events = _feed(request, principal, store, patterns, follow, after, tail, last_event_id)
    return StreamingResponse(
        (_frame(e) async for e in events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _frame(event: ServerSentEvent) -> bytes:
    """One SSE frame."""
    data = json.dumps(event.data, separators=(",", ":"), default=str)
    return format_sse_event(data_str=data, event=event.event, id=event.id)


async def _feed(
    request: Request,
    principal: Principal,
    store: WebhookStore,
    patterns: list[str],
    follow: bool,
    after: int | None,
    tail: int,
    last_event_id: str | None,
) -> AsyncIterator[ServerSentEvent]:
    """The feed's events in the principal's scope, then live ones while following."""
    tenant = scope(principal) if principal.has(Role.APPROVER) else principal.tenant or ""
    by = None if principal.has(Role.APPROVER) else principal.id
    cursor = int(last_event_id) if last_event_id else after
    if cursor is None:
        # Tail: start after the newest event in scope, `tail` events earlier if asked.
        recent = await asyncio.shield(
            store.feed(0, tenant=tenant, submitted_by=by, limit=max(tail, 1), newest=True)
        )
        shown = recent[-tail:] if tail else []
        cursor = shown[0].id - 1 if shown else (recent[-1].id if recent else 0)
    until = time.monotonic() + (
        getattr(request.app.state.settings, "sse_max_seconds", 0) or FEED_MAX_SECONDS
    )
    while True:
        # Shielded: a client that leaves must not cancel a query half-way (see api.events).
        rows = await asyncio.shield(
            store.feed(cursor, tenant=tenant, submitted_by=by, limit=FEED_PAGE)
        )
        for row in rows:
            cursor = row.id
            if matches_any(patterns, row.type):
                yield _feed_event(row)
        if len(rows) == FEED_PAGE:
            continue
        if not follow or time.monotonic() > until:
            return
        await asyncio.sleep(FEED_POLL_SECONDS)
