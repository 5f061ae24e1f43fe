"""`autopilot webhooks add|list|rm`: notification subscriptions on the gateway (approver key).

A subscription posts `gate.*` / `workflow.*` events of the caller's tenant to a URL, as CloudEvents
JSON or a Slack message, signed `X-Autopilot-Signature: sha256=<HMAC-SHA256 of the body>` with
its secret. The secret is read from --secret-file (`-` for stdin) or AUTOPILOT_WEBHOOK_SECRET,
else one is generated and printed once; the gateway never shows it again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from services.cli.options import add_gateway_options

SECRET_ENV = "AUTOPILOT_WEBHOOK_SECRET"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb and its three actions."""
    cmd = sub.add_parser("webhooks", help="notification webhooks on the gateway (approver)")
    actions = cmd.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="subscribe a URL to gate and workflow events")
    add.add_argument("url", help="http(s) URL the events are posted to")
    add.add_argument(
        "-e",
        "--event",
        dest="events",
        action="append",
        metavar="PATTERN",
        help="event pattern, repeatable (default: gate.* and workflow.*), e.g. gate.*.pending",
    )
    add.add_argument("--format", choices=["cloudevents", "slack"], default="cloudevents")
    add.add_argument(
        "--secret-file",
        metavar="PATH",
        help=f"file holding the signing secret ('-': stdin; default: ${SECRET_ENV}, else a new one)",
    )
    add_gateway_options(add)
    listing = actions.add_parser("list", help="subscriptions with their delivery counts")
    add_gateway_options(listing)
    rm = actions.add_parser("rm", help="delete a subscription")
    rm.add_argument("id", help="the subscription's id (wh_...)")
    add_gateway_options(rm)
    cmd.set_defaults(func=run)


def read_secret(path: str | None) -> tuple[str, bool]:
    """(secret, generated?): from the file, the environment, or a new random one."""
    import secrets

    from services.cli.settings import CliSettings
    from shared.errors import AutopilotError

    if path == "-":
        secret = sys.stdin.readline().strip()
    elif path:
        try:
            secret = Path(path).read_text().strip()
        except OSError as exc:
            raise AutopilotError(
                f"cannot read the secret: {exc.strerror}", field="--secret-file"
            ) from exc
    elif env := CliSettings().webhook_secret:
        secret = env.get_secret_value().strip()
    else:
        return secrets.token_urlsafe(32), True
    if not secret:
        raise AutopilotError("the secret is empty", field="--secret-file")
    return secret, False


def rows(items: list[dict[str, Any]]) -> list[list[str]]:
    """Table rows of subscriptions."""
    return [
        [
            w["id"],
            w["format"],
            ",".join(w["events"]),
            w["url"],
            str(w.get("delivered", 0)),
            str(w.get("dead_lettered", 0)),
            w.get("last_outcome") or "-",
        ]
        for w in items
    ]


def run(args: argparse.Namespace) -> int:
    """Add, list or remove."""
    from services.cli import remote
    from services.cli.summaries import Style, table
    from services.cli.terminal import colour_enabled

    generated = False
    with remote.client(args.gateway) as http:
        if args.action == "add":
            secret, generated = read_secret(args.secret_file)
            body = {
                "url": args.url,
                "secret": secret,
                "format": args.format,
                "events": args.events or ["gate.*", "workflow.*"],
            }
            made = remote.request(http, "POST", "/v1/webhooks", json=body).json()
            if args.output != "table":
                print(remote.dump({**made, "secret": secret} if generated else made, args.output))
                return 0
            print(made["id"])
            if generated:
                print(f"secret: {secret}")
                print(
                    "the secret is shown this once: verify X-Autopilot-Signature with it",
                    file=sys.stderr,
                )
            return 0
        if args.action == "list":
            items = remote.request(http, "GET", "/v1/webhooks").json()["items"]
        else:
            items = [remote.request(http, "DELETE", f"/v1/webhooks/{args.id}").json()]
    if args.output != "table":
        print(remote.dump(items if args.action == "list" else items[0], args.output))
        return 0
    if args.action == "rm":
        print(f"deleted {items[0]['id']} ({items[0]['url']})")
        return 0
    style = Style(colour_enabled(sys.stdout))
    header = ["ID", "FORMAT", "EVENTS", "URL", "DELIVERED", "DEAD", "LAST"]
    print("\n".join(table(rows(items), header, style)))
    return 0
