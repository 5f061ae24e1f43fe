"""Probes and metrics: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import logging

from fastapi import (
    APIRouter,
    Request,
    Response,
)
from fastapi.responses import JSONResponse

from services.gateway.models import (
    Health,
    Readiness,
)
from services.gateway.routes.common import Reader, SupervisorDep

router = APIRouter()


_log = logging.getLogger(__name__)


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz(principal: Reader) -> Health:
    """The process answers."""
    return Health()


@router.get(
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


@router.get(
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
