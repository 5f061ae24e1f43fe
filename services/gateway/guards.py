"""What the gateway refuses, and how it says so (issue 11, points 6 and 7).

- Size: a body over `max_body_bytes` is a 413 before it is read whole; a spec or Compose file
  with more than `max_components` components or services, or a component with more than
  `max_env_entries` env entries, is a 422 naming the field; a config file over
  `max_config_file_bytes` is a 413 naming it. One big request must not hold a planner for
  minutes while everyone else waits.
- Malformed input (NUL, control characters, lone surrogates, numbers beyond bigint) is a 422
  naming the field, never a 500 from deep inside Postgres or the YAML parser.
- Every error is JSON (`{"detail": ...}`), a 500 too; a 422 never echoes a value that cannot be
  encoded, nor a whole 2 MiB file.
- The OpenAPI document lists what every route can answer (401, 403, 413, 422, 503), the bearer
  API key scheme, and "exactly one of requirements, compose, prompt" (see SubmitRequest).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.config import GatewaySettings
from shared.errors import AutopilotError, InputError, TooLarge
from shared.models.requirements import ChartRequirements

_log = logging.getLogger(__name__)

WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
WorkflowId = Annotated[
    str,
    Path(pattern=WORKFLOW_ID_PATTERN, description="The id POST /v1/workflows answered."),
]
CURSOR_PATTERN = r"^\d{1,18}$"
"""A page cursor: digits, at most 18 of them, so it always fits Postgres' bigint."""
NO_NUL_PATTERN = r"^[^\x00]*$"

BEARER = "apiKey"
_INPUT_ECHO_CHARS = 200


# --------------------------------------------------------------------------- body size


class BodyLimit:
    """Refuse a request body over `max_bytes` with a JSON 413: by Content-Length before the
    body is read, or as soon as a streamed (chunked) body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self, size: int | None = None) -> str:
        """The 413's detail: the size when known (Content-Length), else "more"."""
        got = f"{size} bytes" if size is not None else "more"
        return (
            f"body: {got} is over the limit of {self.max_bytes} bytes "
            "(AUTOPILOT_MAX_BODY_BYTES); send a smaller spec or Compose file"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse({"detail": self._detail(int(length))}, status_code=413)
            await response(scope, receive, send)
            return
        total = 0
        answered = False

        async def limited() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def answer() -> None:
            nonlocal answered
            answered = True
            response = JSONResponse({"detail": self._detail()}, status_code=413)
            await response(scope, receive, send)

        async def guarded(message: Message) -> None:
            # Whatever the layers inside made of the error (FastAPI: "error parsing the body",
            # 400), the caller gets the 413 that says why.
            if total > self.max_bytes:
                if message["type"] == "http.response.start" and not answered:
                    await answer()
                return
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except Exception:
            if total <= self.max_bytes or answered:
                raise
            await answer()


class BodyTooLarge(TooLarge):
    """A streamed body passed the limit (raised from `receive` to stop reading; `BodyLimit`
    answers the 413 itself)."""

    def __init__(self) -> None:
        super().__init__("body: over the limit (AUTOPILOT_MAX_BODY_BYTES)")


def check_size(requirements: ChartRequirements, source: str, settings: GatewaySettings) -> None:
    """413 or 422 naming the field when a parsed input breaks a limit (`source`: its field)."""
    compose = source == "compose"
    many = len(requirements.components)
    if many > settings.max_components:
        field = "services" if compose else "components"
        raise unprocessable(
            (source, field),
            f"{many} {field} is over the limit of {settings.max_components} "
            "(AUTOPILOT_MAX_COMPONENTS); split the application into several charts",
        )
    for i, comp in enumerate(requirements.components):
        where: tuple[str | int, ...] = (
            (source, "services", comp.name) if compose else (source, "components", i)
        )
        entries = len(comp.env) + len(comp.envFiles)
        if entries > settings.max_env_entries:
            raise unprocessable(
                (*where, "environment" if compose else "env"),
                f"{entries} env entries is over the limit of {settings.max_env_entries} "
                "(AUTOPILOT_MAX_ENV_ENTRIES); keep bulk settings in a config file",
            )
        for j, file in enumerate(comp.configFiles):
            size = len(file.content.encode())
            if size > settings.max_config_file_bytes:
                if compose:
                    loc: tuple[str | int, ...] = (*where, "configs", file.path)
                else:
                    loc = (*where, "configFiles", j, "content")
                raise HTTPException(
                    413,
                    f"{'.'.join(map(str, loc))}: the config file {file.path} is {size} bytes, "
                    f"over the limit of {settings.max_config_file_bytes} "
                    "(AUTOPILOT_MAX_CONFIG_FILE_BYTES)",
                )


def precheck_components(data: dict[str, Any], settings: GatewaySettings) -> None:
    """A native spec's component count, before validating thousands of them."""
    components = data.get("components")
    if isinstance(components, list) and len(components) > settings.max_components:
        raise unprocessable(
            ("requirements", "components"),
            f"{len(components)} components is over the limit of {settings.max_components} "
            "(AUTOPILOT_MAX_COMPONENTS); split the application into several charts",
        )


def unprocessable(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    """A 422 about one field of the body (`loc` under "body"), in FastAPI's own layout."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", *loc), "msg": message, "input": None}]
    )


# --------------------------------------------------------------------------- JSON errors


def _encodable(value: str) -> str:
    """The string with lone surrogates (which UTF-8 cannot encode) replaced by U+FFFD."""
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)


def _printable(value: str) -> str:
    """A string JSON can carry, long text cut."""
    cut = value if len(value) <= _INPUT_ECHO_CHARS else value[:_INPUT_ECHO_CHARS] + "…"
    return _encodable(cut)


def _safe(value: Any, depth: int = 0) -> Any:
    """An echoed input made safe to encode and small (no 2 MiB file sent back)."""
    if isinstance(value, str):
        return _printable(value)
    if depth > 3:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:20]
        return {_printable(str(k)): _safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [_safe(v, depth + 1) for v in list(value)[:20]]
    return value


async def validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body, with inputs, locations and messages that always encode."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        fixed = dict(error)
        fixed["loc"] = [_safe(part) for part in error.get("loc", ())]
        fixed["msg"] = _encodable(str(error.get("msg", "")))
        if "input" in fixed:
            fixed["input"] = _safe(fixed["input"])
        if isinstance(ctx := error.get("ctx"), dict):
            fixed["ctx"] = {
                k: _safe(v if isinstance(v, int | float | bool) else str(v)) for k, v in ctx.items()
            }
        errors.append(fixed)
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    """HTTPException as JSON, its detail made encodable."""
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.detail, str):
        exc.detail = _encodable(exc.detail)
    return await http_exception_handler(request, exc)


async def autopilot_error(request: Request, exc: Exception) -> Response:
    """The project's exception tree, with the status of its table (shared/errors.py): bad input
    is a 422 whose location names the field, like FastAPI's own; the rest a JSON `detail`."""
    assert isinstance(exc, AutopilotError)
    if isinstance(exc, InputError):
        loc = ("body", *exc.field.split(".")) if exc.field else ("body",)
        return await validation_error(request, unprocessable(loc[1:], exc.message))
    if exc.status >= 500:
        _log.error("%s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        return await server_error(request, exc)
    return await http_error(request, StarletteHTTPException(exc.status, str(exc)))


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug is still a JSON answer (the traceback goes to the log, not to the caller)."""
    return JSONResponse(
        {"detail": f"internal error ({type(exc).__name__}); the gateway logged it"},
        status_code=500,
    )


def install_errors(app: FastAPI, settings: GatewaySettings) -> None:
    """JSON for every error, the body limit, and the OpenAPI document's statuses and scheme."""
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(AutopilotError, autopilot_error)
    app.add_exception_handler(Exception, server_error)
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]


# --------------------------------------------------------------------------- OpenAPI

_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_COMMON: dict[str, dict[str, Any]] = {
    "401": {
        "description": "No API key, or an unknown one (not in local mode).",
        "content": _PROBLEM,
    },
    "403": {"description": "The key's role may not do this.", "content": _PROBLEM},
    "503": {
        "description": "Postgres or NATS is away; retry (see Retry-After).",
        "content": _PROBLEM,
    },
}
_TOO_LARGE = {
    "description": "The body, a config file, env or .env text is over its limit; the detail "
    "names the field.",
    "content": _PROBLEM,
}
_INVALID = {
    "description": "Invalid input; each error's `loc` names the field.",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}
_UNREADABLE = {
    "description": "The body could not be read (not UTF-8 text, or cut off).",
    "content": _PROBLEM,
}
_OPEN = ("/healthz", "/readyz", "/metrics")
_SUBMIT = ("/v1/workflows", "post")


def openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document plus what dependencies and middleware answer."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = doc.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (AUTOPILOT_API_KEYS or `autopilot keys create`); local mode "
        "needs none.",
    }
    schemas = components.setdefault("schemas", {})
    schemas.setdefault(
        "Problem",
        {
            "title": "Problem",
            "type": "object",
            "required": ["detail"],
            "properties": {"detail": {"title": "Detail", "type": "string"}},
        },
    )
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if path not in _OPEN:
                operation["security"] = [{BEARER: []}]
                for status, answer in _COMMON.items():
                    responses.setdefault(status, answer)
            if method in ("post", "put", "patch"):
                responses.setdefault("413", _TOO_LARGE)
            if operation.get("requestBody"):
                responses.setdefault("400", _UNREADABLE)
            if "{" in path:
                responses.setdefault("404", {"description": "Not found.", "content": _PROBLEM})
            for status, answer in responses.items():
                # Errors are JSON even where the route streams events or serves files.
                if status[0] in "45" and status != "422":
                    answer["content"] = _PROBLEM
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("422", _INVALID)
    _link_workflow_operations(doc)
    app.openapi_schema = doc
    return doc


def _link_workflow_operations(doc: dict[str, Any]) -> None:
    """OpenAPI links from a submitted workflow's id to every operation on it, so a client
    generator (or a stateful fuzzer) knows where `{workflow_id}` comes from."""
    paths = doc.get("paths", {})
    accepted = paths.get(_SUBMIT[0], {}).get(_SUBMIT[1], {}).get("responses", {}).get("202")
    if accepted is None:
        return
    links = accepted.setdefault("links", {})
    for path, operations in paths.items():
        if "{workflow_id}" not in path:
            continue
        for operation in operations.values():
            if op_id := operation.get("operationId"):
                links[op_id] = {
                    "operationId": op_id,
                    "parameters": {"workflow_id": "$response.body#/id"},
                }
