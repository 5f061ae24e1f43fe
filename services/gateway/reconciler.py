"""The reconciler: re-dispatches any swarm step that waited past its deadline.

JetStream can lose an acknowledged message on power loss and a swarm can die between runs;
Postgres (the checkpoints and the workflow rows) is the source of truth, so a periodic sweep
over overdue rows turns a lost message into a delay instead of a stuck workflow. Safe with
several gateway replicas: each workflow is handled under its cluster-wide lock and re-checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from services.gateway.supervisor import Supervisor

_log = logging.getLogger(__name__)


async def reconcile_forever(supervisor: Supervisor, interval: float) -> None:
    """Sweep every `interval` seconds until cancelled."""
    while True:
        try:
            touched = await supervisor.reconcile_once()
            if touched:
                _log.info("reconciler re-dispatched or resumed %d workflow(s)", touched)
        except Exception:
            # Postgres away: the next sweep tries again; the loop itself must never die.
            _log.exception("reconciler sweep failed")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(supervisor: Supervisor, interval: float) -> AsyncIterator[asyncio.Task[None]]:
    """The reconciler as a background task for the block's duration."""
    task = asyncio.create_task(reconcile_forever(supervisor, interval), name="gateway-reconciler")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
