"""`autopilot serve`: one service in the foreground, for containers and scaling."""

from __future__ import annotations

import argparse

SERVICES = ("planner", "generator", "validator", "gateway", "notifier")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    srv = sub.add_parser("serve", help="run one service in the foreground")
    srv.add_argument("service", choices=list(SERVICES))
    srv.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """One service in the foreground; its `main` sets up logging (`shared.logs.configure`)."""
    import importlib

    module = importlib.import_module(f"services.{args.service}.main")
    module.main()
    return 0
