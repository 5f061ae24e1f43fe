"""One module per `autopilot` verb, each with `add_parser(sub)` and `run(args) -> int`.

A new verb is a new module here plus its name in VERBS.
"""

from __future__ import annotations

VERBS = (
    "generate",
    "validate",
    "plan",
    "schema",
    "up",
    "serve",
    "migrate",
    "submit",
    "list",
    "get",
    "approve",
    "reject",
    "edit",
    "cancel",
    "logs",
    "keys",
    "audit",
    "webhooks",
    "events",
    "daemon",
)
