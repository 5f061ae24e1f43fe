"""Talking to a running gateway: the URL, one-line errors, and what a gate payload shows.

A gateway that cannot be reached is `Unavailable` (exit 3) within the connect timeout;
`--gateway` or AUTOPILOT_GATEWAY may end in `/v1`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from services.cli.options import DEFAULT_GATEWAY as DEFAULT_GATEWAY
from services.cli.options import add_gateway_options as add_gateway_options
from services.cli.settings import CliSettings
from shared.errors import AutopilotError

if TYPE_CHECKING:
    from services.cli.review import Answer
    from services.cli.summaries import AcceptedException
    from services.cli.terminal import Terminal
    from shared.models.plan import ChartPlan
    from shared.models.reports import Finding, SecurityScanReport

CONNECT_TIMEOUT = 3.0
FINAL = {"completed", "failed", "rejected"}


class Unavailable(AutopilotError):
    """The gateway cannot be reached or failed inside (exit code 3)."""


def gateway_url(value: str | None) -> str:
    """--gateway, else AUTOPILOT_GATEWAY, else the local default; without a trailing /v1."""
    url = (value or CliSettings().gateway or DEFAULT_GATEWAY).rstrip("/")
    return url.removesuffix("/v1").rstrip("/")


def client(gateway: str | None, read_timeout: float = 30.0) -> httpx.Client:
    """An HTTP client for the gateway with a short connect timeout."""
    headers = {}
    if key := CliSettings().api_key:
        headers["Authorization"] = f"Bearer {key.get_secret_value()}"
    timeout = httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT)
    return httpx.Client(base_url=gateway_url(gateway), timeout=timeout, headers=headers)


def _problem(resp: httpx.Response) -> str:
    """The gateway's `detail` of an error answer, else its text or reason, in one string."""
    try:
        detail = resp.json().get("detail")
    except ValueError:
        return resp.text.strip()[:300] or resp.reason_phrase
    return detail if isinstance(detail, str) else json.dumps(detail, default=str)


def request(http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One call; unreachable or 5xx -> Unavailable, 4xx -> AutopilotError, both one line."""
    try:
        resp = http.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise Unavailable(
            f"gateway {http.base_url} cannot be reached ({type(exc).__name__}: {exc or 'no answer'})"
        ) from exc
    if resp.status_code >= 500:
        raise Unavailable(f"gateway {http.base_url}: {resp.status_code} {_problem(resp)}")
    if resp.status_code >= 400:
        raise AutopilotError(f"{resp.status_code} {_problem(resp)}", field=path)
    return resp


def get_workflow(http: httpx.Client, workflow_id: str) -> dict[str, Any]:
    """GET one workflow's view."""
    body: dict[str, Any] = request(http, "GET", f"/v1/workflows/{workflow_id}").json()
    return body


def sse(
    http: httpx.Client,
    path: str,
    *,
    follow: bool,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event type, data) of a gateway's Server-Sent Events (a workflow's, or `/v1/events`)."""
    params = {**(params or {}), "follow": "true" if follow else "false"}
    try:
        with http.stream(
            "GET",
            path,
            params=params,
            headers={"Accept": "text/event-stream", **(headers or {})},
            timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT),
        ) as resp:
            if resp.status_code >= 400:
                resp.read()
                request_error = AutopilotError(f"{resp.status_code} {_problem(resp)}", field=path)
                raise Unavailable(str(request_error)) if resp.status_code >= 500 else request_error
            kind, data = "message", []
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    try:
                        payload = json.loads("\n".join(data))
                    except json.JSONDecodeError:
                        payload = {"message": "\n".join(data)}
                    yield kind, payload if isinstance(payload, dict) else {"data": payload}
                    kind, data = "message", []
    except httpx.TransportError as exc:
        raise Unavailable(f"gateway {http.base_url} cannot be reached ({exc})") from exc


# --------------------------------------------------------------------------- gate payloads


def _target(http: httpx.Client | None, workflow: dict[str, Any]) -> tuple[str, str | None]:
    """Release name and namespace: the chart's Argo CD Application says where it goes."""
    release = workflow.get("name") or "chart"
    namespace = None
    if http is not None:
        try:
            resp = http.get(f"/v1/workflows/{workflow['id']}/files/argocd/application.yaml")
            if resp.status_code == 200:
                app = yaml.safe_load(resp.text) or {}
                spec = app.get("spec") or {}
                namespace = (spec.get("destination") or {}).get("namespace")
                release = ((spec.get("source") or {}).get("helm") or {}).get(
                    "releaseName"
                ) or release
        except (httpx.HTTPError, yaml.YAMLError, AttributeError):
            pass
    return release, namespace


def _security(
    gate: dict[str, Any],
) -> tuple[SecurityScanReport, list[Finding], list[AcceptedException]]:
    """The security_review payload as the scan, its findings and the accepted exceptions."""
    from services.cli.summaries import AcceptedException
    from shared.models.reports import Finding, SecurityScanReport

    sec = gate.get("security") or {}
    checkov = sec.get("checkov") or {}
    scan = SecurityScanReport(
        passed=checkov.get("passed", 0),
        failed=checkov.get("failed", 0),
        excluded=checkov.get("excluded") or [],
    )
    findings = [Finding.model_validate(f) for f in sec.get("findings") or []]
    exceptions = [
        AcceptedException(e.get("component", ""), e.get("setting", ""), e.get("reason", ""))
        for e in sec.get("exceptions") or sec.get("accepted") or []
        if isinstance(e, dict)
    ]
    return scan, findings, exceptions


def gate_summary(
    workflow: dict[str, Any],
    http: httpx.Client | None,
    *,
    colour: bool,
    plan: ChartPlan | None = None,
) -> str:
    """The pending gate of a workflow view, as the reviewer reads it."""
    from services.cli.summaries import (
        deployment_summary,
        error_summary,
        plan_summary,
        security_summary,
    )
    from shared.models.plan import ChartPlan

    gate = workflow.get("pending_gate") or {}
    name = gate.get("gate")
    if name == "planning_review" and (plan or gate.get("plan")):
        return plan_summary(plan or ChartPlan.model_validate(gate["plan"]), colour=colour)
    if name == "security_review":
        scan, findings, exceptions = _security(gate)
        return security_summary(scan, findings, exceptions=exceptions, colour=colour)
    if name == "deployment_approval":
        release, namespace = _target(http, workflow)
        return deployment_summary(
            gate.get("diff") or "",
            release=release,
            namespace=namespace,
            previous=gate.get("previous"),
            colour=colour,
        )
    if name == "error_review":
        return error_summary(
            gate.get("error") or {},
            step=gate.get("step"),
            questions=[str(q) for q in gate.get("questions") or []],
            colour=colour,
        )
    return json.dumps(gate, indent=2, default=str)


def gate_detail(workflow: dict[str, Any], plan: ChartPlan | None = None) -> str:
    """Everything the gate carries, for the pager."""
    from services.cli.review import plan_yaml
    from shared.models.plan import ChartPlan

    gate = workflow.get("pending_gate") or {}
    if gate.get("gate") == "planning_review" and (plan or gate.get("plan")):
        return plan_yaml(plan or ChartPlan.model_validate(gate["plan"]))
    if gate.get("gate") == "deployment_approval":
        return str(gate.get("diff") or "")
    return yaml.safe_dump(gate, sort_keys=False, width=100)


def decide_on_terminal(
    workflow: dict[str, Any], http: httpx.Client | None = None, term: Terminal | None = None
) -> dict[str, Any]:
    """Show the pending gate on the terminal; the decision body for the API."""
    from services.cli.review import review
    from shared.models.plan import ChartPlan

    gate = workflow["pending_gate"]
    name = gate["gate"]
    plan = ChartPlan.model_validate(gate["plan"]) if gate.get("plan") else None
    editable = plan if name == "planning_review" else None
    answer: Answer = review(
        name,
        lambda p, colour: gate_summary(workflow, http, colour=colour, plan=p),
        lambda p: gate_detail(workflow, p),
        plan=editable,
        term=term,
    )
    body: dict[str, Any] = {"gate": name, "decision": answer.decision}
    if answer.comment:
        body["comment"] = answer.comment
    if answer.decision == "edit" and answer.changes:
        body["changes"] = answer.changes
    return body


# --------------------------------------------------------------------------- output


def dump(data: Any, fmt: str) -> str:
    """-o json / -o yaml."""
    if fmt == "json":
        return json.dumps(data, indent=2, default=str)
    return yaml.safe_dump(data, sort_keys=False, width=100).rstrip()


def view_lines(workflow: dict[str, Any]) -> list[str]:
    """A workflow's status as `key: value` lines."""
    lines = [
        f"id:        {workflow['id']}",
        f"name:      {workflow.get('name') or '-'}",
        f"status:    {workflow['status']}",
        f"phase:     {workflow.get('phase', '-')}",
        f"input:     {workflow.get('input_kind', '-')} by {workflow.get('submitted_by', '-')}",
        f"updated:   {workflow.get('updated_at', '-')}",
    ]
    validation = workflow.get("validation") or {}
    if "passed" in validation:
        lines.append(
            f"validation: {'passed' if validation['passed'] else 'FAILED'}, checkov "
            f"{validation.get('passRate', 0):.1%}, {validation.get('errors', 0)} errors, "
            f"{validation.get('warnings', 0)} warnings"
        )
    if workflow.get("comment"):
        lines.append(f"comment:   {workflow['comment']}")
    if workflow.get("error"):
        lines.append(
            f"error:     [{workflow['error'].get('code')}] {workflow['error'].get('message')}"
        )
    chart = workflow.get("chart")
    if chart:
        lines.append(
            f"chart:     {chart.get('name')} {chart.get('version')} ({chart.get('archive')})"
        )
    return lines


def decide(args: argparse.Namespace, decision: str) -> int:
    """approve / reject the pending gate of args.id; prints the workflow afterwards."""
    with client(args.gateway, read_timeout=120.0) as http:
        workflow = get_workflow(http, args.id)
        gate = (workflow.get("pending_gate") or {}).get("gate")
        if gate is None:
            raise AutopilotError(
                f"workflow {args.id} has no pending gate (status {workflow['status']})", field="ID"
            )
        if args.gate and args.gate != gate:
            raise AutopilotError(f"{args.gate} is not pending ({gate} is)", field="--gate")
        body = {"gate": gate, "decision": decision}
        if args.comment:
            body["comment"] = args.comment
        after = request(http, "POST", f"/v1/workflows/{args.id}/decisions", json=body).json()
    if args.output != "table":
        print(dump(after, args.output))
    else:
        done = "approved" if decision == "approve" else "rejected"
        print(f"{done} {gate} of {args.id}" + (f": {args.comment}" if args.comment else ""))
        nxt = (after.get("pending_gate") or {}).get("gate")
        print(f"now {after['status']}" + (f", waiting at {nxt}" if nxt else ""))
    return 0
