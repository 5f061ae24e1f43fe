"""API keys kept in Postgres, hashed under a server pepper.

A key reads `ap_<id>_<secret>`: `id` (12 hex digits) is a lookup prefix, public like a user
name; `secret` is 256 random bits. The table stores HMAC-SHA256(pepper, key) and never the key,
so a stolen table opens nothing without the pepper, and verifying a key is one primary-key
lookup plus one constant-time comparison. A slow KDF would add nothing: the secret is random,
not a password a dictionary could guess. The pepper is `AUTOPILOT_API_KEY_PEPPER`, else derived
from `LANGGRAPH_AES_KEY` (HKDF, its own label), so it never sits in the database either.

Keys are read on every request (no cache): a revoked key is refused by the next call.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from services.gateway.auth import Principal, Role
from services.gateway.sealed import derive
from shared.errors import Conflict
from shared.events import utcnow
from shared.infra.pg import table_pool

KEY_PATTERN = re.compile(r"ap_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_SETUP_LOCK = "autopilot:gateway-keys-setup"
_DDL = [
    """CREATE TABLE IF NOT EXISTS gateway_api_keys (
        id text PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('submitter', 'approver', 'admin')),
        tenant text,
        digest text NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        revoked_by text
    )""",
    "CREATE INDEX IF NOT EXISTS gateway_api_keys_name ON gateway_api_keys (name)",
]

# A key's one role and what it grants: an approver may also submit; an admin holds every role.
GRANTS: dict[Role, frozenset[Role]] = {
    Role.SUBMITTER: frozenset({Role.SUBMITTER}),
    Role.APPROVER: frozenset({Role.SUBMITTER, Role.APPROVER}),
    Role.ADMIN: frozenset(Role),
}


class KeyError_(Conflict):
    """A key cannot be created or revoked as asked (the message says why)."""


class KeysDisabled(KeyError_):
    """No pepper: neither AUTOPILOT_API_KEY_PEPPER nor LANGGRAPH_AES_KEY is set."""


class ApiKey(BaseModel):
    """One stored key, as listed: never the key, never its digest."""

    id: str
    name: str
    role: Role
    tenant: str | None = None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def principal(self) -> Principal:
        """Who this key authenticates: its name is the principal id."""
        return Principal(id=self.name, roles=GRANTS[self.role], tenant=self.tenant)


class KeyHasher:
    """Mints keys and digests them under the server's pepper."""

    def __init__(self, pepper: bytes | None) -> None:
        self._pepper = derive(pepper, b"autopilot-api-keys") if pepper else None

    @property
    def enabled(self) -> bool:
        """Whether keys can be minted and checked."""
        return self._pepper is not None

    def digest(self, key: str) -> str:
        """HMAC-SHA256 of the whole key, hex."""
        if self._pepper is None:
            raise KeysDisabled(
                "API keys in the database need AUTOPILOT_API_KEY_PEPPER or LANGGRAPH_AES_KEY"
            )
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).hexdigest()

    def mint(self) -> tuple[str, str]:
        """A new (id, key)."""
        key_id = secrets.token_hex(6)
        return key_id, f"ap_{key_id}_{secrets.token_urlsafe(32)}"

    def check(self, key: str, digest: str | None) -> bool:
        """Whether `key` has `digest`; always computes one HMAC, found or not."""
        if self._pepper is None:
            return False
        mine = self.digest(key)
        return hmac.compare_digest(mine, digest or "0" * len(mine))


def parse(token: str) -> str | None:
    """The lookup id of a token shaped like a stored key, else None."""
    match = KEY_PATTERN.fullmatch(token)
    return match.group(1) if match else None


class KeyStore(Protocol):
    """Create, verify, list and revoke stored keys."""

    hasher: KeyHasher

    async def create(  # noqa: D102
        self, name: str, role: Role, tenant: str | None, created_by: str
    ) -> tuple[ApiKey, str]: ...

    async def verify(self, token: str) -> ApiKey | None: ...  # noqa: D102

    async def search(self, tenant: str | None, *, every: bool) -> list[ApiKey]: ...  # noqa: D102

    async def revoke(  # noqa: D102
        self, name_or_id: str, by: str, tenant: str | None, *, every: bool
    ) -> list[ApiKey]: ...


def _same_holder(existing: list[ApiKey], role: Role, tenant: str | None, name: str) -> None:
    """A name is one principal: its active keys share one role and tenant (rotation adds keys)."""
    for key in existing:
        if key.revoked_at is None and (key.role, key.tenant) != (role, tenant):
            raise KeyError_(
                f"{name} already has key {key.id} with role {key.role} and tenant "
                f"{key.tenant or '-'}; revoke it first or use another name"
            )


class MemoryKeys:
    """The KeyStore in memory, for unit tests."""

    def __init__(self, pepper: bytes | None = None) -> None:
        self.hasher = KeyHasher(pepper)
        self.rows: dict[str, tuple[ApiKey, str]] = {}

    async def create(
        self, name: str, role: Role, tenant: str | None, created_by: str
    ) -> tuple[ApiKey, str]:
        """Mint a key; returns it once with its row."""
        _same_holder([k for k, _ in self.rows.values() if k.name == name], role, tenant, name)
        key_id, key = self.hasher.mint()
        row = ApiKey(
            id=key_id,
            name=name,
            role=role,
            tenant=tenant,
            created_by=created_by,
            created_at=utcnow(),
        )
        self.rows[key_id] = (row, self.hasher.digest(key))
        return row, key

    async def verify(self, token: str) -> ApiKey | None:
        """The active key `token` is, else None."""
        key_id = parse(token)
        if key_id is None:
            return None
        row, digest = self.rows.get(key_id, (None, None))
        ok = self.hasher.check(token, digest)
        return row if ok and row is not None and row.revoked_at is None else None

    async def search(self, tenant: str | None, *, every: bool) -> list[ApiKey]:
        """Keys oldest first: all of them, or one tenant's."""
        rows = sorted((r for r, _ in self.rows.values()), key=lambda r: r.created_at)
        return [r for r in rows if every or r.tenant == tenant]

    async def revoke(
        self, name_or_id: str, by: str, tenant: str | None, *, every: bool
    ) -> list[ApiKey]:
        """Revoke the active keys with this id or name; returns them."""
        done = []
        for key_id, (row, digest) in list(self.rows.items()):
            if (
                name_or_id in (row.id, row.name)
                and row.revoked_at is None
                and (every or row.tenant == tenant)
            ):
                revoked = row.model_copy(update={"revoked_at": utcnow(), "revoked_by": by})
                self.rows[key_id] = (revoked, digest)
                done.append(revoked)
        return done


class PostgresKeys:
    """The KeyStore on PostgreSQL, on its own small pool."""

    def __init__(
        self, pool: AsyncConnectionPool[AsyncConnection[DictRow]], pepper: bytes | None
    ) -> None:
        self._pool = pool
        self.hasher = KeyHasher(pepper)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, database_url: str, *, pepper: bytes | None, max_connections: int = 4
    ) -> AsyncIterator[PostgresKeys]:
        """A key store, its table created under an advisory lock."""
        async with table_pool(
            database_url, _DDL, lock=_SETUP_LOCK, max_connections=max_connections
        ) as pool:
            yield cls(pool, pepper)

    async def create(
        self, name: str, role: Role, tenant: str | None, created_by: str
    ) -> tuple[ApiKey, str]:
        """Mint a key and store its digest; returns the key once with its row."""
        key_id, key = self.hasher.mint()
        digest = self.hasher.digest(key)
        async with self._pool.connection() as conn, conn.transaction():
            # Two concurrent creates of one name must not give it two roles.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"key:{name}",))
            cur = await conn.execute(
                "SELECT * FROM gateway_api_keys WHERE name = %s AND revoked_at IS NULL", (name,)
            )
            holders = [ApiKey.model_validate(r) for r in await cur.fetchall()]
            _same_holder(holders, role, tenant, name)
            try:
                cur = await conn.execute(
                    "INSERT INTO gateway_api_keys (id, name, role, tenant, digest, created_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                    (key_id, name, role.value, tenant, digest, created_by),
                )
            except errors.UniqueViolation as exc:  # 48 random bits: practically never
                raise KeyError_("key id collision; try again") from exc
            row = await cur.fetchone()
        assert row is not None
        return ApiKey.model_validate(row), key

    async def verify(self, token: str) -> ApiKey | None:
        """The active key `token` is, else None (one indexed lookup, one HMAC)."""
        key_id = parse(token)
        if key_id is None:
            return None
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM gateway_api_keys WHERE id = %s", (key_id,))
            row = await cur.fetchone()
        ok = self.hasher.check(token, row["digest"] if row else None)
        if not ok or row is None or row["revoked_at"] is not None:
            return None
        return ApiKey.model_validate(row)

    async def search(self, tenant: str | None, *, every: bool) -> list[ApiKey]:
        """Keys oldest first: all of them, or one tenant's."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM gateway_api_keys WHERE %(every)s OR tenant IS NOT DISTINCT FROM"
                " %(tenant)s ORDER BY created_at, id",
                {"every": every, "tenant": tenant},
            )
            return [ApiKey.model_validate(r) for r in await cur.fetchall()]

    async def revoke(
        self, name_or_id: str, by: str, tenant: str | None, *, every: bool
    ) -> list[ApiKey]:
        """Revoke the active keys with this id or name; returns them."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE gateway_api_keys SET revoked_at = now(), revoked_by = %(by)s"
                " WHERE (id = %(x)s OR name = %(x)s) AND revoked_at IS NULL"
                " AND (%(every)s OR tenant IS NOT DISTINCT FROM %(tenant)s) RETURNING *",
                {"by": by, "x": name_or_id, "every": every, "tenant": tenant},
            )
            return [ApiKey.model_validate(r) for r in await cur.fetchall()]
