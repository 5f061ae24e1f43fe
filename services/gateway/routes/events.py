"""A workflow's progress as server-sent events (the tenant-wide feed is `/v1/events` in
`webhooks.py`, beside the subscriptions it shares its patterns with).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import (
    APIRouter,
    Header,
    Query,
    Response,
)
from fastapi.responses import StreamingResponse
from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from services.gateway.routes.common import NOT_FOUND, Existing, SupervisorDep
from services.gateway.state import TERMINAL
from services.gateway.supervisor import Supervisor

router = APIRouter()


_log = logging.getLogger(__name__)


SSE_POLL_SECONDS = 0.25


SSE_KEEPALIVE_SECONDS = 15.0


TERMINAL_EVENTS = {f"workflow.{s.value}" for s in TERMINAL}


@router.get(
    "/v1/workflows/{workflow_id}/events",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {
            "content": {"text/event-stream": {}},
            "description": (
                "Server-Sent Events: `id`, `event` (the notice's type), `data` (its JSON)."
            ),
        },
    },
    summary="Progress as Server-Sent Events",
)
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
