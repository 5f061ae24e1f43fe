"""Big artifacts (chart files, plans, reports) in Postgres, so events carry only references.

One row per file in `autopilot_artifacts`, keyed by (workflow_id, kind, name). A `kind` is
written whole: `put_files` replaces every file of that kind in one transaction, so a reader
never sees half of a regenerated chart and a re-run after a crash rewrites the same rows.

Chart files can hold customer configuration, so with an AES key the content is encrypted at
rest: AES-256-GCM under a key derived from `LANGGRAPH_AES_KEY`, the row's address bound in as
associated data (a row copied to another address fails to decrypt), stored as
nonce(12) + tag(16) + ciphertext. The `sha256` column is then an HMAC of the plaintext under a
second derived key, so it still identifies content without letting anyone test guesses.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from shared.errors import ArtifactError, ArtifactNotFound
from shared.events import ArtifactRef
from shared.infra.pg import advisory_lock

TABLE = "autopilot_artifacts"
CIPHER = "aes-256-gcm"
JSON_NAME = "data.json"
_NONCE = 12
_TAG = 16
_SETUP_LOCK = "autopilot:artifacts-setup"

M = TypeVar("M", bound=BaseModel)

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    workflow_id text NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    content bytea NOT NULL,
    sha256 text NOT NULL,
    cipher text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, kind, name)
)
"""


class _Codec:
    """Encrypts and digests file content; plaintext passthrough without a key."""

    def __init__(self, key: bytes | None) -> None:
        self._enc: bytes | None = None
        self._mac: bytes | None = None
        if key is not None:
            if len(key) not in (16, 24, 32):
                raise ValueError("the AES key must be 16, 24 or 32 bytes long")
            # Separate subkeys: one key must not serve both AES-GCM and HMAC.
            enc, mac = HKDF(key, 32, b"autopilot-artifacts", SHA256, num_keys=2)
            self._enc, self._mac = bytes(enc), bytes(mac)

    @property
    def cipher(self) -> str:
        """The cipher name stored with each row ('' for plaintext)."""
        return CIPHER if self._enc is not None else ""

    def digest(self, plaintext: bytes) -> str:
        """SHA-256 of the content, keyed (HMAC) when encrypting."""
        if self._mac is None:
            return hashlib.sha256(plaintext).hexdigest()
        return hmac.new(self._mac, plaintext, hashlib.sha256).hexdigest()

    @staticmethod
    def _aad(workflow_id: str, kind: str, name: str) -> bytes:
        """The row address, bound into the ciphertext."""
        return "\0".join((TABLE, workflow_id, kind, name)).encode()

    def seal(self, workflow_id: str, kind: str, name: str, plaintext: bytes) -> bytes:
        """Content as stored: nonce + tag + ciphertext, or the plaintext without a key."""
        if self._enc is None:
            return plaintext
        # An explicit 96-bit nonce: pycryptodome's GCM default is 128 bits, GCM's native size is 96.
        nonce = get_random_bytes(_NONCE)
        cipher = AES.new(self._enc, AES.MODE_GCM, nonce=nonce, mac_len=_TAG)
        cipher.update(self._aad(workflow_id, kind, name))
        ciphertext, tag = cipher.encrypt_and_digest(plaintext)
        return nonce + tag + ciphertext

    def open(self, workflow_id: str, kind: str, name: str, stored: bytes, cipher: str) -> bytes:
        """The plaintext of a stored row, verified."""
        if cipher == "":
            return stored
        if cipher != CIPHER:
            raise ArtifactError(f"{workflow_id}/{kind}/{name}: unknown cipher {cipher!r}")
        if self._enc is None:
            raise ArtifactError(
                f"{workflow_id}/{kind}/{name} is encrypted and LANGGRAPH_AES_KEY is not set"
            )
        nonce, tag, ciphertext = (
            stored[:_NONCE],
            stored[_NONCE : _NONCE + _TAG],
            stored[_NONCE + _TAG :],
        )
        aes = AES.new(self._enc, AES.MODE_GCM, nonce=nonce, mac_len=_TAG)
        aes.update(self._aad(workflow_id, kind, name))
        try:
            return aes.decrypt_and_verify(ciphertext, tag)
        except ValueError as exc:
            raise ArtifactError(
                f"{workflow_id}/{kind}/{name}: cannot decrypt (wrong key or tampered row)"
            ) from exc


class ArtifactStore:
    """Files and pydantic results of a workflow, addressed by (workflow_id, kind, name)."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection], *, key: bytes | None) -> None:
        self._pool = pool
        self._codec = _Codec(key)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        database_url: str,
        *,
        key: bytes | None = None,
        max_connections: int = 5,
        setup: bool = True,
    ) -> AsyncIterator[ArtifactStore]:
        """A store on its own pool, table created if missing (safe from several processes)."""
        pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=max_connections,
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        async with pool:
            store = cls(pool, key=key)
            if setup:
                await store.setup(database_url)
            yield store

    async def setup(self, database_url: str) -> None:
        """Create the table; under an advisory lock because concurrent CREATE IF NOT EXISTS races."""
        async with advisory_lock(database_url, _SETUP_LOCK), self._pool.connection() as conn:
            await conn.execute(_DDL)

    async def put_files(self, workflow_id: str, kind: str, files: dict[str, bytes]) -> ArtifactRef:
        """Replace every file of this kind with `files`, atomically; returns their reference."""
        rows = [
            (
                workflow_id,
                kind,
                name,
                self._codec.seal(workflow_id, kind, name, content),
                self._codec.digest(content),
                self._codec.cipher,
            )
            for name, content in sorted(files.items())
        ]
        async with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                f"DELETE FROM {TABLE} WHERE workflow_id = %s AND kind = %s", (workflow_id, kind)
            )
            await cur.executemany(
                f"INSERT INTO {TABLE} (workflow_id, kind, name, content, sha256, cipher)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )
        return ArtifactRef(
            workflow_id=workflow_id, kind=kind, files={row[2]: row[4] for row in rows}
        )

    async def get_files(self, workflow_id: str, kind: str) -> dict[str, bytes]:
        """Every file of this kind, decrypted and checked ({} when there is none)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT name, content, sha256, cipher FROM {TABLE}"
                " WHERE workflow_id = %s AND kind = %s ORDER BY name",
                (workflow_id, kind),
            )
            rows = await cur.fetchall()
        files: dict[str, bytes] = {}
        for name, stored, digest, cipher in rows:
            plaintext = self._codec.open(workflow_id, kind, name, bytes(stored), cipher)
            # With a key the digest is an HMAC; without one, a keyed digest cannot be checked.
            if (cipher == "") == (self._codec.cipher == "") and not hmac.compare_digest(
                self._codec.digest(plaintext), digest
            ):
                raise ArtifactError(f"{workflow_id}/{kind}/{name}: digest mismatch")
            files[name] = plaintext
        return files

    async def put_json(
        self, workflow_id: str, kind: str, value: BaseModel, *, name: str = JSON_NAME
    ) -> ArtifactRef:
        """Store one pydantic result as the only file of this kind."""
        return await self.put_files(workflow_id, kind, {name: value.model_dump_json().encode()})

    async def get_json(
        self, workflow_id: str, kind: str, model: type[M], *, name: str = JSON_NAME
    ) -> M:
        """Load a pydantic result stored with `put_json`; ArtifactNotFound when absent."""
        files = await self.get_files(workflow_id, kind)
        if name not in files:
            raise ArtifactNotFound(f"no {kind}/{name} for workflow {workflow_id}")
        return model.model_validate_json(files[name])

    async def exists(self, workflow_id: str, kind: str) -> bool:
        """Whether any file of this kind is stored."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT 1 FROM {TABLE} WHERE workflow_id = %s AND kind = %s LIMIT 1",
                (workflow_id, kind),
            )
            return await cur.fetchone() is not None

    async def delete(self, workflow_id: str, kind: str | None = None) -> int:
        """Delete one kind, or everything of a workflow; returns the number of files removed."""
        query = f"DELETE FROM {TABLE} WHERE workflow_id = %s"
        params: tuple[str, ...] = (workflow_id,)
        if kind is not None:
            query += " AND kind = %s"
            params = (workflow_id, kind)
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            return cur.rowcount
