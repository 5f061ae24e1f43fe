"""`autopilot list`: the gateway's workflows, newest first."""

from __future__ import annotations

import argparse
import sys

from services.cli.options import add_gateway_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser("list", help="workflows on the gateway, newest first")
    cmd.add_argument("--status", help="only this status, e.g. waiting_for_approval")
    cmd.add_argument("--limit", type=int, default=50, help="at most this many (1-200)")
    add_gateway_options(cmd)
    cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the workflows."""
    from services.cli import remote
    from services.cli.summaries import Style, table
    from services.cli.terminal import colour_enabled

    params: dict[str, str | int] = {"limit": args.limit}
    if args.status:
        params["status"] = args.status
    with remote.client(args.gateway) as http:
        items = remote.request(http, "GET", "/v1/workflows", params=params).json()["items"]
    if args.output != "table":
        print(remote.dump(items, args.output))
        return 0
    rows = [
        [
            w["id"],
            w.get("name") or "-",
            w["status"],
            (w.get("pending_gate") or {}).get("gate") or w.get("phase") or "-",
            str(w.get("updated_at", "-"))[:19].replace("T", " "),
        ]
        for w in items
    ]
    style = Style(colour_enabled(sys.stdout))
    print("\n".join(table(rows, ["ID", "NAME", "STATUS", "GATE/PHASE", "UPDATED"], style)))
    return 0
