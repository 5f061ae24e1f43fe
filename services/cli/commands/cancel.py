"""`autopilot cancel ID`: end a running or waiting workflow as cancelled."""

from __future__ import annotations

import argparse

from services.cli.options import add_gateway_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser(
        "cancel",
        help="cancel a running or waiting workflow (its submitter, or an approver of its tenant)",
    )
    cmd.add_argument("id", help="workflow id")
    add_gateway_options(cmd)
    cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Ask the gateway to cancel; prints the workflow afterwards."""
    from services.cli import remote

    with remote.client(args.gateway) as http:
        after = remote.request(http, "POST", f"/v1/workflows/{args.id}/cancel").json()
    if args.output != "table":
        print(remote.dump(after, args.output))
    else:
        print(f"cancelled {args.id}")
        print("\n".join(remote.view_lines(after)))
    return 0
