"""What every request passes besides its route: latency by route template, and 503 with
Retry-After while Postgres or NATS is away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import (
    FastAPI,
    Request,
    Response,
)
from fastapi.responses import JSONResponse

from shared.errors import UNAVAILABLE, foreign_classes, http_status

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


def install_unavailable(app: FastAPI) -> None:
    """Answer 503 with Retry-After while Postgres or NATS is away, instead of a bare 500: the
    exceptions whose row in `shared.errors.FOREIGN` says 503 (dependencies that come back by
    themselves; the caller should retry, not treat the request as broken)."""

    async def unavailable(request: Request, exc: Exception) -> Response:
        """The 503 (the status from the table) with Retry-After."""
        _log.warning("%s %s: dependency unavailable: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": f"a dependency is unavailable ({type(exc).__name__}); retry shortly"},
            status_code=http_status(exc),
            headers={"Retry-After": "1"},
        )

    for exc_type in foreign_classes(UNAVAILABLE):
        app.add_exception_handler(exc_type, unavailable)
