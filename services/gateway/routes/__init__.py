"""The HTTP API, one module per resource, each an APIRouter; every route depends on
`authorize(...)` and leaves the work to the Supervisor. Errors of the exception tree
(shared/errors.py) are answered by one app-level handler (guards.py), not route by route.

Adding a route: a function in its resource's module (a new resource: a module here and a line
in `ROUTERS`).
"""

from fastapi import APIRouter

from services.gateway.routes import (
    audit,
    charts,
    decisions,
    events,
    health,
    keys,
    webhooks,
    workflows,
)

ROUTERS: tuple[APIRouter, ...] = (
    workflows.router,
    decisions.router,
    events.router,
    charts.router,
    health.router,
    keys.router,
    audit.router,
    webhooks.router,
)
"""Every router of the API, in the order the app includes them."""
