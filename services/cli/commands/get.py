"""`autopilot get ID`: a workflow's status and the summary of its pending gate."""

from __future__ import annotations

import argparse
import sys

from services.cli.options import add_gateway_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser("get", help="a workflow's status and its pending gate")
    cmd.add_argument("id", help="workflow id")
    add_gateway_options(cmd)
    cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the workflow."""
    from services.cli import remote
    from services.cli.terminal import colour_enabled

    with remote.client(args.gateway) as http:
        workflow = remote.get_workflow(http, args.id)
        if args.output != "table":
            print(remote.dump(workflow, args.output))
            return 0
        print("\n".join(remote.view_lines(workflow)))
        gate = workflow.get("pending_gate")
        if gate:
            print(f"\npending gate: {gate['gate']}\n")
            print(remote.gate_summary(workflow, http, colour=colour_enabled(sys.stdout)))
            print(f"\nautopilot approve {args.id}   |   autopilot reject {args.id} --comment ...")
    return 0
