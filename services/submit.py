"""`autopilot submit`: send an input through a running gateway, follow it, answer its gates.

Progress comes from the workflow's Server-Sent Events (resumed with Last-Event-ID when the
connection drops); at each human gate the reviewer is asked on the terminal, or every gate
is approved up front with --yes. The finished chart is downloaded and unpacked.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from shared.errors import AutopilotError
from shared.models.workflow import GateName

FINAL = {"completed", "failed", "rejected"}
Ask = Callable[[dict[str, Any]], dict[str, Any]]


def request_body(data: bytes, *, yes: bool, name: str | None) -> dict[str, Any]:
    """The POST body: a native spec as requirements, anything else as compose text."""
    text = data.decode("utf-8", errors="replace")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    body: dict[str, Any] = (
        {"requirements": doc} if isinstance(doc, dict) and "components" in doc else {"compose": text}
    )
    options: dict[str, Any] = {}
    if yes:
        options["auto_approve"] = [g.value for g in GateName]
    if name:
        options["name"] = name
    if options:
        body["options"] = options
    return body


def sse_events(client: httpx.Client, url: str, last_id: str | None) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(id, data) pairs from one SSE connection."""
    headers = {"Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    with client.stream("GET", url, headers=headers, timeout=httpx.Timeout(10.0, read=30.0)) as resp:
        resp.raise_for_status()
        event_id: str | None = None
        data: list[str] = []
        for line in resp.iter_lines():
            if line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                try:
                    payload = json.loads("\n".join(data))
                except json.JSONDecodeError:
                    payload = {"message": "\n".join(data)}
                yield event_id, payload if isinstance(payload, dict) else {"data": payload}
                data = []


def ask_terminal(workflow: dict[str, Any]) -> dict[str, Any]:
    """Show the pending gate on the terminal and read the reviewer's decision."""
    from services.terminal import ask

    gate = workflow["pending_gate"]
    text = f"== gate {gate.get('gate')} ==\n" + json.dumps(gate, indent=2, default=str)[:20000]
    (answer,) = ask(text, "approve (a) / reject (r)? ")
    if answer.lower().startswith("a") or answer.lower() in ("y", "yes"):
        return {"gate": gate["gate"], "decision": "approve"}
    (comment,) = ask("", "comment: ")
    return {"gate": gate["gate"], "decision": "reject", "comment": comment}


def submit(
    data: bytes,
    gateway: str,
    out_dir: Path,
    *,
    yes: bool,
    name: str | None = None,
    ask: Ask = ask_terminal,
    echo: Callable[[str], None] = print,
    timeout: float = 600.0,
) -> int:
    """Run one workflow through the gateway; 0 when a chart was written, 1 otherwise."""
    with httpx.Client(base_url=gateway.rstrip("/"), timeout=30.0) as client:
        resp = client.post("/v1/workflows", json=request_body(data, yes=yes, name=name))
        if resp.status_code == 422:
            raise AutopilotError(_detail(resp), field="INPUT")
        resp.raise_for_status()
        wf_id = resp.json()["id"]
        echo(f"workflow {wf_id} submitted")
        status = _follow(client, wf_id, ask, echo, time.monotonic() + timeout)
        if status["status"] != "completed":
            echo(f"workflow {status['status']}: {json.dumps(status.get('error') or {}, default=str)}")
            return 1
        archive = client.get(f"/v1/workflows/{wf_id}/chart.tgz")
        archive.raise_for_status()
        return _unpack(archive.content, out_dir, echo)


def _follow(client: httpx.Client, wf_id: str, ask: Ask, echo: Callable[[str], None], deadline: float) -> dict[str, Any]:
    """Print progress until the workflow ends, answering gates as they come."""
    last_id: str | None = None
    answered: set[str] = set()
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/v1/workflows/{wf_id}").json()
        if status["status"] in FINAL:
            return status
        gate = status.get("pending_gate")
        if status["status"] == "waiting_for_approval" and gate and gate.get("gate") not in answered:
            decision = ask(status)
            answered.add(gate["gate"])
            client.post(f"/v1/workflows/{wf_id}/decisions", json=decision).raise_for_status()
            continue
        try:
            for event_id, payload in sse_events(client, f"/v1/workflows/{wf_id}/events", last_id):
                last_id = event_id or last_id
                echo(f"  {payload.get('type', 'event')}: {payload.get('message') or payload.get('phase') or ''}".rstrip(": "))
                if payload.get("type", "").split(".")[-1] in FINAL | {"pending", "waiting_for_approval"}:
                    break
        except httpx.HTTPError:
            time.sleep(0.5)  # the gateway restarted or the stream timed out: resume from last_id
    raise AutopilotError(f"workflow {wf_id} did not finish in time", field="--timeout")


def _unpack(archive: bytes, out_dir: Path, echo: Callable[[str], None]) -> int:
    """Expand the downloaded chart archive under out_dir."""
    import helm_python

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tgz = Path(tmp) / "chart.tgz"
        tgz.write_bytes(archive)
        with helm_python.Chart.load(tgz) as chart:
            name = chart.name
        helm_python.expand(out_dir, tgz)
    echo(f"chart written to {out_dir / name}")
    return 0


def _detail(resp: httpx.Response) -> str:
    try:
        return json.dumps(resp.json().get("detail"), default=str)
    except ValueError:
        return resp.text


def main_submit(source: str, gateway: str, out: str, yes: bool, name: str | None) -> int:
    """CLI glue: read the input file (or stdin) and submit it."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    return submit(data, gateway, Path(out), yes=yes, name=name)
