"""Webhook subscriptions in Postgres (`gateway_webhooks`), shared by the gateway and the notifier.

The gateway creates, lists and deletes rows (`/v1/webhooks`); the notifier reads the rows of a
workflow's tenant to fan a notification out, and the one row a delivery is for, with its secret.
A subscription belongs to its creator's tenant ('' for none) and only ever sees events of that
tenant's workflows: the tenant is read from the workflow's row, never from the event.

The signing secret has to be read back to sign, so it cannot be hashed: with LANGGRAPH_AES_KEY
set it is stored AES-256-GCM under a subkey of that key (HKDF, its own label) with the row's id
bound in as associated data; without a key (local mode without encryption) it is stored as is.
No API answer ever carries it.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes
from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from shared.events import utcnow
from shared.infra.pg import table_pool
from shared.webhooks import WebhookFormat

_SETUP_LOCK = "autopilot:gateway-webhooks-setup"
_DDL = [
    """CREATE TABLE IF NOT EXISTS gateway_webhooks (
        id text PRIMARY KEY,
        tenant text NOT NULL DEFAULT '',
        url text NOT NULL,
        events jsonb NOT NULL,
        format text NOT NULL CHECK (format IN ('cloudevents', 'slack')),
        secret text NOT NULL,
        sealed boolean NOT NULL DEFAULT false,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered integer NOT NULL DEFAULT 0,
        dead_lettered integer NOT NULL DEFAULT 0,
        last_outcome text,
        last_error text,
        last_attempt_at timestamptz
    )""",
    "CREATE INDEX IF NOT EXISTS gateway_webhooks_tenant ON gateway_webhooks (tenant)",
]


class Webhook(BaseModel):
    """A subscription as listed: never its secret."""

    id: str
    tenant: str = ""
    url: str
    events: list[str]
    format: WebhookFormat
    created_by: str
    created_at: datetime
    delivered: int = 0
    dead_lettered: int = 0
    last_outcome: str | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None


class Target(Webhook):
    """A subscription as the notifier needs it: with its secret, in memory only."""

    secret: str = Field(repr=False)


@dataclass(frozen=True)
class WorkflowInfo:
    """What the notifier reads of a workflow's row: whose it is and its name."""

    tenant: str
    name: str | None
    submitted_by: str


@dataclass(frozen=True)
class FeedEvent:
    """One line of the event log with its workflow, for the tenant-wide feed."""

    id: int
    workflow_id: str
    type: str
    data: dict[str, Any]
    time: datetime


def new_id() -> str:
    """`wh_` + 12 hex digits."""
    return f"wh_{secrets.token_hex(6)}"


class SecretBox:
    """AES-256-GCM for signing secrets under a subkey of LANGGRAPH_AES_KEY (None: plaintext)."""

    def __init__(self, key: bytes | None) -> None:
        self._key = bytes(HKDF(key, 32, b"autopilot-webhook-secrets", SHA256)) if key else None

    @property
    def enabled(self) -> bool:
        """Whether secrets are encrypted at rest."""
        return self._key is not None

    def seal(self, webhook_id: str, secret: str) -> tuple[str, bool]:
        """(stored text, sealed?)."""
        if self._key is None:
            return secret, False
        nonce = get_random_bytes(12)
        aes = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=16)
        aes.update(webhook_id.encode())
        ciphertext, tag = aes.encrypt_and_digest(secret.encode())
        return base64.b64encode(nonce + tag + ciphertext).decode(), True

    def open(self, webhook_id: str, stored: str, sealed: bool) -> str:
        """The secret; ValueError when it is sealed and the key is missing or wrong."""
        if not sealed:
            return stored
        if self._key is None:
            raise ValueError(f"the secret of {webhook_id} is encrypted and no key is set")
        raw = base64.b64decode(stored)
        aes = AES.new(self._key, AES.MODE_GCM, nonce=raw[:12], mac_len=16)
        aes.update(webhook_id.encode())
        return aes.decrypt_and_verify(raw[28:], raw[12:28]).decode()


class WebhookStore(Protocol):
    """Subscriptions for the API and the notifier, plus what both read of workflows."""

    async def create(  # noqa: D102
        self,
        *,
        tenant: str,
        url: str,
        events: list[str],
        format: WebhookFormat,
        secret: str,
        created_by: str,
    ) -> Webhook: ...

    async def search(self, tenant: str | None) -> list[Webhook]: ...  # noqa: D102

    async def delete(self, webhook_id: str, tenant: str | None) -> Webhook | None: ...  # noqa: D102

    async def targets(self, tenant: str) -> list[Target]: ...  # noqa: D102

    async def target(self, webhook_id: str) -> Target | None: ...  # noqa: D102

    async def record(  # noqa: D102
        self, webhook_id: str, outcome: str, error: str | None = None
    ) -> None: ...

    async def workflow(self, workflow_id: str) -> WorkflowInfo | None: ...  # noqa: D102

    async def feed(  # noqa: D102
        self,
        after: int,
        *,
        tenant: str | None,
        submitted_by: str | None,
        limit: int = 200,
        newest: bool = False,
    ) -> list[FeedEvent]: ...


def _count(outcome: str) -> tuple[int, int]:
    """(delivered, dead_lettered) increments of an outcome."""
    return int(outcome == "delivered"), int(outcome == "dead_lettered")


class MemoryWebhooks:
    """The WebhookStore in memory, for unit tests; workflows and events come from `source`."""

    def __init__(self, key: bytes | None = None, source: Any = None) -> None:
        self.box = SecretBox(key)
        self.rows: dict[str, tuple[Webhook, str, bool]] = {}
        self.source = source
        """A MemoryStore (duck-typed: `.records`, `.events`), or None."""

    async def create(
        self,
        *,
        tenant: str,
        url: str,
        events: list[str],
        format: WebhookFormat,
        secret: str,
        created_by: str,
    ) -> Webhook:
        """Store a subscription, its secret sealed."""
        webhook_id = new_id()
        row = Webhook(
            id=webhook_id,
            tenant=tenant,
            url=url,
            events=events,
            format=format,
            created_by=created_by,
            created_at=utcnow(),
        )
        stored, sealed = self.box.seal(webhook_id, secret)
        self.rows[webhook_id] = (row, stored, sealed)
        return row

    async def search(self, tenant: str | None) -> list[Webhook]:
        """Every subscription (tenant None) or one tenant's, oldest first."""
        rows = sorted((r for r, _, _ in self.rows.values()), key=lambda r: r.created_at)
        return [r for r in rows if tenant is None or r.tenant == tenant]

    async def delete(self, webhook_id: str, tenant: str | None) -> Webhook | None:
        """Remove one subscription (within the tenant unless None)."""
        found = self.rows.get(webhook_id)
        if found is None or (tenant is not None and found[0].tenant != tenant):
            return None
        del self.rows[webhook_id]
        return found[0]

    async def targets(self, tenant: str) -> list[Target]:
        """The tenant's subscriptions with their secrets."""
        return [t for w in await self.search(tenant) if (t := await self.target(w.id))]

    async def target(self, webhook_id: str) -> Target | None:
        """One subscription with its secret."""
        found = self.rows.get(webhook_id)
        if found is None:
            return None
        row, stored, sealed = found
        return Target(**row.model_dump(), secret=self.box.open(webhook_id, stored, sealed))

    async def record(self, webhook_id: str, outcome: str, error: str | None = None) -> None:
        """Count a finished delivery on the subscription."""
        found = self.rows.get(webhook_id)
        if found is None:
            return
        row, stored, sealed = found
        delivered, dead = _count(outcome)
        row = row.model_copy(
            update={
                "delivered": row.delivered + delivered,
                "dead_lettered": row.dead_lettered + dead,
                "last_outcome": outcome,
                "last_error": error,
                "last_attempt_at": utcnow(),
            }
        )
        self.rows[webhook_id] = (row, stored, sealed)

    async def workflow(self, workflow_id: str) -> WorkflowInfo | None:
        """Tenant, name and submitter of a workflow of the source store."""
        record = (getattr(self.source, "records", None) or {}).get(workflow_id)
        if record is None:
            return None
        return WorkflowInfo(record.tenant, record.name, record.submitted_by)

    async def feed(
        self,
        after: int,
        *,
        tenant: str | None,
        submitted_by: str | None,
        limit: int = 200,
        newest: bool = False,
    ) -> list[FeedEvent]:
        """Events after `after` of the workflows in scope, oldest first (newest: the last ones)."""
        out: list[FeedEvent] = []
        for event in getattr(self.source, "events", None) or []:
            info = await self.workflow(event.workflow_id)
            if event.id <= after or info is None:
                continue
            if tenant is not None and info.tenant != tenant:
                continue
            if submitted_by is not None and info.submitted_by != submitted_by:
                continue
            out.append(FeedEvent(event.id, event.workflow_id, event.type, event.data, event.time))
        return out[-limit:] if newest else out[:limit]


class PostgresWebhooks:
    """The WebhookStore on PostgreSQL, on its own small pool."""

    def __init__(
        self, pool: AsyncConnectionPool[AsyncConnection[DictRow]], key: bytes | None
    ) -> None:
        self._pool = pool
        self.box = SecretBox(key)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, database_url: str, *, key: bytes | None, max_connections: int = 4
    ) -> AsyncIterator[PostgresWebhooks]:
        """A store, its table created under an advisory lock."""
        async with table_pool(
            database_url, _DDL, lock=_SETUP_LOCK, max_connections=max_connections
        ) as pool:
            yield cls(pool, key)

    async def ping(self) -> None:
        """One round trip (readiness)."""
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1")

    async def create(
        self,
        *,
        tenant: str,
        url: str,
        events: list[str],
        format: WebhookFormat,
        secret: str,
        created_by: str,
    ) -> Webhook:
        """Store a subscription, its secret sealed."""
        webhook_id = new_id()
        stored, sealed = self.box.seal(webhook_id, secret)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO gateway_webhooks (id, tenant, url, events, format, secret, sealed,"
                " created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (webhook_id, tenant, url, Jsonb(events), format.value, stored, sealed, created_by),
            )
            row = await cur.fetchone()
        assert row is not None
        return Webhook.model_validate(row)

    async def search(self, tenant: str | None) -> list[Webhook]:
        """Every subscription (tenant None) or one tenant's, oldest first."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM gateway_webhooks WHERE %(all)s OR tenant = %(tenant)s"
                " ORDER BY created_at, id",
                {"all": tenant is None, "tenant": tenant or ""},
            )
            return [Webhook.model_validate(r) for r in await cur.fetchall()]

    async def delete(self, webhook_id: str, tenant: str | None) -> Webhook | None:
        """Remove one subscription (within the tenant unless None)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM gateway_webhooks WHERE id = %(id)s"
                " AND (%(all)s OR tenant = %(tenant)s) RETURNING *",
                {"id": webhook_id, "all": tenant is None, "tenant": tenant or ""},
            )
            row = await cur.fetchone()
        return Webhook.model_validate(row) if row else None

    def _target(self, row: DictRow) -> Target:
        return Target(
            **Webhook.model_validate(row).model_dump(),
            secret=self.box.open(row["id"], row["secret"], row["sealed"]),
        )

    async def targets(self, tenant: str) -> list[Target]:
        """The tenant's subscriptions with their secrets."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM gateway_webhooks WHERE tenant = %s ORDER BY id", (tenant,)
            )
            return [self._target(r) for r in await cur.fetchall()]

    async def target(self, webhook_id: str) -> Target | None:
        """One subscription with its secret."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM gateway_webhooks WHERE id = %s", (webhook_id,))
            row = await cur.fetchone()
        return self._target(row) if row else None

    async def record(self, webhook_id: str, outcome: str, error: str | None = None) -> None:
        """Count a finished delivery on the subscription (what `autopilot webhooks list` shows)."""
        delivered, dead = _count(outcome)
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE gateway_webhooks SET delivered = delivered + %s,"
                " dead_lettered = dead_lettered + %s, last_outcome = %s, last_error = %s,"
                " last_attempt_at = now() WHERE id = %s",
                (delivered, dead, outcome, (error or "")[:500] or None, webhook_id),
            )

    async def workflow(self, workflow_id: str) -> WorkflowInfo | None:
        """Tenant, name and submitter from the gateway's workflow row (None: no such row yet)."""
        async with self._pool.connection() as conn:
            try:
                cur = await conn.execute(
                    "SELECT tenant, name, submitted_by FROM gateway_workflows WHERE id = %s",
                    (workflow_id,),
                )
            except errors.UndefinedTable:
                return None
            row = await cur.fetchone()
        return WorkflowInfo(row["tenant"], row["name"], row["submitted_by"]) if row else None

    async def feed(
        self,
        after: int,
        *,
        tenant: str | None,
        submitted_by: str | None,
        limit: int = 200,
        newest: bool = False,
    ) -> list[FeedEvent]:
        """Events after `after` of the workflows in scope, oldest first (newest: the last ones)."""
        order = "DESC" if newest else "ASC"
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT e.id, e.workflow_id, e.type, e.data, e.time FROM gateway_events e"
                " JOIN gateway_workflows w ON w.id = e.workflow_id WHERE e.id > %(after)s"
                " AND (%(tenant)s::text IS NULL OR w.tenant = %(tenant)s)"
                " AND (%(by)s::text IS NULL OR w.submitted_by = %(by)s)"
                f" ORDER BY e.id {order} LIMIT %(limit)s",
                {"after": after, "tenant": tenant, "by": submitted_by, "limit": limit},
            )
            rows = await cur.fetchall()
        events = [
            FeedEvent(r["id"], r["workflow_id"], r["type"], r["data"], r["time"]) for r in rows
        ]
        return events[::-1] if newest else events
