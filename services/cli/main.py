"""The `autopilot` command line: generate, validate, plan, schema, up, serve, submit,
and against a gateway list, get, approve, reject, logs.

Exit codes: 0 done, 1 validation failed or a gate was rejected, 2 bad input or usage,
3 the gateway is unavailable or failed inside.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import httpx

from services.cli.commands import VERBS
from services.cli.remote import Unavailable
from shared.errors import AutopilotError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="autopilot", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for verb in VERBS:
        importlib.import_module(f"services.cli.commands.{verb}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `autopilot` command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except Unavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except AutopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"error: the gateway failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
