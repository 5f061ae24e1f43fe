"""`autopilot audit`: every gate decision, newest first (an admin key; a tenant's admin sees
the tenant's)."""

from __future__ import annotations

import argparse
import sys

from services.cli.options import add_gateway_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser("audit", help="the gateway's audit log of gate decisions (admin)")
    cmd.add_argument("--workflow", help="only this workflow's decisions")
    cmd.add_argument("--limit", type=int, default=100, help="at most this many (1-500)")
    add_gateway_options(cmd)
    cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the audit log."""
    from services.cli import remote
    from services.cli.summaries import Style, table
    from services.cli.terminal import colour_enabled

    params: dict[str, str | int] = {"limit": args.limit}
    if args.workflow:
        params["workflow_id"] = args.workflow
    with remote.client(args.gateway) as http:
        items = remote.request(http, "GET", "/v1/audit", params=params).json()["items"]
    if args.output != "table":
        print(remote.dump(items, args.output))
        return 0
    rows = [
        [
            str(e["time"])[:19].replace("T", " "),
            e["workflow_id"],
            e["gate"],
            e["decision"],
            e["principal"],
            e.get("role") or "-",
            e["how"],
            e.get("tenant") or "-",
            (e.get("comment") or "")[:40],
        ]
        for e in items
    ]
    header = ["TIME", "WORKFLOW", "GATE", "DECISION", "BY", "ROLE", "HOW", "TENANT", "COMMENT"]
    print("\n".join(table(rows, header, Style(colour_enabled(sys.stdout)))))
    return 0
