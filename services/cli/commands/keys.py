"""`autopilot keys create|list|revoke`: API keys stored by the gateway (admin key needed).

The verbs call the gateway's admin API (`/v1/keys`), not the database: the pepper keys are
hashed under and the admin check live in the gateway only, and an operator needs no database
credentials (see docs/OPERATING.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from services.cli.options import add_gateway_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb and its three actions."""
    cmd = sub.add_parser("keys", help="API keys on the gateway (create, list, revoke; admin)")
    actions = cmd.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; it is printed once")
    create.add_argument("--name", required=True, help="the principal id the key stands for")
    create.add_argument("--role", required=True, choices=["submitter", "approver", "admin"])
    create.add_argument("--tenant", help="the principal's tenant (default: none)")
    add_gateway_options(create)
    listing = actions.add_parser("list", help="keys, revoked ones too (never the key)")
    add_gateway_options(listing)
    revoke = actions.add_parser("revoke", help="revoke every active key of a name, or one by id")
    revoke.add_argument("target", metavar="NAME|ID")
    add_gateway_options(revoke)
    cmd.set_defaults(func=run)


def rows(items: list[dict[str, Any]]) -> list[list[str]]:
    """Table rows of keys."""
    return [
        [
            k["id"],
            k["name"],
            k["role"],
            k.get("tenant") or "-",
            str(k["created_at"])[:19].replace("T", " "),
            "revoked " + str(k["revoked_at"])[:19].replace("T", " ")
            if k.get("revoked_at")
            else "active",
        ]
        for k in items
    ]


def run(args: argparse.Namespace) -> int:
    """Create, list or revoke."""
    from services.cli import remote
    from services.cli.summaries import Style, table
    from services.cli.terminal import colour_enabled

    with remote.client(args.gateway) as http:
        if args.action == "create":
            body = {"name": args.name, "role": args.role, "tenant": args.tenant}
            made = remote.request(http, "POST", "/v1/keys", json=body).json()
            if args.output != "table":
                print(remote.dump(made, args.output))
                return 0
            print(made["key"])
            print(
                f"key {made['id']} for {made['name']} ({made['role']}, tenant "
                f"{made.get('tenant') or '-'}): shown this once, store it now",
                file=sys.stderr,
            )
            return 0
        if args.action == "list":
            items = remote.request(http, "GET", "/v1/keys").json()["items"]
        else:
            items = remote.request(http, "DELETE", f"/v1/keys/{args.target}").json()["items"]
    if args.output != "table":
        print(remote.dump(items, args.output))
        return 0
    if args.action == "revoke":
        print("\n".join(f"revoked {k['id']} ({k['name']})" for k in items))
        return 0
    style = Style(colour_enabled(sys.stdout))
    header = ["ID", "NAME", "ROLE", "TENANT", "CREATED", "STATE"]
    print("\n".join(table(rows(items), header, style)))
    return 0
