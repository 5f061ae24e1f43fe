"""`autopilot approve ID`: approve the workflow's pending gate."""

from __future__ import annotations

import argparse

from services.cli.options import add_gateway_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser("approve", help="approve a workflow's pending gate")
    cmd.add_argument("id", help="workflow id")
    cmd.add_argument("--gate", help="the gate expected to be pending (default: whichever is)")
    cmd.add_argument("--comment", help="a note recorded with the decision")
    add_gateway_options(cmd)
    cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send the decision."""
    from services.cli import remote

    return remote.decide(args, "approve")
