"""`autopilot events [-f]`: the gate and workflow notifications a caller may see, as JSON lines.

Read from the gateway's `/v1/events` (Server-Sent Events over the gateway's event log), so a
remote user needs only the gateway URL and a key, never NATS credentials: submitters get their
own workflows' events, approvers their tenant's. Each line is one JSON object
`{"id", "type", "workflow_id", "time", "data"}`; `--since ID` resumes after a line's id. With
-f a dropped connection is resumed from the last id, so a script sees every event once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from services.cli.options import add_gateway_options

RECONNECT_MAX_SECONDS = 30.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser("events", help="notifications of your workflows as JSON lines; -f follows")
    cmd.add_argument("-f", "--follow", action="store_true", help="keep streaming new events")
    cmd.add_argument(
        "-e",
        "--event",
        dest="events",
        action="append",
        metavar="PATTERN",
        help="only these event types, repeatable (gate.*, gate.*.pending, workflow.completed)",
    )
    cmd.add_argument("--since", type=int, metavar="ID", help="events after this id (0: all)")
    cmd.add_argument(
        "--tail",
        type=int,
        default=None,
        help="without --since: past events first (default 20, or 0 with -f)",
    )
    cmd.add_argument("-o", "--output", choices=["json", "text"], default="json", help="format")
    add_gateway_options(cmd, output=False)
    cmd.set_defaults(func=run)


def line(event: dict[str, Any], output: str) -> str:
    """One event as a JSON line, or as text for people."""
    if output == "json":
        return json.dumps(event, separators=(",", ":"), default=str)
    data = event.get("data") or {}
    detail = " ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", {}, []))
    return f"{event.get('id')!s:>6} {event.get('workflow_id', '')[:12]} {event.get('type', ''):<34} {detail}".rstrip()


def run(args: argparse.Namespace) -> int:
    """Print events; with -f until interrupted, reconnecting after a dropped stream."""
    from services.cli import remote

    params: dict[str, Any] = {}
    if args.events:
        params["events"] = args.events
    if args.since is not None:
        params["after"] = args.since
    else:
        params["tail"] = args.tail if args.tail is not None else (0 if args.follow else 20)
    delay, connected = 1.0, False
    with remote.client(args.gateway) as http:
        while True:
            try:
                for _, event in remote.sse(http, "/v1/events", follow=args.follow, params=params):
                    connected, delay = True, 1.0
                    print(line(event, args.output), flush=True)
                    if isinstance(event.get("id"), int):
                        params.pop("tail", None)
                        params["after"] = event["id"]
            except remote.Unavailable as exc:
                # The first connection failing is an answer (exit 3); a later drop is resumed.
                if not (args.follow and connected):
                    raise
                print(f"events: {exc}; reconnecting in {delay:.0f}s", file=sys.stderr)
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            if not args.follow:
                return 0
            time.sleep(delay)  # the gateway closed a follow stream (restart): resume
