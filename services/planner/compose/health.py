"""Compose `healthcheck` -> Kubernetes probes."""

from __future__ import annotations

from typing import Any

from services.planner.compose.common import (
    Draft,
    ImportContext,
    expect_mapping,
    str_list,
    wrong_type,
)
from services.planner.compose.units import duration_seconds, whole_seconds
from shared.errors import InputError

# --- health --------------------------------------------------------------------------------


def _probe_command(test: object, where: str) -> list[str] | None:
    """A healthcheck `test` as an exec command; None for NONE."""
    if isinstance(test, str):
        if not test.strip():
            raise InputError("the healthcheck test is empty; give a command", field=where)
        return ["sh", "-c", test]
    items = str_list(test, where, '["CMD", "curl", "-f", "http://localhost/"]')
    if not items:
        raise InputError("the healthcheck test is empty; give a command", field=where)
    kind, rest = items[0], items[1:]
    if kind == "NONE":
        return None
    if kind == "CMD" and rest:
        return rest
    if kind == "CMD-SHELL" and rest:
        return ["sh", "-c", " ".join(rest)]
    raise InputError(
        'a healthcheck test list starts with "CMD", "CMD-SHELL" or "NONE" followed by the '
        'command, like ["CMD", "pg_isready"]',
        field=where,
    )


def map_healthcheck(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`healthcheck` -> liveness and readiness (same handler), plus startup for start_period."""
    spec = expect_mapping(value, where, '{test: ["CMD", "pg_isready"], interval: 10s}')
    if spec.get("disable") is True:
        ctx.notes.info(where, "the healthcheck is disabled; the planner chooses probes")
        return
    if spec.get("test") is None:
        ctx.notes.warning(
            where,
            "no `test:` here, so the image's own HEALTHCHECK applies in Compose; the importer "
            "cannot see it, so the planner chooses probes",
        )
        return
    command = _probe_command(spec["test"], f"{where}.test")
    if command is None:
        ctx.notes.info(where, "the healthcheck is NONE; the planner chooses probes")
        return
    period = whole_seconds(spec.get("interval", "30s"), f"{where}.interval")
    retries = spec.get("retries", 3)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
        raise wrong_type(f"{where}.retries", retries, "a whole number >= 1", "retries: 3")
    probe = {
        "exec": command,
        "periodSeconds": period,
        "timeoutSeconds": whole_seconds(spec.get("timeout", "30s"), f"{where}.timeout"),
        "failureThreshold": retries,
    }
    probes: dict[str, Any] = {"liveness": probe, "readiness": dict(probe)}
    start = duration_seconds(spec.get("start_period", 0), f"{where}.start_period")
    if start > 0:
        interval = (
            whole_seconds(spec["start_interval"], f"{where}.start_interval")
            if "start_interval" in spec
            else period
        )
        # Compose ignores failures during start_period, then allows `retries` more.
        threshold = -(-int(start * 1000) // (interval * 1000)) + retries
        probes["startup"] = {**probe, "periodSeconds": interval, "failureThreshold": threshold}
    draft.fields["probes"] = probes
