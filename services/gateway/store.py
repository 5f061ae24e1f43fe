"""Where the gateway keeps what the checkpoints do not answer quickly: a projection per workflow
(status, pending gate, deadline) for listing and reconciling, the event log behind SSE, attempt
counters, the registry of published charts and the append-only audit log of gate decisions.

With an AES key, the gate payload and the error in a workflow's row are encrypted
(`services.gateway.sealed`): a reader of the table sees which gate waits, not what it shows.

The supervisor's checkpoints stay the source of truth; every row here is rewritten from them
after each graph run. Two implementations share one interface: Postgres for the service,
memory for unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from services.gateway.sealed import Sealer
from shared.events import ArtifactRef, utcnow
from shared.infra.pg import advisory_lock, table_pool

_SETUP_LOCK = "autopilot:gateway-setup"
_DDL = [
    """CREATE TABLE IF NOT EXISTS gateway_workflows (
        seq bigserial UNIQUE,
        id text PRIMARY KEY,
        status text NOT NULL,
        phase text NOT NULL DEFAULT '',
        input_kind text NOT NULL,
        submitted_by text NOT NULL,
        name text,
        options jsonb NOT NULL DEFAULT '{}',
        view jsonb NOT NULL DEFAULT '{}',
        gate_since timestamptz,
        deadline timestamptz,
        redispatches integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
    )""",
    "CREATE INDEX IF NOT EXISTS gateway_workflows_due ON gateway_workflows (deadline)"
    " WHERE deadline IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS gateway_events (
        id bigserial PRIMARY KEY,
        workflow_id text NOT NULL,
        type text NOT NULL,
        data jsonb NOT NULL,
        time timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX IF NOT EXISTS gateway_events_workflow ON gateway_events (workflow_id, id)",
    """CREATE TABLE IF NOT EXISTS gateway_attempts (
        workflow_id text NOT NULL,
        swarm text NOT NULL,
        attempt integer NOT NULL,
        PRIMARY KEY (workflow_id, swarm)
    )""",
    """CREATE TABLE IF NOT EXISTS gateway_published (
        name text NOT NULL,
        workflow_id text NOT NULL,
        chart_kind text NOT NULL,
        published_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, workflow_id)
    )""",
    # A workflow and the charts it publishes belong to its submitter's tenant ('' for none).
    "ALTER TABLE gateway_workflows ADD COLUMN IF NOT EXISTS tenant text NOT NULL DEFAULT ''",
    "ALTER TABLE gateway_published ADD COLUMN IF NOT EXISTS tenant text NOT NULL DEFAULT ''",
    "CREATE INDEX IF NOT EXISTS gateway_published_latest"
    " ON gateway_published (tenant, name, published_at DESC)",
    # Every gate decision, human or automatic; rows are only ever added (the trigger refuses
    # UPDATE, DELETE and TRUNCATE to everyone who has not dropped it).
    """CREATE TABLE IF NOT EXISTS gateway_audit (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        time timestamptz NOT NULL,
        workflow_id text NOT NULL,
        tenant text NOT NULL DEFAULT '',
        gate text NOT NULL,
        decision text NOT NULL,
        principal text NOT NULL,
        principal_tenant text,
        role text,
        how text NOT NULL,
        comment text
    )""",
    "CREATE INDEX IF NOT EXISTS gateway_audit_tenant ON gateway_audit (tenant, seq)",
    """CREATE OR REPLACE FUNCTION gateway_audit_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'gateway_audit is append-only'; END $$""",
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'gateway_audit_no_change') THEN
            CREATE TRIGGER gateway_audit_no_change BEFORE UPDATE OR DELETE ON gateway_audit
                FOR EACH ROW EXECUTE FUNCTION gateway_audit_append_only();
            CREATE TRIGGER gateway_audit_no_truncate BEFORE TRUNCATE ON gateway_audit
                FOR EACH STATEMENT EXECUTE FUNCTION gateway_audit_append_only();
        END IF;
    END $$""",
]

# Columns of WorkflowRecord that live in the `view` jsonb column.
_VIEW_FIELDS = (
    "pending_gate",
    "validation",
    "error",
    "comment",
    "chart_kind",
    "published",
    "decisions",
)


class WorkflowRecord(BaseModel):
    """The projection of one workflow: what lists, filters and the reconciler read."""

    id: str
    seq: int = 0
    status: str
    phase: str = ""
    input_kind: str
    submitted_by: str
    tenant: str = ""
    """The submitter's tenant ('' when it has none): its charts are only diffed within it."""
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    decisions: dict[str, Any] | None = None
    """Gate -> the decision, who made or allowed it, and whether it was automatic."""
    pending_gate: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    comment: str | None = None
    chart_kind: str | None = None
    published: dict[str, Any] | None = None
    gate_since: datetime | None = None
    deadline: datetime | None = None
    redispatches: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class AuditEntry(BaseModel):
    """One gate decision as the audit log keeps it."""

    seq: int = 0
    id: str
    """Made when the graph applied the decision; writing it twice keeps one row."""
    time: datetime
    workflow_id: str
    tenant: str = ""
    """The workflow's tenant (a tenant's admin reads its tenant's entries)."""
    gate: str
    decision: str
    principal: str
    """Who decided, or who allowed the auto-approval (`policy` for the admin's policy)."""
    principal_tenant: str | None = None
    role: str | None = None
    how: str
    """human | role (auto-approved by the submitter's approver or admin role) | policy."""
    comment: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """One line of a workflow's event log."""

    id: int
    workflow_id: str
    type: str
    data: dict[str, Any]
    time: datetime


class Store(Protocol):
    """Projection, event log, counters and locks."""

    async def create(self, record: WorkflowRecord) -> WorkflowRecord: ...  # noqa: D102

    async def get(self, workflow_id: str) -> WorkflowRecord | None: ...  # noqa: D102

    async def save(  # noqa: D102
        self, record: WorkflowRecord, audit: Sequence[dict[str, Any]] = ()
    ) -> None: ...

    async def audit(  # noqa: D102
        self, *, tenant: str | None, workflow_id: str | None, limit: int, before_seq: int | None
    ) -> list[AuditEntry]: ...

    async def search(  # noqa: D102
        self,
        *,
        status: str | None,
        input_kind: str | None,
        submitted_by: str | None,
        limit: int,
        before_seq: int | None,
        tenant: str | None = None,
    ) -> list[WorkflowRecord]: ...

    async def due(self, now: datetime, limit: int) -> list[str]: ...  # noqa: D102

    async def add_event(  # noqa: D102
        self, workflow_id: str, type_: str, data: dict[str, Any]
    ) -> StoredEvent: ...

    async def events_after(  # noqa: D102
        self, workflow_id: str, after_id: int, limit: int = 500
    ) -> list[StoredEvent]: ...

    async def next_attempt(self, workflow_id: str, swarm: str) -> int: ...  # noqa: D102

    async def record_published(  # noqa: D102
        self, name: str, workflow_id: str, chart_kind: str, tenant: str
    ) -> None: ...

    async def last_published(  # noqa: D102
        self, name: str, exclude: str, tenant: str
    ) -> tuple[str, str] | None: ...

    def lock(self, workflow_id: str) -> contextlib.AbstractAsyncContextManager[None]: ...  # noqa: D102

    async def ping(self) -> None: ...  # noqa: D102


# --------------------------------------------------------------------------- memory


class MemoryArtifacts:
    """ArtifactStore's interface over a dict, for unit tests."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], dict[str, bytes]] = {}

    async def put_files(self, workflow_id: str, kind: str, files: dict[str, bytes]) -> ArtifactRef:
        """Replace every file of this kind."""
        import hashlib

        self.files[(workflow_id, kind)] = dict(files)
        digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        return ArtifactRef(workflow_id=workflow_id, kind=kind, files=digests)

    async def get_files(self, workflow_id: str, kind: str) -> dict[str, bytes]:
        """Every file of this kind ({} when none)."""
        return dict(self.files.get((workflow_id, kind), {}))


class MemoryStore:
    """The Store interface in memory (one process, unit tests)."""

    def __init__(self) -> None:
        self.records: dict[str, WorkflowRecord] = {}
        self.events: list[StoredEvent] = []
        self.attempts: dict[tuple[str, str], int] = {}
        self.published: list[tuple[str, str, str, float, str]] = []
        self.audit_log: list[AuditEntry] = []
        self.down = False
        self._seq = 0

    async def create(self, record: WorkflowRecord) -> WorkflowRecord:
        """Insert a new workflow row."""
        self._seq += 1
        stored = record.model_copy(update={"seq": self._seq})
        self.records[record.id] = stored
        return stored.model_copy()

    async def get(self, workflow_id: str) -> WorkflowRecord | None:
        """One row, or None."""
        record = self.records.get(workflow_id)
        return None if record is None else record.model_copy()

    async def save(self, record: WorkflowRecord, audit: Sequence[dict[str, Any]] = ()) -> None:
        """Overwrite a row; add the audit entries not logged yet."""
        self.records[record.id] = record.model_copy(update={"updated_at": utcnow()})
        logged = {e.id for e in self.audit_log}
        for entry in audit:
            if entry["id"] not in logged:
                seq = len(self.audit_log) + 1
                self.audit_log.append(AuditEntry.model_validate({**entry, "seq": seq}))

    async def audit(
        self, *, tenant: str | None, workflow_id: str | None, limit: int, before_seq: int | None
    ) -> list[AuditEntry]:
        """Newest first: every tenant's (tenant None) or one tenant's, optionally one workflow's."""
        rows = [
            e
            for e in reversed(self.audit_log)
            if (tenant is None or e.tenant == tenant)
            and (workflow_id is None or e.workflow_id == workflow_id)
            and (before_seq is None or e.seq < before_seq)
        ]
        return rows[:limit]

    async def search(
        self,
        *,
        status: str | None,
        input_kind: str | None,
        submitted_by: str | None,
        limit: int,
        before_seq: int | None,
        tenant: str | None = None,
    ) -> list[WorkflowRecord]:
        """Newest first, filtered, up to `limit`."""
        rows = sorted(self.records.values(), key=lambda r: r.seq, reverse=True)
        return [
            r.model_copy()
            for r in rows
            if (status is None or r.status == status)
            and (input_kind is None or r.input_kind == input_kind)
            and (submitted_by is None or r.submitted_by == submitted_by)
            and (tenant is None or r.tenant == tenant)
            and (before_seq is None or r.seq < before_seq)
        ][:limit]

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Workflows whose deadline passed."""
        rows = [r for r in self.records.values() if r.deadline is not None and r.deadline < now]
        return [r.id for r in sorted(rows, key=lambda r: r.deadline or now)][:limit]

    async def add_event(self, workflow_id: str, type_: str, data: dict[str, Any]) -> StoredEvent:
        """Append to the event log."""
        event = StoredEvent(len(self.events) + 1, workflow_id, type_, data, utcnow())
        self.events.append(event)
        return event

    async def events_after(
        self, workflow_id: str, after_id: int, limit: int = 500
    ) -> list[StoredEvent]:
        """A workflow's events with id > after_id, oldest first."""
        return [e for e in self.events if e.workflow_id == workflow_id and e.id > after_id][:limit]

    async def next_attempt(self, workflow_id: str, swarm: str) -> int:
        """Allocate the next attempt number of a swarm step."""
        key = (workflow_id, swarm)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return self.attempts[key]

    async def record_published(
        self, name: str, workflow_id: str, chart_kind: str, tenant: str
    ) -> None:
        """Remember a published chart of a tenant."""
        self.published = [p for p in self.published if (p[0], p[1]) != (name, workflow_id)]
        self.published.append((name, workflow_id, chart_kind, time.monotonic(), tenant))

    async def last_published(self, name: str, exclude: str, tenant: str) -> tuple[str, str] | None:
        """The tenant's latest chart of this name published by another workflow."""
        rows = [p for p in self.published if p[0] == name and p[1] != exclude and p[4] == tenant]
        if not rows:
            return None
        latest = max(rows, key=lambda p: p[3])
        return latest[1], latest[2]

    @contextlib.asynccontextmanager
    async def lock(self, workflow_id: str) -> AsyncIterator[None]:
        """One process only: the supervisor's own asyncio lock is enough."""
        yield

    async def ping(self) -> None:
        """Fails when a test marks the store down."""
        if self.down:
            raise ConnectionError("store marked down")


# --------------------------------------------------------------------------- postgres


SEALED = "sealed"
"""The key under which an encrypted part of the view is kept."""
_ERROR_AAD = "error"


_AUDIT_COLUMNS = (
    "id",
    "time",
    "workflow_id",
    "tenant",
    "gate",
    "decision",
    "principal",
    "principal_tenant",
    "role",
    "how",
    "comment",
)


class PostgresStore:
    """The Store interface on PostgreSQL (safe for several gateway replicas)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[DictRow]],
        url: str,
        key: bytes | None = None,
    ) -> None:
        self._pool = pool
        self._url = url
        self._sealer = Sealer(key)

    def _record(self, row: DictRow) -> WorkflowRecord:
        """A row of gateway_workflows as a record, its sealed parts opened."""
        data = {k: v for k, v in row.items() if k != "view"}
        data.update({k: row["view"].get(k) for k in _VIEW_FIELDS})
        gate = data.get("pending_gate")
        if isinstance(gate, dict) and SEALED in gate:
            opened = self._sealer.open(row["id"], str(gate.get("gate")), gate[SEALED])
            data["pending_gate"] = {**opened, "since": gate.get("since")}
        error = data.get("error")
        if isinstance(error, dict) and SEALED in error:
            data["error"] = self._sealer.open(row["id"], _ERROR_AAD, error[SEALED])
        return WorkflowRecord.model_validate(data)

    def _view(self, record: WorkflowRecord) -> Jsonb:
        """The jsonb column holding the record's nested parts; gate payload and error sealed."""
        view = record.model_dump(mode="json", include=set(_VIEW_FIELDS))
        if self._sealer.enabled:
            gate = view.get("pending_gate")
            if gate:
                name = str(gate.get("gate"))
                view["pending_gate"] = {
                    "gate": name,
                    "since": gate.get("since"),
                    SEALED: self._sealer.seal(record.id, name, gate),
                }
            if view.get("error"):
                view["error"] = {SEALED: self._sealer.seal(record.id, _ERROR_AAD, view["error"])}
        return Jsonb(view)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, database_url: str, *, max_connections: int = 10, key: bytes | None = None
    ) -> AsyncIterator[PostgresStore]:
        """A store on its own pool, tables created under an advisory lock."""
        async with table_pool(
            database_url, _DDL, lock=_SETUP_LOCK, max_connections=max_connections
        ) as pool:
            yield cls(pool, database_url, key)

    async def create(self, record: WorkflowRecord) -> WorkflowRecord:
        """Insert a new workflow row."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO gateway_workflows (id, status, phase, input_kind, submitted_by,"
                " tenant, name, options, view, deadline, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (
                    record.id,
                    record.status,
                    record.phase,
                    record.input_kind,
                    record.submitted_by,
                    record.tenant,
                    record.name,
                    Jsonb(record.options),
                    self._view(record),
                    record.deadline,
                    record.created_at,
                    record.updated_at,
                ),
            )
            row = await cur.fetchone()
        assert row is not None
        return self._record(row)

    async def get(self, workflow_id: str) -> WorkflowRecord | None:
        """One row, or None."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM gateway_workflows WHERE id = %s", (workflow_id,)
            )
            row = await cur.fetchone()
        return None if row is None else self._record(row)

    async def save(self, record: WorkflowRecord, audit: Sequence[dict[str, Any]] = ()) -> None:
        """Overwrite the mutable columns of a row and log its new decisions, in one transaction."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE gateway_workflows SET status = %s, phase = %s, name = %s, view = %s,"
                " gate_since = %s, deadline = %s, redispatches = %s, finished_at = %s,"
                " updated_at = now() WHERE id = %s",
                (
                    record.status,
                    record.phase,
                    record.name,
                    self._view(record),
                    record.gate_since,
                    record.deadline,
                    record.redispatches,
                    record.finished_at,
                    record.id,
                ),
            )
            if audit:
                # Entries already logged (a re-sync of the same checkpoint) are kept as they are.
                async with conn.cursor() as cur:
                    await cur.executemany(
                        f"INSERT INTO gateway_audit ({', '.join(_AUDIT_COLUMNS)}) VALUES"
                        f" ({', '.join(['%s'] * len(_AUDIT_COLUMNS))})"
                        " ON CONFLICT (id) DO NOTHING",
                        [
                            tuple(getattr(entry, c) for c in _AUDIT_COLUMNS)
                            for entry in map(AuditEntry.model_validate, audit)
                        ],
                    )

    async def audit(
        self, *, tenant: str | None, workflow_id: str | None, limit: int, before_seq: int | None
    ) -> list[AuditEntry]:
        """Newest first: every tenant's (tenant None) or one tenant's, optionally one workflow's."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM gateway_audit WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)"
                " AND (%(wf)s::text IS NULL OR workflow_id = %(wf)s)"
                " AND (%(before)s::bigint IS NULL OR seq < %(before)s)"
                " ORDER BY seq DESC LIMIT %(limit)s",
                {"tenant": tenant, "wf": workflow_id, "before": before_seq, "limit": limit},
            )
            return [AuditEntry.model_validate(r) for r in await cur.fetchall()]

    async def search(
        self,
        *,
        status: str | None,
        input_kind: str | None,
        submitted_by: str | None,
        limit: int,
        before_seq: int | None,
        tenant: str | None = None,
    ) -> list[WorkflowRecord]:
        """Newest first, filtered, up to `limit`."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM gateway_workflows WHERE (%(status)s::text IS NULL OR status = %(status)s)"
                " AND (%(kind)s::text IS NULL OR input_kind = %(kind)s)"
                " AND (%(by)s::text IS NULL OR submitted_by = %(by)s)"
                " AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)"
                " AND (%(before)s::bigint IS NULL OR seq < %(before)s)"
                " ORDER BY seq DESC LIMIT %(limit)s",
                {
                    "status": status,
                    "kind": input_kind,
                    "by": submitted_by,
                    "tenant": tenant,
                    "before": before_seq,
                    "limit": limit,
                },
            )
            rows = await cur.fetchall()
        return [self._record(r) for r in rows]

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Workflows whose deadline passed, oldest deadline first."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id FROM gateway_workflows WHERE deadline < %s ORDER BY deadline LIMIT %s",
                (now, limit),
            )
            return [r["id"] for r in await cur.fetchall()]

    async def add_event(self, workflow_id: str, type_: str, data: dict[str, Any]) -> StoredEvent:
        """Append to the event log; the serial id is the SSE event id."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO gateway_events (workflow_id, type, data) VALUES (%s, %s, %s)"
                " RETURNING id, time",
                (workflow_id, type_, Jsonb(data)),
            )
            row = await cur.fetchone()
        assert row is not None
        return StoredEvent(row["id"], workflow_id, type_, data, row["time"])

    async def events_after(
        self, workflow_id: str, after_id: int, limit: int = 500
    ) -> list[StoredEvent]:
        """A workflow's events with id > after_id, oldest first."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, workflow_id, type, data, time FROM gateway_events"
                " WHERE workflow_id = %s AND id > %s ORDER BY id LIMIT %s",
                (workflow_id, after_id, limit),
            )
            rows = await cur.fetchall()
        return [
            StoredEvent(r["id"], r["workflow_id"], r["type"], r["data"], r["time"]) for r in rows
        ]

    async def next_attempt(self, workflow_id: str, swarm: str) -> int:
        """Allocate the next attempt number of a swarm step (atomic upsert)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO gateway_attempts (workflow_id, swarm, attempt) VALUES (%s, %s, 1)"
                " ON CONFLICT (workflow_id, swarm) DO UPDATE"
                " SET attempt = gateway_attempts.attempt + 1 RETURNING attempt",
                (workflow_id, swarm),
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row["attempt"])

    async def record_published(
        self, name: str, workflow_id: str, chart_kind: str, tenant: str
    ) -> None:
        """Remember a tenant's published chart (re-publishing refreshes its time)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO gateway_published (name, workflow_id, chart_kind, tenant)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (name, workflow_id) DO UPDATE"
                " SET chart_kind = EXCLUDED.chart_kind, published_at = now()",
                (name, workflow_id, chart_kind, tenant),
            )

    async def last_published(self, name: str, exclude: str, tenant: str) -> tuple[str, str] | None:
        """The tenant's latest chart of this name published by another workflow."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT workflow_id, chart_kind FROM gateway_published"
                " WHERE tenant = %s AND name = %s AND workflow_id <> %s"
                " ORDER BY published_at DESC LIMIT 1",
                (tenant, name, exclude),
            )
            row = await cur.fetchone()
        return None if row is None else (row["workflow_id"], row["chart_kind"])

    @contextlib.asynccontextmanager
    async def lock(self, workflow_id: str) -> AsyncIterator[None]:
        """A cluster-wide lock on one workflow, so two gateway replicas never run it at once."""
        async with advisory_lock(self._url, f"autopilot:gateway:workflow:{workflow_id}"):
            yield

    async def ping(self) -> None:
        """Raise unless Postgres answers within two seconds."""
        async with asyncio.timeout(2.0), self._pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")


def dumps(data: Any) -> str:
    """Compact JSON for SSE payloads."""
    return json.dumps(data, separators=(",", ":"), default=str)
