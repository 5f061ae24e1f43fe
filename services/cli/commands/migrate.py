"""`autopilot migrate`: create or upgrade every Postgres table once per release."""

from __future__ import annotations

import argparse


async def migrate(database_url: str) -> list[str]:
    """Create or upgrade the checkpoint, store and artifact tables; returns what was done."""
    from services.gateway.keys import PostgresKeys
    from services.gateway.store import PostgresStore
    from shared.infra.artifacts import ArtifactStore
    from shared.infra.checkpoint import open_checkpointer, open_store
    from shared.infra.webhooks import PostgresWebhooks

    done = []
    async with open_checkpointer(database_url, max_connections=2):
        done.append("checkpoints: up to date")
    async with open_store(database_url, max_connections=2):
        done.append("long-term store: up to date")
    async with ArtifactStore.open(database_url, max_connections=2):
        done.append("artifacts: up to date")
    async with PostgresStore.open(database_url, max_connections=2):
        done.append("gateway workflows and events: up to date")
    async with PostgresKeys.open(database_url, pepper=None, max_connections=2):
        done.append("gateway API keys: up to date")
    async with PostgresWebhooks.open(database_url, key=None, max_connections=2):
        done.append("webhook subscriptions: up to date")
    return done


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    mig = sub.add_parser("migrate", help="create the Postgres tables (run once per release)")
    mig.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create or upgrade every Postgres table once (a pre-install Job, not every replica)."""
    import asyncio

    from services.cli.settings import CliSettings
    from shared.errors import AutopilotError

    # Only the database matters here: no NATS URL or AES key is needed to create tables.
    database_url = CliSettings().database_url
    if not database_url:
        raise AutopilotError("AUTOPILOT_DATABASE_URL is not set", field="AUTOPILOT_DATABASE_URL")
    import psycopg

    from services.cli.remote import Unavailable

    try:
        done = asyncio.run(migrate(database_url))
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise Unavailable(f"the database cannot be reached: {reason}") from exc
    except psycopg.ProgrammingError as exc:
        raise AutopilotError(
            f"not a PostgreSQL URL: {exc}", field="AUTOPILOT_DATABASE_URL"
        ) from exc
    for line in done:
        print(line)
    return 0
