"""Options every verb that talks to a gateway shares: --gateway and -o.

Kept apart from remote.py so that building the parser (`--version`, `--help`) imports no HTTP
client and no models.
"""

from __future__ import annotations

import argparse

DEFAULT_GATEWAY = "http://127.0.0.1:8080"


def add_gateway_options(parser: argparse.ArgumentParser, *, output: bool = True) -> None:
    """--gateway and -o, shared by every verb that talks to the gateway."""
    parser.add_argument(
        "--gateway",
        help=f"gateway URL (default: AUTOPILOT_GATEWAY or {DEFAULT_GATEWAY}); may end in /v1",
    )
    if output:
        parser.add_argument(
            "-o", "--output", choices=["table", "json", "yaml"], default="table", help="format"
        )
