"""The gateway service: FastAPI app, supervisor graph, swarm-answer subscribers, reconciler.

`create_app(settings)` builds the ASGI app (uvicorn serves it; tests mount it). Its lifespan
opens the servers, the checkpointer, the stores and the broker (`resources.open_resources`),
compiles the supervisor graph with the checkpointer and starts the subscribers and the
reconciler. `main()` is `autopilot serve gateway`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.gateway.config import GatewaySettings
from services.gateway.guards import install_errors
from services.gateway.http import install_timing, install_unavailable
from services.gateway.metrics import GatewayMetrics
from services.gateway.reconciler import running
from services.gateway.resources import ResourceFactory, open_resources
from services.gateway.routes import ROUTERS
from services.gateway.supervisor import Supervisor
from services.gateway.web import install as install_web
from services.gateway.workflow import Deps, build_graph
from shared.infra.checkpoint import time_writes


def create_app(settings: GatewaySettings, resources: ResourceFactory | None = None) -> FastAPI:
    """The gateway ASGI app; `resources` swaps the infrastructure (unit tests use memory)."""
    factory = resources or open_resources

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with factory(settings) as res:
            graph = build_graph(settings).compile(checkpointer=res.checkpointer)
            deps = Deps(settings, res.publisher, res.artifacts, res.store)
            metrics = GatewayMetrics(settings.metrics_enabled)
            time_writes(res.checkpointer, metrics.checkpoint_write)
            metrics.consumer_lag = res.consumer_lag
            supervisor = Supervisor(graph, deps, metrics)
            app.state.supervisor = supervisor
            app.state.probes = res.probes
            app.state.keys = res.keys
            app.state.webhooks = res.webhooks
            await res.start(supervisor)
            async with running(supervisor, settings.reconcile_interval_seconds):
                yield

    app = FastAPI(
        title="K8s Autopilot gateway",
        version="1.0.0",
        description="Submit an application, review the plan, the security findings and the "
        "deployment diff, get a Helm chart.",
        lifespan=lifespan,
        # Served by the review UI from its own copies of Swagger UI and ReDoc (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_timing(app)
    install_errors(app, settings)
    install_unavailable(app)
    for router in ROUTERS:
        app.include_router(router)
    install_web(app)
    return app


def main() -> None:
    """Serve the gateway with uvicorn on the configured host and port."""
    import uvicorn

    from shared.logs import configure

    configure()
    settings = GatewaySettings()
    uvicorn.run(
        create_app(settings),
        host=settings.listen_host(settings.gateway_host),
        port=settings.gateway_port,
    )


if __name__ == "__main__":
    main()
