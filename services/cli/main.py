"""The `autopilot` command line: generate, validate, plan, schema, up, serve, submit.

Exit codes: 0 success, 1 the chart failed validation (or a gate was rejected),
2 bad input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from services.cli.commands import VERBS
from shared.errors import AutopilotError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="autopilot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for verb in VERBS:
        importlib.import_module(f"services.cli.commands.{verb}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `autopilot` command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AutopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code
