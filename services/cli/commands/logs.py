"""`autopilot logs ID [-f]`: a workflow's events (the gateway's Server-Sent Events)."""

from __future__ import annotations

import argparse
import json

from services.cli.options import add_gateway_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser("logs", help="a workflow's events; -f follows until it ends")
    cmd.add_argument("id", help="workflow id")
    cmd.add_argument("-f", "--follow", action="store_true", help="keep streaming until the end")
    add_gateway_options(cmd)
    cmd.set_defaults(func=run)


def line(kind: str, data: dict[str, object]) -> str:
    """One event as a line of text."""
    detail = " ".join(
        f"{k}={v}" for k, v in data.items() if k not in ("workflow_id",) and v not in (None, "")
    )
    return f"{kind:<32} {detail}".rstrip()


def run(args: argparse.Namespace) -> int:
    """Print events; with -f, exit 0 when the workflow completes and 1 when it fails."""
    from services.cli import remote

    last = ""
    with remote.client(args.gateway) as http:
        remote.get_workflow(http, args.id)  # 404 -> a clear error before streaming
        for kind, data in remote.sse(http, f"/v1/workflows/{args.id}/events", follow=args.follow):
            last = kind
            if args.output == "json":
                print(json.dumps({"type": kind, **data}, default=str), flush=True)
            elif args.output == "yaml":
                print("---\n" + remote.dump({"type": kind, **data}, "yaml"), flush=True)
            else:
                print(line(kind, data), flush=True)
    if args.follow and last.split(".")[-1] in ("failed", "rejected"):
        return 1
    return 0
