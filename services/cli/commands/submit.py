"""`autopilot submit`: send an input through a running gateway, follow it, answer its gates.

Progress comes from the workflow's Server-Sent Events (resumed with Last-Event-ID when the
connection drops); at each human gate the reviewer is asked on the terminal, or every gate
is approved up front with --yes. The finished chart is downloaded and unpacked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.gates import AUTO_APPROVABLE

if TYPE_CHECKING:  # imported where used: building the parser needs neither
    import httpx

FINAL = {"completed", "failed", "rejected"}
ARGOCD_APP = "argocd/application.yaml"
Ask = Callable[[dict[str, Any]], dict[str, Any]]


def request_body(
    data: bytes,
    *,
    yes: bool,
    name: str | None,
    env: dict[str, str] | None = None,
    dotenv: str | None = None,
) -> dict[str, Any]:
    """The POST body: a native spec as requirements, anything else as compose text.

    A Compose file's `${VAR}` is filled on the gateway from `env` and `dotenv` only (the
    gateway never reads its own environment), so they travel with the compose text.
    """
    from services.planner.intake import decode, load_yaml
    from shared.errors import AutopilotError

    # Checked here first: a syntax error is reported with its line and column, not as the
    # gateway's answer to a Compose file it could not read.
    text = decode(data, source="<file>")
    doc = load_yaml(text)
    body: dict[str, Any] = (
        {"requirements": doc}
        if isinstance(doc, dict) and "components" in doc
        else {"compose": text}
    )
    if "compose" in body:
        if env:
            body["env"] = env
        if dotenv is not None:
            body["dotenv"] = dotenv
    elif env:
        raise AutopilotError("--env applies only to a Compose file, not a spec", field="--env")
    elif name:
        # A native spec carries its own name; --name replaces it, as generate does.
        from services.cli.agentic import renamed
        from services.planner.intake import parse_requirements

        body["requirements"] = renamed(parse_requirements(doc), name).model_dump(
            mode="json", by_alias=True, exclude_unset=True
        )
    options: dict[str, Any] = {}
    if yes:
        options["auto_approve"] = [g.value for g in AUTO_APPROVABLE]
    if name:
        options["name"] = name
    if options:
        body["options"] = options
    return body


RETRY_STATUSES = {502, 503, 504}


def call(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    patience: float = 60.0,
    retry_unreachable: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """One API call, retried while the gateway or its database is briefly away (restarts)."""
    import httpx

    deadline = time.monotonic() + patience
    delay = 0.2
    while True:
        try:
            resp = client.request(method, url, **kwargs)
            if resp.status_code not in RETRY_STATUSES or time.monotonic() > deadline:
                return resp
        except httpx.TransportError:
            if not retry_unreachable or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def sse_events(
    client: httpx.Client, url: str, last_id: str | None
) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(id, data) pairs from one SSE connection."""
    import httpx

    headers = {"Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    with client.stream("GET", url, headers=headers, timeout=httpx.Timeout(10.0, read=30.0)) as resp:
        resp.raise_for_status()
        event_id: str | None = None
        event_type = "message"
        data: list[str] = []
        for line in resp.iter_lines():
            if line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("event:"):
                event_type = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                try:
                    payload = json.loads("\n".join(data))
                except json.JSONDecodeError:
                    payload = {"message": "\n".join(data)}
                body = payload if isinstance(payload, dict) else {"data": payload}
                yield event_id, {"type": event_type, **body}
                data, event_type = [], "message"


def ask_terminal(workflow: dict[str, Any], http: httpx.Client | None = None) -> dict[str, Any]:
    """Show the pending gate's summary on the terminal and read the reviewer's decision."""
    from services.cli.remote import decide_on_terminal

    return decide_on_terminal(workflow, http)


def submit(
    data: bytes,
    gateway: str,
    out_dir: Path,
    *,
    yes: bool,
    name: str | None = None,
    env: dict[str, str] | None = None,
    dotenv: str | None = None,
    ask: Ask = ask_terminal,
    echo: Callable[[str], None] = print,
    timeout: float = 600.0,
) -> int:
    """Run one workflow through the gateway; 0 when a chart was written, 1 otherwise."""
    from services.cli.remote import client as gateway_client

    body = request_body(data, yes=yes, name=name, env=env, dotenv=dotenv)
    with gateway_client(gateway) as client:
        wf_id = _post(client, body)
        echo(f"workflow {wf_id} submitted")

        def on_terminal(workflow: dict[str, Any]) -> dict[str, Any]:
            """At a gate: what the plan changed, then the reviewer's decision on the terminal."""
            _print_changes(workflow, echo)
            return ask_terminal(workflow, client)

        reviewer: Ask = on_terminal if ask is ask_terminal else ask
        status = _follow(client, wf_id, reviewer, timed(echo), time.monotonic() + timeout)
        if status["status"] != "completed":
            echo(
                f"workflow {status['status']}: {json.dumps(status.get('error') or {}, default=str)}"
            )
            return 1
        archive = call(client, "GET", f"/v1/workflows/{wf_id}/chart.tgz")
        archive.raise_for_status()
        chart_dir = _unpack(archive.content, out_dir)
        # helm package leaves out what .helmignore lists; the Argo CD Application belongs beside it.
        app = call(client, "GET", f"/v1/workflows/{wf_id}/files/{ARGOCD_APP}")
        if app.status_code == 200:
            (chart_dir / ARGOCD_APP).parent.mkdir(parents=True, exist_ok=True)
            (chart_dir / ARGOCD_APP).write_bytes(app.content)
        echo(f"chart written to {chart_dir}")
        return 0


def _post(client: httpx.Client, body: dict[str, Any]) -> str:
    """POST the workflow; its id, or one clear error (unreachable fails at once: exit 3)."""
    import httpx

    from services.cli.remote import Unavailable
    from shared.errors import AutopilotError

    try:
        # A gateway whose database restarts answers 503 for a moment; one that is not there
        # at all is said at once.
        resp = call(
            client, "POST", "/v1/workflows", json=body, patience=10.0, retry_unreachable=False
        )
    except httpx.TransportError as exc:
        raise Unavailable(
            f"gateway {client.base_url} cannot be reached ({type(exc).__name__}: {exc or 'no answer'})"
        ) from exc
    if resp.status_code >= 500:
        raise Unavailable(f"gateway {client.base_url}: {resp.status_code} {_detail(resp)}")
    if resp.status_code >= 400:
        field = "--yes" if resp.status_code == 403 and "approv" in resp.text else "input"
        raise AutopilotError(f"{resp.status_code} {_detail(resp)}", field=field)
    try:
        return str(resp.json()["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Unavailable(
            f"{client.base_url} answered {resp.status_code} without a workflow id; is it an "
            "autopilot gateway?"
        ) from exc


def timed(echo: Callable[[str], None]) -> Callable[[str], None]:
    """Progress lines prefixed with the seconds since the workflow was submitted."""
    start = time.monotonic()
    return lambda line: echo(f"{time.monotonic() - start:6.1f}s {line.strip()}")


def _print_changes(workflow: dict[str, Any], echo: Callable[[str], None]) -> None:
    """At planning_review: what the plan changed in the input (pins, UIDs, hosts, secrets)."""
    from services.cli.summaries import changes_section
    from services.cli.terminal import colour_enabled
    from shared.models.plan import ChartPlan

    gate = workflow.get("pending_gate") or {}
    if gate.get("gate") == "planning_review" and gate.get("plan"):
        section = changes_section(
            ChartPlan.model_validate(gate["plan"]), colour=colour_enabled(sys.stdout)
        )
        if section:
            echo(section)


def _follow(
    client: httpx.Client, wf_id: str, ask: Ask, echo: Callable[[str], None], deadline: float
) -> dict[str, Any]:
    """Print progress until the workflow ends, answering gates as they come."""
    import httpx

    from shared.errors import AutopilotError

    last_id: str | None = None
    answered: set[str] = set()
    while time.monotonic() < deadline:
        status: dict[str, Any] = call(client, "GET", f"/v1/workflows/{wf_id}").json()
        if status["status"] in FINAL:
            return status
        gate = status.get("pending_gate")
        if status["status"] == "waiting_for_approval" and gate and gate.get("gate") not in answered:
            decision = ask(status)
            answered.add(gate["gate"])
            call(
                client, "POST", f"/v1/workflows/{wf_id}/decisions", json=decision
            ).raise_for_status()
            continue
        try:
            for event_id, payload in sse_events(client, f"/v1/workflows/{wf_id}/events", last_id):
                last_id = event_id or last_id
                echo(_describe(payload))
                if payload.get("type", "").split(".")[-1] in FINAL | {
                    "pending",
                    "waiting_for_approval",
                }:
                    break
        except httpx.HTTPError:
            time.sleep(0.5)  # the gateway restarted or the stream timed out: resume from last_id
    raise AutopilotError(f"workflow {wf_id} did not finish in time", field="--timeout")


def _describe(event: dict[str, Any]) -> str:
    """One progress line for an event."""
    detail = (
        event.get("gate") or event.get("node") or event.get("phase") or event.get("message") or ""
    )
    return f"  {event['type']:<20} {detail}".rstrip()


def _unpack(archive: bytes, out_dir: Path) -> Path:
    """Expand the downloaded chart archive under out_dir; returns the chart directory."""
    import tempfile

    import helm_python

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tgz = Path(tmp) / "chart.tgz"
        tgz.write_bytes(archive)
        with helm_python.Chart.load(tgz) as chart:
            name = chart.name
        helm_python.expand(out_dir, tgz)
    return out_dir / name


def _detail(resp: httpx.Response) -> str:
    """An error answer in one line: pydantic's error list as `field: message; ...`."""
    try:
        detail = resp.json().get("detail")
    except (ValueError, AttributeError):
        return resp.text.strip()[:300] or resp.reason_phrase
    if isinstance(detail, list) and all(isinstance(e, dict) and "msg" in e for e in detail):
        return "; ".join(
            ".".join(str(p) for p in e.get("loc", []) if p != "body") + f": {e['msg']}"
            for e in detail
        )
    return detail if isinstance(detail, str) else json.dumps(detail, default=str)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    from services.cli.options import add_gateway_options

    smt = sub.add_parser("submit", help="send an input through a running gateway")
    smt.add_argument("input", help="spec or compose file; '-' reads stdin")
    add_gateway_options(smt, output=False)
    smt.add_argument("-o", "--output", required=True, help="directory to unpack the chart under")
    smt.add_argument("--yes", action="store_true", help="approve every human gate")
    smt.add_argument("--name", help="chart name (default: as generate names it)")
    smt.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a variable for the Compose file's ${VAR} (repeatable); the gateway never reads "
        "its own environment, and your shell's is not sent: only these and the .env beside "
        "the file",
    )
    smt.set_defaults(func=run)


def env_flags(values: list[str]) -> dict[str, str]:
    """`--env KEY=VALUE` flags as a mapping, refusing what is not KEY=VALUE."""
    from shared.errors import AutopilotError

    env: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not (key[0].isalpha() or key[0] == "_"):
            raise AutopilotError(f"{item!r} is not KEY=VALUE", field="--env")
        env[key] = value
    return env


def run(args: argparse.Namespace) -> int:
    """CLI glue: read the input file (or stdin) and its `.env`, and submit them."""
    from services.cli.common import compose_chart_name, read_input

    source = args.input
    data, base_dir = read_input(source)
    dotenv_path = None if base_dir is None else base_dir / ".env"
    dotenv = None
    if dotenv_path is not None and dotenv_path.is_file():
        dotenv = dotenv_path.read_text(encoding="utf-8", errors="replace")
    return submit(
        data,
        args.gateway,
        Path(args.output),
        yes=args.yes,
        name=args.name or compose_chart_name(source, data),
        env=env_flags(args.env),
        dotenv=dotenv,
    )
