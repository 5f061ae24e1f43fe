"""What every request passes besides its route: latency by route template, and 503 with
Retry-After while Postgres or NATS is away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import psycopg
import psycopg_pool
from fastapi import (
    FastAPI,
    Request,
    Response,
)
from fastapi.responses import JSONResponse

_log = logging.getLogger(__name__)


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
