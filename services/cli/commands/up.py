"""`autopilot up`: embedded servers and the four services, until Ctrl-C."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    up = sub.add_parser("up", help="run the whole system locally (embedded NATS and PostgreSQL)")
    up.add_argument("--port", type=int, help="gateway port (default: a free one)")
    up.add_argument("--data-dir", help="where embedded servers, pids and logs live")
    up.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Embedded servers and the four services, until Ctrl-C."""
    import asyncio
    import logging

    from services.cli.local import run_up
    from shared.config import default_data_dir

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    return asyncio.run(run_up(data_dir.resolve(), args.port))
