"""The review UI's pages: workflows, a workflow with its gate, submit, sign-in, API docs.

Pages are rendered on the server (Jinja2, autoescaped) from what `/v1` answers for the person's
key (`loopback`); forms post here, are checked for their CSRF token, and are turned into the
same API calls the CLI makes. htmx only refreshes parts of a page; every form works without it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import yaml
from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.exceptions import HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.gateway.auth import LOCAL, Principal, Role, authenticate
from services.gateway.web import views
from services.gateway.web.loopback import Loopback
from services.gateway.web.session import CSRF_FIELD, Session, Sessions
from shared.errors import InputError
from shared.gates import Gate
from shared.models.plan import ChartPlan
from shared.plan_edit import plan_changes

HERE = Path(__file__).parent
STATIC = "/ui/static"
GATE_TITLES = {gate.value: gate.label for gate in Gate}
# Pages never leave this server: scripts, styles, images and requests are all 'self'.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)

# Swagger UI and ReDoc start from an inline script and style themselves inline; their images,
# fonts and requests stay on 'self' too (ReDoc's sidebar logo would come from its CDN).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
)
templates.env.globals.update(static=STATIC, gate_titles=GATE_TITLES, statuses=views.STATUSES)
templates.env.filters["age"] = views.age
templates.env.filters["urlpath"] = lambda p: quote(str(p), safe="/")

_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- who is looking


@dataclass
class Visitor:
    """The person behind a request: their session and, once signed in, their principal."""

    session: Session
    principal: Principal | None
    local: bool

    @property
    def key(self) -> str | None:
        """The API key the UI calls `/v1` with (None in local mode)."""
        return None if self.local else self.session.key

    def may(self, role: Role) -> bool:
        """Whether the principal holds `role` (admins hold every role)."""
        return self.principal is not None and self.principal.has(role)


def sessions(request: Request) -> Sessions:
    """The app's session sealer (set by `install`)."""
    found: Sessions = request.app.state.web_sessions
    return found


def as_key(request: Request, key: str) -> Request:
    """The request as if it carried `Authorization: Bearer <key>` (to authenticate a key)."""
    scope = dict(request.scope)
    scope["headers"] = [
        (k, v) for k, v in request.scope["headers"] if k.lower() != b"authorization"
    ] + [(b"authorization", f"Bearer {key}".encode())]
    return Request(scope)


async def principal_of(request: Request, key: str) -> Principal | None:
    """Who `key` authenticates, or None (unknown or revoked: the API would say 401)."""
    try:
        return await authenticate(as_key(request, key))
    except HTTPException:
        return None


async def visitor(request: Request) -> Visitor:
    """The request's visitor; local mode: the local user with every role."""
    session = sessions(request).current(request)
    if request.app.state.settings.local_mode:
        return Visitor(session, LOCAL, local=True)
    principal = await principal_of(request, session.key) if session.key else None
    return Visitor(session, principal, local=False)


Me = Annotated[Visitor, Depends(visitor)]


def page(request: Request, me: Visitor, name: str, status: int = 200, **context: Any) -> Response:
    """A rendered page; hands out the session cookie when the visitor has none yet."""
    response = templates.TemplateResponse(
        request,
        name,
        {"me": me, "csrf": me.session.csrf, "csrf_field": CSRF_FIELD, **context},
        status_code=status,
    )
    if me.session.new:
        sessions(request).store(request, response, me.session)
    return secure(response)


def secure(response: Response) -> Response:
    """No caching of pages with workflow data; nothing loaded from or framed by another site."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def problem(request: Request, me: Visitor, status: int, message: str) -> Response:
    """An error page."""
    return page(request, me, "error.html", status=status, status_code=status, message=message)


def sign_in_first(request: Request) -> Response:
    """To the sign-in page, then back here."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def checked(request: Request, me: Visitor, token: str | None) -> Response | None:
    """A 403 page unless the form carries this session's CSRF token and comes from this site."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        return problem(request, me, 403, "this form was sent from another site; reload the page")
    if me.session.new or not me.session.valid_csrf(token):
        return problem(
            request, me, 403, "the form's session token is missing or stale; reload the page"
        )
    return None


def safe_next(target: str | None) -> str:
    """A local path to go back to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def detail(response: Any) -> str:
    """The API's error detail as one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or f"HTTP {response.status_code}"
    found = body.get("detail") if isinstance(body, dict) else None
    if isinstance(found, str):
        return found
    if isinstance(found, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in found
        )
    return f"HTTP {response.status_code}"


# --------------------------------------------------------------------------- sign-in


@router.get("/login")
async def login_page(request: Request, me: Me, next: str | None = None) -> Response:
    """The sign-in form (local mode needs none)."""
    if me.local:
        return RedirectResponse("/", status_code=303)
    return page(request, me, "login.html", next=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    me: Me,
    key: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the key against the gateway; keep it in the sealed session cookie."""
    if refused := checked(request, me, csrf_token):
        return refused
    principal = await principal_of(request, key.strip()) if key.strip() else None
    if principal is None:
        return page(
            request,
            me,
            "login.html",
            status=401,
            next=safe_next(next),
            error="unknown or revoked API key",
        )
    # A new session (and CSRF token) at sign-in: a token seen before it is worth nothing after.
    session = Session(key=key.strip())
    response = RedirectResponse(safe_next(next), status_code=303)
    sessions(request).store(request, response, session)
    _log.info("web sign-in of %s", principal.id)
    return response


@router.post("/logout")
async def logout(
    request: Request, me: Me, csrf_token: Annotated[str | None, Form()] = None
) -> Response:
    """Forget the session."""
    if refused := checked(request, me, csrf_token):
        return refused
    response = RedirectResponse("/" if me.local else "/login", status_code=303)
    Sessions.clear(response)
    return response


# --------------------------------------------------------------------------- workflows


@router.get("/")
async def workflows(request: Request, me: Me, status: str | None = None) -> Response:
    """Workflows newest first, filtered by status."""
    if me.principal is None:
        return sign_in_first(request)
    status = status if status in views.STATUSES else None
    params: dict[str, Any] = {"limit": 200, **({"status": status} if status else {})}
    answer = await Loopback(request, me.key).call("GET", "/v1/workflows", params=params)
    if answer.status_code != 200:
        return problem(request, me, answer.status_code, detail(answer))
    return page(request, me, "workflows.html", items=answer.json()["items"], chosen=status)


async def chart_files(request: Request, workflow_id: str) -> list[str]:
    """Paths of the latest chart's files (the caller has seen the workflow through the API)."""
    supervisor = request.app.state.supervisor
    record = await supervisor.store.get(workflow_id)
    if record is None or not record.chart_kind:
        return []
    files = await supervisor.deps.artifacts.get_files(workflow_id, record.chart_kind)
    return sorted(files)


def gate_context(gate: dict[str, Any] | None) -> dict[str, Any]:
    """What the pending gate's panel shows."""
    if not gate:
        return {}
    name = gate.get("gate")
    if name == Gate.PLANNING_REVIEW and gate.get("plan"):
        return {"plan": views.plan_view(gate["plan"])}
    if name == "security_review":
        out: dict[str, Any] = {"security": views.security_view(gate.get("security") or {})}
        if gate.get("agent_diff"):
            out["agent_diff"] = views.diff_lines(gate["agent_diff"])
        return out
    if name == "deployment_approval":
        lines = views.diff_lines(gate.get("diff") or "")
        return {"diff": lines, "diff_counts": views.diff_counts(lines)}
    return {}


def by_field(errors: list[views.FieldError]) -> dict[str, list[views.FieldError]]:
    """A decision's errors by where they are shown: comment, answers, the plan, or the page."""
    out: dict[str, list[views.FieldError]] = {}
    for e in errors:
        out.setdefault(e.field if e.field in ("comment", "answers", "") else "plan", []).append(e)
    return out


async def workflow_page(
    request: Request,
    me: Visitor,
    workflow_id: str,
    *,
    status: int = 200,
    errors: list[views.FieldError] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    """A workflow's page; after a refused decision, with the errors and what was typed."""
    answer = await Loopback(request, me.key).call("GET", f"/v1/workflows/{quote(workflow_id)}")
    if answer.status_code != 200:
        return problem(request, me, answer.status_code, detail(answer))
    wf = answer.json()
    gate = wf.get("pending_gate")
    own = wf.get("submitted_by") == (me.principal.id if me.principal else None)
    self_approval = request.app.state.settings.self_approval()
    return page(
        request,
        me,
        "workflow.html",
        status=status,
        wf=wf,
        gate=gate,
        view=gate_context(gate),
        files=await chart_files(request, wf["id"]),
        may_decide=me.may(Role.APPROVER),
        may_approve=me.may(Role.APPROVER) and (self_approval or not own),
        by_field=by_field(errors or []),
        form=form or {},
        terminal=wf["status"] in ("completed", "failed", "rejected", "cancelled"),
    )


@router.get("/workflows/{workflow_id}")
async def workflow(request: Request, me: Me, workflow_id: str) -> Response:
    """A workflow: progress, the pending gate, the chart's files, the download."""
    if me.principal is None:
        return sign_in_first(request)
    return await workflow_page(request, me, workflow_id)


@router.post("/workflows/{workflow_id}/decision")
async def decision(
    request: Request,
    me: Me,
    workflow_id: str,
    gate: Annotated[str, Form(max_length=40)],
    decision: Annotated[str, Form(pattern="^(approve|edit|reject)$")],
    comment: Annotated[str, Form(max_length=4000)] = "",
    plan: Annotated[str, Form()] = "",
    answers: Annotated[str, Form()] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Approve, reject (with a comment) or edit (the plan as YAML) through the decision API."""
    if me.principal is None:
        return sign_in_first(request)
    if refused := checked(request, me, csrf_token):
        return refused
    form = {"decision": decision, "comment": comment, "plan": plan, "answers": answers}

    def again(errors: list[views.FieldError], status: int = 422) -> Awaitable[Response]:
        """The workflow page again with the form as sent and these errors."""
        return workflow_page(request, me, workflow_id, status=status, errors=errors, form=form)

    body: dict[str, Any] = {"gate": gate, "decision": decision}
    if comment.strip():
        body["comment"] = comment.strip()
    if decision == "reject" and not comment.strip():
        return await again([views.FieldError("comment", "say why it is rejected")])
    if decision == "edit" and gate == Gate.ERROR_REVIEW:
        body["changes"] = {"answers": answers}
    elif decision == "edit":
        try:
            body["changes"] = await edited(request, me, workflow_id, plan)
        except yaml.YAMLError as exc:
            return await again([views.yaml_error(exc)])
        except InputError as exc:
            return await again([views.FieldError(exc.field or "plan", exc.message)])
        if not body["changes"]:
            return await again(
                [views.FieldError("plan", "nothing changed; Approve takes the plan as it is")]
            )
    answer = await Loopback(request, me.key).call(
        "POST", f"/v1/workflows/{quote(workflow_id)}/decisions", json=body
    )
    if answer.status_code == 200:
        return RedirectResponse(f"/workflows/{quote(workflow_id)}", status_code=303)
    try:
        problem_body = answer.json()
    except ValueError:
        problem_body = None
    errors = views.problem_errors(answer.status_code, problem_body, "changes", plan)
    return await again(errors, status=answer.status_code)


async def edited(request: Request, me: Visitor, workflow_id: str, text: str) -> dict[str, Any]:
    """The merge patch keyed by name from the plan waiting at the gate to the YAML sent."""
    answer = await Loopback(request, me.key).call("GET", f"/v1/workflows/{quote(workflow_id)}")
    gate = answer.json().get("pending_gate") or {} if answer.status_code == 200 else {}
    if not gate.get("plan"):
        raise InputError("planning_review is not pending any more", field="plan")
    before = ChartPlan.model_validate(gate["plan"]).dump()
    return plan_changes(before, yaml.safe_load(text))


@router.get("/workflows/{workflow_id}/files/{path:path}")
async def chart_file(request: Request, me: Me, workflow_id: str, path: str) -> Response:
    """One file of the chart, as text."""
    if me.principal is None:
        return sign_in_first(request)
    answer = await Loopback(request, me.key).call(
        "GET", f"/v1/workflows/{quote(workflow_id)}/files/{quote(path, safe='/')}"
    )
    if answer.status_code != 200:
        return problem(request, me, answer.status_code, detail(answer))
    try:
        text: str | None = answer.content.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return page(
        request,
        me,
        "file.html",
        workflow_id=workflow_id,
        path=path,
        text=text,
        size=len(answer.content),
        files=await chart_files(request, workflow_id),
    )


@router.get("/workflows/{workflow_id}/chart.tgz")
async def chart_archive(request: Request, me: Me, workflow_id: str) -> Response:
    """The published chart's archive."""
    if me.principal is None:
        return sign_in_first(request)
    answer = await Loopback(request, me.key).call(
        "GET", f"/v1/workflows/{quote(workflow_id)}/chart.tgz"
    )
    if answer.status_code != 200:
        return problem(request, me, answer.status_code, detail(answer))
    disposition = answer.headers.get("content-disposition", 'attachment; filename="chart.tgz"')
    return Response(
        answer.content,
        media_type="application/gzip",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


@router.get("/workflows/{workflow_id}/events")
async def progress(request: Request, me: Me, workflow_id: str) -> Response:
    """The workflow's Server-Sent Events, relayed from `/v1` with the session's key."""
    if me.principal is None:
        return Response("sign in first", status_code=401)
    headers = {"accept": "text/event-stream"}
    if last := request.headers.get("last-event-id"):
        headers["last-event-id"] = last
    status, _, body = await Loopback(request, me.key).stream(
        f"/v1/workflows/{quote(workflow_id)}/events", {"follow": "true"}, headers
    )
    if status != 200:
        await body.aclose()  # type: ignore[attr-defined]
        return Response(status_code=status)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --------------------------------------------------------------------------- submit


@router.get("/submit")
async def submit_page(request: Request, me: Me) -> Response:
    """Paste or upload a Compose file or a spec."""
    if me.principal is None:
        return sign_in_first(request)
    return page(request, me, "submit.html", form={}, errors=[])


def input_kind(text: str, chosen: str) -> tuple[str, Any]:
    """('compose' | 'requirements', what to send) from the text and the chosen kind."""
    data = yaml.safe_load(text)
    if chosen == "auto":
        if isinstance(data, dict) and "services" in data:
            chosen = "compose"
        elif isinstance(data, dict) and "components" in data:
            chosen = "spec"
        else:
            raise InputError(
                "neither a Compose file (services:) nor a spec (components:)", field="source"
            )
    if chosen == "compose":
        return "compose", text
    if not isinstance(data, dict):
        raise InputError("a spec is a mapping with name: and components:", field="source")
    return "requirements", data


@router.post("/submit")
async def submit(
    request: Request,
    me: Me,
    source: Annotated[str, Form()] = "",
    upload: UploadFile | None = None,
    kind: Annotated[str, Form(pattern="^(auto|compose|spec)$")] = "auto",
    name: Annotated[str, Form(max_length=40)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Send the input to `POST /v1/workflows`; on to the workflow's page."""
    if me.principal is None:
        return sign_in_first(request)
    if refused := checked(request, me, csrf_token):
        return refused
    if upload is not None and upload.filename:
        try:
            source = (await upload.read()).decode("utf-8")
        except UnicodeDecodeError:
            source = ""
            bad = views.FieldError("source", f"{upload.filename} is not UTF-8 text")
            return _submit_again(request, me, source, kind, name, [bad])
    source = source.replace("\r\n", "\n")
    if not source.strip():
        bad = views.FieldError("source", "paste or upload a file")
        return _submit_again(request, me, source, kind, name, [bad])
    try:
        field, value = input_kind(source, kind)
    except yaml.YAMLError as exc:
        error = views.yaml_error(exc)
        bad = views.FieldError("source", error.message, error.line)
        return _submit_again(request, me, source, kind, name, [bad])
    except InputError as exc:
        bad = views.FieldError("source", exc.message)
        return _submit_again(request, me, source, kind, name, [bad])
    body: dict[str, Any] = {field: value}
    if field == "compose" and name.strip():
        body["name"] = name.strip()
    answer = await Loopback(request, me.key).call("POST", "/v1/workflows", json=body)
    if answer.status_code == 202:
        return RedirectResponse(f"/workflows/{quote(answer.json()['id'])}", status_code=303)
    try:
        problem_body = answer.json()
    except ValueError:
        problem_body = None
    found = views.problem_errors(answer.status_code, problem_body, field, source)
    errors = [_at_source(e) if answer.status_code == 422 else e for e in found]
    return _submit_again(request, me, source, kind, name, errors, status=answer.status_code)


def _at_source(error: views.FieldError) -> views.FieldError:
    """An input error of a 422 shown at the source box (an error about the name stays put)."""
    if error.field == "name":
        return error
    return views.FieldError("source", error.message, error.line, error.field)


def _submit_again(
    request: Request,
    me: Visitor,
    source: str,
    kind: str,
    name: str,
    errors: list[views.FieldError],
    status: int = 422,
) -> Response:
    """The submit page again with the form as sent and these errors."""
    form = {"source": source, "kind": kind, "name": name}
    return page(request, me, "submit.html", status=status, form=form, errors=errors)


# --------------------------------------------------------------------------- API docs


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI from the gateway's own copy (no CDN)."""
    html = get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{STATIC}/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC}/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{STATIC}/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},
    )
    html.headers["Content-Security-Policy"] = DOCS_CSP
    return html


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc from the gateway's own copy, without web fonts."""
    html = get_redoc_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{STATIC}/vendor/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC}/favicon.svg",
        with_google_fonts=False,
    )
    html.headers["Content-Security-Policy"] = DOCS_CSP
    return html
