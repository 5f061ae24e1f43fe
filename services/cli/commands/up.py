"""`autopilot up`: embedded servers and the services (swarms optionally replicated), until Ctrl-C."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    up = sub.add_parser("up", help="run the whole system locally (embedded NATS and PostgreSQL)")
    up.add_argument("--port", type=port_number, help="gateway port (default: a free one)")
    up.add_argument("--data-dir", help="where embedded servers, pids and logs live")
    up.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run a swarm service as N processes sharing its queue, e.g. --replicas generator=2 "
        "--replicas validator=2 (or generator=2,validator=2); planner, generator or validator, "
        "N from 1 to 16; default 1 each",
    )
    up.set_defaults(func=run)


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def _check_port_free(port: int) -> None:
    """Refuse a gateway port something already listens on, before starting anything."""
    import socket

    from services.cli.remote import Unavailable

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the gateway's server binds: a port with connections in TIME_WAIT is still usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise Unavailable(
                f"port {port} is in use ({exc.strerror}); pick another --port"
            ) from exc


def run(args: argparse.Namespace) -> int:
    """Embedded servers and the four services, until Ctrl-C."""
    import asyncio

    from services.cli.local import parse_replicas, run_up
    from shared.config import default_data_dir
    from shared.logs import configure

    replicas = parse_replicas(args.replicas)
    if args.port is not None:
        _check_port_free(args.port)
    configure()
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    return asyncio.run(run_up(data_dir.resolve(), args.port, replicas))
