"""The review UI: server-rendered pages at `/` over the gateway's own API, working offline.

`install(app)` adds the pages, the static files (htmx, Swagger UI and ReDoc shipped in
`static/vendor`, see SOURCE.md there) and the session sealer. Set `docs_url=None, redoc_url=None`
on the app: `/docs` and `/redoc` are served here from those local copies.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.gateway.web.routes import HERE, STATIC, router
from services.gateway.web.session import Sessions


def install(app: FastAPI) -> None:
    """Mount the UI on the gateway app."""
    app.state.web_sessions = Sessions(app.state.settings.key_pepper())
    app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="ui-static")
